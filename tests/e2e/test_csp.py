"""Every page under the enforced Content-Security-Policy: the policy refuses nothing, and what
once ran as inline code still works (charts, htmx filters, the copy and print buttons, Django's
admin). The page fixture fails any test whose pages break the policy; these tests visit every
page and press what used inline code."""

import io
import re
from datetime import datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from playwright.sync_api import expect

from billing.models import Alert, AlertRule
from dashboard.management.commands.seed_demo import DEMO_PASSWORD
from dashboard.models import Team
from routing.models import Provider, ProxyInstance
from routing.publish import routing_publish
from tests.factories import ProviderKeyFactory, ProxyTokenFactory

# Downloads, and links that leave the pages this test walks.
NOT_A_PAGE = re.compile(r"\.(csv|yaml)$|^/admin/|^/accounts/|^/api/")


@pytest.fixture
def demo(transactional_db):
    """seed_demo's teams, users (one per role; "admin" is also staff), routing, usage, budgets,
    and in Maven a provider key, a proxy token, a second routing version and a firing alert."""
    call_command("seed_demo", days=2, stdout=io.StringIO())
    maven = Team.objects.get(slug="maven")
    admin = User.objects.get(username="admin")
    ProviderKeyFactory(team=maven, provider=Provider.objects.get(slug="chutes"), user=admin)
    ProxyTokenFactory(team=maven)
    # A second version needs a changed draft: an unchanged one is not published again.
    maven.routing_rules.filter(task_type="*").update(description="again")
    version = routing_publish(team=maven, user=admin, comment="again")
    # One proxy on the published version, one behind it: the fleet panel polls itself.
    ProxyInstance.objects.create(team=maven, instance_id="proxy-a", routing_version=version.number)
    ProxyInstance.objects.create(team=maven, instance_id="proxy-b", routing_version=1)
    rule = AlertRule.objects.filter(team=maven).first()
    Alert.objects.create(rule=rule, team=maven, dedupe_key="csp", subject="Budget 80% used")


def links_to_follow(page, prefixes):
    hrefs = page.eval_on_selector_all(
        "a[href]:not([download])", "links => links.map((a) => a.href)"
    )
    for href in hrefs:
        url = urlsplit(href)
        if url.netloc != urlsplit(page.url).netloc or NOT_A_PAGE.search(url.path):
            continue
        if url.path.startswith(prefixes):
            yield f"{url.path}?{url.query}" if url.query else url.path


def visit_every_page(page, start, prefixes):
    """Follow links from start, opening each page once: one id or month stands for all, and one
    query string for all."""
    queue, seen, visited = [start], set(), []
    while queue:
        path = queue.pop(0)
        kind = re.sub(r"\d+", "N", urlsplit(path).path)
        if kind in seen:
            continue
        seen.add(kind)
        response = page.goto(path)
        assert response is not None and response.ok, f"{path}: {response and response.status}"
        assert "script-src 'self'" in response.headers["content-security-policy"], path
        visited.append(path)
        queue.extend(links_to_follow(page, prefixes))
    return visited


def no_violations(page, csp_violations):
    page.evaluate("0")  # a round trip, so reports sent before it have arrived
    return csp_violations == []


def test_no_team_page_or_catalog_page_breaks_the_policy(page, sign_in, demo, csp_violations):
    sign_in("admin", DEMO_PASSWORD)  # the login page is visited too

    visited = visit_every_page(page, "/t/maven/", ("/t/maven/", "/catalog/"))

    for section in ("routing", "keys", "usage", "budgets", "alerts", "reports", "audit", "tokens"):
        assert any(path.startswith(f"/t/maven/{section}/") for path in visited), section
    assert any(path.startswith("/catalog/models/") for path in visited)
    assert any(path.startswith("/t/maven/routing/experiments/v") for path in visited)
    assert any(path.startswith("/t/maven/routing/rollouts/new/") for path in visited)
    assert no_violations(page, csp_violations), csp_violations


@pytest.mark.parametrize("role", ["ops", "finance", "viewer"])
def test_no_page_breaks_the_policy_for_the_other_roles(page, sign_in, demo, csp_violations, role):
    sign_in(role, DEMO_PASSWORD)

    visit_every_page(page, "/", ("/t/maven/", "/catalog/"))

    assert no_violations(page, csp_violations), csp_violations


def test_the_overview_draws_its_charts_and_swaps_filters_in(page, sign_in, demo, csp_violations):
    sign_in("viewer", DEMO_PASSWORD)
    page.goto("/t/maven/?range=7d")
    charts = page.locator(".js-plotly-plot .main-svg")
    expect(charts.first).to_be_visible()
    drawn = charts.count()
    assert drawn > 0

    with page.expect_response(lambda response: "provider=chutes" in response.url):
        page.get_by_label("Provider", exact=True).select_option("chutes")

    expect(page.get_by_test_id("overview-range")).to_contain_text("provider chutes")
    expect(charts.first).to_be_visible()
    with page.expect_download() as download:
        page.locator(".js-plotly-plot").first.hover()
        page.locator(".modebar-btn[data-title='Download plot as a PNG']").first.click()
    assert download.value.suggested_filename.endswith(".png")
    assert no_violations(page, csp_violations), csp_violations


def test_the_usage_filters_wait_for_the_days_of_a_custom_range(page, sign_in, demo, csp_violations):
    sign_in("viewer", DEMO_PASSWORD)
    page.goto("/t/maven/usage/?range=custom&start=2026-01-01&end=2026-01-02")
    asked = []
    page.on("request", lambda request: asked.append(request.url) if "/usage/" in request.url else 0)

    with page.expect_response(lambda response: "range=7d" in response.url) as answer:
        page.get_by_label("Range").select_option("7d")
    assert "start=&end=&" in answer.value.url, "a named range forgets the days"
    expect(page.get_by_label("From")).to_have_value("")
    page.get_by_label("Range").select_option("custom")
    with page.expect_response(lambda response: "start=2026-02-01" in response.url) as answer:
        page.get_by_label("From").fill("2026-02-01")

    assert "range=custom" in answer.value.url
    assert not any("range=custom&start=&" in url for url in asked), "custom asked without days"
    expect(page).to_have_url(re.compile(r"range=custom&start=2026-02-01"))
    assert no_violations(page, csp_violations), csp_violations


def test_the_copy_button_copies_a_new_token(page, sign_in, demo, csp_violations):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    sign_in("admin", DEMO_PASSWORD)
    page.goto("/t/maven/tokens/")
    page.get_by_label("Name").fill("edge proxy")
    page.get_by_label("routes:read").check()
    page.get_by_role("button", name="Create token").click()

    page.get_by_role("button", name="Copy").click()

    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    token = page.locator("#new-token").input_value()
    assert page.evaluate("navigator.clipboard.readText()") == token
    assert no_violations(page, csp_violations), csp_violations


def test_the_print_button_prints_the_report(page, sign_in, demo, csp_violations):
    sign_in("finance", DEMO_PASSWORD)
    this_month = datetime.now(ZoneInfo("America/New_York")).strftime("%Y-%m")  # Maven's zone
    page.goto(f"/t/maven/reports/{this_month}/")
    page.get_by_test_id("report-title").wait_for()
    page.evaluate("window.print = () => { window.__printed = true; }")

    page.get_by_role("button", name="Print or save as PDF").click()

    assert page.evaluate("window.__printed") is True
    assert no_violations(page, csp_violations), csp_violations


def test_the_admin_signs_in_and_saves_a_change_form(page, live_server, demo, csp_violations):
    page.goto("/admin/")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{live_server.url}/admin/")
    page.get_by_role("link", name="Teams").first.click()
    page.get_by_role("link", name="Maven").click()
    expect(page.locator("#content h1")).to_have_text("Change team")

    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.locator(".messagelist .success")).to_contain_text("was changed successfully")
    page.goto("/admin/auth/user/add/")
    expect(page.locator("#content h1")).to_have_text("Add user")
    assert no_violations(page, csp_violations), csp_violations
