import json
import logging

import httpx
import pytest
import respx

from integrations.litellm import llm_spend
from tests.integrations.conftest import DASHBOARD, accept_all, canonical

USAGE = f"{DASHBOARD}/api/v1/usage"


@pytest.fixture
def shipper(spool, client, counters):
    return llm_spend.Shipper(spool, client, counters)


@respx.mock
def test_it_ships_in_batches_of_at_most_1000_and_removes_what_was_accepted(spool, shipper):
    usage = respx.post(USAGE).mock(side_effect=accept_all)
    spool.add_many([canonical(n) for n in range(2500)])
    shipper.ship_until_empty()
    assert [len(json.loads(call.request.content)) for call in usage.calls] == [1000, 1000, 500]
    assert usage.calls[0].request.headers["Authorization"] == "Bearer lls_test_token"
    assert spool.depth == 0 and shipper.counters.shipped == 2500


@respx.mock
def test_duplicates_count_as_delivered(spool, shipper):
    respx.post(USAGE).respond(200, json={"accepted": 1, "duplicates": 2, "rejected": []})
    spool.add_many([canonical(n) for n in range(3)])
    assert shipper.ship_once() is None
    assert spool.depth == 0


@respx.mock
def test_rejected_events_go_to_the_dead_letter_file_with_the_reason(spool, shipper, tmp_path):
    errors = {"model": "is required"}
    respx.post(USAGE).respond(
        200,
        json={
            "accepted": 2,
            "duplicates": 0,
            "rejected": [{"index": 1, "id": "call-1", "errors": errors}],
        },
    )
    spool.add_many([canonical(n) for n in range(3)])
    assert shipper.ship_once() is None
    dead = [json.loads(line) for line in (tmp_path / "dead-letter.jsonl").read_text().splitlines()]
    assert [(entry["event"]["id"], entry["reason"]) for entry in dead] == [("call-1", errors)]
    assert spool.depth == 0
    assert (shipper.counters.shipped, shipper.counters.dead_lettered) == (2, 1)


@respx.mock
def test_an_answer_that_does_not_account_for_the_batch_keeps_it(spool, shipper):
    respx.post(USAGE).respond(200, json={"accepted": 1, "duplicates": 0, "rejected": []})
    spool.add_many([canonical(n) for n in range(3)])
    assert shipper.ship_once() == 1.0
    assert spool.depth == 3


@respx.mock
def test_it_backs_off_exponentially_honouring_retry_after(spool, client, counters):
    respx.post(USAGE).mock(
        side_effect=[
            httpx.Response(
                503, headers={"Retry-After": "7"}, json={"error": "database unavailable"}
            ),
            httpx.Response(429, json={"error": "slow down"}),
            httpx.Response(500),
            httpx.ConnectError("refused"),
            httpx.Response(429, headers={"Retry-After": "3"}),
            httpx.Response(200, json={"accepted": 2, "duplicates": 0, "rejected": []}),
        ]
    )
    slept = []
    spool.add_many([canonical(1), canonical(2)])
    llm_spend.Shipper(spool, client, counters, sleep=slept.append).ship_until_empty()
    assert slept == [7.0, 2.0, 4.0, 8.0, 3.0]
    assert spool.depth == 0


def test_the_backoff_stops_doubling_at_a_minute():
    backoff = llm_spend.Backoff()
    assert [backoff.next_delay() for _ in range(9)] == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    backoff.reset()
    assert backoff.next_delay() == 1


@pytest.mark.parametrize("status", [400, 413])
@respx.mock
def test_a_batch_refused_whole_is_split_to_isolate_the_bad_event(spool, shipper, tmp_path, status):
    def refuse_bad(request):
        events = json.loads(request.content)
        if any(event.get("model") == "bad" for event in events):
            return httpx.Response(status, json={"error": "bad batch", "detail": "..."})
        return accept_all(request)

    usage = respx.post(USAGE).mock(side_effect=refuse_bad)
    spool.add_many([canonical(n, model="bad" if n == 5 else "m") for n in range(16)])
    assert shipper.ship_once() is None
    stored = [
        event["id"]
        for call in usage.calls
        if call.response.status_code == 200
        for event in json.loads(call.request.content)
    ]
    assert sorted(stored) == sorted(f"call-{n}" for n in range(16) if n != 5)
    dead = [json.loads(line) for line in (tmp_path / "dead-letter.jsonl").read_text().splitlines()]
    assert [entry["event"]["id"] for entry in dead] == ["call-5"]
    assert dead[0]["reason"]["status"] == status
    assert spool.depth == 0
    assert (shipper.counters.shipped, shipper.counters.dead_lettered) == (15, 1)
    assert len(usage.calls) <= 2 * 4 + 1


@pytest.mark.parametrize("status", [401, 403])
@respx.mock
def test_a_refused_token_keeps_everything_and_says_so(spool, shipper, caplog, status):
    respx.post(USAGE).respond(status, json={"error": "invalid token", "detail": ""})
    spool.add_many([canonical(1)])
    with caplog.at_level(logging.ERROR, logger="llm_spend"):
        assert shipper.ship_once() == 1.0
    assert spool.depth == 1
    assert "refused LLM_SPEND_TOKEN" in caplog.text
