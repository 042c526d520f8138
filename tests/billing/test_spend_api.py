"""GET /api/v1/spend: a team's spend for a period from the rollups, grouped, paginated."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing.ingest.store import usage_ingest
from billing.models import UsageEvent
from billing.spend import decimal_text
from dashboard.tokens import token_create
from tests.factories import TaoPriceFactory, TeamFactory, canonical_event
from tests.openapi_check import assert_matches_openapi

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
URL = "/api/v1/spend"


@pytest.fixture
def reader(team):
    return token_create(team=team, name="bi", scopes=["spend:read"])[1]


def spend(client, token, **params):
    return client.get(URL, params, HTTP_AUTHORIZATION=f"Bearer {token}")


def send(team, *events):
    result = usage_ingest(team, list(events))
    assert result.accepted == len(events), result.rejected


def event(id, at, **fields):
    fields = {"input_tokens": 1000, "output_tokens": 500, "cost_usd": "0.25", **fields}
    return canonical_event(id=id, timestamp=at, **fields)


def test_the_url_is_the_fixed_one():
    assert reverse("api_spend") == URL


def test_it_refuses_without_a_token(client, db):
    response = client.get(URL)

    assert response.status_code == 401
    assert_matches_openapi(response, URL)


def test_it_refuses_a_token_without_spend_read(client, team):
    _, token = token_create(team=team, name="proxy", scopes=["usage:write"])

    response = spend(client, token)

    assert response.status_code == 403
    assert response.json()["detail"] == "This token lacks the spend:read scope."


def test_by_default_it_totals_this_month_so_far(client, team, reader, clock):
    send(
        team,
        event("oct", "2026-10-31T12:00:00Z"),
        event("nov-1", "2026-11-02T12:00:00Z"),
        event("nov-2", "2026-11-19T12:00:00Z", status="error", error_type="RateLimitError"),
    )

    answer = spend(client, reader).json()

    assert (answer["start"], answer["end"]) == ("2026-11-01", "2026-11-20")
    assert answer["totals"]["requests"] == 2
    assert answer["totals"]["errors"] == 1
    assert answer["totals"]["cost_usd"] == "0.5"
    assert answer["rows"] == [answer["totals"]]


def test_days_are_the_teams_own(client, team, reader, clock):
    # 03:30 UTC on Nov 2 is still Nov 1 in New York.
    send(team, event("late", "2026-11-02T03:30:00Z"))

    answer = spend(client, reader, group_by="day").json()

    assert [row["day"] for row in answer["rows"]] == ["2026-11-01"]
    assert answer["time_zone"] == "America/New_York"


def test_it_groups_by_model_and_day_in_order(client, team, reader, clock, catalog):
    send(
        team,
        event("a", "2026-11-03T12:00:00Z", model="claude-sonnet-4-5"),
        event("b", "2026-11-03T13:00:00Z", model="claude-sonnet-4-5"),
        event("c", "2026-11-04T12:00:00Z", provider="openai", model="gpt-4o-mini"),
    )

    answer = spend(client, reader, group_by="model,day").json()

    keys = [(row["model"], row["day"], row["requests"]) for row in answer["rows"]]
    assert keys == [("claude-sonnet-4-5", "2026-11-03", 2), ("gpt-4o-mini", "2026-11-04", 1)]
    assert answer["group_by"] == ["model", "day"]
    assert_matches_openapi(spend(client, reader, group_by="model,day"), URL)


def test_it_groups_by_month_across_months(client, team, reader, clock):
    send(team, event("oct", "2026-10-15T12:00:00Z"), event("nov", "2026-11-15T12:00:00Z"))

    answer = spend(client, reader, start="2026-10-01", group_by="month").json()

    assert [(row["month"], row["requests"]) for row in answer["rows"]] == [
        ("2026-10", 1),
        ("2026-11", 1),
    ]


def test_it_groups_by_end_user_and_key_alias(client, team, reader, clock):
    send(
        team,
        event("a", "2026-11-03T12:00:00Z", end_user="ana", api_key_alias="web"),
        event("b", "2026-11-03T13:00:00Z", end_user="ana", api_key_alias="batch"),
        event("c", "2026-11-04T12:00:00Z", end_user="bo", api_key_alias="web"),
    )

    rows = spend(client, reader, group_by="end_user,api_key_alias").json()["rows"]

    assert [(r["end_user"], r["api_key_alias"], r["cost_usd"]) for r in rows] == [
        ("ana", "batch", "0.25"),
        ("ana", "web", "0.25"),
        ("bo", "web", "0.25"),
    ]


def test_it_groups_by_provider_task_type_and_route_version(client, team, reader, clock):
    send(team, event("a", "2026-11-03T12:00:00Z", route_version=4, task_type="chat"))

    row = spend(client, reader, group_by="provider,task_type,route_version").json()["rows"][0]

    assert (row["provider"], row["task_type"], row["route_version"]) == ("anthropic", "chat", 4)


def test_money_is_exact_to_the_last_digit(client, team, reader, clock):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite sums decimal columns as floats; PostgreSQL's numeric is exact")
    send(
        team,
        event("a", "2026-11-03T12:00:00Z", cost_usd="0.000000000001"),
        event("b", "2026-11-03T12:01:00Z", cost_usd="234567.1"),
    )

    assert spend(client, reader).json()["totals"]["cost_usd"] == "234567.100000000001"


def test_tao_is_summed_for_tao_billed_calls(client, team, reader, clock, catalog):
    TaoPriceFactory(at=datetime(2026, 11, 19, 11, 0, tzinfo=UTC), usd=Decimal(400))
    calls = [
        canonical_event(
            id=f"t{n}",
            timestamp="2026-11-19T12:00:00Z",
            provider="chutes",
            model="deepseek-ai/DeepSeek-V3",
        )
        for n in range(3)
    ]
    send(team, *calls)

    # 3 calls of $0.00475 at $400 a TAO.
    assert spend(client, reader).json()["totals"]["tao"] == "0.000035625"


def test_it_pages_through_the_groups(client, team, reader, clock):
    send(team, *[event(f"e{day}", f"2026-11-{day:02d}T12:00:00Z") for day in range(1, 6)])

    first = spend(client, reader, group_by="day", page_size=2).json()
    last = spend(client, reader, group_by="day", page_size=2, page=3).json()

    assert (first["pages"], first["row_count"], len(first["rows"])) == (3, 5, 2)
    assert first["next"] == "http://testserver/api/v1/spend?group_by=day&page_size=2&page=2"
    assert [row["day"] for row in last["rows"]] == ["2026-11-05"]
    assert last["next"] is None


def test_it_reads_rollups_never_raw_events(client, team, reader, clock):
    send(team, event("a", "2026-11-03T12:00:00Z"))

    with CaptureQueriesContext(connection) as queries:
        spend(client, reader, group_by="model,day,end_user")

    assert not [q for q in queries if UsageEvent._meta.db_table in q["sql"]]


def test_another_teams_spend_is_not_counted(client, team, reader, clock):
    send(TeamFactory(slug="rival"), event("theirs", "2026-11-03T12:00:00Z"))

    assert spend(client, reader).json()["totals"]["requests"] == 0


@pytest.mark.parametrize(
    ("params", "error", "says"),
    [
        ({"group_by": "model,colour"}, "invalid group_by", "Unknown group 'colour'; use any of"),
        ({"group_by": "model,model"}, "invalid group_by", "Name each group once."),
        ({"start": "2026-13-01"}, "invalid start", "start must be a day as YYYY-MM-DD"),
        ({"start": "2026-11-10", "end": "2026-11-01"}, "invalid end", "is before start"),
        ({"start": "2020-01-01"}, "invalid end", "at most 1098 days"),
        ({"page_size": "5000"}, "invalid page_size", "from 1 to 1000"),
        ({"page": "²"}, "invalid page", "whole number"),
    ],
)
def test_bad_parameters_get_a_400_saying_which(client, team, reader, clock, params, error, says):
    response = spend(client, reader, **params)

    assert response.status_code == 400
    assert response.json()["error"] == error
    assert says in response.json()["detail"]
    assert_matches_openapi(response, URL)


def test_a_post_is_refused(client, team, reader):
    response = client.post(URL, HTTP_AUTHORIZATION=f"Bearer {reader}")

    assert response.status_code == 405


def test_decimal_text_drops_trailing_zeros_only():
    assert decimal_text(Decimal("1.500000000000")) == "1.5"
    assert decimal_text(Decimal("100.000")) == "100"
    assert decimal_text(Decimal("0E-12")) == "0"
    assert decimal_text(Decimal("-0.000")) == "0"
