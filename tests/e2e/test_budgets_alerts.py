"""Budgets and alerts in a browser: a budget added through its form, an alert acknowledged in
place by htmx, what a viewer is not offered, and screenshots.

The clock stands still at NOW while pages load (after signing in at the real time, so the
session cookie's expiry lies in the browser's future), which makes the pictures repeatable.
The last test saves docs/screenshots/budgets.png, alerts.png, alert-rules.png and
alert-routing-change.png.
"""

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from playwright.sync_api import expect

from billing.alerts.evaluation import alerts_evaluate
from billing.alerts.rules import alert_rules_add_recommended
from billing.catalog import catalog_load
from billing.demo import DemoProfile, demo_tao_prices, demo_usage_seed
from billing.ingest.store import usage_ingest
from billing.models import Alert, AlertKind, AlertState, Budget
from dashboard.jobs import recorded_run
from dashboard.models import Role
from routing.models import Model, Provider, RoutingRule
from routing.publish import routing_publish
from routing.rules import rule_save
from tests.factories import MembershipFactory, UserFactory, canonical_event

# 1 pm in New York on a Friday: twenty days into November.
NOW = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
BAD_REQUEST = "the server responded with a status of 400 (Bad Request)"
# Twenty days of demo usage (cached tokens at the cache price) come to $15.97 this month;
# the forecast to $23.95.
OVER_TEN_DOLLARS = [
    "Team Maven passed its November budget on November 13: $23.95 of $10 forecast",
    "Team Maven at 100% of its November budget: $15.97 of $10",
    "Team Maven at 80% of its November budget: $15.97 of $10",
    "Team Maven at 50% of its November budget: $15.97 of $10",
]


@pytest.fixture
def demo_month(teams):
    """Maven with twenty days of demo usage up to NOW, and TAO prices for them."""
    catalog_load()
    maven, _ = teams
    demo_tao_prices(NOW - timedelta(days=21), NOW)
    demo_usage_seed(maven, DemoProfile(60), days=20, now=NOW)
    return maven


@pytest.fixture
def over_budget(demo_month):
    """A $10 budget that November's spend has overrun, and the alerts the rules opened for it."""
    Budget.objects.create(team=demo_month, amount_usd=Decimal(10))
    alert_rules_add_recommended(team=demo_month, actor=UserFactory(username="ana"))
    with time_machine.travel(NOW, tick=False):
        alerts_evaluate(now=NOW)
    return demo_month


@pytest.fixture
def at_now():
    with time_machine.travel(NOW, tick=False):
        yield


def test_a_finance_member_adds_a_budget_and_sees_this_month_against_it(
    page, page_errors, sign_in, teams, member_of_both
):
    catalog_load()
    maven, _ = teams
    # Forty Sonnet calls of 5,000 tokens in and 2,000 out: $0.045 each, $1.80 in all.
    calls = [
        canonical_event(id=f"call-{n}", timestamp=f"2026-11-{1 + n // 4:02d}T15:00:00Z")
        for n in range(40)
    ]
    usage_ingest(maven, calls, now=NOW)
    sign_in(member_of_both(Role.FINANCE).username)

    with time_machine.travel(NOW, tick=False):
        page.goto("/t/maven/budgets/")
        page.get_by_test_id("budget-add").click()
        page.get_by_label("Amount:", exact=True).fill("4")
        page.get_by_label("Thresholds (%)").fill("50, 80, 100")
        expect(page.get_by_label("Month")).to_have_value("")
        with page.expect_navigation():
            page.get_by_role("button", name="Add the budget").click()

    expect(page).to_have_url(re.compile(r"/t/maven/budgets/$"))
    expect(page.get_by_role("status")).to_contain_text("Added the budget: Whole team, every month.")
    row = page.get_by_test_id("budget-row")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Every month")
    expect(row).to_contain_text("$4.00")
    expect(row.get_by_test_id("budget-spend")).to_contain_text("$1.80")
    expect(row.get_by_test_id("budget-used")).to_have_text("45.0%")
    assert page_errors == []


def test_a_typo_in_the_thresholds_is_explained_and_the_typed_values_stay(
    page, page_errors, sign_in, teams, member_of_both
):
    sign_in(member_of_both(Role.FINANCE).username)
    page.goto("/t/maven/budgets/new/")
    page.get_by_label("Amount:", exact=True).fill("250")
    page.get_by_label("Thresholds (%)").fill("50, 8O, 100")

    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name="Add the budget").click()

    assert posted.value.status == 400
    expect(page.get_by_role("alert")).to_contain_text("Please correct the fields marked below.")
    expect(page.get_by_text("“8O” is not a whole percentage")).to_be_visible()
    expect(page.get_by_label("Amount:", exact=True)).to_have_value("250")
    expect(page.get_by_label("Thresholds (%)")).to_have_value("50, 8O, 100")
    assert not Budget.objects.exists()
    # Chromium reports the form's deliberate 400 as a resource that failed to load.
    refused = f"console error on {posted.value.url}: Failed to load resource: {BAD_REQUEST}"
    assert page_errors == [refused]


def test_an_ops_member_acknowledges_an_alert_in_place(
    page, page_errors, sign_in, over_budget, member_of_both
):
    ops = member_of_both(Role.OPS)
    sign_in(ops.username)

    with time_machine.travel(NOW + timedelta(minutes=5), tick=False):
        page.goto("/t/maven/alerts/")
        rows = page.get_by_test_id("alert-row")
        expect(rows).to_have_count(4)
        subjects = rows.locator(".alert-subject a").all_inner_texts()
        assert sorted(subjects) == sorted(OVER_TEN_DOLLARS)
        page.evaluate("window.__noReload = true")
        hundred = rows.filter(has_text="at 100%")
        with page.expect_response(lambda r: "/acknowledge/" in r.url):
            hundred.get_by_role("button", name="Acknowledge").click()

        expect(hundred.get_by_test_id("alert-state")).to_have_text("Acknowledged")
        expect(hundred).to_contain_text("ops-user")
        expect(hundred.get_by_role("button", name="Acknowledge")).to_have_count(0)
        expect(rows.get_by_role("button", name="Acknowledge")).to_have_count(3)
        # Still at NOW: a session saved at NOW expires weeks before the real clock's today.
        page.get_by_test_id("tab-acknowledged").click()
        expect(page).to_have_url(re.compile(r"\?state=acknowledged$"))
        expect(rows).to_have_count(1)
        expect(rows.locator(".alert-subject a")).to_have_text(OVER_TEN_DOLLARS[1])
        expect(page.get_by_test_id("tab-firing")).to_contain_text("3")
    assert page.evaluate("window.__noReload") is True, "acknowledging reloaded the whole page"
    acknowledged = Alert.objects.get(state=AlertState.ACKNOWLEDGED)
    assert acknowledged.acknowledged_by == ops
    assert acknowledged.acknowledged_at == NOW + timedelta(minutes=5)
    assert page_errors == []


def test_a_viewer_is_offered_no_acknowledging_and_no_rule_changes(
    page, sign_in, over_budget, member_of_both, at_now
):
    sign_in(member_of_both(Role.VIEWER).username)

    page.goto("/t/maven/alerts/")
    expect(page.get_by_test_id("alert-row")).to_have_count(4)
    expect(page.get_by_role("button", name="Acknowledge")).to_have_count(0)
    page.get_by_test_id("alert-row").first.locator(".alert-subject a").click()
    expect(page.get_by_test_id("alert-facts")).to_contain_text("Firing")
    expect(page.get_by_role("button", name="Acknowledge")).to_have_count(0)
    page.goto("/t/maven/alerts/rules/")
    expect(page.get_by_test_id("rule-row")).to_have_count(9)
    expect(page.get_by_role("link", name="Add a rule")).to_have_count(0)
    expect(page.get_by_role("link", name="Edit", exact=True)).to_have_count(0)
    expect(page.get_by_role("link", name="Delete…")).to_have_count(0)
    expect(page.get_by_test_id("add-recommended")).to_have_count(0)


def _burst_of_chutes_errors(team):
    """84 Llama calls at Chutes in the last hour, every sixth one failed: 14 of 88 with the
    demo's own (15.9%), over the recommended rule's 5%."""
    failed = {"status": "error", "error_type": "Timeout (504)", "output_tokens": 0}
    calls = [
        canonical_event(
            id=f"burst-{n}",
            timestamp=(NOW - timedelta(minutes=50 - n // 2)).isoformat(),
            provider="chutes",
            model="unsloth/Llama-3.3-70B-Instruct",
            **(failed if n % 6 == 0 else {}),
        )
        for n in range(84)
    ]
    usage_ingest(team, calls, now=NOW)


def _draft_routing_through_chutes(team, user):
    """Everything to Sonnet; summaries mostly to Llama at Chutes; code completion only to
    DeepSeek at Chutes, GPT-5 Mini as its fallback."""
    llama = Model.objects.get(name="unsloth/Llama-3.3-70B-Instruct")
    deepseek = Model.objects.get(name="deepseek-ai/DeepSeek-V3")
    sonnet = Model.objects.get(name="claude-sonnet-4-5")
    mini = Model.objects.get(name="gpt-5-mini")
    rules = [
        ("*", [(sonnet, 100)], []),
        ("summarization", [(llama, 70), (sonnet, 30)], []),
        ("code_completion", [(deepseek, 100)], [mini.pk]),
    ]
    for task_type, targets, fallbacks in rules:
        rule_save(
            team=team,
            user=user,
            task_type=task_type,
            targets=[{"model_id": model.pk, "weight": weight} for model, weight in targets],
            fallbacks=fallbacks,
        )
    team.baseline_model = sonnet
    team.save()


def _admin(team):
    admin = UserFactory(username="ana", email="ana@maven.example")
    MembershipFactory(team=team, user=admin, role=Role.ADMIN)
    return admin


@pytest.fixture
def chutes_failing(demo_month):
    """Chutes failing 15.9% of the last hour's calls, routed to by the live version; the alert."""
    admin = _admin(demo_month)
    with time_machine.travel(NOW, tick=False):
        _burst_of_chutes_errors(demo_month)
        _draft_routing_through_chutes(demo_month, admin)
        routing_publish(team=demo_month, user=admin, comment="Summaries and completions to Chutes")
        alert_rules_add_recommended(team=demo_month, actor=admin)
        alerts_evaluate(now=NOW)
    return Alert.objects.get(rule__kind=AlertKind.ERROR_RATE)


def test_an_ops_member_puts_the_routing_change_in_the_draft(
    page, sign_in, chutes_failing, member_of_both, at_now
):
    sign_in(member_of_both(Role.OPS).username)
    page.goto(f"/t/maven/alerts/{chutes_failing.pk}/routing-change/")
    # Only Llama in summaries failed: code completion's DeepSeek at Chutes keeps its traffic.
    expect(page.get_by_test_id("scope")).to_contain_text(
        "Scoped to chutes/unsloth/Llama-3.3-70B-Instruct in summarization"
    )
    # One rule changes: its task type heads the table once, its targets are the rows.
    expect(page.get_by_test_id("diff-table").locator("tbody td:first-child code")).to_have_text(
        ["summarization"]
    )
    # Llama's 70% of summaries to Sonnet; moving all of Chutes would have cost far more.
    expect(page.get_by_test_id("cost-change")).to_have_text(
        "Monthly cost: $43.81 live → $61.48 with this change: +$17.67 (+40.3%) a month"
    )

    with page.expect_navigation() as done:
        page.get_by_role("button", name="Put this change in the draft").click()

    assert done.value.status == 200
    expect(page).to_have_url(re.compile(r"/t/maven/routing/$"))
    expect(page.get_by_role("status")).to_contain_text("1 draft rule changed.")
    summaries = RoutingRule.objects.get(task_type="summarization")
    assert summaries.targets == [
        {"model_id": Model.objects.get(name="claude-sonnet-4-5").pk, "weight": 100}
    ]
    completions = RoutingRule.objects.get(task_type="code_completion")
    assert completions.targets == [
        {"model_id": Model.objects.get(name="deepseek-ai/DeepSeek-V3").pk, "weight": 100}
    ]


def test_it_saves_screenshots_of_budgets_and_alerts(page, sign_in, demo_month, shoot):
    maven = demo_month
    admin = _admin(maven)
    chutes = Provider.objects.get(slug="chutes")
    anthropic = Provider.objects.get(slug="anthropic")
    with time_machine.travel(NOW, tick=False):
        Budget.objects.create(team=maven, amount_usd=Decimal(20))
        Budget.objects.create(
            team=maven, provider=anthropic, amount_usd=Decimal(14), thresholds=[100]
        )
        Budget.objects.create(
            team=maven, provider=chutes, amount_usd=Decimal(4), amount_tao=Decimal("0.016")
        )
        _burst_of_chutes_errors(maven)
        _draft_routing_through_chutes(maven, admin)
        routing_publish(team=maven, user=admin, comment="Summaries and completions to Chutes")
    sign_in(admin.username)

    with time_machine.travel(NOW, tick=False):
        page.goto("/t/maven/budgets/")
        expect(page.get_by_test_id("budget-row")).to_have_count(3)
        shoot(page, "budgets")

        page.goto("/t/maven/alerts/rules/")
        with page.expect_navigation():
            page.get_by_test_id("add-recommended").click()
        expect(page.get_by_test_id("rule-row")).to_have_count(9)
        # As beat would: a recorded run, so no "never evaluated" banner shows.
        with recorded_run("evaluate_alerts"):
            alerts_evaluate(now=NOW)
        page.reload()
        expect(page.get_by_test_id("scheduler-banner")).to_have_count(0)
        shoot(page, "alert-rules")

        page.goto("/t/maven/alerts/")
        expect(page.get_by_test_id("alert-row")).to_have_count(6)
        shoot(page, "alerts")

        page.get_by_role("link", name=re.compile(r"^chutes error rate 15\.9%")).click()
        page.get_by_role("link", name="Prepare a routing change away from chutes…").click()
        expect(page.get_by_test_id("proposal")).to_contain_text("move traffic away from chutes")
        expect(page.get_by_test_id("cost-change")).to_contain_text("Monthly cost: $")
        expect(page.get_by_test_id("simulate-costs")).to_be_visible()
        shoot(page, "alert-routing-change")
