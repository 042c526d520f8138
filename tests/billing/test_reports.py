"""The monthly report's figures: equal to the raw events, month by month in each team's zone."""

import json
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Count, Q, Sum

from billing.costing import cost_of
from billing.demo import DemoProfile, demo_tao_prices, demo_usage_seed
from billing.ingest.store import usage_ingest
from billing.models import ModelPrice, Status, UsageEvent
from billing.reports.figures import MonthReport
from billing.reports.month_report import MonthNotAvailable, month_report, parse_month
from dashboard.models import Team
from routing.models import Model
from tests.factories import BudgetFactory, TaoPriceFactory, TeamFactory, event_at

NOW = datetime(2026, 12, 10, 12, 0, tzinfo=UTC)
OCTOBER, NOVEMBER, DECEMBER = date(2026, 10, 1), date(2026, 11, 1), date(2026, 12, 1)
LLAMA = {"provider": "chutes", "model": "unsloth/Llama-3.3-70B-Instruct"}
MINI = {"provider": "openai", "model": "gpt-5-mini"}
BILLIONTH = Decimal("1e-9")
TOKENS = ["input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens"]


def _local(team, day, hour, minute=0):
    return datetime.combine(day, time(hour, minute), tzinfo=team.zone)


def _ingest(team, *events, now=NOW):
    result = usage_ingest(team, list(events), now=now)
    assert result.rejected == []


def _raw(team, month, next_month):
    """The month's events summed straight from the raw table, over the team's local month."""
    start = datetime.combine(month, time(), tzinfo=team.zone)
    end = datetime.combine(next_month, time(), tzinfo=team.zone)
    sums = {
        "requests": Count("id"),
        "errors": Count("id", filter=Q(status=Status.ERROR)),
        **{name: Sum(name) for name in [*TOKENS, "cost_usd", "tao_amount"]},
        "tao_cost_usd": Sum("cost_usd", filter=Q(tao_amount__gt=0)),
        "unpriced_requests": Count("id", filter=Q(cost_source="unpriced")),
    }
    events = UsageEvent.objects.filter(team=team, occurred_at__gte=start, occurred_at__lt=end)
    # Aggregates may not share a name with a field.
    raw = events.aggregate(**{f"raw_{name}": total for name, total in sums.items()})
    return {name.removeprefix("raw_"): value for name, value in raw.items()}


# Demo traffic over the end of October and the start of November in New York, where daylight
# saving ends on November 1st.
DEMO_NOW = datetime(2026, 11, 3, 18, 0, tzinfo=UTC)


@pytest.fixture
def demo(team, catalog):
    team.baseline_model = Model.objects.get(name="claude-sonnet-4-5")
    team.save()
    demo_tao_prices(DEMO_NOW - timedelta(days=7), DEMO_NOW)
    demo_usage_seed(team, DemoProfile(60), days=6, now=DEMO_NOW)
    return team


@pytest.mark.parametrize("month,after", [(OCTOBER, NOVEMBER), (NOVEMBER, DECEMBER)])
def test_it_counts_every_demo_call_of_the_month(demo, month, after):
    totals = month_report(demo, month, now=DEMO_NOW).totals.figures
    raw = _raw(demo, month, after)
    assert raw["requests"] > 0
    assert (totals.requests, totals.errors) == (raw["requests"], raw["errors"])
    assert totals.input_tokens == raw["input_tokens"]
    assert totals.output_tokens == raw["output_tokens"]
    assert totals.cached_input_tokens == raw["cached_input_tokens"]
    assert totals.cache_write_tokens == raw["cache_write_tokens"]
    assert totals.unpriced_requests == raw["unpriced_requests"]


@pytest.mark.parametrize("month,after", [(OCTOBER, NOVEMBER), (NOVEMBER, DECEMBER)])
def test_it_totals_the_demo_money_to_a_billionth(demo, month, after):
    totals = month_report(demo, month, now=DEMO_NOW).totals.figures
    raw = _raw(demo, month, after)
    for name in ["cost_usd", "tao_amount", "tao_cost_usd"]:
        assert raw[name] > 0, name
        assert getattr(totals, name).quantize(BILLIONTH) == raw[name].quantize(BILLIONTH), name


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite keeps NUMERIC as 15-digit floats; exact sums need PostgreSQL",
)
@pytest.mark.parametrize("month,after", [(OCTOBER, NOVEMBER), (NOVEMBER, DECEMBER)])
def test_it_totals_the_demo_money_exactly(demo, month, after):
    report = month_report(demo, month, now=DEMO_NOW)
    raw = _raw(demo, month, after)
    events = UsageEvent.objects.filter(team=demo, cost_usd__isnull=False)
    start = datetime.combine(month, time(), tzinfo=demo.zone)
    end = datetime.combine(after, time(), tzinfo=demo.zone)
    one_by_one = sum(
        (e.cost_usd for e in events.filter(occurred_at__gte=start, occurred_at__lt=end)),
        Decimal(0),
    )
    assert report.totals.figures.cost_usd == raw["cost_usd"] == one_by_one
    assert report.totals.figures.tao_amount == raw["tao_amount"]
    assert report.totals.figures.tao_cost_usd == raw["tao_cost_usd"]


def test_its_breakdowns_add_up_to_the_totals(demo):
    report = month_report(demo, OCTOBER, now=DEMO_NOW)
    for name in ["by_team", "by_provider", "by_model", "by_task_type"]:
        lines = getattr(report, name)
        assert sum(line.figures.cost_usd for line in lines) == report.totals.figures.cost_usd
        assert sum(line.figures.tokens for line in lines) == report.totals.figures.tokens
        assert sum(line.previous.requests for line in lines) == report.totals.previous.requests


# --- Month boundaries in the team's time zone -----------------------------------------------


@pytest.mark.parametrize(
    "zone,month,after",
    [
        # Daylight saving starts on March 8th: March begins at -05:00 and ends at -04:00.
        ("America/New_York", date(2026, 3, 1), date(2026, 4, 1)),
        # Daylight saving ends on November 1st: November begins at -04:00 and ends at -05:00.
        ("America/New_York", NOVEMBER, DECEMBER),
        ("Asia/Tokyo", NOVEMBER, DECEMBER),
    ],
)
def test_it_puts_calls_either_side_of_midnight_in_their_local_month(catalog, zone, month, after):
    team = TeamFactory(time_zone=zone)
    before_first = month - timedelta(days=1)
    last = after - timedelta(days=1)
    _ingest(
        team,
        event_at("late-on-the-last-day-before", _local(team, before_first, 23, 30)),
        event_at("early-on-the-first", _local(team, month, 0, 30)),
        event_at("late-on-the-last-day", _local(team, last, 23, 30)),
        event_at("early-on-the-next-first", _local(team, after, 0, 30)),
        now=_local(team, after, 1),
    )
    report = month_report(team, month, now=_local(team, after, 1))
    assert report.totals.figures.requests == 2
    assert report.totals.previous.requests == 1
    assert month_report(team, after, now=_local(team, after, 1)).totals.figures.requests == 1


def test_it_counts_the_evening_of_the_31st_in_tokyo_in_november_though_utc_says_october(catalog):
    team = TeamFactory(time_zone="Asia/Tokyo")
    # 00:30 on November 1st in Tokyo is 15:30 on October 31st in UTC.
    _ingest(team, event_at("a", datetime(2026, 10, 31, 15, 30, tzinfo=UTC)))
    assert month_report(team, NOVEMBER, now=NOW).totals.figures.requests == 1
    assert month_report(team, OCTOBER, now=NOW).totals.figures.requests == 0


# --- Month over month -----------------------------------------------------------------------


@pytest.fixture
def two_months(team, catalog):
    _ingest(
        team,
        event_at("oct-sonnet", datetime(2026, 10, 10, 15, tzinfo=UTC), cost_usd=Decimal("2.00")),
        event_at(
            "oct-mini", datetime(2026, 10, 11, 15, tzinfo=UTC), cost_usd=Decimal("1.00"), **MINI
        ),
        event_at("nov-sonnet-1", datetime(2026, 11, 10, 15, tzinfo=UTC), cost_usd=Decimal("2.50")),
        event_at("nov-sonnet-2", datetime(2026, 11, 11, 15, tzinfo=UTC), cost_usd=Decimal("0.50")),
        event_at(
            "nov-llama",
            datetime(2026, 11, 12, 15, tzinfo=UTC),
            cost_usd=Decimal("0.25"),
            task_type="extraction",
            **LLAMA,
        ),
    )
    return month_report(team, NOVEMBER, now=NOW)


def test_it_compares_the_total_with_the_month_before(two_months):
    change = two_months.totals.cost_change
    assert (change.current, change.previous) == (Decimal("3.25"), Decimal("3.00"))
    assert change.delta == Decimal("0.25")
    assert change.pct == Decimal("0.25") * 100 / 3


def test_it_compares_each_provider_with_the_month_before(two_months):
    lines = {line.key: line for line in two_months.by_provider}
    assert lines["anthropic"].cost_change.delta == Decimal("1.00")
    assert lines["anthropic"].cost_change.pct == Decimal(50)
    assert lines["anthropic"].requests_change.pct == Decimal(100)


def test_it_marks_a_line_new_when_the_month_before_had_none(two_months):
    llama = next(line for line in two_months.by_model if line.key.startswith("chutes/"))
    assert llama.new
    assert llama.cost_change.is_new
    assert llama.cost_change.pct is None


def test_it_keeps_a_line_gone_since_the_month_before_at_the_end(two_months):
    last = two_months.by_provider[-1]
    assert (last.key, last.gone) == ("openai", True)
    assert last.cost_change.pct == Decimal(-100)


def test_it_breaks_down_by_task_type_with_a_label_for_none(team, catalog):
    _ingest(team, event_at("a", datetime(2026, 11, 10, 15, tzinfo=UTC), task_type=None))
    line = month_report(team, NOVEMBER, now=NOW).by_task_type[0]
    assert (line.key, line.label) == ("", "(none)")


# --- Budget, savings, TAO, unpriced calls and disagreements ---------------------------------


def test_it_holds_the_month_to_its_own_budget_over_the_recurring_one(team, two_months):
    BudgetFactory(team=team, month=None, amount_usd=Decimal(100))
    BudgetFactory(team=team, month=NOVEMBER, amount_usd=Decimal(13), amount_tao=2)
    BudgetFactory(team=team, month=OCTOBER, amount_usd=Decimal(1))
    report = month_report(team, NOVEMBER, now=NOW)
    assert (report.budget_usd, report.budget_tao) == (Decimal(13), Decimal(2))
    assert report.totals.used_pct == Decimal(25)


def test_it_ignores_provider_and_task_type_budgets(team, two_months):
    BudgetFactory(team=team, task_type="extraction", amount_usd=Decimal(5))
    assert month_report(team, NOVEMBER, now=NOW).budget_usd is None


def test_it_measures_savings_against_the_baseline_price_of_each_day(team, catalog):
    mini = Model.objects.get(name="gpt-5-mini")
    team.baseline_model = mini
    team.save()
    ModelPrice.objects.create(
        model=mini,
        effective_from=date(2026, 11, 15),
        input_per_mtok=Decimal(1),
        output_per_mtok=Decimal(8),
        source="test",
    )
    _ingest(
        team,
        event_at("early", datetime(2026, 11, 10, 15, tzinfo=UTC)),
        event_at("late", datetime(2026, 11, 20, 15, tzinfo=UTC)),
        event_at("unpriced", datetime(2026, 11, 20, 16, tzinfo=UTC), model="no-such-model"),
    )
    savings = month_report(team, NOVEMBER, now=NOW).savings
    old, new = ModelPrice.objects.filter(model=mini).order_by("effective_from")
    tokens = {
        "input_tokens": 1000,
        "output_tokens": 500,
        "cached_input_tokens": 0,
        "cache_write_tokens": 0,
    }
    assert savings.baseline_usd == cost_of(price=old, **tokens) + cost_of(price=new, **tokens)
    # Two Sonnet calls at $3 / $15 per million tokens.
    assert savings.actual_usd == Decimal("0.021")
    assert savings.baselines == ["openai/gpt-5-mini"]


def test_it_shows_no_savings_without_a_baseline_model(team, two_months):
    assert two_months.savings is None


def test_it_values_tao_at_the_usd_it_cost_when_used(team, catalog):
    TaoPriceFactory(at=datetime(2026, 11, 10, 14, 30, tzinfo=UTC), usd=400)
    _ingest(
        team,
        event_at("a", datetime(2026, 11, 10, 15, tzinfo=UTC), cost_usd=Decimal("0.8"), **LLAMA),
    )
    report = month_report(team, NOVEMBER, now=NOW)
    assert report.totals.figures.tao_amount == Decimal("0.002")
    assert report.totals.figures.tao_cost_usd == Decimal("0.8")
    assert report.tao_usd_rate == Decimal(400)


def test_it_calls_out_unpriced_models_with_their_tokens(team, catalog):
    _ingest(
        team,
        event_at("a", datetime(2026, 11, 10, 15, tzinfo=UTC), provider="chutes", model="new/Model"),
        event_at("b", datetime(2026, 11, 10, 16, tzinfo=UTC), provider="chutes", model="new/Model"),
        event_at("c", datetime(2026, 11, 10, 17, tzinfo=UTC)),
    )
    report = month_report(team, NOVEMBER, now=NOW)
    [line] = report.unpriced
    assert (line.label, line.requests, line.tokens) == ("chutes/new/Model", 2, 3000)
    assert report.unpriced_tokens == 3000


def test_it_lists_the_months_cost_disagreements_of_its_teams_only(team, other_team, catalog):
    # Sonnet's catalog cost of these calls is $0.0105.
    _ingest(team, event_at("nov", datetime(2026, 11, 10, 15, tzinfo=UTC), cost_usd=Decimal("0.02")))
    _ingest(team, event_at("oct", datetime(2026, 10, 10, 15, tzinfo=UTC), cost_usd=Decimal("0.03")))
    _ingest(
        other_team, event_at("x", datetime(2026, 11, 10, 15, tzinfo=UTC), cost_usd=Decimal("0.04"))
    )
    [row] = month_report(team, NOVEMBER, now=NOW).disagreements
    assert (row.model_name, row.requests) == ("claude-sonnet-4-5", 1)
    assert (row.reported_usd, row.catalog_usd) == (Decimal("0.02"), Decimal("0.0105"))


# --- Several teams ---------------------------------------------------------------------------


def test_it_reports_several_teams_each_in_its_own_month(team, catalog):
    tokyo = TeamFactory(slug="tokyo", name="Tokyo", time_zone="Asia/Tokyo")
    # 23:00 on October 31st in New York; 08:00 on November 1st in Tokyo.
    moment = datetime(2026, 11, 1, 3, tzinfo=UTC)
    _ingest(team, event_at("a", moment, cost_usd=Decimal("1")))
    _ingest(tokyo, event_at("a", moment, cost_usd=Decimal("2")))
    report = month_report([team, tokyo], NOVEMBER, now=NOW)
    assert [(line.key, line.figures.cost_usd) for line in report.by_team] == [
        ("maven", Decimal(0)),
        ("tokyo", Decimal(2)),
    ]
    assert report.totals.figures.cost_usd == Decimal(2)
    assert report.by_team[0].previous.cost_usd == Decimal(1)


def test_it_sums_the_teams_budgets_only_when_every_team_has_one(team, other_team):
    BudgetFactory(team=team, amount_usd=Decimal(10))
    report = month_report([team, other_team], NOVEMBER, now=NOW)
    assert report.budget_usd is None
    assert report.notes
    BudgetFactory(team=other_team, amount_usd=Decimal(5))
    assert month_report([team, other_team], NOVEMBER, now=NOW).budget_usd == Decimal(15)


# --- Snapshot, months, queries ---------------------------------------------------------------


def test_it_comes_back_the_same_from_its_snapshot(demo):
    BudgetFactory(team=demo, amount_usd=Decimal(50), amount_tao=Decimal("0.25"))
    _ingest(
        demo,
        event_at("x", datetime(2026, 11, 2, 15, tzinfo=UTC), cost_usd=Decimal("9")),
        now=DEMO_NOW,
    )
    report = month_report(demo, NOVEMBER, now=DEMO_NOW)
    assert report.savings and report.disagreements and report.budget_usd
    frozen = json.loads(json.dumps(report.to_snapshot()))
    assert MonthReport.from_snapshot(frozen) == report


def test_its_snapshot_keeps_decimals_as_exact_text(team, two_months):
    snapshot = two_months.to_snapshot()
    assert snapshot["month"] == "2026-11-01"
    assert Decimal(snapshot["totals"]["figures"]["cost_usd"]) == Decimal("3.25")


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "26-11", "2026-1x", "1999-12"])
def test_it_refuses_what_is_not_a_month(team, text):
    with pytest.raises(MonthNotAvailable):
        parse_month(text, team, NOW)


def test_it_refuses_a_month_not_begun_in_the_team_zone(team):
    # 03:00 UTC on December 1st is still November 30th in New York.
    with pytest.raises(MonthNotAvailable, match="December 2026 has not begun"):
        parse_month("2026-12", team, datetime(2026, 12, 1, 3, tzinfo=UTC))
    assert parse_month("2026-12", team, datetime(2026, 12, 1, 6, tzinfo=UTC)) == DECEMBER


def test_it_says_whether_the_month_was_still_running(team):
    assert month_report(team, DECEMBER, now=NOW).in_progress
    assert not month_report(team, NOVEMBER, now=NOW).in_progress


def test_it_reads_a_fixed_number_of_queries_whatever_the_usage(
    demo, other_team, django_assert_num_queries
):
    BudgetFactory(team=demo, amount_usd=Decimal(50))
    # The days of both months, the budgets, the baseline prices, the disagreements, the
    # team prices, the list prices the bridge weighs tokens with.
    with django_assert_num_queries(6):
        month_report(demo, NOVEMBER, now=DEMO_NOW)
    other_team.baseline_model = demo.baseline_model
    with django_assert_num_queries(6):
        month_report([demo, other_team], NOVEMBER, now=DEMO_NOW)


def test_it_takes_the_teams_as_a_queryset(team, other_team):
    teams = Team.objects.filter(pk__in=[team.pk, other_team.pk]).order_by("slug")
    report = month_report(teams, NOVEMBER, now=NOW)
    assert [t.slug for t in report.teams] == ["maven", "rival"]
