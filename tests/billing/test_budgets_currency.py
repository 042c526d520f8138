"""Budgets set in another currency than USD: each day's spend at that day's rate against the
amount as set, saving one (its USD value at today's rate, audited with its currency), and the
budget alerts that read the same standing."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from billing.alerts.conditions_money import budget_forecast, budget_threshold
from billing.audit_actions import BillingAuditAction
from billing.budgets import budget_lines
from billing.ingest.store import usage_ingest
from billing.models import AlertKind, Budget, FxRate
from dashboard.models import AuditEvent
from tests.factories import AlertRuleFactory, BudgetFactory, canonical_event

# Tuesday Nov 10, noon in New York: day 10 of a 30-day month.
NOW = datetime(2026, 11, 10, 17, 0, tzinfo=UTC)
VALID = {"month": "", "provider": "", "task_type": "", "amount_usd": "100", "thresholds": ""}

pytestmark = pytest.mark.usefixtures("frozen_now")


def _rate(day: date, **per_eur: str) -> None:
    for code, value in per_eur.items():
        FxRate.objects.create(day=day, currency=code, per_eur=Decimal(value))


def _spend(team, usd, timestamp, event_id):
    event = canonical_event(id=event_id, timestamp=timestamp, cost_usd=usd)
    usage_ingest(team, [event], now=NOW)


def _eur_budget(team, amount="100", **fields) -> Budget:
    return BudgetFactory(
        team=team,
        currency="EUR",
        amount_in_currency=Decimal(amount),
        amount_usd=Decimal(amount),
        **fields,
    )


def _line(team, budget):
    return next(line for line in budget_lines(team, now=NOW) if line.budget.pk == budget.pk)


@pytest.fixture
def two_rates(team):
    """A dollar is 0.8 EUR on Nov 2 and 0.5 EUR from Nov 5; no rate on the days between."""
    _rate(date(2026, 11, 2), USD="1.25")
    _rate(date(2026, 11, 5), USD="2.00")


# --- How a budget in euros stands ----------------------------------------------------------


def test_used_share_is_each_days_spend_at_its_rate_over_the_amount_exactly(team, two_rates):
    budget = _eur_budget(team, "90")
    _spend(team, "30.30", "2026-11-02T15:00:00Z", "a")
    _spend(team, "12.34", "2026-11-06T15:00:00Z", "b")
    line = _line(team, budget)
    in_euros = Decimal("30.30") / Decimal("1.25") + Decimal("12.34") / Decimal("2.00")
    assert line.spend_in_currency == in_euros
    assert line.used_pct == in_euros * 100 / Decimal(90)


def test_the_usd_panel_agrees_with_the_share_in_euros(team, two_rates):
    budget = _eur_budget(team, "90")
    _spend(team, "30.30", "2026-11-02T15:00:00Z", "a")
    _spend(team, "12.34", "2026-11-06T15:00:00Z", "b")
    line = _line(team, budget)
    assert line.panel.used_pct.quantize(Decimal("1e-20")) == line.used_pct.quantize(
        Decimal("1e-20")
    )


def test_a_day_without_a_rate_counts_at_the_last_rate_before_it(team, two_rates):
    budget = _eur_budget(team)
    _spend(team, "10", "2026-11-04T15:00:00Z", "a")  # Nov 4: the Nov 2 rate
    assert _line(team, budget).spend_in_currency == Decimal(8)


def test_with_no_spend_yet_the_amount_stands_at_todays_rate(team, two_rates):
    budget = _eur_budget(team, "100")
    line = _line(team, budget)
    assert line.used_pct == 0
    assert line.panel.budget_usd == Decimal(200)


def test_spend_past_the_amount_in_euros_is_over(team, two_rates):
    budget = _eur_budget(team, "10")
    _spend(team, "22", "2026-11-06T15:00:00Z", "a")  # 11 EUR
    line = _line(team, budget)
    assert line.over
    assert [reached for _, reached in line.thresholds] == [True, True, True]


def test_the_forecast_takes_the_rest_of_the_month_at_the_latest_rate(team, two_rates):
    budget = _eur_budget(team, "1000")
    _spend(team, "25", "2026-11-02T15:00:00Z", "a")  # 20 EUR, at the Nov 2 rate
    line = _line(team, budget)
    # $25 over 10 days is $2.50 a day; 20 days left at 0.5 EUR per dollar.
    assert line.forecast_in_currency == Decimal(20) + Decimal("2.5") * 20 / 2


def test_a_budget_in_euros_without_any_rate_falls_back_to_its_usd_value(team):
    budget = _eur_budget(team, "100")
    budget.amount_usd = Decimal(50)
    budget.save()
    _spend(team, "25", "2026-11-02T15:00:00Z", "a")
    line = _line(team, budget)
    assert not line.in_currency
    assert line.used_pct == 50


# --- The page -------------------------------------------------------------------------------


def test_the_row_shows_the_amount_as_set_and_says_how_it_is_converted(
    client, viewer_user, team, two_rates
):
    _eur_budget(team, "90")
    _spend(team, "25", "2026-11-02T15:00:00Z", "a")
    client.force_login(viewer_user)
    page = client.get(reverse("budgets", kwargs={"team": team.slug})).content.decode()
    assert "€90.00" in page
    assert "set in EUR, converted at each day's rate" in page
    assert "€20.00" in page


# --- Saving ---------------------------------------------------------------------------------


def _post(client, user, team, **fields):
    client.force_login(user)
    return client.post(reverse("budget_new", kwargs={"team": team.slug}), {**VALID, **fields})


def test_saving_in_euros_keeps_the_amount_and_its_usd_value_today(
    client, finance_user, team, two_rates
):
    response = _post(client, finance_user, team, currency="EUR", amount_usd="150")
    assert response.status_code == 302
    budget = Budget.objects.get(team=team)
    assert (budget.currency, budget.amount_in_currency) == ("EUR", Decimal(150))
    assert budget.amount_usd == Decimal(300)


def test_a_usd_budget_has_no_amount_in_another_currency(client, finance_user, team):
    _post(client, finance_user, team, currency="USD", amount_usd="150")
    budget = Budget.objects.get(team=team)
    assert (budget.currency, budget.amount_in_currency, budget.amount_usd) == (
        "USD",
        None,
        Decimal(150),
    )


def test_the_audit_names_the_currency(client, finance_user, team, two_rates):
    _post(client, finance_user, team, currency="EUR", amount_usd="150")
    event = AuditEvent.objects.get(action=BillingAuditAction.BUDGET_CREATED)
    assert event.detail["currency"] == "EUR"
    assert event.detail["amount_in_currency"] == "150.00"


def test_it_refuses_a_currency_without_reference_rates(client, finance_user, team):
    response = _post(client, finance_user, team, currency="XYZ", amount_usd="150")
    assert response.status_code == 400
    assert "“XYZ” is not a currency with a daily reference rate" in response.content.decode()
    assert not Budget.objects.exists()


def test_it_refuses_a_currency_with_no_rate_stored_yet(client, finance_user, team):
    response = _post(client, finance_user, team, currency="GBP", amount_usd="150")
    assert response.status_code == 400
    assert "No GBP reference rate is stored yet" in response.content.decode()


def test_editing_shows_the_amount_as_set(client, finance_user, team, two_rates):
    budget = _eur_budget(team, "90")
    client.force_login(finance_user)
    url = reverse("budget_edit", kwargs={"team": team.slug, "budget_id": budget.pk})
    page = client.get(url).content.decode()
    assert 'value="90.00"' in page
    assert '<option value="EUR" selected>' in page


def test_a_new_budget_offers_the_teams_currency_first(client, finance_user, team):
    team.display_currency = "GBP"
    team.save()
    client.force_login(finance_user)
    page = client.get(reverse("budget_new", kwargs={"team": team.slug})).content.decode()
    assert page.index('value="USD"') < page.index('value="GBP"') < page.index('value="EUR"')
    assert '<option value="GBP" selected>' in page


# --- Alerts ---------------------------------------------------------------------------------


def test_the_threshold_alert_follows_the_share_in_euros(team, two_rates):
    _eur_budget(team, "10", thresholds=[50])
    _spend(team, "11", "2026-11-06T15:00:00Z", "a")  # 5.50 EUR: 55%
    rule = AlertRuleFactory(team=team, kind=AlertKind.BUDGET_THRESHOLD)
    (condition,) = budget_threshold(rule, {"currency": "usd"}, NOW)
    assert condition.details["used_pct"] == "55"
    assert "(set as 10.00 EUR, converted at each day's rate)" in condition.subject


def test_no_threshold_alert_below_the_share_in_euros(team, two_rates):
    _eur_budget(team, "10", thresholds=[80])
    _spend(team, "11", "2026-11-06T15:00:00Z", "a")  # 55%
    rule = AlertRuleFactory(team=team, kind=AlertKind.BUDGET_THRESHOLD)
    assert budget_threshold(rule, {"currency": "usd"}, NOW) == []


def test_the_forecast_alert_compares_with_the_amount_in_euros(team, two_rates):
    _eur_budget(team, "20")
    _spend(team, "24", "2026-11-06T15:00:00Z", "a")  # 12 EUR by day 10, 36 by month end
    rule = AlertRuleFactory(team=team, kind=AlertKind.BUDGET_FORECAST)
    (condition,) = budget_forecast(rule, {}, NOW)
    assert condition.details["amount_usd"] == "40"
