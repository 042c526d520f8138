from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from billing.histogram import bucket_middle, bucket_of
from billing.ingest import ingest_events
from billing.models import TaoPrice
from billing.overview import (
    daily_cost_by_provider,
    daily_error_rate_by_provider,
    daily_latency_p95_by_provider,
    overview_kpis,
    overview_window,
)
from routing.models import Model
from tests.factories import canonical_event

# Noon in New York on the 10th: ten days of November elapsed out of thirty.
NOW = datetime(2026, 11, 10, 17, 0, tzinfo=UTC)
LLAMA = {"provider": "chutes", "model": "unsloth/Llama-3.3-70B-Instruct"}


def _event(id, at):
    return canonical_event(id=id, timestamp=at.isoformat(), input_tokens=1000, output_tokens=500)


@pytest.fixture
def usage(team, catalog):
    TaoPrice.objects.create(at=datetime(2026, 11, 9, 12, tzinfo=UTC), usd=500, source="test")
    TaoPrice.objects.create(at=datetime(2026, 11, 10, 13, tzinfo=UTC), usd=400, source="test")
    # Sonnet: 1000 input at $3/M + 500 output at $15/M = $0.0105; Llama: $0.0003.
    events = [
        _event("a", datetime(2026, 11, 9, 15, tzinfo=UTC)) | {"quality_score": 0.8},
        _event("b", datetime(2026, 11, 9, 16, tzinfo=UTC)) | {"status": "error"},
        _event("c", datetime(2026, 11, 10, 13, 30, tzinfo=UTC)) | LLAMA | {"quality_score": 0.6},
        # 23:00 on October 31st in New York: in the window, not in November.
        _event("d", datetime(2026, 11, 1, 3, tzinfo=UTC)),
    ]
    ingest_events(team, events, now=NOW)


def _kpis(team, days=30):
    start, end = overview_window(team, days=days, now=NOW)
    return overview_kpis(team, start, end, NOW)


def test_it_counts_the_window(team, usage):
    kpis = _kpis(team)
    assert kpis.requests == 4
    assert kpis.error_rate_pct == Decimal(25)
    assert kpis.p95_latency_ms == bucket_middle(bucket_of(1800))
    assert kpis.avg_quality == Decimal("0.7")
    assert kpis.tao_used == Decimal("0.00000075")


def test_it_keeps_month_to_date_in_the_team_time_zone(team, usage):
    kpis = _kpis(team)
    assert kpis.mtd_usd == Decimal("0.0213")
    assert kpis.forecast_usd == Decimal("0.0639")


def test_it_reads_the_latest_tao_price_and_its_day_change(team, usage):
    kpis = _kpis(team)
    assert (kpis.tao_usd, kpis.tao_change_pct) == (Decimal(400), Decimal(-20))
    assert kpis.tao_at == datetime(2026, 11, 10, 13, tzinfo=UTC)


def test_it_has_no_savings_without_a_baseline(team, usage):
    kpis = _kpis(team)
    assert (kpis.baseline_usd, kpis.savings_usd, kpis.savings_pct) == (None, None, None)


def test_it_prices_the_window_at_the_baseline(team, usage):
    team.baseline_model = Model.objects.get(name="claude-sonnet-4-5")
    team.save()
    kpis = _kpis(team)
    # Four calls of 1000/500 tokens at Sonnet prices; spent 3 x $0.0105 + $0.0003.
    assert kpis.baseline_usd == Decimal("0.042")
    assert kpis.savings_usd == Decimal("0.0102")
    assert kpis.savings_pct.quantize(Decimal("0.01")) == Decimal("24.29")


def test_it_leaves_the_window_empty_before_any_usage(team, catalog):
    kpis = _kpis(team)
    assert (kpis.requests, kpis.mtd_usd, kpis.error_rate_pct, kpis.p95_latency_ms) == (
        0,
        Decimal(0),
        None,
        None,
    )
    assert (kpis.avg_quality, kpis.tao_usd) == (None, None)


def test_it_buckets_daily_cost_into_team_days(team, usage):
    start, end = overview_window(team, days=30, now=NOW)
    rows = [(r.day, r.provider, r.cost_usd) for r in daily_cost_by_provider(team, start, end)]
    assert rows == [
        (date(2026, 10, 31), "anthropic", Decimal("0.0105")),
        (date(2026, 11, 9), "anthropic", Decimal("0.021")),
        (date(2026, 11, 10), "chutes", Decimal("0.0003")),
    ]


def test_it_starts_the_window_at_local_midnight(team):
    start, end = overview_window(team, days=7, now=NOW)
    assert start == datetime(2026, 11, 4, 5, tzinfo=UTC)
    assert end == NOW


def test_it_reads_a_fixed_number_of_queries_whatever_the_usage(
    team, usage, django_assert_num_queries
):
    team.baseline_model = Model.objects.get(name="claude-sonnet-4-5")
    team.save()
    more = [_event(f"x{n}", NOW - timedelta(hours=n, days=2)) | LLAMA for n in range(50)]
    ingest_events(team, more, now=NOW)
    start, end = overview_window(team, days=30, now=NOW)
    with django_assert_num_queries(5):
        overview_kpis(team, start, end, NOW)
    with django_assert_num_queries(1):
        daily_cost_by_provider(team, start, end)
    with django_assert_num_queries(1):
        daily_latency_p95_by_provider(team, start, end)
    with django_assert_num_queries(1):
        daily_error_rate_by_provider(team, start, end)


def test_it_reads_daily_p95_from_the_merged_histograms(team, usage):
    # Eighteen fast calls and one slow on the 10th: 95% of 19 calls reaches past the fast ones.
    fast = [_event(f"f{n}", NOW - timedelta(hours=1)) | {"latency_ms": 50} for n in range(18)]
    slow = _event("s", NOW - timedelta(hours=2)) | {"latency_ms": 4000}
    ingest_events(team, [*fast, slow], now=NOW)
    start, end = overview_window(team, days=30, now=NOW)
    rows = [(r.day, r.provider, r.p95_ms) for r in daily_latency_p95_by_provider(team, start, end)]
    assert rows == [
        (date(2026, 10, 31), "anthropic", bucket_middle(bucket_of(1800))),
        (date(2026, 11, 9), "anthropic", bucket_middle(bucket_of(1800))),
        (date(2026, 11, 10), "anthropic", bucket_middle(bucket_of(4000))),
        (date(2026, 11, 10), "chutes", bucket_middle(bucket_of(1800))),
    ]


def test_it_counts_daily_errors_by_provider(team, usage):
    start, end = overview_window(team, days=30, now=NOW)
    rows = [
        (r.day, r.provider, r.requests, r.errors)
        for r in daily_error_rate_by_provider(team, start, end)
    ]
    assert rows == [
        (date(2026, 10, 31), "anthropic", 1, 0),
        (date(2026, 11, 9), "anthropic", 2, 1),
        (date(2026, 11, 10), "chutes", 1, 0),
    ]
