"""Alert scenarios end to end: usage and prices land, the clock moves, rules are evaluated."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from billing.alerts.evaluation import alerts_evaluate
from billing.alerts.tasks import evaluate_alerts as evaluate_alerts_task
from billing.ingest.store import usage_ingest
from billing.models import (
    Alert,
    AlertKind,
    AlertNotification,
    AlertState,
    Budget,
)
from dashboard.models import JobRun, Role
from routing.models import Provider
from tests.factories import (
    AlertRuleFactory,
    BudgetFactory,
    MembershipFactory,
    TaoPriceFactory,
    UserFactory,
    canonical_event,
)

# Noon in New York on Thursday May 14th.
NOW = datetime(2026, 5, 14, 16, 0, tzinfo=UTC)
LLAMA = {"provider": "chutes", "model": "unsloth/Llama-3.3-70B-Instruct"}
GPT = {"provider": "openai", "model": "gpt-5-mini"}


def spend(team, at, usd, *, name, count=1, **fields):
    """`count` calls at `at`, costing `usd` together, as reported by the proxy."""
    each = Decimal(usd) / count
    events = [
        canonical_event(id=f"{name}-{n}", timestamp=at.isoformat(), cost_usd=float(each), **fields)
        for n in range(count)
    ]
    usage_ingest(team, events, now=at + timedelta(minutes=1))


def calls(team, at, count, *, name, errors=0, **fields):
    events = [
        canonical_event(
            id=f"{name}-{n}",
            timestamp=at.isoformat(),
            status="error" if n < errors else "success",
            **fields,
        )
        for n in range(count)
    ]
    usage_ingest(team, events, now=at + timedelta(minutes=1))


def open_keys():
    return sorted(Alert.objects.filter(resolved_at=None).values_list("dedupe_key", flat=True))


def notified():
    return list(AlertNotification.objects.order_by("id").values_list("event", "subject"))


# --- TAO price ----------------------------------------------------------------------------


@pytest.fixture
def tao_climb(db):
    TaoPriceFactory(at=NOW - timedelta(minutes=70), usd=Decimal("146.20"))
    TaoPriceFactory(at=NOW - timedelta(minutes=5), usd=Decimal("166.95"))


def test_it_fires_a_tao_spike_once(clock, tao_climb):
    AlertRuleFactory(
        kind=AlertKind.TAO_PRICE_SPIKE, params={"threshold_pct": 10, "window_minutes": 60}
    )
    alerts_evaluate()
    clock.shift(timedelta(minutes=2))
    alerts_evaluate()
    assert notified() == [("fired", "TAO up 14.2% in 1 h: $146.20 -> $166.95")]
    assert open_keys() == ["tao_price_spike:up:60"]


def test_it_resolves_a_tao_spike_quietly_when_the_price_recovers(clock, tao_climb):
    AlertRuleFactory(kind=AlertKind.TAO_PRICE_SPIKE)
    alerts_evaluate()
    clock.shift(timedelta(minutes=10))
    TaoPriceFactory(at=timezone.now(), usd=Decimal("150.00"))
    result = alerts_evaluate()
    assert result.resolved == 1
    assert Alert.objects.get().state == AlertState.RESOLVED
    assert [event for event, _ in notified()] == ["fired"]


def test_it_tells_of_the_recovery_when_the_rule_asks(clock, tao_climb):
    AlertRuleFactory(kind=AlertKind.TAO_PRICE_SPIKE, notify_on_resolve=True)
    alerts_evaluate()
    clock.shift(timedelta(minutes=10))
    TaoPriceFactory(at=timezone.now(), usd=Decimal("150.00"))
    alerts_evaluate()
    event, subject = notified()[-1]
    assert (event, subject) == ("resolved", "Resolved: TAO up 14.2% in 1 h: $146.20 -> $166.95")
    assert "after firing for 10 min" in AlertNotification.objects.last().text_body


def test_it_ignores_a_rise_when_watching_for_falls(clock, tao_climb):
    AlertRuleFactory(kind=AlertKind.TAO_PRICE_SPIKE, params={"direction": "down"})
    assert alerts_evaluate().fired == 0


def test_it_fires_on_a_stale_feed_and_resolves_when_a_price_arrives(clock, db):
    TaoPriceFactory(at=datetime(2026, 5, 14, 15, 13, tzinfo=UTC), usd=Decimal("146.20"))
    AlertRuleFactory(kind=AlertKind.TAO_PRICE_STALE, params={"minutes": 30})
    alerts_evaluate()
    assert notified() == [("fired", "No TAO price for 47 min (last $146.20 at 15:13 UTC)")]
    TaoPriceFactory(at=NOW + timedelta(minutes=1), usd=Decimal("147.00"))
    clock.shift(timedelta(minutes=2))
    assert alerts_evaluate().resolved == 1


# --- Budgets ------------------------------------------------------------------------------


def test_it_fires_each_budget_threshold_once(clock, team, catalog):
    BudgetFactory(team=team, amount_usd=Decimal(1500))
    AlertRuleFactory(kind=AlertKind.BUDGET_THRESHOLD, team=team, cooldown_minutes=60)
    spend(team, NOW - timedelta(hours=2), "1204.37", name="a")
    alerts_evaluate()
    clock.shift(timedelta(minutes=1))
    alerts_evaluate()
    clock.shift(timedelta(hours=3))
    alerts_evaluate()
    assert notified() == [
        ("fired", "Team Maven at 50% of its May budget: $1,204 of $1,500"),
        ("fired", "Team Maven at 80% of its May budget: $1,204 of $1,500"),
    ]


def test_it_fires_the_100_threshold_when_spend_gets_there(clock, team, catalog):
    BudgetFactory(team=team, amount_usd=Decimal(1500))
    AlertRuleFactory(kind=AlertKind.BUDGET_THRESHOLD, team=team)
    spend(team, NOW - timedelta(hours=2), "1204.37", name="a")
    alerts_evaluate()
    spend(team, NOW + timedelta(minutes=30), 400, name="b")
    clock.shift(timedelta(hours=1))
    result = alerts_evaluate()
    assert (result.fired, result.still_firing) == (1, 2)
    assert notified()[-1] == ("fired", "Team Maven at 100% of its May budget: $1,604 of $1,500")


def test_it_holds_tao_spend_to_the_tao_budget(clock, team, catalog):
    TaoPriceFactory(at=NOW - timedelta(hours=3), usd=Decimal(400))
    BudgetFactory(team=team, amount_usd=Decimal(1000), amount_tao=Decimal(1))
    AlertRuleFactory(kind=AlertKind.BUDGET_THRESHOLD, team=team, params={"currency": "tao"})
    # $300 at $400 a TAO: 0.75 TAO, 75% of the TAO budget (and 30% of the dollars).
    spend(team, NOW - timedelta(hours=2), 300, name="a", count=3, **LLAMA)
    alerts_evaluate()
    assert notified() == [
        ("fired", "Team Maven at 50% of its May TAO budget: 0.75 TAO of 1 TAO"),
    ]
    assert open_keys() == [f"budget_threshold:{Budget.objects.get().id}:2026-05:50:tao"]


def test_it_names_the_day_the_forecast_passes_the_budget(clock, team, catalog):
    budget = BudgetFactory(team=team, month=date(2026, 5, 1), amount_usd=Decimal(1400))
    AlertRuleFactory(kind=AlertKind.BUDGET_FORECAST, team=team)
    # $700 in 14 days of 31: $50 a day ends the month at $1,550, past $1,400 on the 29th.
    spend(team, NOW - timedelta(hours=2), 700, name="a")
    alerts_evaluate()
    alert = Alert.objects.get()
    assert alert.subject == (
        "Team Maven on course to pass its May budget on May 29: $1,550 of $1,400 forecast"
    )
    assert alert.details["crossing_day"] == "2026-05-29"
    assert alert.dedupe_key == f"budget_forecast:{budget.id}:2026-05"


def test_it_keeps_budget_months_in_the_team_time_zone(team, catalog):
    budget = BudgetFactory(team=team, amount_usd=Decimal(100))
    AlertRuleFactory(kind=AlertKind.BUDGET_THRESHOLD, team=team)
    # 22:00 on April 30th in New York, already May 1st in UTC.
    spend(team, datetime(2026, 5, 1, 2, tzinfo=UTC), 90, name="april")
    alerts_evaluate(now=datetime(2026, 5, 1, 3, tzinfo=UTC))
    # 00:30 on May 1st in New York.
    spend(team, datetime(2026, 5, 1, 4, 30, tzinfo=UTC), 60, name="may")
    result = alerts_evaluate(now=datetime(2026, 5, 1, 5, tzinfo=UTC))
    assert (result.fired, result.resolved) == (1, 2)
    assert open_keys() == [f"budget_threshold:{budget.id}:2026-05:50:usd"]
    assert [subject for _, subject in notified()] == [
        "Team Maven at 50% of its April budget: $90 of $100",
        "Team Maven at 80% of its April budget: $90 of $100",
        "Team Maven at 50% of its May budget: $60 of $100",
    ]


# --- Idempotence, cooldown, acknowledgement -----------------------------------------------


def test_it_changes_nothing_when_evaluated_twice_at_the_same_moment(clock, team, catalog):
    BudgetFactory(team=team, amount_usd=Decimal(100))
    AlertRuleFactory(kind=AlertKind.BUDGET_THRESHOLD, team=team)
    AlertRuleFactory(kind=AlertKind.ERROR_RATE, team=team, cooldown_minutes=0)
    spend(team, NOW - timedelta(minutes=20), 90, name="a", count=60, status="error", **GPT)
    alerts_evaluate()
    before = list(Alert.objects.order_by("id").values())
    result = alerts_evaluate()
    assert (result.fired, result.resolved, result.notifications) == (0, 0, 0)
    assert list(Alert.objects.order_by("id").values()) == before
    assert AlertNotification.objects.count() == 3


@pytest.fixture
def failing_openai(team, catalog):
    calls(team, NOW - timedelta(minutes=10), 200, name="a", errors=25, **GPT)


def test_it_reminds_of_a_still_firing_error_rate_after_the_cooldown(clock, team, failing_openai):
    AlertRuleFactory(kind=AlertKind.ERROR_RATE, team=team, cooldown_minutes=30)
    alerts_evaluate()
    clock.shift(timedelta(minutes=15))
    alerts_evaluate()
    clock.shift(timedelta(minutes=15))
    alerts_evaluate()
    first = "openai error rate 12.5% over the last 60 min (25 of 200 calls)"
    assert notified() == [("fired", first), ("fired", f"Still firing: {first}")]


def test_it_does_not_remind_of_an_acknowledged_alert(clock, team, failing_openai, ops_user):
    AlertRuleFactory(kind=AlertKind.ERROR_RATE, team=team, cooldown_minutes=30)
    alerts_evaluate()
    Alert.objects.update(state=AlertState.ACKNOWLEDGED, acknowledged_by=ops_user)
    clock.shift(timedelta(minutes=40))
    result = alerts_evaluate()
    assert (result.still_firing, result.notifications) == (1, 0)
    assert Alert.objects.get().state == AlertState.ACKNOWLEDGED


def test_it_needs_the_minimum_of_calls_for_an_error_rate(clock, team, catalog):
    AlertRuleFactory(kind=AlertKind.ERROR_RATE, team=team, params={"min_requests": 50})
    calls(team, NOW - timedelta(minutes=10), 49, name="a", errors=49, **GPT)
    assert alerts_evaluate().fired == 0


# --- Provider health ----------------------------------------------------------------------


def test_it_fires_a_slow_provider_with_its_routing_target(clock, team, catalog):
    AlertRuleFactory(kind=AlertKind.LATENCY_P95, team=team, params={"threshold_ms": 10000})
    calls(team, NOW - timedelta(minutes=30), 60, name="slow", latency_ms=15000, **GPT)
    calls(team, NOW - timedelta(minutes=30), 60, name="fast", latency_ms=800, **LLAMA)
    alerts_evaluate()
    alert = Alert.objects.get()
    assert alert.dedupe_key == "latency_p95:openai"
    assert (alert.details["provider"], alert.details["models"]) == ("openai", {"gpt-5-mini": 60})
    assert alert.link == "/t/maven/?provider=openai"


def test_it_fires_a_quality_drop_for_one_model(clock, team, catalog):
    AlertRuleFactory(kind=AlertKind.QUALITY_DROP, team=team, params={"model": "gpt-5-mini"})
    calls(team, NOW - timedelta(hours=3), 40, name="poor", quality_score=0.5, **GPT)
    alerts_evaluate()
    alert = Alert.objects.get()
    assert alert.dedupe_key == "quality_drop:openai/gpt-5-mini"
    assert (alert.details["provider"], alert.details["model"]) == ("openai", "gpt-5-mini")
    assert alert.subject == (
        "openai/gpt-5-mini quality 0.50 over the last 24 h (below 0.7, 40 scored calls)"
    )


def test_a_disabled_rule_does_nothing(clock, team, failing_openai):
    AlertRuleFactory(kind=AlertKind.ERROR_RATE, team=team, enabled=False)
    result = alerts_evaluate()
    assert (result.rules, Alert.objects.count()) == (0, 0)


# --- Whom, and how ------------------------------------------------------------------------


def test_it_sends_to_the_chosen_roles_and_the_extra_emails(
    clock, team, users_by_role, failing_openai
):
    AlertRuleFactory(
        kind=AlertKind.ERROR_RATE,
        team=team,
        recipient_roles=[Role.OPS, Role.ADMIN],
        extra_emails=["oncall@example.com", "OPS-user@example.com"],
    )
    alerts_evaluate()
    assert AlertNotification.objects.get().recipients == [
        "admin-user@example.com",
        "oncall@example.com",
        "ops-user@example.com",
    ]


def test_it_sends_global_alerts_to_superusers_and_extra_emails(clock, tao_climb):
    UserFactory(username="root", is_superuser=True)
    MembershipFactory(user=UserFactory(username="member"), role=Role.ADMIN)
    AlertRuleFactory(kind=AlertKind.TAO_PRICE_SPIKE, extra_emails=["treasury@example.com"])
    alerts_evaluate()
    assert AlertNotification.objects.get().recipients == [
        "root@example.com",
        "treasury@example.com",
    ]


def test_the_command_prints_the_summary(clock, tao_climb):
    AlertRuleFactory(kind=AlertKind.TAO_PRICE_SPIKE)
    AlertRuleFactory(kind=AlertKind.TAO_PRICE_STALE)
    out = StringIO()
    call_command("evaluate_alerts", "--now", "2026-05-14T16:00:00Z", stdout=out)
    assert out.getvalue().strip() == (
        "2 rules, fired 1, still firing 0, resolved 0, notifications queued 1"
    )


def test_the_task_records_its_run(clock, tao_climb):
    AlertRuleFactory(kind=AlertKind.TAO_PRICE_SPIKE)
    evaluate_alerts_task()
    run = JobRun.objects.get(name="evaluate_alerts")
    assert run.outcome == JobRun.Outcome.OK
    assert run.detail == "1 rules, fired 1, still firing 0, resolved 0, notifications queued 1"


def test_it_applies_a_provider_budget_to_that_provider_only(clock, team, catalog):
    chutes = Provider.objects.get(slug="chutes")
    BudgetFactory(team=team, provider=chutes, amount_usd=Decimal(10))
    AlertRuleFactory(kind=AlertKind.BUDGET_THRESHOLD, team=team)
    spend(team, NOW - timedelta(hours=1), 9, name="gpt", **GPT)
    spend(team, NOW - timedelta(hours=1), 6, name="llama", **LLAMA)
    alerts_evaluate()
    assert notified() == [
        ("fired", "Team Maven at 50% of its May budget for Chutes (Bittensor SN64): $6 of $10")
    ]


def test_it_links_an_error_rate_alert_to_a_prepared_routing_change(clock, team, failing_openai):
    AlertRuleFactory(kind=AlertKind.ERROR_RATE, team=team)
    alerts_evaluate()
    alert = Alert.objects.get()
    notification = AlertNotification.objects.get()
    url = f"/t/{team.slug}/alerts/{alert.pk}/routing-change/"
    assert url in notification.text_body
    assert url in notification.html_body
