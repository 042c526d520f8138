from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from billing.histogram import bucket_middle, bucket_of
from billing.ingest.store import usage_ingest
from billing.overview.bundle import build_overview
from billing.overview.cube import RAW, Filters, load_cube, narrow, options_of, range_of_days
from billing.overview.histograms import load_histograms
from billing.overview.month import budget_for
from billing.overview.tao import mark_spikes, tao_series
from billing.overview.teams import all_teams_month
from billing.rollups import NO_VERSION
from routing.models import Model, Provider
from tests.factories import BudgetFactory, TaoPriceFactory, TeamFactory, event_at

# Noon in New York on the 10th: ten days of November elapsed out of thirty.
NOW = datetime(2026, 11, 10, 17, 0, tzinfo=UTC)
LLAMA = {"provider": "chutes", "model": "unsloth/Llama-3.3-70B-Instruct"}


@pytest.fixture
def usage(team, catalog):
    TaoPriceFactory(at=datetime(2026, 11, 9, 12, tzinfo=UTC), usd=500)
    TaoPriceFactory(at=datetime(2026, 11, 10, 13, tzinfo=UTC), usd=400)
    # Sonnet: 1000 input at $3/M + 500 output at $15/M = $0.0105; Llama: $0.0003.
    events = [
        event_at("a", datetime(2026, 11, 9, 15, tzinfo=UTC), quality_score=0.8),
        event_at("b", datetime(2026, 11, 9, 16, tzinfo=UTC), status="error"),
        event_at("c", datetime(2026, 11, 10, 13, 30, tzinfo=UTC), quality_score=0.6, **LLAMA),
        # 23:00 on October 31st in New York: in the window, not in November.
        event_at("d", datetime(2026, 11, 1, 3, tzinfo=UTC)),
    ]
    usage_ingest(team, events, now=NOW)


def _overview(team, days=30, **narrowing):
    filters = range_of_days(team, days=days, now=NOW)
    return build_overview(team, Filters(filters.first_day, filters.last_day, **narrowing), now=NOW)


def test_it_counts_the_range(team, usage):
    totals = _overview(team).totals
    assert totals.requests == 4
    assert totals.errors == 1
    assert totals.error_rate_pct == Decimal(25)
    assert totals.avg_quality == Decimal("0.7")


def test_it_buckets_hours_into_the_team_days(team, usage):
    days = {row.day for row in load_cube(team, date(2026, 10, 31), date(2026, 11, 10))}
    # 03:00 UTC on November 1st is October 31st in New York.
    assert days == {date(2026, 10, 31), date(2026, 11, 9), date(2026, 11, 10)}


def test_it_keeps_month_to_date_in_the_team_time_zone(team, usage):
    month = _overview(team).month
    assert month.spend_usd == Decimal("0.0213")
    assert month.points[0].day == date(2026, 11, 1)


def test_it_forecasts_the_month_at_its_pace(team, usage):
    month = _overview(team).month
    # $0.0213 in ten days of thirty.
    assert month.forecast_usd == Decimal("0.0639")
    assert month.forecast_points()[-1] == (date(2026, 11, 30), Decimal("0.0639"))


def test_it_names_the_day_the_forecast_crosses_the_budget(team, usage):
    BudgetFactory(team=team, amount_usd=Decimal("0.04"))
    month = _overview(team).month
    # $0.00213 a day from $0.0213 on the 10th passes $0.04 on day 19.
    assert month.crossing_day == date(2026, 11, 19)
    assert month.used_pct == Decimal("53.25")


def test_it_has_no_forecast_for_a_month_that_is_over(team, usage):
    overview = build_overview(team, Filters(date(2026, 10, 1), date(2026, 10, 31)), now=NOW)
    assert overview.month.today is None
    assert overview.month.forecast_points() == []
    assert overview.month.spend_usd == Decimal("0.0105")


def test_it_prefers_the_month_s_own_budget_over_the_recurring_one(team):
    BudgetFactory(team=team, amount_usd=100)
    BudgetFactory(team=team, month=date(2026, 11, 1), amount_usd=250)
    filters = Filters(date(2026, 11, 1), date(2026, 11, 10))
    assert budget_for(team, date(2026, 11, 1), filters).amount_usd == 250
    assert budget_for(team, date(2026, 12, 1), filters).amount_usd == 100


def test_it_compares_a_provider_filter_with_that_provider_s_budget(team, catalog):
    chutes = Provider.objects.get(slug="chutes")
    BudgetFactory(team=team, amount_usd=100)
    BudgetFactory(team=team, provider=chutes, amount_usd=40)
    month = date(2026, 11, 1)
    narrowed = Filters(month, date(2026, 11, 10), provider="chutes")
    assert budget_for(team, month, narrowed).amount_usd == 40
    assert budget_for(team, month, Filters(month, month, model="x")) is None


def test_it_has_no_savings_without_a_baseline(team, usage):
    overview = _overview(team)
    assert overview.savings == []
    assert overview.savings_pct is None


def test_it_prices_the_range_at_the_baseline(team, usage):
    team.baseline_model = Model.objects.get(name="claude-sonnet-4-5")
    team.save()
    overview = _overview(team)
    # Three Sonnet calls cost what they would; the Llama call would have cost $0.0105.
    assert overview.savings_usd == Decimal("0.0102")
    assert overview.savings[-1].cumulative_baseline_usd == Decimal("0.0420")


def test_it_leaves_unpriced_usage_out_of_savings(team, usage):
    team.baseline_model = Model.objects.get(name="claude-sonnet-4-5")
    team.save()
    usage_ingest(team, [event_at("u", NOW - timedelta(hours=1), model="not-in-catalog")], now=NOW)
    assert _overview(team).savings[-1].cumulative_baseline_usd == Decimal("0.0420")


def test_it_reads_the_latest_tao_price_and_its_day_change(team, usage):
    quote = _overview(team).tao_quote
    assert quote.usd == 400
    assert quote.change_24h_pct == Decimal(-20)


def test_it_reads_p95_from_the_merged_histograms(team, catalog):
    events = [event_at(f"t{n}", NOW - timedelta(hours=1), latency_ms=100) for n in range(19)]
    events.append(event_at("slow", NOW - timedelta(hours=1), latency_ms=9000))
    usage_ingest(team, events, now=NOW)
    timings = _overview(team).timings
    assert timings.latency_ms(0.95) == bucket_middle(bucket_of(100))
    assert timings.latency_ms(0.99) == bucket_middle(bucket_of(9000))


def test_it_narrows_to_a_provider_model_or_task_type(team, usage):
    assert _overview(team, provider="chutes").totals.requests == 1
    assert _overview(team, model="claude-sonnet-4-5").totals.requests == 3
    assert _overview(team, task_type="summarization").totals.requests == 4
    assert _overview(team, task_type="nothing-like-this").totals.requests == 0


def test_it_offers_what_the_range_holds_as_filter_options(team, usage):
    cube = load_cube(team, date(2026, 10, 1), date(2026, 11, 10))
    assert options_of(cube)["provider"] == ["anthropic", "chutes"]
    assert narrow(cube, Filters(date(2026, 11, 10), date(2026, 11, 10))) == [
        row for row in cube if row.day == date(2026, 11, 10)
    ]


def test_it_computes_the_same_cube_from_raw_events(team, catalog):
    TaoPriceFactory(at=NOW - timedelta(days=3), usd=400)
    events = [
        event_at(
            f"r{n}",
            NOW - timedelta(hours=7 * n),
            latency_ms=50 * (n + 1),
            ttft_ms=20 * n or None,
            status="error" if n % 5 == 0 else "success",
            quality_score=(n % 10) / 10 if n % 3 == 0 else None,
            task_type=["chat", "code", ""][n % 3] or None,
            route_version=[None, 6, 7, 7][n % 4],
            **(LLAMA if n % 2 else {}),
        )
        for n in range(40)
    ]
    usage_ingest(team, events, now=NOW)
    first, last = date(2026, 10, 20), date(2026, 11, 10)
    cube = load_cube(team, first, last)
    assert cube == load_cube(team, first, last, source=RAW)
    assert {row.route_version for row in cube} == {NO_VERSION, 6, 7}
    for by in ["provider", "model", "task_type"]:
        for narrowing in [
            {},
            {"provider": "chutes"},
            {"task_type": "code"},
            {"route_version": 7},
            {"route_version": NO_VERSION},
        ]:
            filters = Filters(first, last, **narrowing)
            from_rollups = load_histograms(team, filters, by)
            assert from_rollups == load_histograms(team, filters, by, source=RAW)
            assert from_rollups


def test_it_reads_a_fixed_number_of_queries_whatever_the_usage(
    team, catalog, django_assert_num_queries
):
    usage_ingest(team, [event_at(f"q{n}", NOW - timedelta(hours=n)) for n in range(200)], now=NOW)
    team.baseline_model = Model.objects.get(name="claude-sonnet-4-5")
    for hours in range(0, 72, 6):
        TaoPriceFactory(at=NOW - timedelta(hours=hours), usd=400 + hours)
    # The cube, the histograms, the budget, the baseline price, the TAO series, the latest TAO
    # and its day-ago; the changes marked on the charts: publishes, list prices, team prices and
    # month closes.
    with django_assert_num_queries(11):
        _overview(team, days=30)
    # A range that starts after the 1st reads the whole month to date as well.
    with django_assert_num_queries(12):
        build_overview(team, Filters(date(2026, 11, 5), date(2026, 11, 10)), now=NOW)


def test_it_marks_a_one_hour_spike_once(team):
    start = datetime(2026, 11, 1, tzinfo=UTC)
    prices = [(start + timedelta(minutes=15 * n), Decimal(100)) for n in range(8)]
    prices += [(start + timedelta(minutes=15 * n), Decimal(112)) for n in range(8, 12)]
    marked = [(p.at, p.spike_pct) for p in mark_spikes(prices) if p.spike_pct is not None]
    assert marked == [(start + timedelta(hours=2), Decimal(12))]


def test_it_marks_a_slow_day_long_climb_but_not_small_moves(team):
    start = datetime(2026, 11, 1, tzinfo=UTC)
    # +1% an hour for 24 hours: never 10% within an hour, 21% within a day (after the 20th hour).
    prices = [(start + timedelta(hours=n), Decimal(100) + n) for n in range(25)]
    marked = [p for p in mark_spikes(prices) if p.spike_pct is not None]
    assert [p.at for p in marked] == [start + timedelta(hours=24)]
    assert marked[0].spike_pct == Decimal(24)


def test_it_marks_a_fall_as_well(team):
    start = datetime(2026, 11, 1, tzinfo=UTC)
    prices = [(start, Decimal(100)), (start + timedelta(hours=1), Decimal(85))]
    assert mark_spikes(prices)[-1].spike_pct == Decimal(-15)


def test_it_sums_each_team_s_own_month_for_the_all_teams_view(team, usage, catalog):
    tokyo = TeamFactory(slug="tokyo", time_zone="Asia/Tokyo")
    # 23:00 UTC on October 31st is November 1st in Tokyo.
    usage_ingest(tokyo, [event_at("k", datetime(2026, 10, 31, 23, tzinfo=UTC))], now=NOW)
    BudgetFactory(team=tokyo, amount_usd=Decimal("0.03"))
    months = {m.team.slug: m for m in all_teams_month([team, tokyo], NOW)}
    assert months[team.slug].spend_usd == Decimal("0.0213")
    assert months["tokyo"].spend_usd == Decimal("0.0105")
    assert months["tokyo"].used_pct == Decimal(35)
    assert months[team.slug].used_pct is None


def test_it_reads_the_all_teams_view_in_fixed_queries(team, usage, django_assert_num_queries):
    baseline = Model.objects.get(name="claude-sonnet-4-5")
    teams = [team, *(TeamFactory(slug=f"t{n}", baseline_model=baseline) for n in range(5))]
    # Rollups by team and model, the budgets, the baseline prices.
    with django_assert_num_queries(3):
        all_teams_month(teams, NOW)


def test_it_draws_one_tao_price_an_hour_beyond_two_weeks_but_keeps_spikes(team):
    start = datetime(2026, 10, 1, tzinfo=UTC)
    for n in range(20 * 24 * 4):
        usd = 150 if n == 1000 else 100
        TaoPriceFactory(at=start + timedelta(minutes=15 * n), usd=usd)
    points = tao_series(start, start + timedelta(days=20))
    spikes = [p for p in points if p.spike_pct is not None]
    hours = {p.at.replace(minute=0) for p in points}
    assert len(hours) == 20 * 24
    assert len(points) <= len(hours) + len(spikes)
    assert spikes[0].at == start + timedelta(minutes=15 * 1000)
    assert len(tao_series(start, start + timedelta(days=3))) == 3 * 24 * 4


def test_it_holds_chutes_to_the_team_s_tao_budget(team, usage):
    BudgetFactory(team=team, amount_usd=100, amount_tao=Decimal("0.5"))
    assert _overview(team, provider="chutes").month.budget_tao == Decimal("0.5")
    assert _overview(team, provider="chutes").month.budget_usd is None
