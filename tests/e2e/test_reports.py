"""The monthly report in a browser: CSV downloads that add up to the page, closing a month
through its confirmation page, late usage shown as an adjustment, a viewer who may only read,
and screenshots.

The clock stands still at NOW while pages load (after signing in at the real time, so the
session cookie's expiry lies in the browser's future), which makes the pictures repeatable.
The last test saves docs/screenshots/report.png and report-print.png.
"""

import csv
import re
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
import time_machine
from playwright.sync_api import expect

from billing.catalog import catalog_load
from billing.demo import DemoProfile, demo_tao_prices, demo_usage_seed
from billing.ingest.store import usage_ingest
from billing.models import Budget, MonthClose, ProviderInvoice
from billing.reports.exports import csv_rows, focus_rows
from billing.reports.month_close import month_close
from billing.reports.month_report import month_report
from dashboard.models import Role
from routing.models import Model, Provider
from tests.factories import MembershipFactory, UserFactory, canonical_event

# Noon in New York on Thursday, November 5: October is over, November is open.
NOW = datetime(2026, 11, 5, 17, 0, tzinfo=UTC)
OCTOBER = "/t/maven/reports/2026-10/"
NOVEMBER = "/t/maven/reports/2026-11/"


def _seed(team, days):
    catalog_load()
    demo_tao_prices(NOW - timedelta(days=days + 1), NOW)
    demo_usage_seed(team, DemoProfile(60), days=days, now=NOW)


@pytest.fixture
def maven(teams):
    """Maven with 40 days of demo usage: the whole of October and the end of September."""
    maven, _ = teams
    _seed(maven, 40)
    return maven


@pytest.fixture
def finance(maven, member_of_both):
    return member_of_both(Role.FINANCE)


@pytest.fixture
def finance_page(page, sign_in, finance):
    sign_in(finance.username)
    with time_machine.travel(NOW, tick=False):
        yield page


@pytest.fixture
def viewer_page(page, sign_in, maven, member_of_both):
    sign_in(member_of_both(Role.VIEWER).username)
    with time_machine.travel(NOW, tick=False):
        yield page


def _exact_total(page) -> Decimal:
    return Decimal(page.get_by_test_id("report-total-usd").get_attribute("data-exact"))


def _download(page, test_id) -> list[dict]:
    with page.expect_download() as info:
        page.get_by_test_id(test_id).click()
    with open(info.value.path(), newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def _late_call(team, id, day, usd):
    """One Sonnet call, mid-morning in New York, on a day already reported."""
    event = canonical_event(id=id, timestamp=f"{day.isoformat()}T15:00:00Z", cost_usd=usd)
    assert usage_ingest(team, [event], now=NOW).rejected == []


def test_a_finance_member_downloads_csvs_that_add_up_to_the_page(finance_page, page_errors):
    page = finance_page
    page.goto(OCTOBER)
    expect(page.get_by_test_id("report-title")).to_have_text("Maven · October 2026")
    total = _exact_total(page)
    assert total > 0
    cents = total.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    expect(page.get_by_test_id("report-total-usd")).to_have_text(f"${cents:,}")

    rows = _download(page, "report-csv")
    focus = _download(page, "report-focus-csv")

    assert {row["day"][:7] for row in rows} == {"2026-10"}
    assert sum(Decimal(row["cost_usd"]) for row in rows) == total
    # One FOCUS charge per token meter of each row; the calls are counted once.
    assert sum(int(row["x_Requests"] or 0) for row in focus) == sum(
        int(row["requests"]) for row in rows
    )
    assert sum(Decimal(row["BilledCost"]) for row in focus) == total
    assert page_errors == []


def test_a_finance_member_closes_the_month_through_its_confirmation_page(
    finance_page, page_errors, maven, finance
):
    page = finance_page
    page.goto(OCTOBER)
    expect(page.get_by_test_id("month-closed")).to_have_count(0)

    page.get_by_test_id("close-month").click()
    expect(page).to_have_url(re.compile(r"/t/maven/reports/2026-10/close/$"))
    expect(page.get_by_role("heading", name="Close October 2026?")).to_be_visible()
    with page.expect_navigation():
        page.get_by_role("button", name="Close October 2026").click()

    expect(page).to_have_url(re.compile(f"{OCTOBER}$"), timeout=2_000)
    expect(page.get_by_role("status")).to_contain_text("October 2026 is closed")
    expect(page.get_by_test_id("month-closed")).to_contain_text(f"by {finance.username}")
    expect(page.get_by_test_id("close-month")).to_have_count(0)
    assert MonthClose.objects.get(team=maven, month=date(2026, 10, 1)).closed_by == finance
    assert page_errors == []


def _post_the_close(page, month_url):
    """What the confirmation page's button sends, with the CSRF token its form lacks."""
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    return page.request.post(f"{month_url}close/", headers={"X-CSRFToken": token}, max_redirects=0)


def test_a_late_call_leaves_the_closed_month_alone_and_adjusts_the_next_one(
    finance_page, page_errors, maven, finance
):
    page = finance_page
    page.goto(OCTOBER)
    total = _exact_total(page)
    assert _post_the_close(page, OCTOBER).status == 302
    page.reload()
    expect(page.get_by_test_id("month-closed")).to_contain_text(f"by {finance.username}")

    _late_call(maven, "late-october", date(2026, 10, 20), Decimal("7.25"))
    page.reload()

    expect(page.get_by_test_id("month-closed")).to_be_visible()
    assert _exact_total(page) == total
    page.goto(NOVEMBER)
    adjustment = page.get_by_test_id("report-adjustments").locator("tbody tr")
    expect(adjustment).to_have_count(1)
    expect(adjustment).to_contain_text("October 2026")
    expect(adjustment).to_contain_text("anthropic")
    expect(adjustment).to_contain_text("$7.25")
    assert page_errors == []


def test_a_viewer_reads_the_report_but_may_not_close_the_month(viewer_page, page_errors):
    page = viewer_page
    page.goto(OCTOBER)

    expect(page.get_by_test_id("report-total-usd")).to_be_visible()
    assert _exact_total(page) > 0
    expect(page.get_by_test_id("report-close")).to_contain_text(
        "October 2026 is open. Finance or an admin can close it."
    )
    expect(page.get_by_test_id("close-month")).to_have_count(0)
    expect(page.get_by_role("link", name=re.compile("Close October"))).to_have_count(0)
    assert page.request.get(f"{OCTOBER}close/").status == 403
    assert _post_the_close(page, OCTOBER).status == 403
    assert not MonthClose.objects.exists()
    assert page_errors == []


def _invoices(team, month, finance):
    """October's invoices: Anthropic close to the computed cost, OpenAI well over it, Chutes in
    TAO a little under; so the table shows each kind of line."""
    report = month_report([team], month)
    computed = {line.key: line.figures for line in report.by_provider}
    amounts = {
        "anthropic": (computed["anthropic"].cost_usd * Decimal("1.004"), "USD", "INV-A-2610"),
        "openai": (computed["openai"].cost_usd * Decimal("1.12"), "USD", "openai-oct-2026"),
        "chutes": (computed["chutes"].tao_amount * Decimal("0.99"), "TAO", "chutes 2026-10"),
    }
    for slug, (amount, currency, reference) in amounts.items():
        places = Decimal("0.01") if currency == "USD" else Decimal("0.00000001")
        ProviderInvoice.objects.create(
            team=team,
            month=month,
            provider=Provider.objects.get(slug=slug),
            amount=amount.quantize(places),
            currency=currency,
            reference=reference,
            entered_by=finance,
        )


def _close_september_with_a_late_call(team, finance):
    september = date(2026, 9, 1)
    when = datetime(2026, 10, 2, 14, 0, tzinfo=UTC)
    month_close(
        team=team,
        month=september,
        user=finance,
        report=month_report([team], september).to_snapshot(),
        exports={
            "csv": list(csv_rows([team], september)),
            "focus": list(focus_rows([team], september)),
        },
        now=when,
    )
    _late_call(team, "late-september", date(2026, 9, 29), Decimal("3.40"))


def test_it_saves_screenshots_of_the_report(page, sign_in, teams, shoot):
    maven, _ = teams
    # Seventy days: September is whole, so October's changes compare like with like.
    _seed(maven, 70)
    maven.baseline_model = Model.objects.get(provider__slug="anthropic", name="claude-sonnet-4-5")
    maven.save()
    finance = UserFactory(username="fiona")
    MembershipFactory(team=maven, user=finance, role=Role.FINANCE)
    with time_machine.travel(NOW, tick=False):
        Budget.objects.create(team=maven, amount_usd=Decimal(30), amount_tao=Decimal("0.02"))
        _close_september_with_a_late_call(maven, finance)
        _invoices(maven, date(2026, 10, 1), finance)
    sign_in(finance.username)

    with time_machine.travel(NOW, tick=False):
        page.goto(OCTOBER)
        expect(page.get_by_test_id("report-adjustments").locator("tbody tr")).to_have_count(1)
        expect(page.get_by_test_id("invoice-line")).to_have_count(3)
        expect(page.get_by_test_id("close-month")).to_be_visible()
        shoot(page, "report")
        page.emulate_media(media="print")
        shoot(page, "report-print")


def test_the_bridge_draws_its_waterfall_and_prints_its_tables(viewer_page, page_errors):
    page = viewer_page
    page.goto(OCTOBER)
    by_provider = page.get_by_test_id("bridge-by-provider").locator("table")
    expect(page.get_by_test_id("bridge-chart").locator("g.waterfalllayer")).to_have_count(1)
    expect(by_provider).to_be_hidden()

    page.emulate_media(media="print")
    expect(page.get_by_test_id("bridge-chart")).to_be_hidden()
    expect(page.get_by_test_id("bridge-total")).to_be_visible()
    expect(by_provider).to_be_visible()
    assert page_errors == []
