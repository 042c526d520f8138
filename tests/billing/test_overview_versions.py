"""The overview cut by routing version: the cube per version, and every figure narrowed to one."""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from billing.histogram import bucket_of
from billing.ingest.store import usage_ingest
from billing.overview.bundle import build_overview
from billing.overview.cube import Filters, load_cube, options_of, published_days
from billing.overview.histograms import load_histograms
from billing.rollups import NO_VERSION
from routing.models import RoutingVersion
from tests.factories import BudgetFactory, event_at

NOW = datetime(2026, 11, 10, 17, 0, tzinfo=UTC)
NOVEMBER = Filters(date(2026, 11, 1), date(2026, 11, 10))


@pytest.fixture
def versioned(team, catalog):
    """Two calls routed by v7 (at 100 ms), one by v8 (at 5 s), one sent without a version."""
    at = NOW - timedelta(hours=2)
    events = [
        event_at("a", at, route_version=7, latency_ms=100),
        event_at("b", at, route_version=7, latency_ms=100),
        event_at("c", at, route_version=8, latency_ms=5000),
        event_at("d", at, latency_ms=5000),
    ]
    usage_ingest(team, events, now=NOW)


def _overview(team, version):
    return build_overview(team, replace(NOVEMBER, route_version=version), now=NOW)


def test_the_cube_has_a_row_per_routing_version(team, versioned):
    cube = load_cube(team, NOVEMBER.first_day, NOVEMBER.last_day)
    assert [(row.route_version, row.requests) for row in cube] == [(0, 1), (7, 2), (8, 1)]


def test_a_version_narrows_the_totals_and_the_month(team, versioned):
    overview = _overview(team, 7)
    assert overview.totals.requests == 2
    assert overview.month.spend_usd == overview.totals.cost_usd
    assert _overview(team, None).totals.requests == 4


def test_version_0_is_the_calls_sent_without_a_version(team, versioned):
    assert _overview(team, NO_VERSION).totals.requests == 1


def test_the_histograms_honour_the_version(team, versioned):
    [timings] = load_histograms(team, replace(NOVEMBER, route_version=7), "provider").values()
    assert timings.timed == 2
    assert timings.latency[bucket_of(100)] == 2


def test_a_version_is_held_to_no_budget(team, versioned):
    BudgetFactory(team=team, amount_usd=100)
    assert _overview(team, 7).month.budget_usd is None


def test_it_offers_the_range_s_versions_newest_first_then_none(team, versioned):
    cube = load_cube(team, NOVEMBER.first_day, NOVEMBER.last_day)
    assert options_of(cube)["route_version"] == [8, 7, NO_VERSION]


def test_it_reads_each_version_s_publish_day_in_the_team_s_zone(team):
    # 02:00 UTC on November 3rd is still November 2nd in New York.
    RoutingVersion.objects.create(
        team=team, number=7, snapshot=[], published_at=datetime(2026, 11, 3, 2, tzinfo=UTC)
    )
    assert published_days(team, [7, 8, NO_VERSION]) == {7: date(2026, 11, 2)}
