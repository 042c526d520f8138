"""The overview's money charts in the reader's display currency: each day's USD at that day's
rate (the last before it on a day without one), the axis naming the currency, and the chart
CSVs keeping their USD columns and adding the display currency's."""

import csv
import io
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing.ingest.store import usage_ingest
from billing.models import FxRate
from dashboard.models import Membership
from tests.factories import BudgetFactory, canonical_event

NOW = datetime(2026, 11, 10, 17, 0, tzinfo=UTC)  # a Tuesday, noon in New York
RANGE = "?range=7d"
# USD per euro, so that the rates to EUR are exact: 0.5, 0.8 and 0.625 EUR per USD.
RATES = {date(2026, 10, 30): "2", date(2026, 11, 6): "1.25", date(2026, 11, 9): "1.6"}
EUR_PER_USD = {
    "2026-11-06": Decimal("0.8"),  # Friday
    "2026-11-07": Decimal("0.8"),  # Saturday: Friday's rate
    "2026-11-09": Decimal("0.625"),  # Monday
}

pytestmark = pytest.mark.usefixtures("frozen_now")


@pytest.fixture
def usage(team, catalog):
    """Sonnet calls at noon in New York on Friday Nov 6 (one), Saturday (two), Monday (three)."""
    events = [
        canonical_event(id=f"{day}-{n}", timestamp=f"{day}T17:00:00+00:00")
        for day, calls in [("2026-11-06", 1), ("2026-11-07", 2), ("2026-11-09", 3)]
        for n in range(calls)
    ]
    assert usage_ingest(team, events, now=NOW).accepted == 6
    return team


@pytest.fixture
def rates(db):
    for day, usd_per_eur in RATES.items():
        FxRate.objects.create(day=day, currency="USD", per_eur=Decimal(usd_per_eur))


def _reads(user, team, currency: str) -> None:
    Membership.objects.filter(user=user, team=team).update(display_currency=currency)


def _figures(client, user, team) -> dict[str, dict]:
    client.force_login(user)
    page = client.get(reverse("overview", kwargs={"team": team.slug}) + RANGE).content.decode()
    figures = {}
    for part in page.split('data-chart="')[1:]:
        slug = part.split('"', 1)[0]
        if 'data-plotly="' in part.split("</section>", 1)[0]:
            attribute = part.split('data-plotly="', 1)[1].split('"', 1)[0]
            figures[slug] = json.loads(unescape(attribute))
    return figures


def _csv(client, user, team, chart) -> list[dict]:
    client.force_login(user)
    url = reverse("overview_csv", kwargs={"team": team.slug, "chart": chart}) + RANGE
    return list(csv.DictReader(io.StringIO(client.get(url).content.decode())))


def _trace(figure: dict, name: str) -> dict[str, float]:
    trace = next(t for t in figure["data"] if t.get("name") == name)
    return dict(zip(trace["x"], trace["y"], strict=True))


def _daily_usd(client, user, team) -> dict[str, Decimal]:
    return {
        row["day"]: Decimal(row["daily_usd"])
        for row in _csv(client, user, team, "month-spend")
        if row["day"] in EUR_PER_USD
    }


def test_a_eur_reader_s_spend_chart_draws_each_day_at_that_day_s_rate(
    client, viewer_user, usage, rates
):
    _reads(viewer_user, usage, "EUR")
    daily_usd = _daily_usd(client, viewer_user, usage)
    drawn = _trace(_figures(client, viewer_user, usage)["month-spend"], "Daily spend")
    assert {day: drawn[day] for day in EUR_PER_USD} == {
        day: float(daily_usd[day] * rate) for day, rate in EUR_PER_USD.items()
    }
    assert len(set(EUR_PER_USD.values())) == 2 and all(daily_usd.values())


def test_a_eur_reader_s_spend_chart_names_eur_on_its_axis_and_hover(
    client, viewer_user, usage, rates
):
    _reads(viewer_user, usage, "EUR")
    figure = _figures(client, viewer_user, usage)["month-spend"]
    assert figure["layout"]["yaxis"]["title"]["text"] == "Spend (EUR)"
    assert "tickprefix" not in figure["layout"]["yaxis"]
    assert all("EUR" in t["hovertemplate"] for t in figure["data"] if t.get("meta") is None)


def test_a_eur_reader_s_budget_line_is_at_the_last_drawn_day_s_rate(
    client, viewer_user, usage, rates
):
    BudgetFactory(team=usage, amount_usd=Decimal(200))
    _reads(viewer_user, usage, "EUR")
    layout = _figures(client, viewer_user, usage)["month-spend"]["layout"]
    # The forecast runs to November 30th, at the latest rate (Monday's, 0.625).
    assert layout["shapes"][0]["y0"] == 125.0
    assert layout["annotations"][0]["text"] == "Budget €125"


def test_a_usd_reader_s_spend_chart_is_drawn_in_usd_as_stored(client, viewer_user, usage, rates):
    daily_usd = _daily_usd(client, viewer_user, usage)
    figure = _figures(client, viewer_user, usage)["month-spend"]
    drawn = _trace(figure, "Daily spend")
    assert {day: drawn[day] for day in EUR_PER_USD} == {
        day: float(amount) for day, amount in daily_usd.items()
    }
    assert figure["layout"]["yaxis"]["title"]["text"] == "Spend (USD)"
    assert figure["layout"]["yaxis"]["tickprefix"] == "$"


def test_a_eur_reader_without_rates_sees_the_charts_in_usd(client, viewer_user, usage):
    _reads(viewer_user, usage, "EUR")
    figure = _figures(client, viewer_user, usage)["daily-cost"]
    assert figure["layout"]["yaxis"]["title"]["text"] == "Cost (USD)"
    assert list(_csv(client, viewer_user, usage, "daily-cost")[0]) == [
        "day",
        "provider",
        "cost_usd",
    ]


def test_the_usd_reader_s_chart_csv_has_only_its_usd_columns(client, viewer_user, usage, rates):
    rows = _csv(client, viewer_user, usage, "month-spend")
    assert list(rows[0]) == ["kind", "day", "daily_usd", "cumulative_usd", "budget_usd"]


def test_a_eur_reader_s_chart_csv_adds_the_rate_its_day_and_the_converted_columns(
    client, viewer_user, usage, rates
):
    _reads(viewer_user, usage, "EUR")
    rows = {row["day"]: row for row in _csv(client, viewer_user, usage, "daily-cost")}
    assert list(rows["2026-11-07"]) == [
        "day",
        "provider",
        "cost_usd",
        "display_currency",
        "rate",
        "rate_day",
        "cost_in_display_currency",
    ]
    saturday = rows["2026-11-07"]
    assert (saturday["display_currency"], saturday["rate"], saturday["rate_day"]) == (
        "EUR",
        "0.8",
        "2026-11-06",
    )
    assert Decimal(saturday["cost_in_display_currency"]) == Decimal(saturday["cost_usd"]) * Decimal(
        "0.8"
    )
    assert rows["2026-11-09"]["rate"] == "0.625"


def test_a_eur_reader_s_chart_csv_holds_what_the_chart_draws(client, viewer_user, usage, rates):
    _reads(viewer_user, usage, "EUR")
    drawn = _trace(_figures(client, viewer_user, usage)["month-spend"], "Spent, cumulative")
    rows = _csv(client, viewer_user, usage, "month-spend")
    actual = {r["day"]: r for r in rows if r["kind"] == "actual"}
    assert drawn == {day: float(r["cumulative_in_display_currency"]) for day, r in actual.items()}
    assert actual["2026-11-09"]["budget_in_display_currency"] == ""  # no budget applies


def test_a_usd_reader_s_overview_reads_no_rates(client, viewer_user, usage, rates):
    client.force_login(viewer_user)
    url = reverse("overview", kwargs={"team": usage.slug}) + RANGE
    client.get(url)
    with CaptureQueriesContext(connection) as usd_page:
        client.get(url)
    assert not [q for q in usd_page.captured_queries if "fxrate" in q["sql"].lower()]


def test_a_eur_reader_s_chart_csv_costs_one_query_more_the_rates(client, viewer_user, usage, rates):
    client.force_login(viewer_user)
    url = reverse("overview_csv", kwargs={"team": usage.slug, "chart": "month-spend"}) + RANGE
    client.get(url)
    with CaptureQueriesContext(connection) as in_usd:
        client.get(url)
    _reads(viewer_user, usage, "EUR")
    with CaptureQueriesContext(connection) as in_eur:
        client.get(url)
    assert len(in_eur.captured_queries) == len(in_usd.captured_queries) + 1


def _bridge(client, user, team):
    client.force_login(user)
    return client.get(reverse("overview_month_bridge", kwargs={"team": team.slug}))


def test_a_eur_reader_s_month_bridge_is_drawn_at_today_s_rate_in_one_query(
    client, viewer_user, usage, rates
):
    _reads(viewer_user, usage, "EUR")
    _bridge(client, viewer_user, usage)
    with CaptureQueriesContext(connection) as queries:
        response = _bridge(client, viewer_user, usage)
    bridge = response.context["found"].bridge
    figure = json.loads(response.context["bridge_figure_json"])
    # Today, Tuesday the 10th, has no rate: Monday's, 0.625 EUR per USD.
    assert figure["data"][0]["y"][-1] == float(bridge.end * Decimal("0.625"))
    assert figure["layout"]["yaxis"]["title"]["text"] == "EUR"
    assert "0.6250 EUR per USD" in figure["data"][0]["hovertemplate"]
    assert len([q for q in queries.captured_queries if "fxrate" in q["sql"].lower()]) == 1


def test_a_usd_reader_s_month_bridge_stays_in_usd(client, viewer_user, usage, rates):
    response = _bridge(client, viewer_user, usage)
    figure = json.loads(response.context["bridge_figure_json"])
    assert figure["data"][0]["y"][-1] == float(response.context["found"].bridge.end)
    assert figure["layout"]["yaxis"] == {
        "title": {"text": "USD"},
        "tickprefix": "$",
        "automargin": True,
    }
