"""Every main page of a team on a phone (390x844): nothing scrolls the page sideways.

Wide tables scroll inside their own box and the menu folds behind a button. The team has data
so the tables are full: three months of demo usage, October's invoices, alerts firing (an
overrun budget, Chutes failing), the recommended rules, routing with a published version, a
provider key, a proxy token, members and a recorded job run.
"""

from datetime import date
from decimal import Decimal

import pytest
import time_machine
from playwright.sync_api import expect

from billing.alerts.evaluation import alerts_evaluate
from billing.alerts.rules import alert_rules_add_recommended
from billing.catalog import catalog_load
from billing.demo import DemoProfile, demo_tao_prices, demo_usage_seed
from billing.models import Budget
from dashboard.jobs import recorded_run
from dashboard.models import Role, Scope
from dashboard.tokens import token_create
from routing.keys import key_add
from routing.models import Provider
from routing.publish import routing_publish
from tests.e2e.test_budgets_alerts import (
    NOW,
    _burst_of_chutes_errors,
    _draft_routing_through_chutes,
)
from tests.e2e.test_reports import _invoices
from tests.factories import PASSWORD, MembershipFactory, UserFactory

PHONE = {"width": 390, "height": 844}
OCTOBER = "2026-10"
PAGES = [
    "/t/maven/",
    "/t/maven/usage/",
    "/t/maven/routing/",
    "/t/maven/routing/versions/",
    "/t/maven/routing/simulate/?config=draft&window=7",
    "/t/maven/keys/",
    "/t/maven/budgets/",
    "/t/maven/alerts/",
    "/t/maven/alerts/rules/",
    "/t/maven/alerts/jobs/",
    "/t/maven/reports/",
    f"/t/maven/reports/{OCTOBER}/",
    f"/t/maven/reports/{OCTOBER}/invoices/",
    "/t/maven/prices/",
    "/catalog/",
    "/t/maven/audit/",
    "/t/maven/tokens/",
    "/t/maven/members/",
    "/t/maven/settings/",
]


@pytest.fixture
def busy_team(teams):
    """Maven as the demo shows it, with an admin, ana, who sees every page."""
    maven, _ = teams
    catalog_load()
    admin = UserFactory(username="ana", email="ana@maven.example")
    MembershipFactory(team=maven, user=admin, role=Role.ADMIN)
    for username, role in [("omar", Role.OPS), ("fatima", Role.FINANCE), ("victor", Role.VIEWER)]:
        MembershipFactory(team=maven, user=UserFactory(username=username), role=role)
    with time_machine.travel(NOW, tick=False):
        demo_tao_prices(NOW.replace(month=8), NOW)
        demo_usage_seed(maven, DemoProfile(60), days=80, now=NOW)
        _invoices(maven, date(2026, 10, 1), admin)
        _burst_of_chutes_errors(maven)
        _draft_routing_through_chutes(maven, admin)
        routing_publish(team=maven, user=admin, comment="Summaries mostly to Chutes")
        Budget.objects.create(team=maven, amount_usd=Decimal(10))
        alert_rules_add_recommended(team=maven, actor=admin)
        with recorded_run("evaluate_alerts"):
            alerts_evaluate(now=NOW)
        key_add(
            team=maven,
            provider=Provider.objects.get(slug="anthropic"),
            label="prod",
            secret="sk-ant-demo000000000000000000000000000cd34",
            user=admin,
        )
        token_create(team=maven, name="proxy-eu-1", scopes=list(Scope.values), user=admin)
    return admin


def _page_width(page):
    return page.evaluate("document.documentElement.scrollWidth")


def test_every_main_page_fits_a_phone(page, sign_in, busy_team, page_errors):
    sign_in(busy_team.username)
    page.set_viewport_size(PHONE)

    too_wide = {}
    with time_machine.travel(NOW, tick=False):
        for path in PAGES:
            page.goto(path)
            page.wait_for_load_state("networkidle")
            if _page_width(page) > PHONE["width"]:
                too_wide[path] = _page_width(page)

    assert too_wide == {}
    assert page_errors == []


def test_the_acknowledge_button_is_on_screen(page, sign_in, busy_team):
    sign_in(busy_team.username)
    page.set_viewport_size(PHONE)

    with time_machine.travel(NOW, tick=False):
        page.goto("/t/maven/alerts/")
        button = page.get_by_role("button", name="Acknowledge").first
        expect(button).to_be_in_viewport()
        box = button.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]


def test_the_menu_folds_behind_a_button_that_works_without_javascript(
    browser, live_server, busy_team
):
    context = browser.new_context(
        base_url=live_server.url, viewport=PHONE, java_script_enabled=False
    )
    page = context.new_page()
    page.goto("/accounts/login/")
    page.locator("#id_username").fill(busy_team.username)
    page.locator("#id_password").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    page.goto("/t/maven/")
    usage = page.locator("nav.mainnav").get_by_role("link", name="Usage")
    expect(usage).to_be_hidden()

    page.get_by_text("Menu", exact=True).click()

    expect(usage).to_be_visible()
    usage.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Usage")
    context.close()


def test_the_menu_stays_open_on_a_laptop(page, sign_in, busy_team):
    sign_in(busy_team.username)
    page.goto("/t/maven/")

    expect(page.locator("nav.mainnav").get_by_role("link", name="Usage")).to_be_visible()
    expect(page.get_by_text("Menu", exact=True)).to_be_hidden()


def test_the_phone_screenshots(page, sign_in, busy_team, shoot):
    sign_in(busy_team.username)
    page.set_viewport_size(PHONE)
    with time_machine.travel(NOW, tick=False):
        for path, name in [
            ("/t/maven/", "phone-overview"),
            ("/t/maven/alerts/", "phone-alerts"),
            ("/t/maven/routing/", "phone-routing"),
        ]:
            page.goto(path)
            expect(page.locator("main h1").first).to_be_visible()
            shoot(page, name)
        page.get_by_text("Menu").click()
        expect(page.locator(".menu").get_by_role("link", name="Budgets")).to_be_visible()
        shoot(page, "phone-menu")
