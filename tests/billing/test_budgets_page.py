from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from billing.audit_actions import BillingAuditAction
from billing.catalog import catalog_load
from billing.ingest.store import usage_ingest
from billing.models import Budget
from dashboard.models import AuditEvent
from routing.models import Provider, RoutingRule
from tests.factories import BudgetFactory, ProviderFactory, TaoPriceFactory, canonical_event

# Tuesday Nov 10, noon in New York: day 10 of a 30-day month.
NOW = datetime(2026, 11, 10, 17, 0, tzinfo=UTC)
READERS = ["admin", "ops", "finance", "viewer"]
EDITORS = ["admin", "finance"]
NOT_EDITORS = ["ops", "viewer"]
VALID = {"month": "", "provider": "", "task_type": "", "amount_usd": "100", "thresholds": ""}


pytestmark = pytest.mark.usefixtures("frozen_now")


def _url(name, team, **kwargs):
    return reverse(name, kwargs={"team": team.slug, **kwargs})


def _page(client, user, team) -> str:
    client.force_login(user)
    response = client.get(_url("budgets", team))
    assert response.status_code == 200
    return response.content.decode()


def _spend(team, usd, timestamp, event_id, **overrides):
    event = canonical_event(id=event_id, timestamp=timestamp, cost_usd=usd, **overrides)
    usage_ingest(team, [event], now=NOW)


def _post_new(client, user, team, **fields):
    client.force_login(user)
    return client.post(_url("budget_new", team), {**VALID, **fields})


# --- Who may do what -----------------------------------------------------------------------


@pytest.mark.parametrize("role", READERS)
def test_it_shows_the_budgets_to_every_role(client, users_by_role, team, role):
    BudgetFactory(team=team, amount_usd=Decimal(250))
    assert "$250.00" in _page(client, users_by_role[role], team)


def test_it_hides_the_page_from_outsiders(client, outsider, team):
    client.force_login(outsider)
    assert client.get(_url("budgets", team)).status_code == 404


def test_it_hides_a_budget_of_another_team(client, finance_user, team, other_team):
    budget = BudgetFactory(team=other_team)
    client.force_login(finance_user)
    response = client.get(_url("budget_edit", team, budget_id=budget.pk))
    assert response.status_code == 404


@pytest.mark.parametrize("role", EDITORS)
def test_editors_add_a_budget(client, users_by_role, team, role):
    response = _post_new(client, users_by_role[role], team, amount_usd="120.50")
    assert response.status_code == 302
    assert Budget.objects.get(team=team).amount_usd == Decimal("120.50")


@pytest.mark.parametrize("role", EDITORS)
def test_editors_change_a_budget(client, users_by_role, team, role):
    budget = BudgetFactory(team=team)
    client.force_login(users_by_role[role])
    url = _url("budget_edit", team, budget_id=budget.pk)
    client.post(url, {**VALID, "amount_usd": "150", "thresholds": "75, 100"})
    budget.refresh_from_db()
    assert (budget.amount_usd, budget.thresholds) == (Decimal(150), [75, 100])


@pytest.mark.parametrize("role", EDITORS)
def test_editors_delete_a_budget_after_confirming(client, users_by_role, team, role):
    budget = BudgetFactory(team=team)
    client.force_login(users_by_role[role])
    url = _url("budget_delete", team, budget_id=budget.pk)
    assert "Delete the budget: Whole team, every month?" in client.get(url).content.decode()
    page = client.post(url, follow=True).content.decode()
    assert not Budget.objects.filter(pk=budget.pk).exists()
    assert "Deleted the budget: Whole team, every month." in page


@pytest.mark.parametrize("role", NOT_EDITORS)
def test_readers_cannot_add_a_budget(client, users_by_role, team, role):
    assert _post_new(client, users_by_role[role], team).status_code == 403
    assert not Budget.objects.exists()


@pytest.mark.parametrize("role", NOT_EDITORS)
def test_readers_cannot_change_a_budget(client, users_by_role, team, role):
    budget = BudgetFactory(team=team)
    client.force_login(users_by_role[role])
    url = _url("budget_edit", team, budget_id=budget.pk)
    assert client.post(url, {**VALID, "amount_usd": "5"}).status_code == 403
    budget.refresh_from_db()
    assert budget.amount_usd == Decimal(100)


@pytest.mark.parametrize("role", NOT_EDITORS)
def test_readers_cannot_delete_a_budget(client, users_by_role, team, role):
    budget = BudgetFactory(team=team)
    client.force_login(users_by_role[role])
    assert client.post(_url("budget_delete", team, budget_id=budget.pk)).status_code == 403
    assert Budget.objects.filter(pk=budget.pk).exists()


@pytest.mark.parametrize("role", NOT_EDITORS)
def test_readers_cannot_post_to_the_list(client, users_by_role, team, role):
    client.force_login(users_by_role[role])
    assert client.post(_url("budgets", team), VALID).status_code == 403


@pytest.mark.parametrize("role", NOT_EDITORS)
def test_readers_see_no_edit_controls(client, users_by_role, team, role):
    budget = BudgetFactory(team=team)
    page = _page(client, users_by_role[role], team)
    assert _url("budget_new", team) not in page
    assert _url("budget_edit", team, budget_id=budget.pk) not in page
    assert _url("budget_delete", team, budget_id=budget.pk) not in page


def test_editors_see_the_edit_controls(client, finance_user, team):
    budget = BudgetFactory(team=team)
    page = _page(client, finance_user, team)
    assert _url("budget_new", team) in page
    assert _url("budget_edit", team, budget_id=budget.pk) in page
    assert _url("budget_delete", team, budget_id=budget.pk) in page


# --- The page around the list --------------------------------------------------------------


def test_the_empty_page_says_what_a_budget_does_and_offers_to_add_one(client, finance_user, team):
    page = _page(client, finance_user, team)
    assert "No budgets yet" in page
    assert "monthly spending limit" in page
    assert _url("budget_new", team) in page


def test_the_empty_page_tells_readers_who_adds_budgets(client, viewer_user, team):
    page = _page(client, viewer_user, team)
    assert "Finance members and admins" in page


def test_it_marks_budgets_and_alerts_active_in_the_navigation(client, viewer_user, team):
    page = _page(client, viewer_user, team)
    assert f'href="{_url("budgets", team)}" aria-current="page">Budgets &amp; alerts' in page


def test_it_links_to_the_alerts_page(client, viewer_user, team):
    assert f'href="{_url("alerts", team)}"' in _page(client, viewer_user, team)


def test_it_shows_the_scope_month_amounts_and_thresholds(client, viewer_user, team):
    anthropic = ProviderFactory(slug="anthropic", name="Anthropic")
    BudgetFactory(
        team=team,
        provider=anthropic,
        month=date(2027, 5, 1),
        amount_usd=Decimal("1234.5"),
        amount_tao=Decimal("2.5"),
        thresholds=[60, 90],
    )
    page = _page(client, viewer_user, team)
    for text in ["Provider Anthropic", "May 2027", "$1,234.50", "2.5 TAO", "60%", "90%"]:
        assert text in page


# --- Validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"thresholds": "80, 50, 100"}, "list the thresholds from low to high"),
        ({"thresholds": "50, 80, 80"}, "80% is listed twice"),
        ({"thresholds": "50, 1001"}, "1001% is out of range"),
        ({"thresholds": "50, 12.5"}, "is not a whole percentage"),
        ({"amount_usd": "-5"}, "The amount must be more than 0."),
        ({"amount_usd": "0"}, "The amount must be more than 0."),
        ({"amount_usd": "10.005"}, "Give the amount in dollars and cents."),
        ({"amount_tao": "-1"}, "The amount must be more than 0."),
        ({"month": "2026-13"}, "Enter a month as YYYY-MM"),
        ({"month": "May 2026"}, "Enter a month as YYYY-MM"),
        ({"task_type": "summarize", "provider": "__anthropic__"}, "not several"),
    ],
)
def test_it_refuses_an_invalid_budget_and_keeps_the_input(
    client, finance_user, team, fields, message
):
    if fields.get("provider") == "__anthropic__":
        fields = {**fields, "provider": ProviderFactory(slug="anthropic").pk}
    fields = {"month": "2026-12", "thresholds": "40, 70", **fields}
    response = _post_new(client, finance_user, team, **fields)
    page = response.content.decode()
    assert response.status_code == 400
    assert message in page
    assert f'value="{fields["thresholds"]}"' in page
    assert f'value="{fields["month"]}"' in page
    assert not Budget.objects.exists()


def test_it_refuses_a_second_budget_for_the_same_scope_and_month(client, finance_user, team):
    BudgetFactory(team=team, task_type="summarize", month=date(2026, 12, 1))
    response = _post_new(client, finance_user, team, task_type="summarize", month="2026-12")
    assert response.status_code == 400
    assert "already has a budget for task type summarize, december 2026" in (
        response.content.decode()
    )
    assert Budget.objects.count() == 1


def test_it_refuses_to_change_a_budget_into_a_duplicate(client, finance_user, team):
    BudgetFactory(team=team)
    other = BudgetFactory(team=team, month=date(2026, 12, 1))
    client.force_login(finance_user)
    response = client.post(_url("budget_edit", team, budget_id=other.pk), VALID)
    assert response.status_code == 400
    other.refresh_from_db()
    assert other.month == date(2026, 12, 1)


def test_it_allows_a_month_budget_beside_the_recurring_one(client, finance_user, team):
    BudgetFactory(team=team)
    assert _post_new(client, finance_user, team, month="2026-12").status_code == 302
    assert Budget.objects.count() == 2


def test_empty_thresholds_mean_the_defaults(client, finance_user, team):
    _post_new(client, finance_user, team, thresholds="")
    assert Budget.objects.get().thresholds == [50, 80, 100]


def test_the_form_offers_a_month_input_and_the_default_thresholds(client, finance_user, team):
    client.force_login(finance_user)
    page = client.get(_url("budget_new", team)).content.decode()
    assert 'type="month"' in page
    assert 'value="50, 80, 100"' in page


def test_the_edit_form_shows_the_budget(client, finance_user, team):
    budget = BudgetFactory(team=team, month=date(2026, 12, 1), thresholds=[30, 60])
    client.force_login(finance_user)
    page = client.get(_url("budget_edit", team, budget_id=budget.pk)).content.decode()
    assert 'value="2026-12"' in page
    assert 'value="30, 60"' in page


# --- Audit ---------------------------------------------------------------------------------


def test_it_audits_a_new_budget(client, finance_user, team):
    _post_new(client, finance_user, team, amount_usd="100", amount_tao="0.5", month="2026-12")
    event = AuditEvent.objects.get(action=BillingAuditAction.BUDGET_CREATED)
    assert (event.actor, event.target) == (finance_user, "Whole team, december 2026")
    assert event.detail["amount_usd"] == "100.00"
    assert event.detail["amount_tao"] == "0.5"


def test_it_audits_a_change_with_old_and_new_values(client, finance_user, team):
    budget = BudgetFactory(team=team, amount_tao=Decimal("0.5"))
    client.force_login(finance_user)
    url = _url("budget_edit", team, budget_id=budget.pk)
    client.post(url, {**VALID, "amount_usd": "150", "amount_tao": "0.500", "thresholds": "50, 90"})
    event = AuditEvent.objects.get(action=BillingAuditAction.BUDGET_CHANGED)
    assert event.detail == {"amount_usd": "100.00 → 150.00", "thresholds": "50, 80, 100 → 50, 90"}


def test_it_does_not_audit_a_save_that_changes_nothing(client, finance_user, team):
    budget = BudgetFactory(team=team)
    client.force_login(finance_user)
    client.post(_url("budget_edit", team, budget_id=budget.pk), VALID)
    assert not AuditEvent.objects.filter(action=BillingAuditAction.BUDGET_CHANGED).exists()


def test_it_audits_a_deletion_with_what_the_budget_was(client, admin_user, team):
    budget = BudgetFactory(team=team, task_type="summarize")
    client.force_login(admin_user)
    client.post(_url("budget_delete", team, budget_id=budget.pk))
    event = AuditEvent.objects.get(action=BillingAuditAction.BUDGET_DELETED)
    assert event.target == "Task type summarize, every month"
    assert event.detail["task_type"] == "summarize"


# --- This month's status -------------------------------------------------------------------


def _row(page: str, budget) -> str:
    return page.split(f'id="budget-{budget.pk}"', 1)[1].split("</tr>", 1)[0]


def test_it_counts_only_this_month_in_the_team_time_zone(client, viewer_user, team):
    budget = BudgetFactory(team=team)
    # 23:00 on Oct 31 in New York is already Nov 1 in UTC, but October's for the team.
    _spend(team, 7, "2026-10-31T23:00:00-04:00", "october")
    _spend(team, 3, "2026-11-01T00:30:00-04:00", "november")
    row = _row(_page(client, viewer_user, team), budget)
    assert "$3.00" in row
    assert "3.0%" in row


def test_it_counts_only_the_scope_of_the_budget(client, viewer_user, team):
    ProviderFactory(slug="anthropic", name="Anthropic")
    openai = ProviderFactory(slug="openai", name="OpenAI")
    whole, provider = BudgetFactory(team=team), BudgetFactory(team=team, provider=openai)
    summarize = BudgetFactory(team=team, task_type="summarize")
    _spend(team, 10, "2026-11-02T12:00:00Z", "a", provider="anthropic", task_type="summarize")
    _spend(team, 20, "2026-11-02T12:00:00Z", "o", provider="openai", task_type="classify")
    page = _page(client, viewer_user, team)
    assert "$30.00" in _row(page, whole)
    assert "$20.00" in _row(page, provider)
    assert "$10.00" in _row(page, summarize)


def test_it_forecasts_a_crossing_at_this_months_pace(client, viewer_user, team):
    budget = BudgetFactory(team=team, amount_usd=Decimal(25))
    # $10 in 10 days: $30 by Nov 30, over $25 on Nov 26.
    _spend(team, 10, "2026-11-02T12:00:00Z", "a")
    row = _row(_page(client, viewer_user, team), budget)
    assert "40.0%" in row
    assert "$30.00" in row
    assert "crosses the budget Nov 26" in row


def test_it_says_a_budget_stays_within_at_this_pace(client, viewer_user, team):
    budget = BudgetFactory(team=team, amount_usd=Decimal(50))
    _spend(team, 10, "2026-11-02T12:00:00Z", "a")
    assert "stays within" in _row(_page(client, viewer_user, team), budget)


def test_it_says_since_when_a_budget_is_over(client, viewer_user, team):
    budget = BudgetFactory(team=team, amount_usd=Decimal(5))
    _spend(team, 10, "2026-11-02T12:00:00Z", "a")
    row = _row(_page(client, viewer_user, team), budget)
    assert "200.0%" in row
    assert "over budget since Nov 2" in row


def test_it_marks_the_thresholds_reached(client, viewer_user, team):
    budget = BudgetFactory(team=team, amount_usd=Decimal(10), thresholds=[50, 80, 100])
    _spend(team, 8, "2026-11-02T12:00:00Z", "a")
    row = _row(_page(client, viewer_user, team), budget)
    assert row.count("threshold reached") == 2


def test_it_shows_tao_used_against_the_tao_amount(client, viewer_user, team):
    catalog_load()
    TaoPriceFactory(at=datetime(2026, 11, 2, 11, 55, tzinfo=UTC), usd=400)
    budget = BudgetFactory(team=team, amount_tao=Decimal("0.1"))
    chutes = {"provider": "chutes", "model": "deepseek-ai/DeepSeek-V3"}
    _spend(team, 20, "2026-11-02T12:00:00Z", "c", **chutes)
    row = _row(_page(client, viewer_user, team), budget)
    assert "0.0500 TAO" in row
    assert "50.0% of 0.1" in row


def test_this_months_own_budget_replaces_the_recurring_one(client, viewer_user, team):
    recurring = BudgetFactory(team=team, amount_usd=Decimal(100))
    november = BudgetFactory(team=team, amount_usd=Decimal(20), month=date(2026, 11, 1))
    _spend(team, 10, "2026-11-02T12:00:00Z", "a")
    page = _page(client, viewer_user, team)
    assert "Replaced this month by the November 2026 budget ($20.00)" in _row(page, recurring)
    assert "50.0%" in _row(page, november)


def test_a_month_budget_of_another_scope_does_not_replace_the_recurring_one(
    client, viewer_user, team
):
    recurring = BudgetFactory(team=team)
    BudgetFactory(team=team, task_type="summarize", month=date(2026, 11, 1))
    row = _row(_page(client, viewer_user, team), recurring)
    assert "Replaced" not in row
    assert "0.0%" in row


def test_it_says_when_a_future_month_budget_applies(client, viewer_user, team):
    budget = BudgetFactory(team=team, month=date(2027, 1, 1))
    assert "Applies in January 2027." in _row(_page(client, viewer_user, team), budget)


def test_it_keeps_past_month_budgets_apart(client, viewer_user, team):
    budget = BudgetFactory(team=team, month=date(2026, 10, 1))
    page = _page(client, viewer_user, team)
    assert "Past months (1)" in page
    assert "Month over." in _row(page, budget)


@pytest.mark.parametrize("count", [1, 5])
def test_it_reads_the_list_in_the_same_queries_whatever_the_number_of_budgets(
    client, viewer_user, team, count, django_assert_num_queries
):
    providers = [ProviderFactory(slug=f"p{n}") for n in range(count)]
    for provider in providers:
        BudgetFactory(team=team, provider=provider)
        BudgetFactory(team=team, provider=provider, month=date(2026, 11, 1))
    _spend(team, 10, "2026-11-02T12:00:00Z", "a")
    client.force_login(viewer_user)
    # Session, user, membership; the budgets, this month's rollups; today's TAO price (for
    # the TAO scenarios); the navigation's memberships; saving the session (savepoint, update,
    # release).
    with django_assert_num_queries(10):
        assert client.get(_url("budgets", team)).status_code == 200


def test_a_provider_choice_lists_the_providers(client, finance_user, team):
    ProviderFactory(slug="anthropic", name="Anthropic")
    client.force_login(finance_user)
    page = client.get(_url("budget_new", team)).content.decode()
    assert Provider.objects.count() == 1
    assert ">Anthropic</option>" in page


# --- Known task types ------------------------------------------------------------------------


def test_it_refuses_a_misspelt_task_type_and_suggests_the_known_one(client, finance_user, team):
    RoutingRule.objects.create(team=team, task_type="summarization")
    response = _post_new(client, finance_user, team, task_type="summarisation")
    page = response.content.decode()
    assert response.status_code == 400
    assert "Did you mean “summarization”?" in page
    assert 'value="summarisation"' in page
    assert not Budget.objects.exists()


def test_it_accepts_a_task_type_seen_in_usage(client, finance_user, team, catalog):
    _spend(team, 1, "2026-11-02T12:00:00Z", "s", task_type="classify")
    assert _post_new(client, finance_user, team, task_type="classify").status_code == 302
    assert Budget.objects.get().task_type == "classify"


def test_it_offers_the_known_task_types(client, finance_user, team):
    RoutingRule.objects.create(team=team, task_type="summarization")
    RoutingRule.objects.create(team=team, task_type=RoutingRule.DEFAULT_TASK)
    client.force_login(finance_user)
    page = client.get(_url("budget_new", team)).content.decode()
    assert 'list="id_task_type-options"' in page
    assert '<datalist id="id_task_type-options"><option value="summarization"></datalist>' in page


def test_it_escapes_a_task_type_named_by_the_proxy_in_the_offer(client, finance_user, team):
    RoutingRule.objects.create(team=team, task_type='"><script>x</script>')
    client.force_login(finance_user)
    page = client.get(_url("budget_new", team)).content.decode()
    assert '<option value="&quot;&gt;&lt;script&gt;x&lt;/script&gt;">' in page
    assert "<script>x" not in page
