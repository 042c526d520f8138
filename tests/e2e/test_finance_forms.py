"""Finance forms in a browser: typed inputs that suggest known values and refuse others with a
"did you mean", invoice amounts typed as invoices print them, the month close's warnings, and
an ops member who reads reports without the finance buttons.

The clock stands still at NOW while pages load (after signing in at the real time, so the
session cookie's expiry lies in the browser's future).
"""

import re
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import time_machine
from playwright.sync_api import expect

from billing.catalog import catalog_load
from billing.ingest.store import usage_ingest
from billing.models import Budget, MonthClose, ProviderInvoice
from dashboard.models import Role
from routing.models import Provider
from tests.factories import canonical_event

# Noon in New York on Thursday, November 5: October is over, November is open.
NOW = datetime(2026, 11, 5, 17, 0, tzinfo=UTC)
OCTOBER = date(2026, 10, 1)
REPORT = "/t/maven/reports/2026-10/"
INVOICES = "/t/maven/reports/2026-10/invoices/"
BAD_REQUEST = "the server responded with a status of 400 (Bad Request)"


def _calls(team, prefix, count, **overrides):
    """`count` calls on October 20, mid-morning in New York (Sonnet summaries by default: 5,000
    tokens in and 2,000 out, $0.045 each by the catalog)."""
    calls = [
        canonical_event(id=f"{prefix}-{n}", timestamp="2026-10-20T15:00:00Z", **overrides)
        for n in range(count)
    ]
    assert usage_ingest(team, calls, now=NOW).rejected == []


def _invoice(team, slug, amount, user):
    ProviderInvoice.objects.create(
        team=team,
        month=OCTOBER,
        provider=Provider.objects.get(slug=slug),
        amount=Decimal(amount),
        currency="USD",
        entered_by=user,
    )


@pytest.fixture
def maven(teams):
    """Maven with October's summaries at Anthropic and code completions at OpenAI."""
    catalog_load()
    maven, _ = teams
    _calls(maven, "summary", 4)
    _calls(maven, "code", 3, provider="openai", model="gpt-5-mini", task_type="code-completion")
    return maven


@pytest.fixture
def signed_in(page, sign_in, maven, member_of_both):
    """signed_in(role): the page, signed in as a Maven member of that role, the clock then at
    NOW."""
    traveller = time_machine.travel(NOW, tick=False)
    started = []

    def signed_in(role):
        sign_in(member_of_both(role).username)
        traveller.start()
        started.append(traveller)
        return page

    yield signed_in
    for each in started:
        each.stop()


def _submit_refused(page, button):
    """Submit a form the server refuses; returns the console error Chromium logs for its 400."""
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name=button).click()
    assert posted.value.status == 400
    expect(page.get_by_role("alert")).to_contain_text("Please correct the fields marked below.")
    return f"console error on {posted.value.url}: Failed to load resource: {BAD_REQUEST}"


def _offered(page, label) -> list[str]:
    """The values the text box labelled `label` suggests, from the datalist it names."""
    box = page.get_by_role("combobox", name=label)
    expect(box).to_have_attribute("list", re.compile(r".+"))
    options = page.locator(f"datalist#{box.get_attribute('list')} option")
    return options.evaluate_all("options => options.map(option => option.value)")


def test_the_budget_form_offers_the_task_types_the_team_has_used(signed_in, page_errors):
    page = signed_in(Role.FINANCE)
    page.goto("/t/maven/budgets/")
    page.get_by_test_id("budget-add").click()

    assert _offered(page, "Task type") == ["code-completion", "summarization"]
    assert page_errors == []


def test_a_misspelt_task_type_is_refused_with_a_suggestion_and_stays_typed(signed_in, page_errors):
    page = signed_in(Role.FINANCE)
    page.goto("/t/maven/budgets/new/")
    page.get_by_label("Amount:", exact=True).fill("25")
    page.get_by_label("Task type").fill("sumarization")

    refused = _submit_refused(page, "Add the budget")

    expect(page.get_by_text("No call, routing rule or budget of this team")).to_contain_text(
        "task type “sumarization”. Did you mean “summarization”?"
    )
    expect(page.get_by_label("Task type")).to_have_value("sumarization")
    expect(page.get_by_label("Amount:", exact=True)).to_have_value("25")
    assert not Budget.objects.exists()
    assert page_errors == [refused]


def test_team_settings_suggest_iana_time_zones(signed_in, page_errors):
    page = signed_in(Role.ADMIN)
    page.goto("/t/maven/settings/")

    zones = _offered(page, "Time zone")
    assert {"America/New_York", "Europe/Berlin", "Asia/Tokyo", "UTC"} <= set(zones)
    assert zones == sorted(zones)
    expect(page.get_by_label("Time zone")).to_have_value("America/New_York")
    assert page_errors == []


def test_a_time_zone_typo_is_refused_with_the_likely_zone(signed_in, page_errors, maven):
    page = signed_in(Role.ADMIN)
    page.goto("/t/maven/settings/")
    page.get_by_label("Time zone").fill("Europe/Berln")

    refused = _submit_refused(page, "Save settings")

    expect(page.get_by_text("'Europe/Berln' is not a time zone")).to_contain_text(
        "Did you mean “Europe/Berlin”?"
    )
    expect(page.get_by_label("Time zone")).to_have_value("Europe/Berln")
    maven.refresh_from_db()
    assert maven.time_zone == "America/New_York"
    assert page_errors == [refused]


@pytest.mark.parametrize(
    ("typed", "shown"), [("$86.10", "$86.10"), ("1,204.50", "$1,204.50")], ids=["dollar", "comma"]
)
def test_a_finance_member_records_an_invoice_amount_as_printed(
    signed_in, page_errors, maven, typed, shown
):
    page = signed_in(Role.FINANCE)
    page.goto(INVOICES)
    page.get_by_test_id("invoice-add").click()
    page.get_by_label("Provider").select_option(label="Anthropic (bills in USD)")
    page.get_by_label("Invoiced amount").fill(typed)
    page.get_by_label("Reference").fill("INV-A-2610")
    with page.expect_navigation():
        page.get_by_role("button", name="Record the invoice").click()

    expect(page).to_have_url(re.compile(f"{INVOICES}$"))
    row = page.get_by_test_id("invoice-row")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Anthropic")
    expect(row.locator("td.num")).to_have_text(shown)
    assert ProviderInvoice.objects.get(team=maven).amount == Decimal(
        shown.strip("$").replace(",", "")
    )
    assert page_errors == []


def test_a_decimal_comma_amount_is_refused_as_ambiguous_and_stays_typed(signed_in, page_errors):
    page = signed_in(Role.FINANCE)
    page.goto(f"{INVOICES}new/")
    page.get_by_label("Provider").select_option(label="Anthropic (bills in USD)")
    page.get_by_label("Invoiced amount").fill("1.204,50")

    refused = _submit_refused(page, "Record the invoice")

    expect(page.get_by_text("“1.204,50” is ambiguous")).to_contain_text(
        "a comma may mark thousands or decimals. Write a point before the decimals and commas "
        "only between thousands, e.g. 1,204.50 or 1204.50."
    )
    expect(page.get_by_label("Invoiced amount")).to_have_value("1.204,50")
    assert not ProviderInvoice.objects.exists()
    assert page_errors == [refused]


def test_closing_a_month_warns_of_a_provider_not_invoiced_yet(signed_in, page_errors, maven):
    page = signed_in(Role.FINANCE)
    _invoice(maven, "openai", "0.03", None)
    page.goto(REPORT)
    page.get_by_test_id("close-month").click()

    expect(page.get_by_role("heading", name="Close October 2026?")).to_be_visible()
    warnings = page.get_by_test_id("close-warnings")
    expect(warnings).to_contain_text("Before you close:")
    # Four Sonnet calls at $0.045 by the catalog; OpenAI's invoice is in.
    expect(warnings.get_by_test_id("close-not-invoiced")).to_contain_text(
        "Not invoiced yet: Anthropic ($0.18 computed). Record the invoices first"
    )
    expect(warnings).not_to_contain_text("OpenAI")
    expect(warnings.get_by_test_id("close-disagreements")).to_have_count(0)
    expect(warnings.get_by_role("link", name="Record the invoices")).to_have_attribute(
        "href", INVOICES
    )
    assert not MonthClose.objects.exists()
    assert page_errors == []


def test_closing_a_month_warns_of_its_cost_disagreements(signed_in, page_errors, maven):
    # Two more summaries whose proxy reported $1.50 where the catalog says $0.045.
    _calls(maven, "overpriced", 2, cost_usd="1.50")
    _invoice(maven, "anthropic", "3.18", None)
    _invoice(maven, "openai", "0.03", None)
    page = signed_in(Role.FINANCE)
    page.goto(REPORT)
    page.get_by_test_id("close-month").click()

    expect(page.get_by_role("heading", name="Close October 2026?")).to_be_visible()
    warnings = page.get_by_test_id("close-warnings")
    expect(warnings.get_by_test_id("close-disagreements")).to_contain_text(
        re.compile(
            r"Cost disagreements this month .*: anthropic/claude-sonnet-4-5 \(2 calls, \+\d"
            r".*\)\. The report counts the reported cost\."
        )
    )
    expect(warnings.get_by_test_id("close-not-invoiced")).to_have_count(0)
    assert not MonthClose.objects.exists()
    assert page_errors == []


def test_an_ops_member_reads_reports_without_closing_or_recording(signed_in, page_errors, maven):
    _invoice(maven, "anthropic", "0.18", None)
    page = signed_in(Role.OPS)
    page.goto(REPORT)

    expect(page.get_by_test_id("report-title")).to_have_text("Maven · October 2026")
    expect(page.get_by_test_id("report-total-usd")).to_have_text("$0.20")
    expect(page.get_by_test_id("report-close")).to_contain_text(
        "October 2026 is open. Finance or an admin can close it."
    )
    expect(page.get_by_test_id("close-month")).to_have_count(0)
    expect(page.get_by_test_id("invoice-line")).to_have_count(2)
    expect(page.get_by_test_id("invoices-link")).to_have_text("See the invoices")
    page.get_by_test_id("invoices-link").click()

    expect(page).to_have_url(re.compile(f"{INVOICES}$"))
    expect(page.get_by_test_id("invoice-row")).to_contain_text("Anthropic")
    expect(page.get_by_text("Finance members and admins record the invoices.")).to_be_visible()
    expect(page.get_by_test_id("invoice-add")).to_have_count(0)
    expect(page.get_by_role("link", name="Correct", exact=True)).to_have_count(0)
    expect(page.get_by_role("link", name="Delete…")).to_have_count(0)
    expect(page.get_by_test_id("invoices-awaiting")).to_have_count(0)
    assert page_errors == []
