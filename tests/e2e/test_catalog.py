"""The price catalog's htmx interactions: the provider filter and the price history."""

import re

import pytest
from playwright.sync_api import expect

from billing.catalog import catalog_load
from routing.models import Model
from tests.factories import UserFactory


@pytest.fixture
def catalog_page(page, sign_in, transactional_db):
    catalog_load()
    sign_in(UserFactory(username="maria").username)
    page.goto("/catalog/")
    return page


def provider_cells(page):
    """The Provider column of the models table (history rows are skipped)."""
    return page.get_by_test_id("catalog-table").locator(
        "tbody tr:not(.history-row) td:nth-child(2)"
    )


def test_it_filters_by_provider_without_reloading_the_page(catalog_page, live_server):
    page = catalog_page
    expect(provider_cells(page)).to_have_count(Model.objects.count())
    anthropic = Model.objects.filter(provider__slug="anthropic").count()
    assert 0 < anthropic < Model.objects.count()
    page.evaluate("window.__marker = 1")

    page.locator("select[name=provider]").select_option("anthropic")

    expect(page).to_have_url(f"{live_server.url}/catalog/?provider=anthropic")
    expect(provider_cells(page)).to_have_text(["Anthropic"] * anthropic)
    assert page.evaluate("window.__marker") == 1, "the filter reloaded the whole page"
    expect(page.locator("h1")).to_have_count(1)  # the partial, not a page inside the page


def test_it_shows_a_models_price_history_in_place(catalog_page):
    page = catalog_page
    page.evaluate("window.__marker = 1")
    row = page.get_by_test_id("catalog-table").locator("tr", has_text="GPT-5 Mini")

    row.get_by_role("link", name="History").click()

    history = row.locator("xpath=following-sibling::tr[1]").get_by_test_id("price-history")
    expect(history).to_contain_text("Price history of openai/gpt-5-mini")
    cells = history.locator("tbody tr td")
    expect(cells).to_contain_text(["2026-02-11", re.compile(r"^\$0\.250*$"), re.compile(r"^\$2")])
    expect(history.locator("tbody tr")).to_contain_text(["catalog seed"])
    expect(page.get_by_test_id("price-history")).to_have_count(1)
    assert page.evaluate("window.__marker") == 1, "the history link left the page"
