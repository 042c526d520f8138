"""The Scheduled jobs page in a browser: what an admin reads about the last runs."""

import httpx
import pytest
import respx
from playwright.sync_api import expect

from billing import tasks
from dashboard.models import Role

PRICE_URL = "https://prices.example/simple"
KRAKEN_URL = "https://prices.example/kraken"


@pytest.fixture
def price_sources_down(settings):
    """Both TAO price sources fail: CoinGecko with a 502, Kraken with no answer."""
    settings.TAO_PRICE_SOURCES = ["coingecko", "kraken"]
    settings.TAO_PRICE_URL = PRICE_URL
    settings.TAO_PRICE_KRAKEN_URL = KRAKEN_URL
    settings.TAO_PRICE_TIMEOUT_SECONDS = 10
    with respx.mock(assert_all_called=True) as sources:
        sources.get(PRICE_URL).respond(502)
        sources.get(KRAKEN_URL).mock(side_effect=httpx.ConnectTimeout("slow"))
        yield


def test_it_shows_a_tao_poll_that_stored_nothing_as_degraded_with_the_reason(
    page, sign_in, member_of_both, price_sources_down
):
    tasks.poll_tao_price()
    sign_in(member_of_both(Role.ADMIN).username)

    page.goto("/t/maven/alerts/jobs/")

    row = page.get_by_test_id("job-poll_tao_price")
    expect(row.locator(".badge.job-degraded")).to_have_text("Degraded")
    expect(row).not_to_contain_text("OK")
    expect(row.locator(".job-detail")).to_have_text(
        "no TAO price stored: coingecko: HTTP 502; kraken: no answer within 10 s"
    )
