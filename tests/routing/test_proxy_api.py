"""What the LiteLLM companion reads and reports: routes with base URLs, keys with an ETag, and
its heartbeat."""

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from dashboard.models import AuditEvent
from dashboard.tokens import token_create
from routing.audit_actions import RoutingAuditAction
from routing.keys import key_revoke, key_rotate
from routing.models import Provider, ProxyInstance
from tests.factories import ProviderKeyFactory

NOW = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)


def _get(client, url, token, **headers):
    return client.get(url, HTTP_AUTHORIZATION=f"Bearer {token}", **headers)


# --- Routes -------------------------------------------------------------------------------


def test_each_target_and_fallback_carries_its_provider_s_base_url(client, published, routes_token):
    (rule,) = _get(client, "/api/v1/routes", routes_token).json()["rules"]
    assert rule["targets"][0]["api_base"] == "https://llm.chutes.ai/v1"
    assert rule["fallbacks"] == [
        {
            "provider": "anthropic",
            "model": "claude-sonnet-4-5",
            "api_base": "https://api.anthropic.com",
        }
    ]


def test_a_provider_without_a_base_url_serves_an_empty_one(client, published, routes_token):
    Provider.objects.filter(slug="anthropic").update(base_url="")
    (rule,) = _get(client, "/api/v1/routes", routes_token).json()["rules"]
    assert rule["fallbacks"][0]["api_base"] == ""


def test_a_changed_base_url_is_served_at_once_under_a_new_etag(client, published, routes_token):
    etag = _get(client, "/api/v1/routes", routes_token)["ETag"]
    Provider.objects.filter(slug="chutes").update(base_url="https://chutes.example.com/v1")
    answer = _get(client, "/api/v1/routes", routes_token, HTTP_IF_NONE_MATCH=etag)
    assert answer.status_code == 200
    assert answer["ETag"] != etag
    assert answer.json()["rules"][0]["targets"][0]["api_base"] == "https://chutes.example.com/v1"


def test_the_same_document_answers_304(client, published, routes_token):
    etag = _get(client, "/api/v1/routes", routes_token)["ETag"]
    again = _get(client, "/api/v1/routes", routes_token, HTTP_IF_NONE_MATCH=etag)
    assert (again.status_code, again["ETag"]) == (304, etag)


def test_the_litellm_yaml_follows_a_changed_base_url(client, published, routes_token):
    etag = _get(client, "/api/v1/routes/litellm.yaml", routes_token)["ETag"]
    Provider.objects.filter(slug="chutes").update(base_url="https://chutes.example.com/v1")
    answer = _get(client, "/api/v1/routes/litellm.yaml", routes_token, HTTP_IF_NONE_MATCH=etag)
    assert answer.status_code == 200
    assert b"https://chutes.example.com/v1" in answer.content


# --- Keys ---------------------------------------------------------------------------------


@pytest.fixture
def keys_token(team):
    return token_create(team=team, name="proxy", scopes=["keys:read"])[1]


def _reads(team):
    return AuditEvent.objects.filter(team=team, action=RoutingAuditAction.KEY_READ).count()


def test_unchanged_keys_answer_304_without_a_body_and_unaudited(client, team, keys_token):
    ProviderKeyFactory(team=team)
    first = _get(client, "/api/v1/keys", keys_token)
    again = _get(client, "/api/v1/keys", keys_token, HTTP_IF_NONE_MATCH=first["ETag"])
    assert (again.status_code, again.content) == (304, b"")
    assert again["ETag"] == first["ETag"]
    assert _reads(team) == 1


def test_a_rotation_changes_the_keys_etag(client, team, keys_token):
    key = ProviderKeyFactory(team=team)
    etag = _get(client, "/api/v1/keys", keys_token)["ETag"]
    key_rotate(key=key, secret="cpk_" + "r" * 40, user=None)
    answer = _get(client, "/api/v1/keys", keys_token, HTTP_IF_NONE_MATCH=etag)
    assert answer.status_code == 200
    assert [k["secret"] for k in answer.json()["keys"]] == ["cpk_" + "r" * 40]
    assert _reads(team) == 2


def test_a_revocation_changes_the_keys_etag(client, team, keys_token):
    key = ProviderKeyFactory(team=team)
    etag = _get(client, "/api/v1/keys", keys_token)["ETag"]
    key_revoke(key=key, user=None)
    answer = _get(client, "/api/v1/keys", keys_token, HTTP_IF_NONE_MATCH=etag)
    assert (answer.status_code, answer.json()["keys"]) == (200, [])


def test_the_newest_key_of_a_provider_comes_first(client, team, keys_token):
    older = ProviderKeyFactory(team=team, label="a-older")
    ProviderKeyFactory(team=team, provider=older.provider, label="b-newer")
    labels = [k["label"] for k in _get(client, "/api/v1/keys", keys_token).json()["keys"]]
    assert labels == ["b-newer", "a-older"]


# --- Heartbeat ----------------------------------------------------------------------------


def _beat(client, token, body, **extra):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(
        "/api/v1/proxy/heartbeat",
        data=data,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
        **extra,
    )


def _report(**overrides):
    return {
        "instance_id": "proxy-1-1234-abcd",
        "host": "proxy-1",
        "litellm_version": "1.110.2",
        "plugin_version": "1.0.0",
        "routing_version": 1,
        "routing_error": "",
        "last_sync_at": "2026-12-05T09:59:55+00:00",
        "spool_depth": 0,
        "spool_bytes": 0,
        "shipped": 1200,
        "dead_lettered": 1,
        "dropped": 0,
    } | overrides


def test_a_heartbeat_records_the_proxy_and_answers_the_published_version(
    client, team, published, routes_token
):
    with time_machine.travel(NOW, tick=False):
        answer = _beat(client, routes_token, _report())
    assert answer.json() == {"ok": True, "published_version": 1}
    proxy = ProxyInstance.objects.get(team=team)
    assert (proxy.host, proxy.routing_version, proxy.shipped) == ("proxy-1", 1, 1200)
    assert proxy.last_sync_at == datetime(2026, 12, 5, 9, 59, 55, tzinfo=UTC)
    assert proxy.first_seen_at == proxy.last_seen_at == NOW


def test_the_next_heartbeat_updates_the_same_row(client, team, routes_token):
    with time_machine.travel(NOW, tick=False):
        _beat(client, routes_token, _report())
    with time_machine.travel(NOW + timedelta(seconds=10), tick=False):
        answer = _beat(client, routes_token, _report(shipped=1300, routing_version=None))
    assert answer.json() == {"ok": True, "published_version": None}
    proxy = ProxyInstance.objects.get(team=team)
    assert (proxy.shipped, proxy.routing_version) == (1300, None)
    assert (proxy.first_seen_at, proxy.last_seen_at) == (NOW, NOW + timedelta(seconds=10))


def test_only_the_instance_id_is_required(client, team, routes_token):
    assert _beat(client, routes_token, {"instance_id": "p"}).status_code == 200
    assert ProxyInstance.objects.get(team=team).spool_depth == 0


def test_the_same_instance_id_in_two_teams_is_two_proxies(client, team, other_team, routes_token):
    _, other_token = token_create(team=other_team, name="proxy", scopes=["routes:read"])
    _beat(client, routes_token, _report())
    _beat(client, other_token, _report(host="theirs"))
    assert ProxyInstance.objects.get(team=team).host == "proxy-1"
    assert ProxyInstance.objects.get(team=other_team).host == "theirs"


def _depths(client, token, *depths):
    for seconds, depth in enumerate(depths):
        with time_machine.travel(NOW + timedelta(seconds=10 * seconds), tick=False):
            _beat(client, token, _report(spool_depth=depth))
    return ProxyInstance.objects.get().spool_growing_since


def test_a_rising_spool_is_growing_since_the_first_rise(client, team, routes_token):
    assert _depths(client, routes_token, 5, 9, 9, 14) == NOW + timedelta(seconds=10)


def test_a_spool_that_falls_or_empties_is_not_growing(client, team, routes_token):
    assert _depths(client, routes_token, 5, 9, 7) is None
    assert _depths(client, routes_token, 5, 9, 0) is None


@pytest.mark.parametrize(
    "change, field",
    [
        ({"instance_id": ""}, "instance_id"),
        ({"instance_id": None}, "instance_id"),
        ({"instance_id": "x" * 101}, "instance_id"),
        ({"instance_id": 12}, "instance_id"),
        ({"host": "pro\x00xy"}, "host"),
        ({"host": "\ud800"}, "host"),
        ({"host": "h" * 256}, "host"),
        ({"litellm_version": ["1.110.2"]}, "litellm_version"),
        ({"routing_error": "e" * 2001}, "routing_error"),
        ({"routing_version": -1}, "routing_version"),
        ({"routing_version": 2**31}, "routing_version"),
        ({"routing_version": "7"}, "routing_version"),
        ({"routing_version": 7.5}, "routing_version"),
        ({"spool_depth": 2**63}, "spool_depth"),
        ({"shipped": 10**400}, "shipped"),
        ({"dropped": True}, "dropped"),
        ({"dead_lettered": -3}, "dead_lettered"),
        ({"last_sync_at": "yesterday"}, "last_sync_at"),
        ({"last_sync_at": "2026-12-05T10:00:00"}, "last_sync_at"),
        ({"last_sync_at": "2026-13-45T10:00:00+00:00"}, "last_sync_at"),
        ({"last_sync_at": 1764928800}, "last_sync_at"),
        ({"last_sync_at": "9999-12-31T23:59:59-05:00"}, "last_sync_at"),
        ({"last_sync_at": "0001-01-01T00:00:00+01:00"}, "last_sync_at"),
    ],
)
def test_a_hostile_field_is_refused_by_name_and_stores_nothing(
    client, team, routes_token, change, field
):
    answer = _beat(client, routes_token, _report(**change))
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid heartbeat"
    assert field in answer.json()["detail"]
    assert not ProxyInstance.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        "[1, 2]",
        '"proxy"',
        "null",
        '{"instance_id": "p", "shipped": NaN}',
        "[" * 50_000,
    ],
)
def test_a_body_that_is_not_a_heartbeat_is_a_json_400(client, team, routes_token, body):
    answer = _beat(client, routes_token, body)
    assert answer.status_code == 400
    assert set(answer.json()) == {"error", "detail"}


def test_a_body_that_is_not_utf8_is_a_json_400(client, team, routes_token):
    answer = _beat(client, routes_token, b'{"instance_id": "\xff"}')
    assert (answer.status_code, answer.json()["error"]) == (400, "invalid JSON")


def test_a_huge_heartbeat_is_refused(client, team, routes_token):
    answer = _beat(client, routes_token, _report(host="h" * 70_000))
    assert answer.status_code == 413


def test_a_heartbeat_needs_a_token(client, db):
    answer = client.post("/api/v1/proxy/heartbeat", data="{}", content_type="application/json")
    assert answer.status_code == 401


def test_a_heartbeat_needs_the_routes_scope(client, team):
    _, token = token_create(team=team, name="usage only", scopes=["usage:write"])
    assert _beat(client, token, _report()).status_code == 403


def test_a_heartbeat_is_posted(client, team, routes_token):
    answer = _get(client, "/api/v1/proxy/heartbeat", routes_token)
    assert (answer.status_code, answer["Allow"]) == (405, "POST")
