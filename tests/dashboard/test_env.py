from decimal import Decimal
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from dashboard.env import (
    database_from_url,
    env_bool,
    env_decimal,
    env_fernet_keys,
    env_host_names,
    env_int,
    env_list,
    env_url,
)

FERNET_KEY = "ZmDfcTF7_60GrrY167zsiPd67pEvs0aGOv2oasOM1Pg="


@pytest.mark.parametrize(
    ("raw", "expected"), [("true", True), ("On", True), ("0", False), ("no", False)]
)
def test_it_reads_booleans(monkeypatch, raw, expected):
    monkeypatch.setenv("FLAG", raw)
    assert env_bool("FLAG", not expected) is expected


def test_it_uses_the_default_for_an_empty_variable(monkeypatch):
    monkeypatch.setenv("FLAG", "  ")
    assert env_bool("FLAG", True) is True


def test_it_refuses_a_boolean_that_is_not_one(monkeypatch):
    monkeypatch.setenv("DEBUG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="DEBUG='maybe' is not a boolean"):
        env_bool("DEBUG", False)


def test_it_refuses_a_port_that_is_not_a_number(monkeypatch):
    monkeypatch.setenv("EMAIL_PORT", "smtp")
    with pytest.raises(ImproperlyConfigured, match="EMAIL_PORT='smtp' is not a whole number"):
        env_int("EMAIL_PORT", 587)


def test_it_refuses_a_number_below_the_minimum(monkeypatch):
    monkeypatch.setenv("EMAIL_PORT", "0")
    with pytest.raises(ImproperlyConfigured, match="at least 1"):
        env_int("EMAIL_PORT", 587, minimum=1)


def test_it_reads_a_decimal_percentage(monkeypatch):
    monkeypatch.setenv("INVOICE_TOLERANCE_PCT", "2.5")
    assert env_decimal("INVOICE_TOLERANCE_PCT", "2") == Decimal("2.5")


@pytest.mark.parametrize("raw", ["two", "-1", "NaN"])
def test_it_refuses_a_decimal_that_is_not_a_sensible_number(monkeypatch, raw):
    monkeypatch.setenv("INVOICE_TOLERANCE_PCT", raw)
    with pytest.raises(ImproperlyConfigured, match="INVOICE_TOLERANCE_PCT"):
        env_decimal("INVOICE_TOLERANCE_PCT", "2")


def test_it_splits_lists_on_commas(monkeypatch):
    monkeypatch.setenv("ALLOWED_HOSTS", "spend.example.com, .example.org")
    assert env_list("ALLOWED_HOSTS") == ["spend.example.com", ".example.org"]


def test_it_refuses_an_empty_list_item(monkeypatch):
    monkeypatch.setenv("ALLOWED_HOSTS", "a.example.com,,b.example.com")
    with pytest.raises(ImproperlyConfigured, match="empty item"):
        env_list("ALLOWED_HOSTS")


def test_it_reads_host_names_in_lower_case_without_a_trailing_dot(monkeypatch):
    monkeypatch.setenv("OUTBOUND_ALLOWED_PRIVATE_HOSTS", "Chat.Internal., 10.0.0.5, fd00::5")
    assert env_host_names("OUTBOUND_ALLOWED_PRIVATE_HOSTS") == [
        "chat.internal",
        "10.0.0.5",
        "fd00::5",
    ]


@pytest.mark.parametrize(
    "raw", ["https://chat.internal", "chat.internal:8065", "chat.internal/hooks", "[fd00::5]"]
)
def test_it_refuses_a_host_name_with_more_than_the_host(monkeypatch, raw):
    monkeypatch.setenv("OUTBOUND_ALLOWED_PRIVATE_HOSTS", raw)
    with pytest.raises(ImproperlyConfigured, match="OUTBOUND_ALLOWED_PRIVATE_HOSTS"):
        env_host_names("OUTBOUND_ALLOWED_PRIVATE_HOSTS")


def test_it_strips_the_trailing_slash_of_a_url(monkeypatch):
    monkeypatch.setenv("SITE_URL", "https://spend.example.com/")
    assert env_url("SITE_URL", "http://x") == "https://spend.example.com"


@pytest.mark.parametrize("raw", ["spend.example.com", "ftp://spend.example.com", "https://"])
def test_it_refuses_a_url_that_is_not_absolute_http(monkeypatch, raw):
    monkeypatch.setenv("SITE_URL", raw)
    with pytest.raises(ImproperlyConfigured, match="SITE_URL"):
        env_url("SITE_URL", "http://x")


def test_it_accepts_fernet_keys(monkeypatch):
    monkeypatch.setenv("FIELD_ENCRYPTION_KEYS", f"{FERNET_KEY},{FERNET_KEY}")
    assert env_fernet_keys("FIELD_ENCRYPTION_KEYS") == [FERNET_KEY, FERNET_KEY]


def test_it_refuses_a_key_that_is_not_a_fernet_key(monkeypatch):
    monkeypatch.setenv("FIELD_ENCRYPTION_KEYS", f"{FERNET_KEY},hunter2")
    with pytest.raises(ImproperlyConfigured, match="key 2 is not a Fernet key"):
        env_fernet_keys("FIELD_ENCRYPTION_KEYS")


def test_it_reads_a_postgresql_url():
    config = database_from_url(
        "postgresql://spend:s%40cret@db.internal:6543/spend?sslmode=require", base_dir=Path("/app")
    )
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["USER"], config["PASSWORD"]) == ("spend", "s@cret")
    assert (config["HOST"], config["PORT"], config["NAME"]) == ("db.internal", "6543", "spend")
    assert config["OPTIONS"] == {"sslmode": "require"}


def test_it_reads_a_relative_sqlite_url():
    config = database_from_url("sqlite:///var/demo.sqlite3", base_dir=Path("/app"))
    assert config["NAME"] == "/app/var/demo.sqlite3"


def test_it_reads_an_absolute_sqlite_url():
    config = database_from_url("sqlite:////data/spend.sqlite3", base_dir=Path("/app"))
    assert config["NAME"] == "/data/spend.sqlite3"


@pytest.mark.parametrize(
    "url", ["mysql://root@localhost/spend", "postgresql://localhost", "sqlite://relative.db"]
)
def test_it_refuses_database_urls_it_cannot_use(url):
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL"):
        database_from_url(url, base_dir=Path("/app"))


def test_it_keeps_the_database_password_out_of_errors():
    with pytest.raises(ImproperlyConfigured) as error:
        database_from_url("postgresql://u:topsecret@localhost:notaport/db", base_dir=Path("/app"))
    assert "topsecret" not in str(error.value)
