"""The overview's month panel bridge: this month so far against the same days of last month,
exact, following the page's filters."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from billing.ingest.store import usage_ingest
from billing.models import UsageDailyRollup
from tests.factories import canonical_event

NOW = datetime(2026, 11, 6, 17, 0, tzinfo=UTC)
SONNET = {"provider": "anthropic", "model": "claude-sonnet-4-5"}
MINI = {"provider": "openai", "model": "gpt-5-mini"}

pytestmark = pytest.mark.usefixtures("frozen_now")


def _calls(team, prefix, count, at, **model):
    events = [
        canonical_event(
            id=f"{prefix}{n}", timestamp=(at + timedelta(minutes=n)).isoformat(), **model
        )
        for n in range(count)
    ]
    assert usage_ingest(team, events, now=NOW).accepted == count


@pytest.fixture
def months(team, catalog):
    """October 3rd: 4 Sonnet calls; November 3rd: 6 Sonnet and 2 mini; October 20th, after
    the same days, 50 calls that must not count."""
    _calls(team, "a", 4, datetime(2026, 10, 3, 15, tzinfo=UTC), **SONNET)
    _calls(team, "b", 6, datetime(2026, 11, 3, 15, tzinfo=UTC), **SONNET)
    _calls(team, "c", 2, datetime(2026, 11, 3, 16, tzinfo=UTC), **MINI)
    _calls(team, "d", 50, datetime(2026, 10, 20, 15, tzinfo=UTC), **SONNET)
    return team


def _bridge(client, user, team, **query):
    client.force_login(user)
    return client.get(reverse("overview_month_bridge", kwargs={"team": team.slug}), query)


def _spend(team, first, last, **filters):
    rows = UsageDailyRollup.objects.filter(team=team, day__gte=first, day__lte=last, **filters)
    return sum((row.cost_usd for row in rows), Decimal(0))


def test_it_bridges_the_month_so_far_from_the_same_days_of_last_month(client, viewer_user, months):
    found = _bridge(client, viewer_user, months).context["found"]
    bridge = found.bridge
    assert (found.before[0].isoformat(), found.before[1].isoformat()) == (
        "2026-10-01",
        "2026-10-06",
    )
    assert bridge.start == _spend(months, "2026-10-01", "2026-10-06")
    assert bridge.end == _spend(months, "2026-11-01", "2026-11-06")
    assert sum((effect.amount for effect in bridge.effects), Decimal(0)) == bridge.change
    assert bridge.residual == 0
    effects = {effect.name: effect.amount for effect in bridge.effects}
    assert effects["volume"] > 0 and effects["mix"] < 0  # more calls, some on a cheaper model
    assert effects["unit_price"] == effects["intensity"] == effects["tao_rate"] == 0


def test_it_follows_the_page_filters(client, viewer_user, months):
    bridge = _bridge(client, viewer_user, months, provider="openai").context["found"].bridge
    assert bridge.start == 0
    assert bridge.end == _spend(months, "2026-11-01", "2026-11-06", provider_name="openai")


def test_a_routing_version_has_no_month_bridge(client, viewer_user, months):
    assert _bridge(client, viewer_user, months, version="0").context["found"] is None


def test_the_page_loads_the_bridge_after_its_figures(client, viewer_user, months):
    client.force_login(viewer_user)
    page = client.get(reverse("overview", kwargs={"team": months.slug}), {"range": "7d"})
    assert 'hx-get="/t/maven/overview/month-bridge/?range=7d"' in page.content.decode()


def test_the_bridge_shows_with_its_waterfall(client, viewer_user, months):
    page = _bridge(client, viewer_user, months).content.decode()
    assert 'data-testid="month-bridge"' in page
    assert "against the same days of last month (Oct 1\N{EN DASH}Oct 6)" in page
    assert '"type": "waterfall"' in page.replace("&quot;", '"')


def test_an_outsider_gets_no_bridge(client, outsider, months):
    assert _bridge(client, outsider, months).status_code == 404
