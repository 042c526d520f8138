import json
import sys
from io import StringIO
from unittest import mock

import httpx
import pytest
import respx
from cryptography.fernet import Fernet
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.views.debug import ExceptionReporter

from dashboard.models import AuditEvent
from dashboard.tokens import token_create
from routing.encryption import decrypt, encrypt
from routing.keys import (
    active_keys_for_proxy,
    format_warnings,
    key_add,
    key_probe,
    key_revoke,
    key_rotate,
    key_test,
    mask_of,
)
from routing.models import Provider, ProviderKey

SECRET = "cpk_0123456789abcdefghijklmnopqrstuvwxyzab12"


@pytest.fixture
def key(team, chutes, admin_user):
    return key_add(team=team, provider=chutes, label="prod", secret=SECRET, user=admin_user)


def test_it_stores_the_secret_encrypted_and_reads_it_back(key):
    assert SECRET not in key.secret_encrypted
    assert decrypt(key.secret_encrypted) == SECRET


def test_it_masks_a_key_with_its_prefix_and_last_four(key):
    assert key.mask == "cpk_…ab12"


def test_it_masks_a_short_key_with_two_characters_only():
    assert mask_of("abcdefgh") == "…gh"


def test_it_warns_when_a_key_does_not_look_like_the_providers(chutes):
    assert "Chutes keys start with cpk_" in format_warnings(chutes, "sk-123")[0]


def test_it_does_not_warn_for_a_key_that_looks_right(chutes):
    assert format_warnings(chutes, SECRET) == []


def test_it_refuses_a_second_active_key_with_the_same_label(team, chutes, key, admin_user):
    with pytest.raises(ValidationError, match="already has an active"):
        key_add(team=team, provider=chutes, label="prod", secret=SECRET + "x", user=admin_user)


def test_rotating_keeps_the_old_key_revoked(key, admin_user):
    new = key_rotate(key=key, secret="cpk_" + "z" * 40, user=admin_user)
    key.refresh_from_db()
    assert (key.is_active, new.is_active, new.replaces) == (False, True, key)
    assert decrypt(new.secret_encrypted) == "cpk_" + "z" * 40


def test_revoking_twice_says_so(key, admin_user):
    assert key_revoke(key=key, user=admin_user) is True
    assert key_revoke(key=key, user=admin_user) is False


def test_every_change_is_audited_without_the_secret(key, admin_user):
    key_rotate(key=key, secret="cpk_" + "y" * 40, user=admin_user)
    actions = list(AuditEvent.objects.values_list("action", flat=True))
    assert set(actions) == {"key.added", "key.rotated"}
    assert SECRET not in json.dumps(list(AuditEvent.objects.values()), default=str)


@respx.mock
def test_a_key_the_provider_accepts_tests_ok(key, admin_user):
    route = respx.get("https://llm.chutes.ai/v1/models").respond(200, json={"data": []})
    key_test(key=key, user=admin_user)
    assert key.last_test_result == "ok"
    assert route.calls.last.request.headers["Authorization"] == f"Bearer {SECRET}"


@respx.mock(assert_all_mocked=True)
def test_a_demo_key_is_never_sent(team, chutes, admin_user):
    secret = "demo-not-a-real-key-chutes-maven"
    key = key_add(team=team, provider=chutes, label="demo", secret=secret, user=admin_user)
    key_test(key=key, user=admin_user)
    assert respx.calls.call_count == 0
    assert key.last_test_message == "Demo key: not tested; it is fake and never sent."


def test_a_demo_key_is_never_handed_to_a_proxy(team, chutes, admin_user):
    real = key_add(team=team, provider=chutes, label="prod", secret=SECRET, user=admin_user)
    key_add(
        team=team, provider=chutes, label="demo", secret="demo-not-a-real-key-x", user=admin_user
    )
    assert active_keys_for_proxy(team) == [real]


@respx.mock
def test_a_key_the_provider_refuses_tests_rejected_with_its_message(key, admin_user):
    respx.get("https://llm.chutes.ai/v1/models").respond(
        401, json={"error": {"message": "Invalid API key"}}
    )
    key_test(key=key, user=admin_user)
    assert key.last_test_result == "rejected"
    assert "Invalid API key" in key.last_test_message


@respx.mock
def test_an_offline_provider_tests_unreachable(key, admin_user):
    respx.get("https://llm.chutes.ai/v1/models").mock(side_effect=httpx.ConnectError("down"))
    key_test(key=key, user=admin_user)
    assert key.last_test_result == "unreachable"


@respx.mock
def test_a_timeout_tests_unreachable(key, admin_user):
    respx.get("https://llm.chutes.ai/v1/models").mock(side_effect=httpx.ReadTimeout("slow"))
    key_test(key=key, user=admin_user)
    assert "within 10 s" in key.last_test_message


@pytest.mark.parametrize(
    "base_url", ["http://127.0.0.1:5432", "http://169.254.169.254/latest", "http://0x7f.1:6379"]
)
@respx.mock
def test_a_provider_on_an_internal_address_is_not_called(key, admin_user, base_url):
    anything = respx.route().respond(200, text="internal answer")
    Provider.objects.filter(pk=key.provider_id).update(base_url=base_url)
    key.provider.refresh_from_db()
    key_test(key=key, user=admin_user)
    assert not anything.called
    assert key.last_test_result == "unreachable"
    assert "private or local network" in key.last_test_message


@respx.mock
def test_anthropic_keys_are_tested_with_anthropics_headers(catalog):
    route = respx.get("https://api.anthropic.com/v1/models").respond(200, json={"data": []})
    key_probe(Provider.objects.get(slug="anthropic"), "sk-ant-secret")
    headers = route.calls.last.request.headers
    assert (headers["x-api-key"], headers["anthropic-version"]) == ("sk-ant-secret", "2023-06-01")


@respx.mock
def test_openrouter_keys_are_tested_where_a_key_is_required(catalog):
    route = respx.get("https://openrouter.ai/api/v1/key").respond(200, json={"data": {}})
    assert key_probe(Provider.objects.get(slug="openrouter"), "sk-or-x").result == "ok"
    assert route.called


def _get_keys(client, token):
    return client.get("/api/v1/keys", HTTP_AUTHORIZATION=f"Bearer {token}")


def test_the_keys_api_serves_active_keys_to_a_keys_read_token(client, team, key, admin_user):
    key_add(team=team, provider=key.provider, label="old", secret="cpk_" + "o" * 40, user=None)
    key_revoke(key=ProviderKey.objects.get(label="old"), user=None)
    _, token = token_create(team=team, name="proxy", scopes=["keys:read"])
    answer = _get_keys(client, token)
    assert answer["Cache-Control"] == "no-store, private"
    assert [(k["provider"], k["label"], k["secret"]) for k in answer.json()["keys"]] == [
        ("chutes", "prod", SECRET)
    ]


def test_every_read_of_the_keys_api_is_audited(client, team, key):
    row, token = token_create(team=team, name="proxy", scopes=["keys:read"])
    _get_keys(client, token)
    event = AuditEvent.objects.get(action="key.read")
    assert event.token == row
    assert "prod" in event.detail["keys"][0]


@pytest.mark.parametrize("scope", ["usage:write", "routes:read"])
def test_the_keys_api_refuses_other_scopes(client, team, key, scope):
    _, token = token_create(team=team, name="proxy", scopes=[scope])
    assert _get_keys(client, token).status_code == 403


def test_the_keys_api_refuses_a_missing_token(client, db):
    assert client.get("/api/v1/keys").status_code == 401


def test_a_team_token_never_reads_another_teams_keys(client, other_team, key):
    _, token = token_create(team=other_team, name="proxy", scopes=["keys:read"])
    assert _get_keys(client, token).json()["keys"] == []


def test_rotate_encryption_key_reencrypts_under_the_first_key(settings, key):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    stored = ProviderKey.objects.get(pk=key.pk)
    stored.secret_encrypted = encrypt(SECRET)
    stored.save()
    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    out = StringIO()
    call_command("rotate_encryption_key", stdout=out)
    settings.FIELD_ENCRYPTION_KEYS = [new]
    assert decrypt(ProviderKey.objects.get(pk=key.pk).secret_encrypted) == SECRET
    assert "Re-encrypted 1 provider keys" in out.getvalue()


def test_rotate_encryption_key_stops_when_a_key_is_missing(settings, key):
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(CommandError, match="Nothing was changed"):
        call_command("rotate_encryption_key", stdout=StringIO())


def test_an_error_report_never_shows_the_secret(team, chutes, admin_user, monkeypatch):
    def broken(secret):
        raise RuntimeError("disk full")

    monkeypatch.setattr("routing.keys.encrypt", broken)
    try:
        key_add(team=team, provider=chutes, label="prod", secret=SECRET, user=admin_user)
    except RuntimeError:
        report = ExceptionReporter(None, *sys.exc_info()).get_traceback_html()
    assert "disk full" in report
    assert SECRET not in report


@respx.mock
def test_a_provider_message_that_echoes_the_key_is_redacted(key, admin_user):
    respx.get("https://llm.chutes.ai/v1/models").respond(
        401, json={"error": {"message": f"Invalid key {SECRET} (part {SECRET[6:20]})"}}
    )
    key_test(key=key, user=admin_user)
    assert SECRET not in key.last_test_message
    assert SECRET[6:20] not in key.last_test_message
    assert "Invalid key cpk_…ab12" in key.last_test_message


def test_a_crash_while_adding_a_key_keeps_the_posted_secret_out_of_the_report(
    client, team, chutes, admin_user, monkeypatch
):
    monkeypatch.setattr("routing.views_keys.key_add", mock.Mock(side_effect=RuntimeError("boom")))
    client.force_login(admin_user)
    client.raise_request_exception = False
    response = client.post(
        f"/t/{team.slug}/keys/", {"provider": chutes.pk, "label": "prod", "secret": SECRET}
    )
    report = ExceptionReporter(response.wsgi_request, *response.exc_info).get_traceback_html()
    assert response.status_code == 500
    assert SECRET not in report
