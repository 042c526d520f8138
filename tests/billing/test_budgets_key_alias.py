"""Budgets that cover the calls of one API key alias, and the alerts and metrics that follow
them."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.urls import reverse
from prometheus_client.parser import text_string_to_metric_families

from billing.alerts.evaluation import alerts_evaluate
from billing.budgets import budget_lines
from billing.ingest.store import usage_ingest
from billing.models import Alert, AlertKind, Budget
from dashboard.models import AuditEvent
from dashboard.tokens import token_create
from routing.models import Provider
from tests.factories import AlertRuleFactory, BudgetFactory, canonical_event

# Tuesday Nov 10, noon in New York.
NOW = datetime(2026, 11, 10, 17, 0, tzinfo=UTC)
FORM = {"month": "", "provider": "", "task_type": "", "amount_usd": "100", "thresholds": ""}

pytestmark = pytest.mark.usefixtures("frozen_now")


def spend(team, event_id, usd, alias=""):
    event = canonical_event(
        id=event_id, timestamp="2026-11-09T15:00:00Z", cost_usd=usd, api_key_alias=alias or None
    )
    assert usage_ingest(team, [event], now=NOW).accepted == 1


def standing(team, budget) -> Decimal:
    line = next(line for line in budget_lines(team, now=NOW) if line.budget == budget)
    return line.panel.spend_usd


def test_a_key_alias_budget_counts_only_that_keys_calls(team):
    spend(team, "batch-1", "30", alias="batch")
    spend(team, "web-1", "50", alias="web")
    spend(team, "plain", "7")
    budget = BudgetFactory(team=team, api_key_alias="batch", amount_usd=Decimal(100))

    assert standing(team, budget) == Decimal(30)


def test_the_whole_team_budget_still_counts_every_call(team):
    spend(team, "batch-1", "30", alias="batch")
    spend(team, "plain", "7")
    BudgetFactory(team=team, api_key_alias="batch", amount_usd=Decimal(100))
    whole = BudgetFactory(team=team, amount_usd=Decimal(100))

    assert standing(team, whole) == Decimal(37)


def test_finance_adds_a_key_alias_budget_and_it_is_audited(client, finance_user, team):
    client.force_login(finance_user)

    response = client.post(
        reverse("budget_new", kwargs={"team": team.slug}), {**FORM, "api_key_alias": " batch "}
    )

    assert response.status_code == 302
    assert Budget.objects.get().api_key_alias == "batch"
    event = AuditEvent.objects.get(action="budget.created")
    assert event.target == "API key batch, every month"
    assert event.detail["api_key_alias"] == "batch"


def test_the_page_names_a_key_alias_budget(client, finance_user, team):
    BudgetFactory(team=team, api_key_alias="batch", amount_usd=Decimal(100))
    client.force_login(finance_user)

    page = client.get(reverse("budgets", kwargs={"team": team.slug})).content.decode()

    assert "API key batch" in page


def test_the_form_suggests_the_aliases_calls_carried(client, finance_user, team):
    spend(team, "web-1", "5", alias="web")
    client.force_login(finance_user)

    page = client.get(reverse("budget_new", kwargs={"team": team.slug})).content.decode()

    assert '<option value="web">' in page


def test_a_key_alias_with_a_provider_is_refused_and_kept(client, finance_user, team, catalog):
    client.force_login(finance_user)
    chutes = Provider.objects.get(slug="chutes")

    response = client.post(
        reverse("budget_new", kwargs={"team": team.slug}),
        {**FORM, "provider": chutes.pk, "api_key_alias": "batch"},
    )

    assert response.status_code == 400
    page = response.content.decode()
    assert "one provider, one task type or one API key alias, not several" in page
    assert 'value="batch"' in page
    assert not Budget.objects.exists()


def test_two_budgets_for_the_same_alias_and_month_are_refused(client, finance_user, team):
    BudgetFactory(team=team, api_key_alias="batch", amount_usd=Decimal(100))
    client.force_login(finance_user)

    response = client.post(
        reverse("budget_new", kwargs={"team": team.slug}), {**FORM, "api_key_alias": "batch"}
    )

    assert "already has a budget for api key batch, every month" in response.content.decode()
    assert Budget.objects.count() == 1


def test_a_threshold_alert_fires_for_a_key_alias_budget(team):
    spend(team, "batch-1", "85", alias="batch")
    spend(team, "web-1", "500", alias="web")
    BudgetFactory(team=team, api_key_alias="batch", amount_usd=Decimal(100), thresholds=[80])
    AlertRuleFactory(kind=AlertKind.BUDGET_THRESHOLD, team=team, params={"currency": "usd"})

    alerts_evaluate(now=NOW)

    alert = Alert.objects.get()
    assert "for API key batch" in alert.summary
    assert alert.details["api_key_alias"] == "batch"


def test_metrics_label_the_budget_with_its_key_alias(client, team):
    spend(team, "batch-1", "25", alias="batch")
    BudgetFactory(team=team, api_key_alias="batch", amount_usd=Decimal(100))
    _, token = token_create(team=team, name="prometheus", scopes=["spend:read"])

    text = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}").content.decode()

    family = next(
        f for f in text_string_to_metric_families(text) if f.name == "llmspend_budget_used_ratio"
    )
    [sample] = family.samples
    assert sample.labels["api_key_alias"] == "batch"
    assert sample.value == 0.25
