"""Spend per end user and per API key alias (issue 21, point 5): the top values by cost, the
others summed, the calls sent without one apart, a search, and the card and page that show it."""

import re
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing.attribution import spend_by
from billing.ingest.store import usage_ingest
from billing.models import FxRate, UsageEvent
from dashboard.models import Membership
from tests.factories import canonical_event

NOW = datetime(2026, 11, 26, 17, 0, tzinfo=UTC)
NOVEMBER = {"first_day": date(2026, 11, 1), "last_day": date(2026, 11, 30)}

pytestmark = pytest.mark.usefixtures("frozen_now")


def _ingest(team, *events):
    assert usage_ingest(team, list(events), now=NOW).rejected == []


def _call(number, cost, **fields):
    """A call on Nov 20 (New York), priced as the proxy reports it."""
    return canonical_event(id=f"call-{number}", cost_usd=cost, **fields)


def _calls(team, costs: dict[str, list[str]]):
    """The calls of each end user ("" for none), at those costs."""
    events = []
    for user, user_costs in costs.items():
        events += [_call(f"{user}-{n}", cost, end_user=user) for n, cost in enumerate(user_costs)]
    _ingest(team, *events)


def _url(team, attribute="end_user"):
    return reverse("usage_attribution", kwargs={"team": team.slug, "attribute": attribute})


def _get(client, team, attribute="end_user", **params):
    return client.get(_url(team, attribute), params)


# --- The figures ----------------------------------------------------------------------------


def test_the_top_and_the_others_add_up_exactly_to_the_range_total(team):
    costs = {"ana": ["3.1"], "bob": ["0.7", "0.7"], "cy": ["0.3"], "dee": ["0.01"], "": ["2"]}
    _calls(team, costs)
    spend = spend_by(team, **NOVEMBER, attribute="end_user", limit=2)
    assert [line.value for line in spend.top] == ["ana", "bob"]
    assert (spend.other_values, spend.others.requests) == (2, 2)
    lines = [*spend.top, spend.others, spend.not_sent]
    assert sum(line.cost_usd for line in lines) == spend.total.cost_usd == Decimal("6.81")
    assert sum(line.requests for line in lines) == spend.total.requests == 6


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite keeps NUMERIC as 15-digit floats; exact sums of 12 decimals need PostgreSQL",
)
def test_the_sums_are_exact_to_the_twelfth_decimal(team):
    _calls(team, {"ana": ["0.000000000001"] * 3 + ["987654.1"], "bob": ["0.1"]})
    spend = spend_by(team, **NOVEMBER, attribute="end_user", limit=1)
    assert spend.top[0].cost_usd == Decimal("987654.100000000003")
    assert spend.total.cost_usd == sum(e.cost_usd for e in UsageEvent.objects.all())


def test_calls_without_an_end_user_are_kept_apart_from_the_ranking(team):
    _calls(team, {"ana": ["1"], "": ["5", "5"]})
    spend = spend_by(team, **NOVEMBER, attribute="end_user")
    assert [line.value for line in spend.top] == ["ana"]
    assert (spend.not_sent.requests, spend.not_sent.cost_usd) == (2, Decimal(10))
    assert spend.others is None


def test_ties_rank_by_requests_then_by_name(team):
    _calls(team, {"cy": ["1"], "bo": ["1"], "al": ["0.5", "0.5"]})
    spend = spend_by(team, **NOVEMBER, attribute="end_user")
    assert [line.value for line in spend.top] == ["al", "bo", "cy"]


def test_each_line_has_its_share_of_the_range_cost(team):
    _calls(team, {"ana": ["3"], "": ["1"]})
    spend = spend_by(team, **NOVEMBER, attribute="end_user")
    assert (spend.top[0].share_pct, spend.not_sent.share_pct) == (Decimal(75), Decimal(25))


def test_a_search_finds_a_value_beyond_the_top_whatever_its_case(team):
    _calls(team, {"ana": ["9"], "bob": ["8"], "Zed-9": ["0.1"]})
    spend = spend_by(team, **NOVEMBER, attribute="end_user", search="zED", limit=1)
    assert [line.value for line in spend.top] == ["Zed-9"]
    assert spend.top[0].share_pct == Decimal("0.1") * 100 / Decimal("17.1")
    assert (spend.others, spend.not_sent) == (None, None)


def test_key_aliases_are_ranked_as_end_users_are(team):
    _ingest(
        team,
        _call(1, "1", api_key_alias="web", end_user="ana"),
        _call(2, "2", api_key_alias="batch", end_user="ana"),
        _call(3, "4", end_user="bob"),
    )
    spend = spend_by(team, **NOVEMBER, attribute="api_key_alias")
    assert [(line.value, line.cost_usd) for line in spend.top] == [
        ("batch", Decimal(2)),
        ("web", Decimal(1)),
    ]
    assert spend.not_sent.cost_usd == Decimal(4)


def test_days_are_the_teams_own(team):
    # 03:00 UTC on Nov 1 is still Oct 31 in New York.
    _ingest(
        team,
        _call(1, "1", end_user="october", timestamp="2026-11-01T03:00:00Z"),
        _call(2, "2", end_user="november", timestamp="2026-11-01T05:00:00Z"),
    )
    spend = spend_by(team, **NOVEMBER, attribute="end_user")
    assert [line.value for line in spend.top] == ["november"]


def test_the_filters_narrow_the_calls(team):
    _ingest(
        team,
        _call(1, "1", end_user="ana", task_type="chat"),
        _call(2, "2", end_user="bob", task_type="chat", model="gpt-5"),
        _call(3, "4", end_user="cy", task_type="summarization"),
    )
    spend = spend_by(
        team, **NOVEMBER, attribute="end_user", task_type="chat", model="claude-sonnet-4-5"
    )
    assert [line.value for line in spend.top] == ["ana"]
    assert spend.total.cost_usd == Decimal(1)


def test_a_routing_version_narrows_the_calls_and_zero_means_sent_without_one(team):
    _ingest(
        team,
        _call(1, "1", end_user="ana", route_version=3),
        _call(2, "2", end_user="bob"),
    )
    on_v3 = spend_by(team, **NOVEMBER, attribute="end_user", route_version=3)
    without = spend_by(team, **NOVEMBER, attribute="end_user", route_version=0)
    assert [line.value for line in on_v3.top] == ["ana"]
    assert [line.value for line in without.top] == ["bob"]


def test_errors_and_tokens_are_summed_per_value(team):
    _ingest(
        team,
        _call(1, "1", end_user="ana", status="error", input_tokens=10, output_tokens=5),
        _call(2, "1", end_user="ana", input_tokens=20, output_tokens=1),
    )
    line = spend_by(team, **NOVEMBER, attribute="end_user").top[0]
    assert (line.requests, line.errors, line.tokens) == (2, 1, 36)


def test_it_reads_the_rollups_only_in_two_queries(team):
    _calls(team, {f"user-{n}": ["1"] for n in range(30)})
    with CaptureQueriesContext(connection) as queries:
        spend_by(team, **NOVEMBER, attribute="end_user", search="user")
    assert len(queries) == 2
    assert not [q for q in queries if UsageEvent._meta.db_table in q["sql"]]


def test_other_teams_calls_are_left_out(team, other_team):
    _calls(team, {"ana": ["1"]})
    _ingest(other_team, _call(1, "5", end_user="mallory"))
    assert [line.value for line in spend_by(team, **NOVEMBER, attribute="end_user").top] == ["ana"]


def test_several_teams_are_summed_together(team, other_team):
    _calls(team, {"ana": ["1"]})
    _ingest(other_team, _call(1, "5", end_user="ana"))
    [line] = spend_by([team, other_team], **NOVEMBER, attribute="end_user").top
    assert (line.value, line.requests, line.cost_usd) == ("ana", 2, Decimal(6))


# --- The page and the card ------------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "ops", "finance", "viewer"])
def test_every_member_may_read_it(client, users_by_role, team, role):
    _calls(team, {"ana": ["1"]})
    client.force_login(users_by_role[role])
    response = _get(client, team)
    assert response.status_code == 200
    assert 'data-testid="attribution-value"' in response.content.decode()


def test_outsiders_get_a_404(client, outsider, team):
    client.force_login(outsider)
    assert _get(client, team).status_code == 404


def test_it_shows_this_month_so_far_by_default(client, viewer_user, team):
    _ingest(
        team,
        _call(1, "1", end_user="october", timestamp="2026-10-20T12:00:00Z"),
        _call(2, "1", end_user="november", timestamp="2026-11-20T12:00:00Z"),
    )
    client.force_login(viewer_user)
    page = _get(client, team).content.decode()
    assert "november" in page and "october" not in page
    assert "Nov 1, 2026 \N{EN DASH} Nov 26, 2026" in page


@pytest.mark.parametrize(
    "params",
    [
        {"first": "2026-13-01"},
        {"first": "2026-11-20", "last": "2026-11-10"},
        {"first": "2024-01-01", "last": "2026-11-10"},
        {"limit": "0"},
        {"limit": "x"},
        {"q": "x" * 201},
    ],
    ids=["bad-day", "last-before-first", "too-long", "limit-0", "limit-x", "long-search"],
)
def test_bad_parameters_answer_400_with_the_reason(client, viewer_user, team, params):
    client.force_login(viewer_user)
    response = _get(client, team, **params)
    assert response.status_code == 400
    assert 'data-testid="attribution-error"' in response.content.decode()


def test_an_unknown_attribute_answers_400(client, viewer_user, team):
    client.force_login(viewer_user)
    response = _get(client, team, "<b>model")
    assert response.status_code == 400
    assert "not &#x27;&lt;b&gt;model&#x27;" in response.content.decode()


def test_htmx_gets_the_card_alone(client, viewer_user, team):
    _calls(team, {"ana": ["1"]})
    client.force_login(viewer_user)
    page = client.get(_url(team), HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in page
    assert page.count('data-testid="attribution"') == 1


def test_htmx_gets_the_400_in_the_card(client, viewer_user, team):
    client.force_login(viewer_user)
    response = client.get(_url(team), {"first": "nope"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 400
    assert "<html" not in response.content.decode()


def test_the_select_chooses_the_attribute(client, viewer_user, team):
    _ingest(team, _call(1, "1", end_user="ana", api_key_alias="web"))
    client.force_login(viewer_user)
    page = _get(client, team, attribute="api_key_alias").content.decode()
    assert ">web</a>" in page and ">ana</a>" not in page


def test_a_hostile_value_is_escaped_and_shortened_with_the_whole_in_its_title(
    client, viewer_user, team
):
    hostile = "<script>alert(1)</script>" + "x" * 100
    _calls(team, {hostile: ["1"]})
    client.force_login(viewer_user)
    page = _get(client, team).content.decode()
    assert "<script>alert" not in page
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert f'title="{escaped}{"x" * 100}"' in page
    assert f">{escaped}{'x' * 22}…</a>" in page


def test_a_value_links_to_its_calls_in_the_usage_explorer(client, viewer_user, team):
    _calls(team, {"ana b&c": ["1"]})
    client.force_login(viewer_user)
    page = _get(client, team, first="2026-11-02", last="2026-11-25").content.decode()
    link = re.search(r'<a href="([^"]+)" title="ana b&amp;c"', page)[1]
    assert link == (
        "/t/maven/usage/?range=custom&amp;start=2026-11-02&amp;end=2026-11-25"
        "&amp;end_user=ana%20b%26c"
    )


def test_the_empty_state_says_how_proxies_send_an_end_user(client, viewer_user, team):
    _calls(team, {"": ["1"]})
    client.force_login(viewer_user)
    page = _get(client, team).content.decode()
    assert "No calls in this range carried an end user." in page
    assert "<code>user.id</code>" in page


def test_a_search_without_a_match_says_so(client, viewer_user, team):
    _calls(team, {"ana": ["1"]})
    client.force_login(viewer_user)
    page = _get(client, team, q="<zed>").content.decode()
    assert "No end user in this range contains “&lt;zed&gt;”" in page


def test_costs_show_in_the_readers_currency(client, viewer_user, team):
    FxRate.objects.create(day=date(2026, 11, 26), currency="USD", per_eur=Decimal(2))
    Membership.objects.filter(user=viewer_user).update(display_currency="EUR")
    _calls(team, {"ana": ["3"]})
    client.force_login(viewer_user)
    page = _get(client, team).content.decode()
    assert '<td class="num" data-exact="3"><span class="money" title="$3.00 at' in page
    assert ">€1.50</span>" in page


# --- Where it shows -------------------------------------------------------------------------


def test_the_overview_loads_the_card_for_its_range_and_filters(client, viewer_user, team):
    _calls(team, {"ana": ["1"]})
    client.force_login(viewer_user)
    page = client.get(
        reverse("overview", kwargs={"team": team.slug}),
        {"range": "7d", "provider": "anthropic", "task_type": "summarization"},
    ).content.decode()
    loader = re.search(r'<div id="attribution" hx-get="([^"]+)" hx-trigger="load"', page)[1]
    assert loader == (
        "/t/maven/usage/by/end_user/?first=2026-11-20&amp;last=2026-11-26"
        "&amp;provider=anthropic&amp;task_type=summarization"
    )
    assert f'<a href="{loader}"' in page


def test_the_report_loads_the_card_for_its_month(client, viewer_user, team):
    _calls(team, {"ana": ["1"]})
    client.force_login(viewer_user)
    page = client.get(reverse("report", kwargs={"team": team.slug, "month": "2026-11"}))
    loader = re.search(r'<div id="attribution" hx-get="([^"]+)"', page.content.decode())[1]
    assert loader == "/t/maven/usage/by/end_user/?first=2026-11-01&amp;last=2026-11-30"


def test_a_report_of_several_teams_has_no_card(client, viewer_user, team, other_team):
    Membership.objects.create(user=viewer_user, team=other_team, role="viewer")
    _calls(team, {"ana": ["1"]})
    client.force_login(viewer_user)
    url = reverse("report", kwargs={"team": team.slug, "month": "2026-11"})
    page = client.get(url, {"teams": "all"}).content.decode()
    assert 'id="attribution"' not in page
