import json
from decimal import Decimal

from billing.ingest import ingest_events
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
    ingest_events(team, [canonical_event()])
    answer = _post(client, usage_token, [{"event_id": "evt-1", "score": 0.8, "evaluator": "judge"}])
    assert answer.json() == {"accepted": 1, "duplicates": 0, "rejected": []}
    event = UsageEvent.objects.get()
    assert (event.quality_score, event.quality_evaluator) == (Decimal("0.8"), "judge")


def test_it_adds_a_late_score_to_the_rollup(client, team, catalog, usage_token):
    ingest_events(team, [canonical_event()])
    _post(client, usage_token, [{"event_id": "evt-1", "score": 0.8}])
    rollup = UsageRollup.objects.get()
    assert (rollup.quality_sum, rollup.quality_count) == (Decimal("0.8"), 1)


def test_a_new_score_replaces_the_old_one_in_the_rollup(client, team, catalog, usage_token):
    ingest_events(team, [canonical_event(quality_score=0.2)])
    _post(client, usage_token, [{"event_id": "evt-1", "score": 0.9}])
    rollup = UsageRollup.objects.get()
    assert (rollup.quality_sum, rollup.quality_count) == (Decimal("0.9"), 1)


def test_the_same_score_again_is_a_duplicate(client, team, catalog, usage_token):
    ingest_events(team, [canonical_event()])
    score = [{"event_id": "evt-1", "score": 0.8}]
    _post(client, usage_token, score)
    assert _post(client, usage_token, score).json()["duplicates"] == 1


def test_it_rejects_a_score_for_an_unknown_event(client, team, catalog, usage_token):
    answer = _post(client, usage_token, [{"event_id": "nope", "score": 0.5}]).json()
    assert answer["rejected"] == [
        {"index": 0, "id": "nope", "errors": {"event_id": "no such event"}}
    ]


def test_it_rejects_a_score_outside_0_and_1(client, team, catalog, usage_token):
    ingest_events(team, [canonical_event()])
    answer = _post(client, usage_token, [{"event_id": "evt-1", "score": 2}]).json()
    assert answer["rejected"][0]["errors"]["score"] == "must be between 0 and 1"
    assert UsageEvent.objects.get().quality_score is None


def test_it_cannot_score_another_teams_event(client, team, other_team, catalog, usage_token):
    ingest_events(other_team, [canonical_event()])
    answer = _post(client, usage_token, [{"event_id": "evt-1", "score": 0.5}]).json()
    assert answer["accepted"] == 0
    assert UsageEvent.objects.get().quality_score is None
