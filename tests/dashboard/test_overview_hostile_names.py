"""Names sent by the proxy's users are shown as text in the overview's charts and CSVs: never
as markup plotly would render (a link in the legend), never as a spreadsheet formula."""

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from html import unescape

import pytest
from django.urls import reverse

from billing.ingest.store import usage_ingest
from dashboard.overview_charts.registry import CHARTS
from tests.factories import TaoPriceFactory, canonical_event

NOW = datetime(2026, 11, 10, 17, 0, tzinfo=UTC)
LINK = 'm<a href="https://evil.example/p">L</a>'
ESCAPED_LINK = 'm&lt;a href="https://evil.example/p"&gt;L&lt;/a&gt;'
FORMULA = '=HYPERLINK("https://evil.example/x","click")'
BOLD_PROVIDER = "<b>x</b>"
SPLITS = ["provider", "model", "task_type"]


pytestmark = pytest.mark.usefixtures("frozen_now")


@pytest.fixture
def hostile(team):
    """Scored, timed calls whose provider, model and task type carry markup and formulas."""
    names = [
        {"provider": BOLD_PROVIDER, "model": LINK, "task_type": FORMULA},
        {"provider": "@sum(1+1)", "model": "-2+3", "task_type": LINK},
    ]
    events = [
        canonical_event(
            id=f"e{n}-{i}",
            timestamp=(NOW - timedelta(days=n, hours=i)).isoformat(),
            cost_usd=Decimal("0.25"),
            ttft_ms=100,
            quality_score=0.8,
            **names[i % 2],
        )
        for n in range(2)
        for i in range(4)
    ]
    assert usage_ingest(team, events, now=NOW).rejected == []


def _page(client, team, by) -> str:
    url = reverse("overview", kwargs={"team": team.slug}) + f"?by={by}"
    return client.get(url).content.decode()


def _figures(page: str) -> dict[str, dict]:
    figures = {}
    for part in page.split('data-chart="')[1:]:
        slug = part.split('"', 1)[0]
        if 'data-plotly="' in part.split("</section>", 1)[0]:
            attribute = part.split('data-plotly="', 1)[1].split('"', 1)[0]
            figures[slug] = json.loads(unescape(attribute))
    return figures


def _csv(client, team, chart, query=""):
    url = reverse("overview_csv", kwargs={"team": team.slug, "chart": chart}) + query
    return list(csv.reader(io.StringIO(client.get(url).content.decode())))


def _is_number(text: str) -> bool:
    try:
        Decimal(text)
    except InvalidOperation:
        return False
    return True


@pytest.mark.parametrize("by", SPLITS)
def test_no_chart_carries_markup_from_a_name(client, viewer_user, team, hostile, by):
    client.force_login(viewer_user)
    page = _page(client, team, by)
    # The figures sit in an escaped attribute: the raw name is nowhere in the page.
    assert LINK not in page
    figures = _figures(page)
    assert {"daily-cost", "latency", "ttft", "errors", "quality", "routes"} <= set(figures)
    for slug, figure in figures.items():
        text = json.dumps(figure, ensure_ascii=False)
        assert "<a" not in text and "<b>" not in text, slug


def test_the_legend_hover_and_ticks_show_the_name_as_text(client, viewer_user, team, hostile):
    client.force_login(viewer_user)
    figures = _figures(_page(client, team, "model"))
    names = {trace["name"] for trace in figures["daily-cost"]["data"]}
    assert f"&lt;b&gt;x&lt;/b&gt;/{ESCAPED_LINK}" in names
    quality = figures["quality"]["data"][0]
    assert ESCAPED_LINK in quality["y"] and "&lt;b&gt;x&lt;/b&gt;" in quality["x"]
    routes = figures["routes"]["data"]
    assert ESCAPED_LINK in {point[0] for trace in routes for point in trace["customdata"]}


@pytest.mark.parametrize("chart", list(CHARTS))
def test_no_chart_csv_cell_starts_a_formula(client, viewer_user, team, hostile, chart):
    client.force_login(viewer_user)
    for by in SPLITS:
        for row in _csv(client, team, chart, f"?by={by}"):
            for cell in row:
                assert _is_number(cell) or not cell.startswith(("=", "+", "-", "@")), cell


def test_chart_csvs_mark_names_as_text_and_keep_negative_numbers(
    client, viewer_user, team, hostile
):
    client.force_login(viewer_user)
    rows = _csv(client, team, "quality")
    assert {row[0] for row in rows[1:]} == {"'" + FORMULA, LINK}
    assert {row[1] for row in rows[1:]} == {BOLD_PROVIDER, "'@sum(1+1)"}
    TaoPriceFactory(at=NOW - timedelta(hours=3), usd=400)
    TaoPriceFactory(at=NOW - timedelta(hours=2), usd=300)
    assert [r[2] for r in _csv(client, team, "tao-price", "?range=7d")[1:]] == ["", "-25.00"]
