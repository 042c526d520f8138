"""Rollups must always equal the raw events they cover, whatever happened in between."""

import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection

from billing.ingest import ingest_events
from billing.models import TaoPrice, UsageEvent, UsageRollup
from billing.reprice import reprice_events
from billing.rollups import KEY, SUMS, raw_aggregates, rebuild_rollups
from billing.scores import record_scores
from routing.models import Model
from tests.factories import ModelPriceFactory

START = datetime(2026, 11, 10, tzinfo=UTC)
ROUTES = [
    ("chutes", "deepseek-ai/DeepSeek-V3"),
    ("chutes", "unsloth/Llama-3.3-70B-Instruct"),
    ("anthropic", "claude-sonnet-4-5-20250929"),
    ("openai", "gpt-5-mini"),
    ("chutes", "someone/Not-In-The-Catalog"),
]


def _random_events(rng: random.Random, count: int) -> list[dict]:
    events = []
    for number in range(count):
        provider, model = rng.choice(ROUTES)
        input_tokens = rng.randint(0, 40_000)
        cached = rng.randint(0, input_tokens // 2) if provider == "anthropic" else 0
        event = {
            "id": f"evt-{number}",
            "timestamp": (START + timedelta(minutes=rng.randint(0, 3 * 24 * 60))).isoformat(),
            "provider": provider,
            "model": model,
            "task_type": rng.choice(["summarization", "code_generation", "complex_analysis", ""]),
            "status": rng.choice(["success"] * 9 + ["error"]),
            "input_tokens": input_tokens,
            "cached_input_tokens": cached,
            "output_tokens": rng.randint(0, 8_000),
            "latency_ms": rng.choice([None, rng.randint(5, 400_000)]),
            "ttft_ms": rng.choice([None, rng.randint(1, 5_000)]),
        }
        if rng.random() < 0.2:
            event["cost_usd"] = Decimal(rng.randint(0, 10**6)) / 10**7
        if rng.random() < 0.2:
            event["quality_score"] = rng.randint(0, 100) / 100
        events.append({k: v for k, v in event.items() if v is not None})
    return events


def _totals(queryset) -> dict:
    return {tuple(row[k] for k in KEY): {s: row[s] for s in SUMS} for row in queryset}


def _rollup_totals() -> dict:
    return _totals(UsageRollup.objects.values(*KEY, *SUMS))


def _raw_totals() -> dict:
    rows = []
    for row in raw_aggregates(UsageEvent.objects.all()):
        values = {k: row[k] for k in KEY}
        for name in SUMS:
            value = row.get(f"sum_{name}", row.get(name))
            values[name] = value if value is not None else 0
        rows.append(values)
    return _totals(rows)


def _assert_reconciled():
    rollups, raw = _rollup_totals(), _raw_totals()
    assert rollups.keys() == raw.keys()
    for key, totals in raw.items():
        for name, value in totals.items():
            assert Decimal(rollups[key][name]) == Decimal(value), (key, name)


@pytest.fixture
def history(team, catalog):
    for hour in range(0, 4 * 24):
        usd = Decimal(400) + Decimal(hour % 7)
        TaoPrice.objects.create(at=START + timedelta(hours=hour), usd=usd, source="test")
    rng = random.Random(20261126)
    events = _random_events(rng, 400)
    for start in range(0, len(events), 100):
        assert ingest_events(team, events[start : start + 100]).rejected == []
    return rng, events


def test_rollups_equal_raw_events_after_ingest(history):
    _assert_reconciled()


def test_rollups_equal_raw_events_after_duplicates_are_sent_again(team, history):
    rng, events = history
    result = ingest_events(team, rng.sample(events, 150))
    assert (result.accepted, result.duplicates) == (0, 150)
    _assert_reconciled()


def test_rollups_equal_raw_events_after_late_scores(team, history):
    rng, events = history
    scores = [
        {"event_id": event["id"], "score": rng.randint(0, 100) / 100, "evaluator": "judge"}
        for event in rng.sample(events, 120)
    ]
    assert record_scores(team, scores).accepted > 0
    _assert_reconciled()


def test_rollups_equal_raw_events_after_repricing(team, history):
    sonnet = Model.objects.get(name="claude-sonnet-4-5")
    ModelPriceFactory(
        model=sonnet,
        effective_from=date(2026, 11, 11),
        input_per_mtok=Decimal("2.5"),
        cached_input_per_mtok=Decimal("0.25"),
    )
    result = reprice_events(since=START, team=team)
    assert result.changed > 0
    _assert_reconciled()


def test_rebuilding_rollups_gives_the_rollups_ingest_built(team, history):
    before = _rollup_totals()
    rebuild_rollups(team=team)
    assert _rollup_totals() == before


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite keeps NUMERIC as 15-digit floats; exact cents need PostgreSQL",
)
def test_rollup_cost_equals_the_decimal_sum_of_event_costs(history):
    events = sum((e.cost_usd or 0 for e in UsageEvent.objects.all()), Decimal(0))
    rollups = sum((r.cost_usd for r in UsageRollup.objects.all()), Decimal(0))
    assert rollups == events
