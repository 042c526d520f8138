"""Latencies read from histogram buckets are worded as approximate, with the bucket on hover."""

import json
from datetime import UTC, datetime
from html import unescape

import pytest
from django.urls import reverse

from billing.catalog import catalog_load
from billing.histogram import bucket_middle, bucket_of
from billing.ingest.store import usage_ingest
from dashboard.overview_charts.latency_text import axis_unit, latency_approx, latency_bounds
from tests.factories import canonical_event

NOW = datetime(2026, 11, 10, 17, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("ms", "shown"),
    [(24355.0, "≈24 s"), (1522.2, "≈1.5 s"), (850.0, "≈850 ms"), (999.6, "≈1 s"), (5.0, "≈5 ms")],
)
def test_it_shows_a_latency_to_two_figures_with_its_unit(ms, shown):
    assert latency_approx(ms) == shown


@pytest.mark.parametrize(
    ("ms", "bounds"),
    [
        (24355.0, "between 20.5 s and 29 s: read from latency buckets"),
        (1076.3, "between 905 ms and 1.28 s: read from latency buckets"),
        (5.0, "under 10 ms: read from latency buckets"),
        (bucket_middle(31), "over 328 s: read from latency buckets"),
    ],
)
def test_it_says_which_bucket_a_latency_was_read_from(ms, bounds):
    assert latency_bounds(ms) == bounds


@pytest.fixture
def one_call_page(frozen_now, client, viewer_user, team) -> str:
    """The overview after one call of 1800 ms: the bucket from 1.28 s to 1.81 s."""
    catalog_load()
    usage_ingest(team, [canonical_event(id="a", timestamp=NOW.isoformat())], now=NOW)
    client.force_login(viewer_user)
    return client.get(reverse("overview", kwargs={"team": team.slug})).content.decode()


def test_the_p95_tile_is_approximate_with_its_bucket_on_hover(one_call_page):
    page = one_call_page
    assert (
        '<dd title="p95 between 1.28 s and 1.81 s: read from latency buckets">≈1.5 s</dd>' in page
    )


def test_the_latency_chart_is_in_seconds_with_the_bucket_on_hover(one_call_page):
    section = one_call_page.split('data-chart="latency"', 1)[1].split("</section>", 1)[0]
    figure = json.loads(unescape(section.split('data-plotly="', 1)[1].split('"', 1)[0]))
    p95 = next(trace for trace in figure["data"] if trace["name"].endswith(" p95"))
    assert figure["layout"]["yaxis"]["ticksuffix"] == " s"
    assert p95["y"] == [round(bucket_middle(bucket_of(1800)), 1) / 1000]
    assert p95["customdata"] == [["≈1.5 s", "between 1.28 s and 1.81 s: read from latency buckets"]]
    assert "%{customdata[0]}<br>%{customdata[1]}" in p95["hovertemplate"]


def test_a_timing_axis_is_in_ms_until_a_value_reaches_a_second():
    assert axis_unit([120.0, 905.1]) == ("ms", 1)
    assert axis_unit([120.0, 1076.3]) == ("s", 1000)
