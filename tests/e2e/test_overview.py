"""The overview in a browser: twelve plotly charts, filters swapped in by htmx, screenshots.

The clock stands still at NOW while pages load (after signing in at the real time, so the
session cookie's expiry lies in the browser's future), which makes the pictures repeatable.
The first two tests also save docs/screenshots/overview.png and overview-filtered.png.
"""

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from playwright.sync_api import expect

from billing.catalog import catalog_load
from billing.demo import DemoProfile, demo_tao_prices, demo_usage_seed
from billing.models import Budget
from dashboard.models import Role
from dashboard.overview_charts.registry import CHARTS
from routing.models import Model, RoutingVersion

# 1 pm in New York on a Friday: twenty days into the month, ten to forecast.
NOW = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
BACKWARDS = "The start day must not be after the end day."
# The range line under the filters, with its en dash.
THIRTY_DAYS = "Oct 22, 2026 \u2013 Nov 20, 2026"
SEVEN_DAYS = "Nov 14, 2026 \u2013 Nov 20, 2026"


@pytest.fixture
def maven(teams):
    """Maven with 35 days of demo usage, a baseline, a target share and a budget it overruns."""
    catalog_load()
    maven, _ = teams
    demo_tao_prices(NOW - timedelta(days=36), NOW)
    demo_usage_seed(maven, DemoProfile(60), days=35, now=NOW)
    maven.baseline_model = Model.objects.get(provider__slug="anthropic", name="claude-sonnet-4-5")
    maven.target_share_min, maven.target_share_max = 55, 70
    maven.save()
    # About $16 and 0.009 TAO by the 20th: both forecasts cross these before the month ends.
    Budget.objects.create(team=maven, amount_usd=Decimal(22), amount_tao=Decimal("0.0135"))
    return maven


@pytest.fixture
def viewer_page(page, sign_in, maven, member_of_both):
    sign_in(member_of_both(Role.VIEWER).username)
    with time_machine.travel(NOW, tick=False):
        yield page


def expect_every_chart_drawn(page):
    for slug in CHARTS:
        expect(page.locator(f"section[data-chart={slug}] .js-plotly-plot")).to_have_count(1)
    expect(page.locator("section[data-chart] .empty")).to_have_count(0)


def choose(page, label, value):
    """Pick a filter and wait until htmx has swapped in the body it asked for."""
    page.evaluate("document.querySelectorAll('[data-chart]').forEach(s => s.dataset.old = '')")
    with page.expect_response(lambda response: f"{label.lower()}={value}" in response.url):
        page.get_by_label(label, exact=True).select_option(value)
    expect(page).to_have_url(re.compile(f"[?&]{label.lower()}={value}"))
    expect(page.locator("[data-chart][data-old]")).to_have_count(0)
    expect_every_chart_drawn(page)


def test_it_draws_all_twelve_charts_without_console_errors(viewer_page, page_errors, shoot):
    viewer_page.goto("/t/maven/")

    expect_every_chart_drawn(viewer_page)
    expect(viewer_page.get_by_test_id("overview-range")).to_have_text(THIRTY_DAYS)
    expect(viewer_page.get_by_test_id("kpis")).to_contain_text("crosses the budget")
    assert page_errors == []
    shoot(viewer_page, "overview")


def test_it_swaps_filtered_charts_in_without_reloading(viewer_page, page_errors, shoot):
    page = viewer_page
    page.goto("/t/maven/")
    expect(page.get_by_label("Range")).to_have_value("30d")
    kpis = page.get_by_test_id("kpis").inner_text()
    page.evaluate("window.__noReload = true")

    choose(page, "Provider", "chutes")
    expect(page.get_by_test_id("overview-range")).to_have_text(f"{THIRTY_DAYS} · provider chutes")
    choose(page, "Range", "7d")

    assert page.evaluate("window.__noReload") is True, "the filter reloaded the whole page"
    expect(page).to_have_url(re.compile(r"provider=chutes.*range=7d|range=7d.*provider=chutes"))
    expect(page.get_by_test_id("overview-range")).to_have_text(f"{SEVEN_DAYS} · provider chutes")
    assert page.get_by_test_id("kpis").inner_text() != kpis
    shoot(page, "overview-filtered")
    csv_link = page.locator("section[data-chart=daily-cost]").get_by_role("link", name="CSV")
    href = csv_link.get_attribute("href")
    assert "range=7d" in href and "provider=chutes" in href
    lines = page.request.get(href).text().splitlines()
    assert lines[0] == "day,provider,cost_usd"
    assert {line.split(",")[1] for line in lines[1:]} == {"chutes"}
    assert min(line.split(",")[0] for line in lines[1:]) == "2026-11-14"
    assert page_errors == []


def test_it_goes_back_to_the_last_filters_with_drawn_charts(viewer_page, page_errors):
    page = viewer_page
    page.goto("/t/maven/")
    page.evaluate("window.__noReload = true")
    choose(page, "Provider", "chutes")
    choose(page, "Range", "7d")

    with page.expect_response(lambda response: "range=30d" in response.url):
        page.go_back()

    expect(page.get_by_test_id("overview-range")).to_have_text(f"{THIRTY_DAYS} · provider chutes")
    expect(page.get_by_label("Range")).to_have_value("30d")
    expect(page.get_by_label("Provider", exact=True)).to_have_value("chutes")
    expect_every_chart_drawn(page)
    live = "[...document.querySelectorAll('.js-plotly-plot')].every((plot) => plot._fullLayout)"
    assert page.evaluate(live), "a chart is a lifeless copy of an earlier one"
    assert page.evaluate("window.__noReload") is True, "going back reloaded the whole page"
    page.get_by_label("From").fill("2026-11-01")
    expect(page.get_by_label("Range")).to_have_value("custom")
    assert page_errors == []


def test_it_applies_a_custom_range_once_both_days_are_given(viewer_page, page_errors):
    page = viewer_page
    page.goto("/t/maven/")
    page.get_by_label("From").fill("2026-11-02")
    with page.expect_response(lambda response: "end=2026-11-04" in response.url):
        page.get_by_label("to", exact=True).fill("2026-11-04")

    expect(page.get_by_test_id("overview-range")).to_have_text("Nov 2, 2026 \u2013 Nov 4, 2026")
    expect_every_chart_drawn(page)
    assert page_errors == []


def test_it_explains_a_backwards_custom_range_and_keeps_the_days(viewer_page, page_errors):
    page = viewer_page
    page.goto("/t/maven/")
    page.get_by_label("From").fill("2026-11-15")
    page.get_by_label("to", exact=True).fill("2026-11-01")
    expect(page.get_by_label("Range")).to_have_value("custom")

    with page.expect_response(lambda response: "start=2026-11-15" in response.url):
        page.get_by_role("button", name="Apply").click()

    expect(page.get_by_role("alert")).to_contain_text(BACKWARDS)
    expect(page.get_by_test_id("overview-range")).to_have_text(THIRTY_DAYS)
    expect(page.get_by_label("From")).to_have_value("2026-11-15")
    expect(page.get_by_label("to", exact=True)).to_have_value("2026-11-01")
    expect_every_chart_drawn(page)
    # The pushed URL, opened afresh, says the same and keeps the days too.
    page.reload()
    expect(page.get_by_role("alert")).to_contain_text(BACKWARDS)
    expect(page.get_by_label("From")).to_have_value("2026-11-15")
    expect(page.get_by_label("to", exact=True)).to_have_value("2026-11-01")
    # Opened afresh, a refused range answers 400 like any refused form; the browser logs that.
    assert [error for error in page_errors if "status of 400" not in error] == []
    assert len(page_errors) == 1


def test_it_names_the_month_on_month_tiles_and_the_chosen_days_on_range_tiles(viewer_page):
    page = viewer_page
    page.goto("/t/maven/")
    kpis = page.get_by_test_id("kpis")
    expect(kpis.get_by_text("Spend · November to date", exact=True)).to_be_visible()
    expect(kpis.get_by_text("Budget used · November to date", exact=True)).to_be_visible()
    expect(kpis.get_by_text("Requests · Oct 22 \u2013 Nov 20", exact=True)).to_be_visible()
    expect(kpis.get_by_text("TAO used · November to date", exact=True)).to_be_visible()

    choose(page, "Range", "7d")

    expect(kpis.get_by_text("Requests · Nov 14 \u2013 Nov 20", exact=True)).to_be_visible()
    expect(kpis.get_by_text("Spend · November to date", exact=True)).to_be_visible()


def test_it_names_a_whole_past_month_on_month_tiles(viewer_page):
    viewer_page.goto("/t/maven/?range=last-month")
    kpis = viewer_page.get_by_test_id("kpis")
    expect(kpis.get_by_text("Spend · all of October", exact=True)).to_be_visible()
    expect(kpis.get_by_text("Requests · Oct 1 \u2013 Oct 31", exact=True)).to_be_visible()


def tao_used_tile(page):
    """The TAO used tile's figure and its share of the TAO budget, as the page shows them."""
    tile = page.get_by_test_id("kpis").locator("div", has_text="TAO used")
    text = tile.locator("dd").inner_text()
    found = re.search(r"([\d.]+) TAO\s*([\d.]+)% of November's TAO budget", text)
    assert found, f"no TAO figure with its budget share in {text!r}"
    return Decimal(found[1]), Decimal(found[2])


def test_it_shows_the_month_s_tao_the_budget_share_is_taken_of(viewer_page):
    page = viewer_page
    page.goto("/t/maven/")
    tao, share = tao_used_tile(page)
    # The 30 days shown reach into October: a range total would be about half as much again.
    assert abs(tao * 100 / Decimal("0.0135") - share) < Decimal("0.5"), (tao, share)

    choose(page, "Range", "7d")

    assert tao_used_tile(page) == (tao, share)


def duration_ms(text):
    number, unit = re.fullmatch(r"≈?([\d.,]+) (s|ms)", text).groups()
    return float(number.replace(",", "")) * (1000 if unit == "s" else 1)


def test_it_shows_p95_latency_as_approximate_with_the_bucket_on_hover(viewer_page):
    viewer_page.goto("/t/maven/")
    tile = viewer_page.get_by_test_id("kpis").locator("div", has_text="p95 latency").locator("dd")
    expect(tile).to_have_text(re.compile(r"^≈[\d.,]+ m?s$"))
    bounds = re.compile(r"^p95 between ([\d.,]+ m?s) and ([\d.,]+ m?s): read from latency buckets$")
    expect(tile).to_have_attribute("title", bounds)
    lower, upper = bounds.match(tile.get_attribute("title")).groups()
    assert duration_ms(lower) <= duration_ms(tile.inner_text()) <= duration_ms(upper)


def test_it_draws_quality_in_blues_darker_is_better_with_values_in_cells(viewer_page):
    viewer_page.goto("/t/maven/")
    chart = viewer_page.locator("section[data-chart=quality] .js-plotly-plot")
    expect(chart.locator(".cbtitle")).to_have_text("Quality(darker is better)")
    expect(chart.locator(".colorbar")).to_contain_text("0 worst")
    expect(chart.locator(".colorbar")).to_contain_text("1 best")
    # Each cell says its average and how many calls were scored ("0.82", "n=75").
    expect(chart.locator(".heatmap-label").first).to_have_text(re.compile(r"^[01]\.\d\dn=\d+"))
    scale = chart.evaluate("(plot) => plot.data[0].colorscale")
    assert scale[0] == [0, "#f7fbff"] and scale[-1] == [1, "#08306b"], scale


def test_changes_are_marked_on_the_charts_and_one_toggle_hides_them(
    viewer_page, maven, page_errors
):
    RoutingVersion.objects.create(
        team=maven,
        number=1,
        snapshot=[],
        comment="<b>Llama</b> takes summarization",
        published_at=NOW - timedelta(days=5),
    )
    viewer_page.goto("/t/maven/")
    expect_every_chart_drawn(viewer_page)
    daily = viewer_page.locator("section[data-chart=daily-cost] .js-plotly-plot")
    expect(daily.locator(".legend")).to_contain_text("Changes")
    changes = "el => el.data.filter(t => t.meta === 'changes').map(t => t.visible !== false)"
    assert daily.evaluate(changes) == [True, True]
    marks = "el => el.data.find(t => t.name === 'Changes').customdata"
    hover = next(mark for mark in daily.evaluate(marks) if mark[1] == "v1 published")
    assert hover[1:3] == [
        "v1 published",
        "&lt;b&gt;Llama&lt;/b&gt; takes summarization (by a rollout plan or job)",
    ]

    viewer_page.get_by_test_id("toggle-changes").uncheck()
    assert daily.evaluate(changes) == [False, False]
    # Charts swapped in by a filter keep them hidden.
    choose(viewer_page, "Provider", "chutes")
    daily = viewer_page.locator("section[data-chart=daily-cost] .js-plotly-plot")
    assert daily.evaluate(changes) == [False, False]
    # The publish, and the demo's TAO spike.
    expect(viewer_page.get_by_test_id("changes")).to_contain_text("2 changes in this period")
    assert page_errors == []
