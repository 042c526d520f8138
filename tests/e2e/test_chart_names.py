"""A model name with markup shows in the overview's legend as the literal text, never as a link."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from playwright.sync_api import expect

from billing.ingest.store import usage_ingest
from dashboard.models import Role
from tests.factories import canonical_event

NOW = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
LINK = 'm<a href="https://evil.example/p">L</a>'


@pytest.fixture
def hostile(teams):
    maven, _ = teams
    events = [
        canonical_event(
            id=f"e{n}",
            timestamp=(NOW - timedelta(days=n % 3, hours=1)).isoformat(),
            model=LINK if n % 2 else "claude-sonnet-4-5",
            cost_usd=Decimal("0.5"),
            quality_score=0.9,
        )
        for n in range(6)
    ]
    assert usage_ingest(maven, events, now=NOW).rejected == []


def test_the_legend_shows_a_marked_up_model_name_as_text(
    page, sign_in, member_of_both, hostile, page_errors
):
    sign_in(member_of_both(Role.VIEWER).username)
    with time_machine.travel(NOW, tick=False):
        page.goto("/t/maven/?by=model")
        chart = page.locator("section[data-chart=daily-cost] .js-plotly-plot")
        expect(chart).to_have_count(1)
        expect(chart.locator(".legendtext")).to_contain_text([f"anthropic/{LINK}"])
        # No link anywhere in any drawn chart's SVG: legends, ticks, hover labels.
        expect(page.locator("section[data-chart] svg a")).to_have_count(0)
    assert page_errors == []
