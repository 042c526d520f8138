"""Changes marked on the time charts: publishes and rollbacks, catalog and team price changes,
TAO spikes and month closes, each naming itself and linking to its page; listed on the page and
in a CSV of their own."""

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from billing.ingest.store import usage_ingest
from billing.models import ModelPrice, MonthClose, TeamModelPrice
from billing.overview.changes import ChangeMarker
from dashboard.charts import with_changes
from routing.models import Model, RoutingVersion
from tests.factories import TaoPriceFactory, canonical_event

NOW = datetime(2026, 11, 20, 17, 0, tzinfo=UTC)
SONNET = {"provider": "anthropic", "model": "claude-sonnet-4-5"}

pytestmark = pytest.mark.usefixtures("frozen_now")


@pytest.fixture
def used(team, catalog):
    """Sonnet calls on each of the last ten days."""
    events = [
        canonical_event(id=f"e{n}", timestamp=(NOW - timedelta(days=n)).isoformat(), **SONNET)
        for n in range(10)
    ]
    usage_ingest(team, events, now=NOW)
    return team


def _page(client, user, team, **query):
    client.force_login(user)
    return client.get(reverse("overview", kwargs={"team": team.slug}), query)


def _figure(page, slug):
    charts = page.context["charts"]
    return next(chart for chart in charts if chart.slug == slug).figure


def _marks(figure):
    return [trace for trace in figure["data"] if trace.get("name") == "Changes"]


def _sonnet():
    return Model.objects.get(provider__slug="anthropic", name="claude-sonnet-4-5")


def test_a_publish_is_marked_on_the_time_charts_with_its_comment_as_text(client, viewer_user, used):
    RoutingVersion.objects.create(
        team=used, number=1, snapshot=[], comment="<b>cheaper</b>", published_at=NOW - timedelta(3)
    )
    page = _page(client, viewer_user, used)
    (marks,) = _marks(_figure(page, "daily-cost"))
    kind, title, detail, url = marks["customdata"][0]
    assert (kind, title) == ("Routing published", "v1 published")
    assert detail.startswith("&lt;b&gt;cheaper&lt;/b&gt;")
    assert url == reverse("routing_versions", kwargs={"team": used.slug})
    assert marks["x"] == ["2026-11-17 12:00"]  # the team's time (New York)


def test_a_rollback_links_to_its_diff(client, viewer_user, used):
    first = RoutingVersion.objects.create(
        team=used, number=1, snapshot=[], published_at=NOW - timedelta(5)
    )
    RoutingVersion.objects.create(
        team=used, number=2, snapshot=[], rollback_of=first, published_at=NOW - timedelta(2)
    )
    page = _page(client, viewer_user, used)
    changes = page.context["overview"].changes
    assert [(c.kind, c.title) for c in changes] == [
        ("publish", "v1 published"),
        ("rollback", "v2: rollback to v1"),
    ]
    assert changes[1].url.endswith("?old=1&new=2")


def test_a_list_price_change_of_a_used_model_is_marked_but_not_a_first_price(
    client, viewer_user, used
):
    unused = Model.objects.get(provider__slug="openai", name="gpt-5-mini")
    ModelPrice.objects.create(
        model=_sonnet(), effective_from=date(2026, 11, 15), input_per_mtok=2, output_per_mtok=10
    )
    ModelPrice.objects.create(
        model=unused, effective_from=date(2026, 11, 15), input_per_mtok=1, output_per_mtok=1
    )
    changes = _page(client, viewer_user, used).context["overview"].changes
    assert [(c.kind, c.title) for c in changes] == [
        ("price", "anthropic/claude-sonnet-4-5: new list price")
    ]
    assert changes[0].url == reverse("catalog_model_prices", kwargs={"model_id": _sonnet().pk})


def test_a_team_price_and_a_month_close_are_marked(client, viewer_user, used, finance_user):
    TeamModelPrice.objects.create(
        team=used,
        model=_sonnet(),
        effective_from=date(2026, 11, 18),
        input_per_mtok=Decimal("2.5"),
        output_per_mtok=12,
    )
    MonthClose.objects.create(
        team=used,
        month=date(2026, 10, 1),
        snapshot={},
        closed_by=finance_user,
        closed_at=NOW - timedelta(days=8),
    )
    changes = _page(client, viewer_user, used).context["overview"].changes
    assert [(c.kind, c.title) for c in changes] == [
        ("month_close", "October 2026 closed"),
        ("team_price", "anthropic/claude-sonnet-4-5: team price"),
    ]
    assert changes[0].url == reverse("report", kwargs={"team": used.slug, "month": "2026-10"})


def test_a_tao_spike_is_marked(client, viewer_user, used):
    for hours in range(48, 0, -1):
        TaoPriceFactory(at=NOW - timedelta(hours=hours), usd=400 if hours > 6 else 500)
    changes = _page(client, viewer_user, used).context["overview"].changes
    assert [c.kind for c in changes] == ["tao_spike"]
    assert changes[0].title == "TAO +25.0%"


def test_a_chart_marks_only_the_changes_within_its_days():
    figure = {
        "data": [{"type": "bar", "x": ["2026-11-01", "2026-11-30"], "y": [1, 2]}],
        "layout": {"xaxis": {"type": "date"}},
    }
    inside = ChangeMarker(datetime(2026, 11, 5, tzinfo=UTC), "publish", "v2", "", "/v2")
    before = ChangeMarker(datetime(2026, 10, 5, tzinfo=UTC), "publish", "v1", "", "/v1")
    marked = with_changes(figure, [before, inside], UTC)
    (marks,) = _marks(marked)
    assert marks["x"] == ["2026-11-05 00:00"]


def test_charts_without_a_time_axis_are_not_marked(client, viewer_user, used):
    RoutingVersion.objects.create(team=used, number=1, snapshot=[], published_at=NOW - timedelta(3))
    page = _page(client, viewer_user, used)
    assert _marks(_figure(page, "daily-cost"))
    assert not _marks(_figure(page, "routes"))
    assert not _marks(_figure(page, "quality"))


def test_the_page_lists_the_changes_and_offers_to_hide_them(client, viewer_user, used):
    RoutingVersion.objects.create(team=used, number=1, snapshot=[], published_at=NOW - timedelta(3))
    page = _page(client, viewer_user, used).content.decode()
    assert "data-toggle-changes" in page
    assert "1 change in this period, marked on the charts" in page
    assert page.count('data-testid="change-row"') == 1


def test_the_changes_csv_lists_them_with_text_cells_protected(client, viewer_user, used):
    RoutingVersion.objects.create(
        team=used, number=1, snapshot=[], comment="=HYPERLINK(1)", published_at=NOW - timedelta(3)
    )
    client.force_login(viewer_user)
    response = client.get(reverse("overview_changes_csv", kwargs={"team": used.slug}))
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["at_utc", "at_team_time", "kind", "change", "details", "link"]
    assert rows[1][:4] == [
        "2026-11-17T17:00:00Z",
        "2026-11-17 12:00",
        "Routing published",
        "v1 published",
    ]
    assert rows[1][4].startswith("'=HYPERLINK(1)")
    assert rows[1][5].endswith(f"/t/{used.slug}/routing/versions/")


def test_the_marks_are_one_legend_entry_the_page_script_can_hide(client, viewer_user, used):
    RoutingVersion.objects.create(team=used, number=1, snapshot=[], published_at=NOW - timedelta(3))
    figure = _figure(_page(client, viewer_user, used), "daily-cost")
    changes = [trace for trace in figure["data"] if trace.get("meta") == "changes"]
    assert len(changes) == 2 and {t["legendgroup"] for t in changes} == {"changes"}
    assert json.dumps(figure).count('"showlegend": false') >= 1
