"""Spend anomaly rules that watch each API key alias."""

import random
from datetime import datetime, time, timedelta

import pytest

from billing.alerts.evaluation import alerts_evaluate
from billing.ingest.store import usage_ingest
from billing.models import Alert
from tests.billing.test_anomaly_alerts import FIRST_DAY, GPT, NOW, WEDNESDAY, spend_rule
from tests.factories import canonical_event


def calls_through(team, key: str, day, *, calls: int, usd_each: float, rng) -> None:
    at = datetime.combine(day, time(11), tzinfo=team.zone)
    events = [
        canonical_event(
            id=f"{key}-{day}-{n}",
            timestamp=at.isoformat(),
            cost_usd=round(usd_each * (1 + rng.gauss(0, 0.1)), 6),
            api_key_alias=key,
            **GPT,
        )
        for n in range(calls)
    ]
    usage_ingest(team, events, now=at + timedelta(minutes=1))


@pytest.fixture
def usual_weeks_per_key(team, catalog):
    """Eight weeks of calls through the keys "web" and "batch", up to the Tuesday."""
    rng = random.Random(7)
    day = FIRST_DAY
    while day < WEDNESDAY:
        calls_through(team, "web", day, calls=6, usd_each=8, rng=rng)
        calls_through(team, "batch", day, calls=4, usd_each=5, rng=rng)
        day += timedelta(days=1)


def spike_on_web(team):
    rng = random.Random(8)
    calls_through(team, "web", WEDNESDAY, calls=30, usd_each=20, rng=rng)
    calls_through(team, "batch", WEDNESDAY, calls=4, usd_each=5, rng=rng)


def test_a_rule_per_key_alias_fires_for_the_key_that_spiked(team, usual_weeks_per_key):
    spend_rule(team, scope="api_key_alias")
    spike_on_web(team)

    alerts_evaluate(now=NOW)

    alert = Alert.objects.get()
    assert alert.dedupe_key == "spend_anomaly:2026-05-13:api_key_alias:web"
    assert "on API key web" in alert.subject
    assert alert.link.startswith("/t/maven/usage/?")
    assert "api_key_alias=web" in alert.link


def test_a_rule_over_all_series_does_not_judge_each_key(team, usual_weeks_per_key):
    spend_rule(team, scope="all")
    spike_on_web(team)

    alerts_evaluate(now=NOW)

    keys = list(Alert.objects.values_list("dedupe_key", flat=True))
    assert keys
    assert not [key for key in keys if "api_key_alias" in key]
