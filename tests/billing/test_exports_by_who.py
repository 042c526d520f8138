"""The report's CSV and FOCUS exports carry the end user and API key alias of the calls: a row
per pair, still adding up to the report, the values made safe for spreadsheets."""

import csv
import io
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from billing.ingest.store import usage_ingest
from tests.factories import event_at

NOW = datetime(2026, 12, 10, 17, 0, tzinfo=UTC)
DAY = datetime(2026, 11, 10, 15, tzinfo=UTC)

pytestmark = pytest.mark.usefixtures("frozen_now")


@pytest.fixture
def usage(team, catalog):
    events = [
        event_at("a", DAY, cost_usd=Decimal("1.25"), end_user="ana", api_key_alias="web"),
        event_at("b", DAY, cost_usd=Decimal("2.5"), end_user="bo", api_key_alias="web"),
        event_at("c", DAY, cost_usd=Decimal("4"), end_user="=cmd|' /C calc'!A0"),
        event_at("d", DAY, cost_usd=Decimal("8")),
    ]
    assert usage_ingest(team, events, now=NOW).rejected == []


def download(client, user, team, name) -> list[dict]:
    client.force_login(user)
    response = client.get(reverse(name, kwargs={"team": team.slug, "month": "2026-11"}))
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def test_the_csv_has_a_row_per_end_user_and_key_alias(client, viewer_user, team, usage):
    rows = download(client, viewer_user, team, "report_csv")

    who = sorted((row["end_user"], row["api_key_alias"], row["cost_usd"]) for row in rows)
    assert who == [
        ("", "", "8"),
        ("'=cmd|' /C calc'!A0", "", "4"),
        ("ana", "web", "1.25"),
        ("bo", "web", "2.5"),
    ]


def test_the_focus_tags_carry_them_and_the_cost_still_adds_up(client, viewer_user, team, usage):
    rows = download(client, viewer_user, team, "report_focus_csv")

    tags = {json.dumps(json.loads(row["Tags"]), sort_keys=True) for row in rows}
    assert {json.loads(tag).get("end_user", ""): json.loads(tag) for tag in tags}["ana"] == {
        "team": "maven",
        "task_type": "summarization",
        "end_user": "ana",
        "api_key_alias": "web",
    }
    assert {"team": "maven", "task_type": "summarization"} in [json.loads(tag) for tag in tags]
    assert sum(Decimal(row["BilledCost"]) for row in rows) == Decimal("15.75")
