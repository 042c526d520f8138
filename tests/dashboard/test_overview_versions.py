"""The overview's routing version filter: `?version=7` (or 0 for calls sent without one)."""

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from billing.catalog import catalog_load
from billing.ingest.store import usage_ingest
from routing.models import RoutingVersion
from tests.factories import canonical_event

NOW = datetime(2026, 11, 10, 17, 0, tzinfo=UTC)

pytestmark = pytest.mark.usefixtures("frozen_now")


@pytest.fixture
def versioned(team):
    """Yesterday: two Sonnet calls routed by v7 ($0.045 each), one by v8 and one without."""
    catalog_load()
    at = (NOW - timedelta(days=1)).isoformat()
    events = [
        canonical_event(id="a", timestamp=at, route_version=7),
        canonical_event(id="b", timestamp=at, route_version=7),
        canonical_event(id="c", timestamp=at, route_version=8, provider="openai", model="gpt-5.2"),
        canonical_event(id="d", timestamp=at, provider="openai", model="gpt-5-mini"),
    ]
    usage_ingest(team, events, now=NOW)


def _page(client, user, team, query=""):
    client.force_login(user)
    return client.get(reverse("overview", kwargs={"team": team.slug}) + query).content.decode()


def _csv(client, team, chart, query=""):
    url = reverse("overview_csv", kwargs={"team": team.slug, "chart": chart}) + query
    return list(csv.reader(io.StringIO(client.get(url).content.decode())))


def _requests_tile(page: str) -> str:
    return re.search(r"<dt>Requests · [^<]*</dt><dd>([^<]*)", page).group(1)


def _version_options(page: str) -> list[str]:
    menu = page.split('name="version"', 1)[1].split("</select>", 1)[0]
    return re.findall(r"<option[^>]*>([^<]*)</option>", menu)


def test_a_version_narrows_the_kpis_and_the_charts(client, viewer_user, team, versioned):
    page = _page(client, viewer_user, team, "?version=7")
    assert _requests_tile(page) == "2"
    assert "routing version v7" in page
    rows = _csv(client, team, "daily-cost", "?version=7")
    assert rows[1:] == [["2026-11-09", "anthropic", "0.090000"]]


def test_version_0_shows_the_calls_sent_without_a_version(client, viewer_user, team, versioned):
    assert _requests_tile(_page(client, viewer_user, team, "?version=0")) == "1"
    rows = _csv(client, team, "routes", "?version=0")
    assert [row[2] for row in rows[1:]] == ["gpt-5-mini"]


def test_it_offers_the_range_s_versions_labelled_newest_first(client, viewer_user, team, versioned):
    # 02:00 UTC on November 3rd is still November 2nd in the team's New York.
    published = datetime(2026, 11, 3, 2, tzinfo=UTC)
    RoutingVersion.objects.create(team=team, number=7, snapshot=[], published_at=published)
    RoutingVersion.objects.create(team=team, number=9, snapshot=[], published_at=published)
    assert _version_options(_page(client, viewer_user, team)) == [
        "All versions",
        "v8",
        "v7 (published 2026-11-02)",
        "Sent without a version",
    ]


def test_it_always_offers_the_calls_sent_without_a_version(client, viewer_user, team):
    catalog_load()
    at = (NOW - timedelta(days=1)).isoformat()
    usage_ingest(team, [canonical_event(id="a", timestamp=at, route_version=3)], now=NOW)
    assert _version_options(_page(client, viewer_user, team)) == [
        "All versions",
        "v3",
        "Sent without a version",
    ]


def test_it_keeps_a_version_the_range_lacks_selected(client, viewer_user, team, versioned):
    page = _page(client, viewer_user, team, "?version=12")
    assert '<option value="12" selected>v12</option>' in page
    assert _requests_tile(page) == "0"


@pytest.mark.parametrize("version", ["abc", "-1", "7.0", "07", "²", "99999999999", ""])
def test_an_invalid_version_falls_back_to_all_versions(
    client, viewer_user, team, versioned, version
):
    client.force_login(viewer_user)
    response = client.get(reverse("overview", kwargs={"team": team.slug}), {"version": version})
    assert response.status_code == 200
    assert _requests_tile(response.content.decode()) == "4"
    assert "routing version" not in response.content.decode()
