"""The alert engine's parts: params, budgets, windows, wording, and the races it survives."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.alerts.conditions_money import budget_months, thresholds_of
from billing.alerts.evaluation import RuleRun, alerts_evaluate, conditions_of
from billing.alerts.messages import duration, fired_message, usd
from billing.alerts.params import params_of
from billing.alerts.tasks import RulesFailed
from billing.alerts.tasks import evaluate_alerts as evaluate_alerts_task
from billing.models import Alert, AlertKind, AlertNotification, AlertRule, Budget
from dashboard.models import JobRun
from routing.models import Provider
from tests.billing.test_alert_scenarios import GPT, calls, spend
from tests.factories import AlertRuleFactory, BudgetFactory, TaoPriceFactory

NOW = datetime(2026, 5, 14, 16, 30, tzinfo=UTC)


# --- Params -------------------------------------------------------------------------------


def test_it_fills_params_from_the_kind_s_defaults():
    rule = AlertRule(kind=AlertKind.ERROR_RATE, params={"threshold_pct": 7.5})
    assert params_of(rule) == {
        "threshold_pct": Decimal("7.5"),
        "window_minutes": 60,
        "min_requests": 50,
        "provider": "",
        "model": "",
    }


@pytest.mark.parametrize(
    "params",
    [{"window_minutes": 0}, {"threshold_pct": "lots"}, {"direction": "sideways"}],
)
def test_it_refuses_nonsense_params(params):
    rule = AlertRule(kind=AlertKind.TAO_PRICE_SPIKE, params=params)
    with pytest.raises(ValueError):
        params_of(rule)


def test_a_broken_rule_does_not_stop_the_others(db):
    AlertRuleFactory(kind=AlertKind.TAO_PRICE_STALE, params={"minutes": "soon"})
    AlertRuleFactory(kind=AlertKind.TAO_PRICE_STALE)
    result = alerts_evaluate(now=NOW)
    assert (result.rules, result.fired) == (2, 1)
    assert "minutes must be a number" in result.failed[0]


# --- Budgets ------------------------------------------------------------------------------


def test_it_takes_the_month_s_own_budget_over_the_recurring_one_per_scope(team, catalog):
    chutes = Provider.objects.get(slug="chutes")
    BudgetFactory(team=team, amount_usd=100)
    own = BudgetFactory(team=team, month=date(2026, 5, 1), amount_usd=250)
    recurring_chutes = BudgetFactory(team=team, provider=chutes, amount_usd=40)
    BudgetFactory(team=team, month=date(2026, 4, 1), amount_usd=999)
    chosen = budget_months(team, datetime(2026, 5, 10, 12, tzinfo=UTC))
    assert sorted(month.budget.id for month in chosen) == [own.id, recurring_chutes.id]


def test_it_skips_thresholds_that_are_not_positive_numbers(team):
    budget = Budget(team=team, amount_usd=1, thresholds=[80, "x", -5, 50, 80, True, 12.5])
    assert thresholds_of(budget) == [Decimal("12.5"), Decimal(50), Decimal(80)]


def test_it_tells_of_a_threshold_only_once_a_month_even_if_it_comes_back(team, catalog):
    budget = BudgetFactory(team=team, amount_usd=Decimal(100))
    AlertRuleFactory(kind=AlertKind.BUDGET_THRESHOLD, team=team, params={"currency": "usd"})
    spend(team, NOW - timedelta(hours=1), 60, name="a")
    alerts_evaluate(now=NOW)
    Budget.objects.filter(id=budget.id).update(amount_usd=1000)
    alerts_evaluate(now=NOW + timedelta(minutes=1))
    Budget.objects.filter(id=budget.id).update(amount_usd=100)
    result = alerts_evaluate(now=NOW + timedelta(minutes=2))
    assert (result.fired, result.notifications) == (1, 0)
    assert AlertNotification.objects.count() == 1


def test_it_reads_budget_conditions_in_queries_that_do_not_grow_with_budgets(team, catalog):
    rule = AlertRuleFactory(kind=AlertKind.BUDGET_THRESHOLD, team=team)
    BudgetFactory(team=team, amount_usd=Decimal(100))
    with CaptureQueriesContext(connection) as one:
        conditions_of(rule, NOW)
    for task_type in ["a", "b", "c"]:
        BudgetFactory(team=team, task_type=task_type, amount_usd=Decimal(100))
    with CaptureQueriesContext(connection) as four:
        conditions_of(rule, NOW)
    assert len(four) == len(one)


# --- Provider health ----------------------------------------------------------------------


def test_it_reads_every_rollup_hour_that_overlaps_the_window(team, catalog):
    rule = AlertRuleFactory(kind=AlertKind.ERROR_RATE, team=team)
    # 15:10 is 80 minutes before 16:30, but its hour (15:00-16:00) reaches into the window.
    calls(team, datetime(2026, 5, 14, 15, 10, tzinfo=UTC), 60, name="a", errors=30, **GPT)
    assert [c.key for c in conditions_of(rule, NOW)] == ["error_rate:openai"]
    assert conditions_of(rule, NOW + timedelta(minutes=31)) == []


def test_a_model_rule_keys_its_alert_by_provider_and_model(team, catalog):
    rule = AlertRuleFactory(kind=AlertKind.ERROR_RATE, team=team, params={"model": "gpt-5-mini"})
    calls(team, NOW - timedelta(minutes=5), 60, name="a", errors=30, **GPT)
    calls(team, NOW - timedelta(minutes=5), 60, name="b", errors=30, model="gpt-5.2")
    (condition,) = conditions_of(rule, NOW)
    assert condition.key == "error_rate:openai/gpt-5-mini"
    assert condition.link == "/t/maven/?provider=openai&model=gpt-5-mini"


def test_a_provider_rule_watches_that_provider_only(team, catalog):
    rule = AlertRuleFactory(kind=AlertKind.ERROR_RATE, team=team, params={"provider": "chutes"})
    calls(team, NOW - timedelta(minutes=5), 60, name="a", errors=30, **GPT)
    assert conditions_of(rule, NOW) == []


def test_it_needs_the_minimum_of_scored_calls_for_a_quality_drop(team, catalog):
    rule = AlertRuleFactory(kind=AlertKind.QUALITY_DROP, team=team, params={"min_samples": 30})
    calls(team, NOW - timedelta(hours=1), 29, name="a", quality_score=0.1, **GPT)
    assert conditions_of(rule, NOW) == []


# --- TAO ----------------------------------------------------------------------------------


def test_a_day_long_fall_has_its_own_key(db):
    TaoPriceFactory(at=NOW - timedelta(hours=30), usd=200)
    TaoPriceFactory(at=NOW - timedelta(minutes=1), usd=150)
    rule = AlertRuleFactory(
        kind=AlertKind.TAO_PRICE_SPIKE, params={"threshold_pct": 20, "window_minutes": 1440}
    )
    (condition,) = conditions_of(rule, NOW)
    assert condition.key == "tao_price_spike:down:1440"
    assert condition.subject == "TAO down 25.0% in 24 h: $200 -> $150"
    assert condition.link == "/"


def test_it_calls_a_feed_that_never_spoke_stale(db):
    (condition,) = conditions_of(AlertRuleFactory(kind=AlertKind.TAO_PRICE_STALE), NOW)
    assert condition.subject == "No TAO price yet"


def test_a_team_s_tao_rule_shows_times_in_the_team_zone_and_links_its_overview(team):
    TaoPriceFactory(at=datetime(2026, 5, 14, 15, 13, tzinfo=UTC), usd=146)
    (condition,) = conditions_of(AlertRuleFactory(kind=AlertKind.TAO_PRICE_STALE, team=team), NOW)
    assert condition.subject == "No TAO price for 1 h 17 min (last $146 at 11:13 EDT)"
    assert condition.link == "/t/maven/"


# --- Races --------------------------------------------------------------------------------


@pytest.fixture
def stale_rule(db):
    return AlertRuleFactory(kind=AlertKind.TAO_PRICE_STALE, notify_on_resolve=True)


def test_an_alert_another_evaluator_opened_first_is_left_to_it(stale_rule):
    (condition,) = conditions_of(stale_rule, NOW)
    RuleRun(stale_rule, NOW).fire(condition, quiet=False)
    late = RuleRun(stale_rule, NOW)
    late.fire(condition, quiet=False)
    assert (late.result.fired, late.result.notifications) == (0, 0)
    assert AlertNotification.objects.count() == 1


def test_an_alert_resolved_twice_is_told_of_once(stale_rule):
    alerts_evaluate(now=NOW)
    first, second = Alert.objects.get(), Alert.objects.get()
    RuleRun(stale_rule, NOW).resolve(first)
    RuleRun(stale_rule, NOW).resolve(second)
    assert list(AlertNotification.objects.values_list("event", flat=True)) == ["fired", "resolved"]


# --- Words --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        (Decimal("1204.37"), "$1,204"),
        (Decimal("1500"), "$1,500"),
        (Decimal("146.2"), "$146.20"),
        (Decimal("0.0213"), "$0.02"),
    ],
)
def test_it_shows_dollars_whole_when_large_or_round(amount, shown):
    assert usd(amount) == shown


@pytest.mark.parametrize(
    ("minutes", "shown"), [(47, "47 min"), (60, "1 h"), (134, "2 h 14 min"), (3000, "2 days 2 h")]
)
def test_it_says_how_long_in_words(minutes, shown):
    assert duration(timedelta(minutes=minutes)) == shown


def test_the_email_links_to_the_page_and_escapes_html(team, settings):
    settings.SITE_URL = "https://spend.example.com"
    team.name = "<b>Maven</b>"
    rule = AlertRuleFactory(kind=AlertKind.BUDGET_FORECAST, team=team)
    alert = Alert(rule=rule, team=team, subject="Team <b>Maven</b>", link="/t/maven/budgets/")
    alert.fired_at = NOW
    message = fired_message(alert)
    assert "Open: https://spend.example.com/t/maven/budgets/" in message.text
    assert "Team <b>Maven</b>" in message.text
    assert "Team &lt;b&gt;Maven&lt;/b&gt;" in message.html


def test_the_command_refuses_a_time_without_an_offset(db):
    with pytest.raises(CommandError, match="needs an offset"):
        call_command("evaluate_alerts", "--now", "2026-05-14T16:00")


def test_the_task_fails_its_run_when_a_rule_is_broken(db):
    AlertRuleFactory(kind=AlertKind.TAO_PRICE_STALE, params={"minutes": "soon"})
    with pytest.raises(RulesFailed):
        evaluate_alerts_task()
    run = JobRun.objects.get(name="evaluate_alerts")
    assert run.outcome == JobRun.Outcome.FAILED
    assert "1 rules, fired 0" in run.detail
