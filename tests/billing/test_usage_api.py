import gzip
import io
import json
from decimal import Decimal
from unittest import mock

import httpx
import pytest
from django.core.handlers.wsgi import WSGIRequest
from django.db import OperationalError, connection
from django.test import RequestFactory
from django.urls import reverse

from billing.bench.ingest import Gunicorn
from billing.ingest.api import usage
from billing.ingest.payload import MAX_EVENTS
from billing.models import UsageEvent, UsageRollup
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
    with mock.patch("billing.ingest.api.authenticate_proxy", side_effect=OperationalError("gone")):
        response = _post(client, [canonical_event()], usage_token)
    assert response.status_code == 503
    assert response["Retry-After"] == "30"


def test_it_writes_nothing_when_the_database_fails_halfway(client, catalog, usage_token):
    with mock.patch("billing.ingest.store.rollups_add", side_effect=OperationalError("lost")):
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


@pytest.mark.parametrize(
    ("timestamp", "message"),
    [
        ("0001-01-01T00:30:00+01:00", "must be after 2000-01-01"),
        ("9999-12-31T23:59:59-01:00", "is more than 5 minutes in the future"),
    ],
)
def test_it_rejects_only_an_event_whose_time_has_no_utc_date(
    client, catalog, usage_token, timestamp, message
):
    batch = [canonical_event(id="good"), canonical_event(id="bad", timestamp=timestamp)]
    answer = _post(client, batch, usage_token).json()
    assert answer == {
        "accepted": 1,
        "duplicates": 0,
        "rejected": [{"index": 1, "id": "bad", "errors": {"timestamp": message}}],
    }


def test_it_rejects_only_an_event_with_an_integer_too_long_to_read(client, catalog, usage_token):
    huge = json.dumps(canonical_event(id="huge", input_tokens=0)).replace(": 0", ": " + "9" * 5000)
    body = f"[{json.dumps(canonical_event(id='good'))}, {huge}]"
    answer = _post(client, body, usage_token).json()
    assert answer["accepted"] == 1
    assert answer["rejected"][0]["errors"] == {
        "input_tokens": "must be between 0 and 1,000,000,000,000"
    }


def test_it_rejects_an_event_that_fails_unexpectedly_and_keeps_the_rest(
    client, catalog, usage_token
):
    from billing.ingest import store as ingest

    real = ingest.event_from_json

    def breaks_on_boom(item, *, now):
        if item.get("id") == "boom":
            raise RuntimeError("a bug")
        return real(item, now=now)

    batch = [canonical_event(id="boom"), canonical_event(id="good")]
    with mock.patch.object(ingest, "event_from_json", breaks_on_boom):
        answer = _post(client, batch, usage_token).json()
    assert answer["accepted"] == 1
    assert answer["rejected"] == [
        {"index": 0, "id": "boom", "errors": {"event": "could not be read; nothing was stored"}}
    ]


def test_it_keeps_a_cost_sent_as_a_decimal_string_exactly(client, catalog, usage_token):
    _post(client, [canonical_event(cost_usd="0.004750", quality_score="0.75")], usage_token)
    event = UsageEvent.objects.get()
    assert (event.reported_cost_usd, event.quality_score) == (Decimal("0.004750"), Decimal("0.75"))


def _unframed_post(body_stream, token, **meta):
    """A POST as gunicorn hands over a chunked body: no CONTENT_LENGTH, a stream to EOF."""
    environ = RequestFactory().post(URL, b"", content_type="application/json").environ
    environ.pop("CONTENT_LENGTH", None)
    environ.update(
        {
            "wsgi.input": body_stream,
            "wsgi.input_terminated": True,
            "HTTP_TRANSFER_ENCODING": "chunked",
            "HTTP_AUTHORIZATION": f"Bearer {token}",
            **meta,
        }
    )
    return usage(WSGIRequest(environ))


def test_it_reads_a_chunked_body_without_content_length(catalog, usage_token):
    body = json.dumps([canonical_event(id="a"), canonical_event(id="b")]).encode()
    response = _unframed_post(io.BytesIO(body), usage_token)
    assert json.loads(response.content) == {"accepted": 2, "duplicates": 0, "rejected": []}


class _Endless(io.RawIOBase):
    """A body that never ends: only a capped reader answers it."""

    def readable(self):
        return True

    def readinto(self, buffer):
        buffer[:] = b" " * len(buffer)
        return len(buffer)


def test_it_answers_413_to_an_endless_chunked_body(catalog, usage_token):
    response = _unframed_post(_Endless(), usage_token)
    assert response.status_code == 413
    assert json.loads(response.content)["error"] == "body too large"


def test_it_answers_411_to_a_chunked_body_its_server_cannot_read(catalog, usage_token):
    response = _unframed_post(io.BytesIO(b"[]"), usage_token, **{"wsgi.input_terminated": False})
    assert response.status_code == 411
    assert "Content-Length" in json.loads(response.content)["detail"]


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="gunicorn needs a database it can share"
)
def test_gunicorn_lands_a_chunked_usage_post(transactional_db, team, catalog):
    _, token = token_create(team=team, name="proxy", scopes=["usage:write"])
    body = json.dumps([canonical_event(id="a"), canonical_event(id="b")]).encode()
    server = Gunicorn(workers=1)
    try:
        response = httpx.post(
            f"{server.url}{URL}",
            content=iter([body[:100], body[100:]]),  # a generator body goes out chunked
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            timeout=30,
        )
    finally:
        server.stop()
    assert response.request.headers["Transfer-Encoding"] == "chunked"
    assert response.json() == {"accepted": 2, "duplicates": 0, "rejected": []}
