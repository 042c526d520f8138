"""The TAO treasury and display currencies in a browser: finance records a purchase and a
transfer and sees the balances, tries a TAO move of its own in place, and a member who reads
money in euros sees euros with the USD amount and the rate on hover.

The clock runs in real time: purchases are dated by the form's default, now.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from billing.models import FxRate, TaoLot, TaoTransfer
from dashboard.models import Role
from tests.factories import TaoPriceFactory


@pytest.fixture
def maven(teams):
    maven, _ = teams
    TaoPriceFactory(at=timezone.now() - timedelta(minutes=5), usd=Decimal(400))
    return maven


def test_finance_records_a_purchase_and_a_transfer_and_sees_the_balances(
    page, sign_in, maven, member_of_both, page_errors
):
    sign_in(member_of_both(Role.FINANCE).username)
    page.goto("/t/maven/treasury/")
    expect(page.get_by_test_id("treasury-empty")).to_be_visible()

    page.get_by_test_id("treasury-empty").get_by_role("link", name="Record a purchase").click()
    page.get_by_label("TAO bought").fill("10")
    page.get_by_label("USD paid").fill("3,500.00")
    page.get_by_label("Venue").fill("Kraken")
    with page.expect_navigation():
        page.get_by_role("button", name="Record the purchase").click()

    page.get_by_test_id("transfer-add").click()
    page.get_by_label("TAO sent").fill("4")
    page.get_by_label("Chutes balance after it").fill("4.5")
    with page.expect_navigation():
        page.get_by_role("button", name="Record the transfer").click()

    expect(page).to_have_url(f"{page.url.split('/t/')[0]}/t/maven/treasury/")
    expect(page.get_by_text("TAO held (wallet)").locator("..")).to_contain_text("6.0000")
    expect(page.get_by_text("On the Chutes account").locator("..")).to_contain_text("4.5000")
    # 6 TAO held and 4.5 on the account (0.5 more than sent: already there) at $400.
    expect(page.get_by_test_id("value-now")).to_contain_text("$4,200.00")
    assert TaoLot.objects.get().venue == "Kraken"
    assert TaoTransfer.objects.get().balance_after == Decimal("4.5")
    assert page_errors == []


def test_a_tao_move_of_ones_own_swaps_into_the_scenarios_in_place(
    page, sign_in, maven, member_of_both, page_errors
):
    TaoLot.objects.create(
        team=maven, bought_at=timezone.now() - timedelta(days=1), tao=1, usd_paid=400
    )
    sign_in(member_of_both(Role.VIEWER).username)
    page.goto("/t/maven/treasury/")
    page.get_by_label("Your own move, in %").fill("-45")
    with page.expect_response(lambda response: "tao_move=-45" in response.url):
        page.get_by_role("button", name="Show").click()

    expect(page.get_by_test_id("tao-scenario-table")).to_contain_text("-45%")
    expect(page.get_by_test_id("tao-scenario-table")).to_contain_text("TAO $220.00")
    assert page.url.endswith("/t/maven/treasury/")  # swapped in, not a new page
    assert page_errors == []


def test_a_member_who_reads_euros_sees_euros_with_the_usd_amount_on_hover(
    page, sign_in, maven, member_of_both, page_errors
):
    today = timezone.now().date()
    for day in (today - timedelta(days=n) for n in range(7)):
        FxRate.objects.create(day=day, currency="USD", per_eur=Decimal("1.25"), source="ECB")
    TaoLot.objects.create(
        team=maven, bought_at=timezone.now() - timedelta(days=1), tao=1, usd_paid=400
    )
    sign_in(member_of_both(Role.VIEWER).username)
    page.goto("/t/maven/currency/")
    page.get_by_label("Show money in").select_option("EUR")
    with page.expect_navigation():
        page.get_by_role("button", name="Save my currency").click()

    page.goto("/t/maven/treasury/")
    value = page.get_by_test_id("value-now").locator(".money")
    expect(value).to_have_text("€320.00")
    expect(value).to_have_attribute(
        "title", f"$400.00 at 0.8000 EUR per USD, ECB reference rate of {today}"
    )
    expect(page.get_by_test_id("money-note")).to_contain_text("Amounts in EUR")
    assert page_errors == []
