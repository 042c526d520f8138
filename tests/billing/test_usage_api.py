import gzip
import json
from unittest import mock

import pytest
from django.db import OperationalError
from django.urls import reverse

from billing.models import UsageEvent, UsageRollup
from billing.payload import MAX_EVENTS
from dashboard.tokens import token_create, token_revoke
from tests.factories import canonical_event

URL = "/api/v1/usage"


def _post(client, body, token, content_type="application/json", **headers):
    if not isinstance(body, bytes | str):
        body = json.dumps(body)
    return client.post(
        URL, body, content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {token}", **headers
    )


def test_it_accepts_a_json_array(client, catalog, usage_token):
    response = _post(client, [canonical_event(id="a"), canonical_event(id="b")], usage_token)
    assert response.status_code == 200
    assert response.json() == {"accepted": 2, "duplicates": 0, "rejected": []}


def test_it_accepts_an_events_object(client, catalog, usage_token):
    response = _post(client, {"events": [canonical_event()]}, usage_token)
    assert response.json()["accepted"] == 1


def test_it_accepts_a_single_event(client, catalog, usage_token):
    assert _post(client, canonical_event(), usage_token).json()["accepted"] == 1


def test_it_recognises_ndjson_sent_as_application_json(client, catalog, usage_token):
    body = "\n".join(json.dumps(canonical_event(id=f"e{i}")) for i in range(3))
    assert _post(client, body, usage_token).json()["accepted"] == 3


def test_it_rejects_only_the_bad_lines_of_ndjson(client, catalog, usage_token):
    body = json.dumps(canonical_event(id="ok")) + "\n{not json\n"
    answer = _post(client, body, usage_token).json()
    assert answer["accepted"] == 1
    assert answer["rejected"][0]["index"] == 1
    assert "line 2 is not valid JSON" in answer["rejected"][0]["errors"]["line"]


def test_it_accepts_a_gzip_body(client, catalog, usage_token):
    body = gzip.compress(json.dumps([canonical_event()]).encode())
    response = _post(client, body, usage_token, HTTP_CONTENT_ENCODING="gzip")
    assert response.json()["accepted"] == 1


def test_it_answers_the_same_batch_again_with_duplicates(client, catalog, usage_token):
    _post(client, [canonical_event()], usage_token)
    assert _post(client, [canonical_event()], usage_token).json() == {
        "accepted": 0,
        "duplicates": 1,
        "rejected": [],
    }


@pytest.mark.parametrize(
    "body", ["{", "[1, 2", "null", "42", '"text"', "", "NaN", '[{"id": NaN}]', "[" * 100_000]
)
def test_it_answers_400_for_a_body_that_is_not_a_batch(client, catalog, usage_token, body):
    response = _post(client, body, usage_token)
    assert response.status_code == 400
    assert response.json()["error"] == "malformed body"


def test_it_answers_400_for_broken_gzip(client, catalog, usage_token):
    response = _post(client, b"\x1f\x8b\x08garbage", usage_token, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 400


def test_it_answers_413_for_too_many_events(client, catalog, usage_token):
    body = json.dumps([{"id": str(i)} for i in range(MAX_EVENTS + 1)])
    assert _post(client, body, usage_token).status_code == 413


def test_it_answers_413_for_a_body_over_10_mb_after_gunzip(client, catalog, usage_token):
    body = gzip.compress(b" " * (10 * 1024 * 1024 + 1) + b"[]")
    response = _post(client, body, usage_token, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 413


def test_it_answers_401_without_a_token(client, db):
    response = client.post(URL, "[]", content_type="application/json")
    assert response.status_code == 401
    assert response.json()["error"] == "missing token"


def test_it_answers_401_for_a_wrong_token(client, catalog, usage_token):
    assert _post(client, [], usage_token[:-2] + "xx").status_code == 401


def test_it_answers_401_for_a_revoked_token(client, team, catalog):
    row, token = token_create(team=team, name="old", scopes=["usage:write"])
    token_revoke(token=row)
    assert _post(client, [canonical_event()], token).status_code == 401


def test_it_answers_403_without_the_usage_scope(client, team, catalog):
    _, token = token_create(team=team, name="reader", scopes=["routes:read"])
    response = _post(client, [canonical_event()], token)
    assert response.status_code == 403
    assert not UsageEvent.objects.exists()


def test_it_answers_405_to_get(client, usage_token):
    response = client.get(URL, HTTP_AUTHORIZATION=f"Bearer {usage_token}")
    assert response.status_code == 405
    assert response.json()["error"] == "method not allowed"


def test_it_answers_503_with_retry_after_when_the_database_is_down(client, catalog, usage_token):
    with mock.patch("billing.api.authenticate_proxy", side_effect=OperationalError("gone")):
        response = _post(client, [canonical_event()], usage_token)
    assert response.status_code == 503
    assert response["Retry-After"] == "30"


def test_it_writes_nothing_when_the_database_fails_halfway(client, catalog, usage_token):
    with mock.patch("billing.ingest.add_to_rollups", side_effect=OperationalError("lost")):
        response = _post(client, [canonical_event()], usage_token)
    assert response.status_code == 503
    assert not UsageEvent.objects.exists()
    assert not UsageRollup.objects.exists()


def test_it_lands_events_for_the_token_team_only(client, team, other_team, catalog, usage_token):
    _post(client, [canonical_event()], usage_token)
    assert UsageEvent.objects.get().team == team


def test_it_records_when_a_token_was_last_used(client, team, catalog):
    row, token = token_create(team=team, name="proxy", scopes=["usage:write"])
    _post(client, [canonical_event()], token)
    row.refresh_from_db()
    assert row.last_used_at is not None


def test_the_url_is_the_documented_one():
    assert reverse("api_usage") == URL


def test_it_rejects_metadata_nested_too_deep_and_keeps_the_rest(client, catalog, usage_token):
    deep: dict = {}
    for _ in range(30):
        deep = {"x": deep}
    batch = [canonical_event(id="deep", metadata=deep), canonical_event(id="flat")]
    answer = _post(client, batch, usage_token).json()
    assert answer["accepted"] == 1
    assert "must not nest deeper" in answer["rejected"][0]["errors"]["metadata"]


def test_it_answers_400_for_json_nested_beyond_what_a_parser_can_hold(client, catalog, usage_token):
    body = '{"id": "x", "metadata": ' + '{"a": ' * 50_000 + "1" + "}" * 50_001
    assert _post(client, body, usage_token).status_code == 400
