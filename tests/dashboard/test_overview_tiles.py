"""The overview's KPI tiles each say the span they cover, and never mix two spans."""

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from billing.catalog import catalog_load
from billing.ingest.store import usage_ingest
from billing.models import UsageEvent
from billing.overview.cube import Filters
from dashboard.templatetags.overview_spans import range_span
from tests.factories import BudgetFactory, TaoPriceFactory, canonical_event

NOW = datetime(2026, 11, 10, 17, 0, tzinfo=UTC)
CHUTES = {"provider": "chutes", "model": "unsloth/Llama-3.3-70B-Instruct"}

pytestmark = pytest.mark.usefixtures("frozen_now")


def _chutes_call(team, id, at):
    catalog_load()
    # A cheap TAO, so one call's TAO shows in the tile's four decimals.
    TaoPriceFactory(at=at - timedelta(minutes=1), usd=Decimal("0.001"))
    usage_ingest(team, [canonical_event(id=id, timestamp=at.isoformat(), **CHUTES)], now=NOW)


def _tiles(client, user, team, query="") -> dict[str, str]:
    client.force_login(user)
    page = client.get(reverse("overview", kwargs={"team": team.slug}) + query).content.decode()
    kpis = page.split('data-testid="kpis"', 1)[1].split("</dl>", 1)[0]
    return {
        re.sub(r"<[^>]+>", "", label): re.sub(r"<[^>]+>", " ", value)
        for label, value in re.findall(r"<dt>(.*?)</dt><dd[^>]*>(.*?)</dd>", kpis)
    }


def test_it_names_the_month_to_date_on_month_tiles_and_the_range_on_range_tiles(
    client, viewer_user, team
):
    labels = set(_tiles(client, viewer_user, team))
    assert {"Spend · November to date", "Budget used · November to date"} <= labels
    assert {"TAO used · November to date", "Forecast to the end of November"} <= labels
    assert {"Requests · Oct 12 \u2013 Nov 10", "p95 latency · Oct 12 \u2013 Nov 10"} <= labels
    assert {"Error rate · Oct 12 \u2013 Nov 10", "Average quality · Oct 12 \u2013 Nov 10"} <= labels


def test_it_names_a_whole_past_month_once_it_is_over(client, viewer_user, team):
    labels = set(_tiles(client, viewer_user, team, "?range=last-month"))
    assert {"Spend · all of October", "Requests · Oct 1 \u2013 Oct 31"} <= labels


def test_it_shows_years_only_for_a_range_across_new_year():
    assert (
        range_span(Filters(date(2026, 12, 20), date(2027, 1, 5)))
        == "Dec 20, 2026 \u2013 Jan 5, 2027"
    )
    assert range_span(Filters(date(2026, 11, 5), date(2026, 11, 5))) == "Nov 5"


def test_it_puts_the_month_s_tao_beside_its_share_of_the_month_s_tao_budget(
    client, viewer_user, team
):
    for n in range(3):
        _chutes_call(team, f"october-{n}", datetime(2026, 10, 25 + n, 12, tzinfo=UTC))
    _chutes_call(team, "november", datetime(2026, 11, 5, 12, tzinfo=UTC))
    november = UsageEvent.objects.get(event_id="november").tao_amount
    BudgetFactory(team=team, amount_tao=november * 4)
    tile = _tiles(client, viewer_user, team)["TAO used · November to date"]
    assert f"{november:.4f} TAO" in tile
    assert "25.0% of November's TAO budget" in tile
