"""A provider secret, once pasted, never comes back: in no page, fragment, admin page or log."""

import logging
import secrets
import string

import pytest
import respx
from django.db import connection
from django.urls import reverse

from dashboard.models import AuditEvent
from routing.models import ProviderKey

RANDOM_PART = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(40))
SECRET = "cpk_" + RANDOM_PART
# Any 8 characters in a row of the random part would already be a leak.
SLICES = [RANDOM_PART[start : start + 8] for start in range(len(RANDOM_PART) - 7)]


def assert_no_secret(text: str) -> None:
    assert SECRET not in text
    leaked = [piece for piece in SLICES if piece in text]
    assert not leaked, f"pieces of the secret leaked: {leaked}"


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser("root", "root@example.com", "x")


@pytest.fixture
def key(admin_client, team, chutes):
    """Added through the page, as a person would."""
    data = {"provider": chutes.pk, "label": "prod", "secret": SECRET}
    admin_client.post(reverse("keys", kwargs={"team": team.slug}), data)
    return ProviderKey.objects.get(team=team, label="prod")


@pytest.fixture(autouse=True)
def chutes_api():
    with respx.mock(assert_all_called=False) as mock:
        yield mock.get("https://llm.chutes.ai/v1/models").respond(
            401, json={"error": {"message": "Invalid API key"}}
        )


@pytest.fixture
def logs(caplog):
    """Every log record at DEBUG, SQL statements and their parameters included."""
    caplog.set_level(logging.DEBUG)
    # Django's own loggers stop at INFO unless told otherwise.
    caplog.set_level(logging.DEBUG, logger="django")
    connection.force_debug_cursor = True
    yield caplog
    connection.force_debug_cursor = False


def _key_url(name, key):
    return reverse(name, kwargs={"team": key.team.slug, "key_id": key.pk})


def _keys_url(key):
    return reverse("keys", kwargs={"team": key.team.slug})


def _add_again(client, key, **changes):
    data = {"provider": key.provider_id, "label": "prod", "secret": SECRET, **changes}
    return client.post(_keys_url(key), data)


def _as_superuser(client, superuser, url):
    client.force_login(superuser)
    return client.get(url)


# name -> what a person does that shows something about the key
PAGES = {
    "keys page": lambda client, key, root: client.get(_keys_url(key)),
    "add, then the page": lambda client, key, root: client.post(
        _keys_url(key),
        {"provider": key.provider_id, "label": "staging", "secret": SECRET + "2"},
        follow=True,
    ),
    "add refused: duplicate label": lambda client, key, root: _add_again(client, key),
    "add refused: empty label": lambda client, key, root: _add_again(client, key, label=""),
    "add refused: label too long": lambda client, key, root: _add_again(
        client, key, label="x" * 101
    ),
    "rotate page": lambda client, key, root: client.get(_key_url("key_rotate", key)),
    "rotate refused: too long": lambda client, key, root: client.post(
        _key_url("key_rotate", key), {"secret": SECRET + "x" * 1000}
    ),
    "rotate, then the page": lambda client, key, root: client.post(
        _key_url("key_rotate", key), {"secret": SECRET + "3"}, follow=True
    ),
    "revoke page": lambda client, key, root: client.get(_key_url("key_revoke", key)),
    "revoke, then the page": lambda client, key, root: client.post(
        _key_url("key_revoke", key), follow=True
    ),
    "test fragment": lambda client, key, root: client.post(
        _key_url("key_test", key), HTTP_HX_REQUEST="true"
    ),
    "test, then the page": lambda client, key, root: client.post(
        _key_url("key_test", key), follow=True
    ),
    "audit page": lambda client, key, root: client.get(
        reverse("audit", kwargs={"team": key.team.slug})
    ),
    "admin key list": lambda client, key, root: _as_superuser(
        client, root, reverse("admin:routing_providerkey_changelist")
    ),
    "admin key page": lambda client, key, root: _as_superuser(
        client, root, reverse("admin:routing_providerkey_change", args=[key.pk])
    ),
    "admin audit list": lambda client, key, root: _as_superuser(
        client, root, reverse("admin:dashboard_auditevent_changelist")
    ),
}


@pytest.mark.parametrize("page", PAGES)
def test_it_never_shows_the_secret(admin_client, key, superuser, page):
    response = PAGES[page](admin_client, key, superuser)
    assert response.status_code in (200, 400)
    assert_no_secret(response.content.decode())


@pytest.mark.parametrize("page", PAGES)
def test_it_never_logs_the_secret(admin_client, key, superuser, logs, page):
    PAGES[page](admin_client, key, superuser)
    assert logs.records
    assert_no_secret(logs.text)


def test_it_never_logs_the_secret_when_adding(admin_client, team, chutes, logs):
    data = {"provider": chutes.pk, "label": "prod", "secret": SECRET}
    admin_client.post(reverse("keys", kwargs={"team": team.slug}), data)
    assert ProviderKey.objects.filter(team=team, label="prod").exists()
    assert_no_secret(logs.text)


def test_it_shows_the_admin_key_page_without_the_ciphertext(client, key, superuser):
    page = _as_superuser(
        client, superuser, reverse("admin:routing_providerkey_change", args=[key.pk])
    )
    assert key.secret_encrypted not in page.content.decode()
    assert "secret_encrypted" not in page.content.decode()


def test_it_stores_the_secret_only_encrypted(key):
    stored = ProviderKey.objects.values_list("secret_encrypted", flat=True).get(pk=key.pk)
    assert_no_secret(stored)


def test_it_keeps_the_secret_out_of_the_audit_log(key):
    assert_no_secret(repr(list(AuditEvent.objects.values())))
