"""The quality heatmap: darker is better on a colour-blind-safe scale, each cell's value written."""

import json
from datetime import UTC, datetime
from html import unescape

import pytest
from django.urls import reverse

from billing.catalog import catalog_load
from billing.ingest.store import usage_ingest
from tests.factories import canonical_event

NOW = datetime(2026, 11, 10, 17, 0, tzinfo=UTC)

pytestmark = pytest.mark.usefixtures("frozen_now")


def _luminance(colour: str) -> float:
    red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


@pytest.fixture
def heatmap(client, viewer_user, team) -> dict:
    catalog_load()
    events = [
        canonical_event(id=f"q{n}", timestamp=NOW.isoformat(), quality_score=score)
        for n, score in enumerate([0.9, 0.7])
    ]
    usage_ingest(team, events, now=NOW)
    client.force_login(viewer_user)
    page = client.get(reverse("overview", kwargs={"team": team.slug})).content.decode()
    section = page.split('data-chart="quality"', 1)[1].split("</section>", 1)[0]
    attribute = section.split('data-plotly="', 1)[1].split('"', 1)[0]
    return json.loads(unescape(attribute))["data"][0]


def test_it_colours_the_best_quality_darkest_and_says_so(heatmap):
    scale = heatmap["colorscale"]
    assert (heatmap["zmin"], heatmap["zmax"]) == (0, 1)
    assert [scale[0][0], scale[-1][0]] == [0, 1]
    luminances = [_luminance(colour) for _, colour in scale]
    assert luminances == sorted(luminances, reverse=True)
    assert "reversescale" not in heatmap
    assert heatmap["colorbar"]["ticktext"][-1] == "1 best"
    assert "darker is better" in heatmap["colorbar"]["title"]["text"]


def test_it_writes_each_cell_s_value_in_the_cell(heatmap):
    assert heatmap["texttemplate"] == "%{text}"
    assert heatmap["text"] == [["0.80<br>n=2 · few"]]
