"""The usage explorer as a person sees it: the totals of the filtered calls and the sort."""

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from playwright.sync_api import expect

from billing.ingest.store import usage_ingest
from dashboard.models import Role
from tests.factories import canonical_event

NOW = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)


@pytest.fixture
def three_calls(teams):
    maven, _ = teams
    events = [
        canonical_event(
            id=task,
            task_type=task,
            cost_usd=cost,
            timestamp=(NOW - timedelta(hours=hours)).isoformat(),
        )
        for task, cost, hours in [("cheap", 0.01, 1), ("dear", 0.5, 2), ("middling", 0.1, 3)]
    ]
    assert usage_ingest(maven, events, now=NOW).rejected == []


def test_the_totals_stay_and_the_rows_follow_the_sort(
    page, sign_in, member_of_both, three_calls, page_errors
):
    sign_in(member_of_both(Role.VIEWER).username)
    with time_machine.travel(NOW, tick=False):
        page.goto("/t/maven/usage/")
        totals = page.get_by_test_id("usage-totals")
        expect(totals).to_contain_text("3 calls · $0.610000 · newest first")
        rows = page.locator("tr[data-event]")
        expect(rows.first).to_contain_text("cheap")

        page.get_by_label("Sort").select_option("cost_desc")
        expect(totals).to_contain_text("3 calls · $0.610000 · most expensive first")
        expect(rows.first).to_contain_text("dear")
        expect(rows.first).to_contain_text("$0.500000")
        expect(page).to_have_url(re.compile(r"sort=cost_desc"))
        expect(page.get_by_test_id("usage-csv")).to_have_attribute(
            "href", re.compile(r"sort=cost_desc")
        )
    assert page_errors == []
