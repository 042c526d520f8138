"""Rollups must always equal the raw events they cover, whatever happened in between."""

import random
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.urls import reverse

from billing.ingest.scores import scores_record
from billing.ingest.store import usage_ingest
from billing.models import TeamModelPrice, UsageDailyRollup, UsageEvent, UsageRollup
from billing.reprice import usage_reprice
from billing.rollups import DAY_KEY, KEY, SUMS, raw_aggregates, rollups_rebuild
from dashboard.models import Team
from routing.models import Model
from tests.factories import ModelPriceFactory, TaoPriceFactory

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
            "route_version": rng.choice([None, 1, 2, 3]),
        }
        if rng.random() < 0.2:
            event["cost_usd"] = Decimal(rng.randint(0, 10**6)) / 10**7
        if rng.random() < 0.2:
            event["quality_score"] = rng.randint(0, 100_000) / 100_000
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
    _assert_days_reconciled()


def _assert_days_reconciled():
    """Each team-day row is the sum of the hourly rows starting on that day in the team's zone."""
    zones = {team.id: team.zone for team in Team.objects.all()}
    expected: dict = defaultdict(lambda: defaultdict(Decimal))
    for row in UsageRollup.objects.values(*KEY, *SUMS):
        day = row["hour"].astimezone(zones[row["team_id"]]).date()
        key = (row["team_id"], day, *(row[k] for k in KEY[2:]))
        for name in SUMS:
            expected[key][name] += Decimal(row[name])
    daily = _totals_by(UsageDailyRollup.objects.values(*DAY_KEY, *SUMS), DAY_KEY)
    assert daily.keys() == expected.keys()
    for key, totals in expected.items():
        for name, value in totals.items():
            assert Decimal(daily[key][name]) == value, (key, name)


def _totals_by(queryset, key: list[str]) -> dict:
    return {tuple(row[k] for k in key): {s: row[s] for s in SUMS} for row in queryset}


@pytest.fixture
def history(team, catalog):
    for hour in range(0, 4 * 24):
        usd = Decimal(400) + Decimal(hour % 7)
        TaoPriceFactory(at=START + timedelta(hours=hour), usd=usd)
    rng = random.Random(20261126)
    events = _random_events(rng, 400)
    for start in range(0, len(events), 100):
        assert usage_ingest(team, events[start : start + 100]).rejected == []
    return rng, events


def test_rollups_equal_raw_events_after_ingest(history):
    _assert_reconciled()


def test_rollups_equal_raw_events_after_duplicates_are_sent_again(team, history):
    rng, events = history
    result = usage_ingest(team, rng.sample(events, 150))
    assert (result.accepted, result.duplicates) == (0, 150)
    _assert_reconciled()


def test_rollups_equal_raw_events_after_a_batch_of_old_and_new_events(team, history):
    rng, events = history
    fresh = [{**event, "id": f"fresh-{event['id']}"} for event in rng.sample(events, 60)]
    result = usage_ingest(team, rng.sample(events, 60) + fresh)
    assert (result.accepted, result.duplicates) == (60, 60)
    _assert_reconciled()


def test_rollups_equal_raw_events_after_late_scores(team, history):
    rng, events = history
    scores = [
        {"event_id": event["id"], "score": rng.randint(0, 100) / 100, "evaluator": "judge"}
        for event in rng.sample(events, 120)
    ]
    assert scores_record(team, scores).accepted > 0
    _assert_reconciled()


def test_rollups_equal_raw_events_after_repricing(team, history):
    sonnet = Model.objects.get(name="claude-sonnet-4-5")
    ModelPriceFactory(
        model=sonnet,
        effective_from=date(2026, 11, 11),
        input_per_mtok=Decimal("2.5"),
        cached_input_per_mtok=Decimal("0.25"),
    )
    result = usage_reprice(since=START, team=team)
    assert result.changed > 0
    _assert_reconciled()


def test_rollups_equal_raw_events_after_repricing_with_a_team_price(team, history):
    deepseek = Model.objects.get(name="deepseek-ai/DeepSeek-V3")
    TeamModelPrice.objects.create(
        team=team,
        model=deepseek,
        effective_from=date(2026, 11, 11),
        input_per_mtok=Decimal("0.1"),
        output_per_mtok=Decimal("0.2"),
        reason="contract 42",
    )
    result = usage_reprice(since=START, team=team, model=deepseek)
    assert result.changed > 0
    assert UsageEvent.objects.filter(team_price__isnull=False).exists()
    _assert_reconciled()


def test_rebuilding_rollups_gives_the_rollups_ingest_built(team, history):
    before = _rollup_totals()
    days_before = _totals_by(UsageDailyRollup.objects.values(*DAY_KEY, *SUMS), DAY_KEY)
    rollups_rebuild(team=team)
    assert _rollup_totals() == before
    assert _totals_by(UsageDailyRollup.objects.values(*DAY_KEY, *SUMS), DAY_KEY) == days_before


def test_rebuilding_from_a_day_on_keeps_the_days_reconciled(team, history):
    UsageDailyRollup.objects.filter(team=team).update(requests=0)
    rollups_rebuild(team=team, since=START + timedelta(days=1, hours=5))
    stale = UsageDailyRollup.objects.filter(team=team, day__gte=date(2026, 11, 11))
    assert not stale.filter(requests=0).exists()


def test_days_follow_the_team_time_zone_when_it_changes(client, admin_user, team, history):
    client.force_login(admin_user)
    client.post(
        reverse("team_settings", kwargs={"team": team.slug}),
        {"name": team.name, "time_zone": "Asia/Tokyo"},
    )
    team.refresh_from_db()
    assert team.time_zone == "Asia/Tokyo"
    _assert_reconciled()


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite keeps NUMERIC as 15-digit floats; exact cents need PostgreSQL",
)
def test_rollup_cost_equals_the_decimal_sum_of_event_costs(history):
    events = sum((e.cost_usd or 0 for e in UsageEvent.objects.all()), Decimal(0))
    rollups = sum((r.cost_usd for r in UsageRollup.objects.all()), Decimal(0))
    assert rollups == events


@pytest.mark.parametrize(
    "spacing",
    # A live batch (many events an hour) and a backfill (one an hour) are summed differently.
    [timedelta(minutes=1), timedelta(hours=1)],
    ids=["dense", "sparse"],
)
def test_latencies_on_each_bucket_bound_land_where_raw_events_put_them(team, catalog, spacing):
    from billing.histogram import UPPER_BOUNDS

    whole = sorted({int(bound) + delta for bound in UPPER_BOUNDS for delta in (-1, 0, 1)})
    events = [
        {
            "id": f"bound-{number}",
            "timestamp": (START + spacing * number).isoformat(),
            "provider": "openai",
            "model": "gpt-5-mini",
            # No tokens, no cost: SQLite sums decimals as floats (see the skipped test above).
            "input_tokens": 0,
            "output_tokens": 0,
            "latency_ms": ms,
            "ttft_ms": ms,
        }
        for number, ms in enumerate([0, *whole])
    ]
    assert usage_ingest(team, events).rejected == []
    _assert_reconciled()


def test_days_of_a_team_half_an_hour_off_utc_add_up(team, catalog):
    team.time_zone = "Asia/Kolkata"
    team.save()
    rng = random.Random(5)
    assert usage_ingest(team, _random_events(rng, 300)).rejected == []
    _assert_reconciled()
