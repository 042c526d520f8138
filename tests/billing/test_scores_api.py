import json
from decimal import Decimal
from unittest import mock

import pytest

from billing.ingest.store import usage_ingest
from billing.models import UsageEvent, UsageRollup
from tests.factories import canonical_event


def _post(client, token, body):
    return client.post(
        "/api/v1/scores",
        json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


def test_it_attaches_a_score_to_an_event(client, team, catalog, usage_token):
    usage_ingest(team, [canonical_event()])
    answer = _post(client, usage_token, [{"event_id": "evt-1", "score": 0.8, "evaluator": "judge"}])
    assert answer.json() == {"accepted": 1, "duplicates": 0, "rejected": []}
    event = UsageEvent.objects.get()
    assert (event.quality_score, event.quality_evaluator) == (Decimal("0.8"), "judge")


def test_it_adds_a_late_score_to_the_rollup(client, team, catalog, usage_token):
    usage_ingest(team, [canonical_event()])
    _post(client, usage_token, [{"event_id": "evt-1", "score": 0.8}])
    rollup = UsageRollup.objects.get()
    assert (rollup.quality_sum, rollup.quality_count) == (Decimal("0.8"), 1)


def test_a_new_score_replaces_the_old_one_in_the_rollup(client, team, catalog, usage_token):
    usage_ingest(team, [canonical_event(quality_score=0.2)])
    _post(client, usage_token, [{"event_id": "evt-1", "score": 0.9}])
    rollup = UsageRollup.objects.get()
    assert (rollup.quality_sum, rollup.quality_count) == (Decimal("0.9"), 1)


def test_the_same_score_again_is_a_duplicate(client, team, catalog, usage_token):
    usage_ingest(team, [canonical_event()])
    score = [{"event_id": "evt-1", "score": 0.8}]
    _post(client, usage_token, score)
    assert _post(client, usage_token, score).json()["duplicates"] == 1


def test_it_rejects_a_score_for_an_unknown_event(client, team, catalog, usage_token):
    answer = _post(client, usage_token, [{"event_id": "nope", "score": 0.5}]).json()
    assert answer["rejected"] == [
        {"index": 0, "id": "nope", "errors": {"event_id": "no such event"}}
    ]


def test_it_rejects_a_score_outside_0_and_1(client, team, catalog, usage_token):
    usage_ingest(team, [canonical_event()])
    answer = _post(client, usage_token, [{"event_id": "evt-1", "score": 2}]).json()
    assert answer["rejected"][0]["errors"]["score"] == "must be between 0 and 1"
    assert UsageEvent.objects.get().quality_score is None


def test_it_cannot_score_another_teams_event(client, team, other_team, catalog, usage_token):
    usage_ingest(other_team, [canonical_event()])
    answer = _post(client, usage_token, [{"event_id": "evt-1", "score": 0.5}]).json()
    assert answer["accepted"] == 0
    assert UsageEvent.objects.get().quality_score is None


@pytest.mark.parametrize(
    ("event_id", "message"),
    [
        ("\ud800", "must be valid Unicode"),
        ("evt\x00", "must not contain NUL"),
        ("e" * 256, "must be at most 255 characters"),
    ],
)
def test_it_rejects_an_event_id_the_database_cannot_hold_and_keeps_the_rest(
    client, team, catalog, usage_token, event_id, message
):
    usage_ingest(team, [canonical_event()])
    answer = _post(
        client,
        usage_token,
        [{"event_id": event_id, "score": 0.1}, {"event_id": "evt-1", "score": 0.8}],
    ).json()
    assert answer["accepted"] == 1
    assert message in answer["rejected"][0]["errors"]["event_id"]
    assert UsageEvent.objects.get().quality_score == Decimal("0.8")


def test_it_accepts_a_score_as_a_decimal_string(client, team, catalog, usage_token):
    usage_ingest(team, [canonical_event()])
    answer = _post(client, usage_token, [{"event_id": "evt-1", "score": "0.85"}])
    assert answer.json()["accepted"] == 1
    assert UsageEvent.objects.get().quality_score == Decimal("0.85")


def test_it_rejects_a_score_that_fails_unexpectedly_and_keeps_the_rest(
    client, team, catalog, usage_token
):
    from billing.ingest import scores

    usage_ingest(team, [canonical_event(id="a"), canonical_event(id="b")])
    real = scores._score_from_json

    def breaks_on_a(item):
        if item.get("event_id") == "a":
            raise RuntimeError("a bug")
        return real(item)

    batch = [{"event_id": "a", "score": 0.1}, {"event_id": "b", "score": 0.2}]
    with mock.patch.object(scores, "_score_from_json", breaks_on_a):
        answer = _post(client, usage_token, batch).json()
    assert answer["accepted"] == 1
    assert answer["rejected"] == [
        {"index": 0, "id": None, "errors": {"score": "could not be read; nothing was stored"}}
    ]
