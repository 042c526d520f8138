import csv
import io
import re
from datetime import timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse

from billing.ingest.store import usage_ingest
from billing.models import UsageEvent
from dashboard.models import Role
from tests.conftest import NOW
from tests.factories import MembershipFactory, TaoPriceFactory, canonical_event

ROLES = ["admin", "ops", "finance", "viewer"]


@pytest.fixture(autouse=True)
def _frozen(frozen_now):
    """The default range is the last 7 days: every test runs on 2026-11-26 12:00 UTC."""


def _ingest(team, *events):
    result = usage_ingest(team, list(events), now=NOW)
    assert result.accepted == len(events), result.rejected


def _url(team, **params):
    return reverse("usage", kwargs={"team": team.slug}), params


def _page(client, team, **params):
    url, params = _url(team, **params)
    response = client.get(url, params)
    assert response.status_code == 200
    return response.content.decode()


def _event_url(team, event):
    return reverse("usage_event", kwargs={"team": team.slug, "event_pk": event.pk})


def _shown_ids(page: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'<tr data-event="(\d+)"', page)]


def _ids_of(team, *event_ids) -> set[int]:
    return set(
        UsageEvent.objects.filter(team=team, event_id__in=event_ids).values_list("pk", flat=True)
    )


@pytest.mark.parametrize("role", ROLES)
def test_it_opens_for_every_role(client, users_by_role, team, role):
    client.force_login(users_by_role[role])
    assert client.get(reverse("usage", kwargs={"team": team.slug})).status_code == 200


def test_it_hides_the_page_from_outsiders(client, outsider, team):
    client.force_login(outsider)
    assert client.get(reverse("usage", kwargs={"team": team.slug})).status_code == 404


def test_it_answers_404_for_an_unknown_team(client, admin_user):
    client.force_login(admin_user)
    assert client.get(reverse("usage", kwargs={"team": "no-such-team"})).status_code == 404


def test_it_hides_an_event_from_outsiders(client, catalog, outsider, team):
    _ingest(team, canonical_event())
    client.force_login(outsider)
    assert client.get(_event_url(team, UsageEvent.objects.get())).status_code == 404


def test_it_refuses_another_teams_event_through_this_teams_url(
    client, catalog, outsider, team, other_team
):
    _ingest(other_team, canonical_event())
    MembershipFactory(team=team, user=outsider, role=Role.ADMIN)
    client.force_login(outsider)
    assert client.get(_event_url(team, UsageEvent.objects.get())).status_code == 404


def test_it_lists_the_teams_events_newest_first(client, catalog, viewer_user, team, other_team):
    _ingest(
        team,
        canonical_event(id="old", timestamp="2026-11-20T10:00:00Z"),
        canonical_event(id="new", timestamp="2026-11-25T10:00:00Z"),
    )
    _ingest(other_team, canonical_event(id="theirs"))
    client.force_login(viewer_user)
    page = _page(client, team)
    [new] = _ids_of(team, "new")
    [old] = _ids_of(team, "old")
    assert _shown_ids(page) == [new, old]


def test_it_shows_times_in_the_teams_time_zone(client, catalog, viewer_user, team):
    _ingest(team, canonical_event(timestamp="2026-11-20T03:00:00Z"))
    client.force_login(viewer_user)
    assert "2026-11-19 22:00:00 EST" in _page(client, team)


def test_it_filters_by_provider(client, catalog, viewer_user, team):
    _ingest(
        team,
        canonical_event(id="claude"),
        canonical_event(id="gpt", provider="openai", model="gpt-5.2"),
    )
    client.force_login(viewer_user)
    assert set(_shown_ids(_page(client, team, provider="openai"))) == _ids_of(team, "gpt")


def test_it_filters_by_model(client, catalog, viewer_user, team):
    _ingest(
        team,
        canonical_event(id="claude"),
        canonical_event(id="gpt", provider="openai", model="gpt-5.2"),
    )
    client.force_login(viewer_user)
    page = _page(client, team, model="claude-sonnet-4-5")
    assert set(_shown_ids(page)) == _ids_of(team, "claude")


def test_it_filters_by_task_type(client, catalog, viewer_user, team):
    _ingest(team, canonical_event(id="sum"), canonical_event(id="chat", task_type="chat"))
    client.force_login(viewer_user)
    assert set(_shown_ids(_page(client, team, task_type="chat"))) == _ids_of(team, "chat")


def test_it_filters_by_status(client, catalog, viewer_user, team):
    _ingest(
        team,
        canonical_event(id="ok"),
        canonical_event(id="failed", status="error", error_type="RateLimitError"),
    )
    client.force_login(viewer_user)
    page = _page(client, team, status="error")
    assert set(_shown_ids(page)) == _ids_of(team, "failed")
    assert "RateLimitError" in page


def test_it_shows_the_route_version_of_each_call(client, catalog, viewer_user, team):
    _ingest(team, canonical_event(id="routed", route_version=7), canonical_event(id="unrouted"))
    client.force_login(viewer_user)
    page = _page(client, team)
    cells = re.findall(r'data-testid="route-version">(.*?)</td>', page)
    assert sorted(cells) == ['<span class="muted">—</span>', "v7"]


def test_it_filters_by_route_version(client, catalog, viewer_user, team):
    _ingest(
        team,
        canonical_event(id="v7", route_version=7),
        canonical_event(id="v8", route_version=8),
        canonical_event(id="none"),
    )
    client.force_login(viewer_user)
    page = _page(client, team, route_version="8")
    assert set(_shown_ids(page)) == _ids_of(team, "v8")


def test_it_filters_unpriced_events(client, catalog, viewer_user, team):
    _ingest(team, canonical_event(id="priced"), canonical_event(id="odd", model="mystery-model"))
    client.force_login(viewer_user)
    assert set(_shown_ids(_page(client, team, unpriced="on"))) == _ids_of(team, "odd")


def test_it_filters_cost_disagreements(client, catalog, viewer_user, team):
    _ingest(
        team,
        canonical_event(id="agrees", cost_usd=0.045),
        canonical_event(id="disagrees", cost_usd=0.09),
    )
    client.force_login(viewer_user)
    page = _page(client, team, disagreement="on")
    assert set(_shown_ids(page)) == _ids_of(team, "disagrees")
    assert "disagreement</span>" in page


def test_it_shows_the_last_7_days_by_default(client, catalog, viewer_user, team):
    _ingest(
        team,
        canonical_event(id="recent", timestamp="2026-11-20T10:00:00Z"),
        canonical_event(id="stale", timestamp="2026-11-10T10:00:00Z"),
    )
    client.force_login(viewer_user)
    assert set(_shown_ids(_page(client, team))) == _ids_of(team, "recent")


def test_it_narrows_to_the_last_24_hours(client, catalog, viewer_user, team):
    _ingest(
        team,
        canonical_event(id="today", timestamp="2026-11-26T01:00:00Z"),
        canonical_event(id="yesterday", timestamp="2026-11-25T11:00:00Z"),
    )
    client.force_login(viewer_user)
    assert set(_shown_ids(_page(client, team, range="24h"))) == _ids_of(team, "today")


def test_it_reads_custom_days_in_the_teams_time_zone(client, catalog, viewer_user, team):
    # 03:00 UTC on Nov 20 is 22:00 on Nov 19 in New York.
    _ingest(team, canonical_event(id="late", timestamp="2026-11-20T03:00:00Z"))
    client.force_login(viewer_user)
    on_19th = _page(client, team, range="custom", start="2026-11-19", end="2026-11-19")
    on_20th = _page(client, team, range="custom", start="2026-11-20", end="2026-11-20")
    assert set(_shown_ids(on_19th)) == _ids_of(team, "late")
    assert _shown_ids(on_20th) == []


def test_it_takes_dates_as_a_custom_range_without_javascript(client, catalog, viewer_user, team):
    _ingest(team, canonical_event(id="old", timestamp="2026-09-01T12:00:00Z"))
    client.force_login(viewer_user)
    page = _page(client, team, range="7d", start="2026-09-01")
    assert set(_shown_ids(page)) == _ids_of(team, "old")


def test_it_answers_htmx_with_the_results_alone(client, catalog, viewer_user, team):
    _ingest(team, canonical_event())
    client.force_login(viewer_user)
    url, params = _url(team, provider="anthropic")
    page = client.get(url, params, HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in page
    assert 'data-testid="usage-filters"' not in page
    assert 'data-testid="usage-table"' in page


def test_it_answers_a_history_restore_with_the_whole_page(client, catalog, viewer_user, team):
    client.force_login(viewer_user)
    url, _ = _url(team)
    headers = {"HTTP_HX_REQUEST": "true", "HTTP_HX_HISTORY_RESTORE_REQUEST": "true"}
    assert "<html" in client.get(url, **headers).content.decode()


def _ingest_many(team, count):
    start = NOW - timedelta(days=2)
    # Three events share each second, so the cursor must break ties by id.
    _ingest(
        team,
        *(
            canonical_event(id=f"e{n}", timestamp=(start + timedelta(seconds=n // 3)).isoformat())
            for n in range(count)
        ),
    )


def _link(page: str, rel: str) -> str | None:
    """The Older (rel=next) or Newer (rel=prev) link of a page, if it has one."""
    match = re.search(rf'<a href="([^"]+)"[^>]*rel="{rel}"', page)
    return match and match[1].replace("&amp;", "&")


def test_it_walks_every_event_exactly_once_across_pages(client, catalog, viewer_user, team):
    _ingest_many(team, 120)
    client.force_login(viewer_user)
    url, _ = _url(team)
    seen, pages = [], 0
    while url:
        page = client.get(url).content.decode()
        seen += _shown_ids(page)
        pages += 1
        url = _link(page, "next")
    newest_first = UsageEvent.objects.order_by("-occurred_at", "-pk").values_list("pk", flat=True)
    assert pages == 3
    assert seen == list(newest_first)


def test_it_walks_back_to_the_newest_with_newer_links(client, catalog, viewer_user, team):
    _ingest_many(team, 120)
    client.force_login(viewer_user)
    first = _page(client, team)
    second = client.get(_link(first, "next")).content.decode()
    back = client.get(_link(second, "prev")).content.decode()
    assert _shown_ids(back) == _shown_ids(first)
    assert _link(back, "prev") is None


def test_it_keeps_the_filters_in_the_page_links(client, catalog, viewer_user, team):
    _ingest(team, *(canonical_event(id=f"e{n}", status="error") for n in range(51)))
    client.force_login(viewer_user)
    older = _link(_page(client, team, status="error"), "next")
    assert "status=error" in older
    assert "before=" in older


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"provider": "nonesuch"}, "Select a valid choice"),
        ({"start": "2026-11-20", "end": "2026-11-19"}, "The last day is before the first day"),
        ({"start": "not-a-date"}, "Enter a valid date"),
        ({"start": "0001-01-01"}, "Pick a day from 2000-01-01 to 2999-12-31"),
        ({"range": "forever"}, "Select a valid choice"),
        ({"range": "custom"}, "Choose a first or a last day"),
        ({"before": "garbage"}, "This page link is broken"),
        ({"before": "1_99999999999999999999"}, "This page link is broken"),
        ({"route_version": "seven"}, "Enter a routing version number"),
        ({"route_version": "0"}, "Enter a routing version number"),
        ({"route_version": str(2**31)}, "Enter a routing version number"),
        ({"sort": "price"}, "Select a valid choice"),
        ({"sort": "cost_desc", "before": "cheap_1"}, "This page link is broken"),
        ({"sort": "latency_asc", "after": "9999999999_1"}, "This page link is broken"),
        ({"sort": "newest", "before": "null_1"}, "This page link is broken"),
        ({"request_id": "x" * 256}, "A request id has at most 255 characters"),
    ],
)
def test_it_refuses_bad_filters_with_a_message(client, catalog, viewer_user, team, params, message):
    _ingest(team, canonical_event())
    client.force_login(viewer_user)
    url, params = _url(team, **params)
    response = client.get(url, params)
    assert response.status_code == 400
    assert message in response.content.decode()


def test_it_shows_filter_errors_to_htmx_in_the_fragment(client, catalog, viewer_user, team):
    client.force_login(viewer_user)
    url, params = _url(team, provider="nonesuch")
    response = client.get(url, params, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()


def test_it_shows_an_unpriced_event_as_unpriced_not_zero(client, catalog, viewer_user, team):
    _ingest(team, canonical_event(model="mystery-model"))
    client.force_login(viewer_user)
    page = _page(client, team)
    assert ">unpriced</span>" in page
    assert "$0" not in page


def test_it_shows_tiny_costs_with_enough_decimals(client, catalog, viewer_user, team):
    # 300 input and 200 output tokens of gpt-5-mini at $0.25 / $2.00 per million tokens.
    _ingest(
        team,
        canonical_event(provider="openai", model="gpt-5-mini", input_tokens=300, output_tokens=200),
    )
    client.force_login(viewer_user)
    assert "$0.000475" in _page(client, team)


def test_it_shows_where_the_cost_comes_from(client, catalog, viewer_user, team):
    _ingest(team, canonical_event(id="r", cost_usd=0.045), canonical_event(id="c"))
    client.force_login(viewer_user)
    page = _page(client, team)
    assert ">reported</span>" in page
    assert ">catalog</span>" in page


def test_it_flags_a_tao_billed_call_without_a_tao_price(client, catalog, viewer_user, team):
    _ingest(team, canonical_event(provider="chutes", model="deepseek-ai/DeepSeek-V3"))
    client.force_login(viewer_user)
    assert ">TAO missing</span>" in _page(client, team)


def test_it_marks_demo_events_and_shows_the_banner(client, catalog, viewer_user, team):
    _ingest(team, canonical_event(id="demo", metadata={"demo": True}), canonical_event(id="real"))
    client.force_login(viewer_user)
    page = _page(client, team)
    assert "Demo data: generated by seed_demo, not real traffic" in page
    assert page.count('<span class="badge demo">demo</span>') == 1


def test_it_shows_no_demo_banner_for_real_traffic(client, catalog, viewer_user, team):
    _ingest(team, canonical_event(metadata={"demo": False}))
    client.force_login(viewer_user)
    assert "Demo data" not in _page(client, team)


def test_it_explains_how_to_send_usage_when_there_is_none(client, admin_user, team):
    client.force_login(admin_user)
    page = _page(client, team)
    assert "No usage yet" in page
    assert "/api/v1/usage" in page
    assert reverse("tokens", kwargs={"team": team.slug}) in page


def test_it_sends_non_admins_to_an_admin_for_a_token(client, viewer_user, team):
    client.force_login(viewer_user)
    page = _page(client, team)
    assert "Ask an admin" in page
    assert f'href="{reverse("tokens", kwargs={"team": team.slug})}"' not in page


def test_it_says_when_the_filters_match_nothing(client, catalog, viewer_user, team):
    _ingest(team, canonical_event())
    client.force_login(viewer_user)
    page = _page(client, team, status="error")
    assert "No calls match these filters" in page
    assert "No usage yet" not in page


def test_it_offers_only_the_teams_own_providers_and_models(
    client, catalog, viewer_user, team, other_team
):
    _ingest(team, canonical_event())
    _ingest(other_team, canonical_event(provider="openai", model="gpt-5.2"))
    client.force_login(viewer_user)
    page = _page(client, team)
    assert '<option value="claude-sonnet-4-5">' in page
    assert "gpt-5.2" not in page


def test_it_links_each_row_to_its_detail(client, catalog, viewer_user, team):
    _ingest(team, canonical_event())
    client.force_login(viewer_user)
    url = _event_url(team, UsageEvent.objects.get())
    page = _page(client, team)
    assert f'href="{url}" hx-get="{url}"' in page


def test_the_detail_shows_both_costs_and_the_price_used(client, catalog, viewer_user, team):
    _ingest(team, canonical_event(cost_usd=0.09))
    event = UsageEvent.objects.get()
    client.force_login(viewer_user)
    page = client.get(_event_url(team, event)).content.decode()
    assert "$0.09" in page
    assert "$0.045" in page
    assert "Reported by the proxy" in page
    assert event.price.source in page
    assert reverse("catalog_model_prices", kwargs={"model_id": event.model_id}) in page


def test_the_detail_shows_the_tao_rate_used(client, catalog, viewer_user, team):
    TaoPriceFactory(at=NOW - timedelta(days=6, minutes=5), usd=Decimal("400"))
    timestamp = (NOW - timedelta(days=6)).isoformat()
    _ingest(
        team,
        canonical_event(provider="chutes", model="deepseek-ai/DeepSeek-V3", timestamp=timestamp),
    )
    client.force_login(viewer_user)
    page = client.get(_event_url(team, UsageEvent.objects.get())).content.decode()
    assert "$400.00 per TAO" in page


def test_the_detail_explains_a_missing_tao_amount(client, catalog, viewer_user, team):
    _ingest(team, canonical_event(provider="chutes", model="deepseek-ai/DeepSeek-V3"))
    client.force_login(viewer_user)
    page = client.get(_event_url(team, UsageEvent.objects.get())).content.decode()
    assert "No TAO price was recorded" in page


def test_the_detail_links_to_the_calls_of_its_route_version(client, catalog, viewer_user, team):
    _ingest(team, canonical_event(route_version=7))
    client.force_login(viewer_user)
    page = client.get(_event_url(team, UsageEvent.objects.get())).content.decode()
    assert "v7 <a" in page
    assert "/t/maven/usage/?range=30d&amp;route_version=7" in page


def test_the_detail_shows_the_metadata_as_json(client, catalog, viewer_user, team):
    _ingest(team, canonical_event(metadata={"user": "alice"}))
    client.force_login(viewer_user)
    page = client.get(_event_url(team, UsageEvent.objects.get())).content.decode()
    assert "&quot;user&quot;: &quot;alice&quot;" in page


def test_the_detail_answers_htmx_with_the_fragment_alone(client, catalog, viewer_user, team):
    _ingest(team, canonical_event())
    client.force_login(viewer_user)
    url = _event_url(team, UsageEvent.objects.get())
    page = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in page
    assert 'data-testid="usage-event"' in page


@pytest.mark.parametrize("events", [3, 30])
def test_the_page_reads_a_fixed_number_of_queries(
    client, catalog, viewer_user, team, django_assert_num_queries, events
):
    _ingest(
        team,
        *(
            canonical_event(id=f"e{n}", model="mystery" if n % 3 else "claude-sonnet-4-5")
            for n in range(events)
        ),
    )
    client.force_login(viewer_user)
    url, _ = _url(team)
    # Session, user, membership, choices, the totals, one page of events, the months whose raw
    # calls retention removed, the switcher's teams, catalog rights, and the session saved (with
    # its savepoint) for the team it now remembers.
    with django_assert_num_queries(11):
        assert client.get(url).status_code == 200


def _csv(client, team, **params):
    response = client.get(reverse("usage_csv", kwargs={"team": team.slug}), params)
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="maven-usage-')
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_the_csv_has_each_matching_call_with_its_route_version(client, catalog, viewer_user, team):
    _ingest(
        team,
        canonical_event(id="v7", route_version=7, timestamp="2026-11-25T10:00:00Z"),
        canonical_event(id="v8", route_version=8, timestamp="2026-11-25T11:00:00Z"),
        canonical_event(id="none", timestamp="2026-11-25T12:00:00Z"),
    )
    client.force_login(viewer_user)
    header, *rows = _csv(client, team)
    columns = {name: header.index(name) for name in ("event_id", "route_version", "occurred_at")}
    assert [(row[columns["event_id"]], row[columns["route_version"]]) for row in rows] == [
        ("v7", "7"),
        ("v8", "8"),
        ("none", ""),
    ]
    assert rows[0][columns["occurred_at"]] == "2026-11-25T10:00:00+00:00"
    assert [row[0] for row in _csv(client, team, route_version="8")[1:]] == ["v8"]


def test_the_csv_makes_text_from_the_proxy_safe_for_spreadsheets(
    client, catalog, viewer_user, team
):
    _ingest(team, canonical_event(task_type="=HYPERLINK(1)"))
    client.force_login(viewer_user)
    header, row = _csv(client, team)
    assert row[header.index("task_type")] == "'=HYPERLINK(1)"


def test_the_csv_refuses_bad_filters_as_the_explorer_does(client, catalog, viewer_user, team):
    client.force_login(viewer_user)
    response = client.get(reverse("usage_csv", kwargs={"team": team.slug}), {"route_version": "x"})
    assert response.status_code == 400
    assert "Enter a routing version number" in response.content.decode()


def test_the_csv_is_hidden_from_outsiders(client, catalog, outsider, team):
    client.force_login(outsider)
    assert client.get(reverse("usage_csv", kwargs={"team": team.slug})).status_code == 404


def test_it_totals_every_matching_call_not_only_the_page(client, catalog, viewer_user, team):
    _ingest(team, *(canonical_event(id=f"e{n}", cost_usd=0.01) for n in range(60)))
    _ingest(team, canonical_event(id="other", provider="openai", model="gpt-5.2", cost_usd=5))
    client.force_login(viewer_user)
    page = _page(client, team, provider="anthropic")
    assert len(_shown_ids(page)) == 50
    assert "<strong>60 calls</strong> · <strong>$0.600000</strong>" in page


def test_it_totals_tao_when_calls_have_a_tao_amount(client, catalog, viewer_user, team):
    TaoPriceFactory(at=NOW - timedelta(days=6, minutes=5), usd=Decimal("400"))
    timestamp = (NOW - timedelta(days=6)).isoformat()
    chutes = {"provider": "chutes", "model": "deepseek-ai/DeepSeek-V3", "timestamp": timestamp}
    _ingest(team, canonical_event(id="a", **chutes), canonical_event(id="b", **chutes))
    client.force_login(viewer_user)
    tao = sum(UsageEvent.objects.values_list("tao_amount", flat=True))
    assert f"<strong>{tao:.8f}</strong> TAO" in _page(client, team)


def test_it_says_unpriced_calls_are_not_in_the_total(client, catalog, viewer_user, team):
    _ingest(team, canonical_event(id="odd", model="mystery-model"), canonical_event(id="ok"))
    client.force_login(viewer_user)
    page = _page(client, team)
    assert "<strong>2 calls</strong>" in page
    assert "1 unpriced, not in the total" in page


def test_it_shows_every_cost_with_six_decimals(client, catalog, viewer_user, team):
    _ingest(team, canonical_event(id="a", cost_usd=0.045), canonical_event(id="b", cost_usd=1.5))
    client.force_login(viewer_user)
    page = _page(client, team)
    assert "Cost (USD, 6 decimals)" in page
    assert "$0.045000<br>" in page
    assert "$1.500000<br>" in page
    assert "<strong>$1.545000</strong>" in page


def _ingest_sortable(team):
    """120 calls: costs and latencies in ties, a third unpriced, a quarter without a latency."""
    start = NOW - timedelta(days=2)
    events = []
    for n in range(120):
        overrides = {"model": "mystery-model"} if n % 3 == 0 else {"cost_usd": (n % 2 + 1) / 100}
        events.append(
            canonical_event(
                id=f"e{n}",
                timestamp=(start + timedelta(seconds=n // 3)).isoformat(),
                latency_ms=None if n % 4 == 0 else 100 * (n % 3 + 1),
                **overrides,
            )
        )
    _ingest(team, *events)


def _in_order(team, field, descending) -> list[int]:
    """The team's event ids sorted by `field`, ties by id the same way, calls without it last."""
    events = list(UsageEvent.objects.filter(team=team))
    present = [event for event in events if getattr(event, field) is not None]
    missing = [event for event in events if getattr(event, field) is None]
    present.sort(key=lambda event: (getattr(event, field), event.pk), reverse=descending)
    missing.sort(key=lambda event: event.pk, reverse=descending)
    return [event.pk for event in present + missing]


SORTS = [
    ("newest", "occurred_at", True),
    ("oldest", "occurred_at", False),
    ("cost_desc", "cost_usd", True),
    ("cost_asc", "cost_usd", False),
    ("latency_desc", "latency_ms", True),
    ("latency_asc", "latency_ms", False),
]


@pytest.mark.parametrize(("sort", "field", "descending"), SORTS)
def test_each_sort_walks_every_event_once_down_the_pages(
    client, catalog, viewer_user, team, sort, field, descending
):
    _ingest_sortable(team)
    client.force_login(viewer_user)
    url, seen = f"{_url(team)[0]}?sort={sort}", []
    while url:
        page = client.get(url).content.decode()
        seen += _shown_ids(page)
        url = _link(page, "next")
    assert seen == _in_order(team, field, descending)


@pytest.mark.parametrize(("sort", "field", "descending"), SORTS)
def test_each_sort_walks_back_up_the_pages(
    client, catalog, viewer_user, team, sort, field, descending
):
    _ingest_sortable(team)
    client.force_login(viewer_user)
    first = _page(client, team, sort=sort)
    last = client.get(_link(client.get(_link(first, "next")).content.decode(), "next"))
    middle = client.get(_link(last.content.decode(), "prev")).content.decode()
    top = client.get(_link(middle, "prev")).content.decode()
    assert _shown_ids(middle) == _in_order(team, field, descending)[50:100]
    assert _shown_ids(top) == _shown_ids(first)
    assert _link(top, "prev") is None


def test_it_names_the_page_links_for_the_sort(client, catalog, viewer_user, team):
    _ingest_sortable(team)
    client.force_login(viewer_user)
    assert "Older →</a>" in _page(client, team)
    assert "Next →</a>" in _page(client, team, sort="cost_desc")


def test_it_keeps_the_sort_in_the_page_links(client, catalog, viewer_user, team):
    _ingest_sortable(team)
    client.force_login(viewer_user)
    assert "sort=latency_asc" in _link(_page(client, team, sort="latency_asc"), "next")


def test_it_shows_the_sort_in_use_beside_the_totals(client, catalog, viewer_user, team):
    _ingest(team, canonical_event())
    client.force_login(viewer_user)
    page = _page(client, team, sort="latency_desc")
    assert '<option value="latency_desc" selected>Slowest first</option>' in page
    assert '<span class="muted">· slowest first</span>' in page


def test_it_finds_a_call_by_its_exact_request_id(client, catalog, viewer_user, team):
    _ingest(team, canonical_event(id="req-abc"), canonical_event(id="req-xyz"))
    client.force_login(viewer_user)
    assert set(_shown_ids(_page(client, team, request_id="req-abc"))) == _ids_of(team, "req-abc")


def test_it_finds_calls_by_the_beginning_of_their_request_id(client, catalog, viewer_user, team):
    _ingest(team, canonical_event(id="chatcmpl-1a"), canonical_event(id="chatcmpl-1b"))
    _ingest(team, canonical_event(id="x-chatcmpl-1"))
    client.force_login(viewer_user)
    page = _page(client, team, request_id="chatcmpl-1")
    assert set(_shown_ids(page)) == _ids_of(team, "chatcmpl-1a", "chatcmpl-1b")


def test_it_keeps_a_request_id_it_refuses_in_the_box(client, catalog, viewer_user, team):
    client.force_login(viewer_user)
    url, params = _url(team, request_id="<b>" + "x" * 300)
    page = client.get(url, params).content.decode()
    assert "A request id has at most 255 characters." in page
    assert 'value="&lt;b&gt;xxx' in page


def test_the_csv_follows_the_sort_it_is_given(client, catalog, viewer_user, team):
    _ingest(
        team,
        canonical_event(id="cheap", cost_usd=0.01),
        canonical_event(id="dear", cost_usd=0.5),
        canonical_event(id="odd", model="mystery-model"),
    )
    client.force_login(viewer_user)
    assert [row[0] for row in _csv(client, team, sort="cost_desc")[1:]] == ["dear", "cheap", "odd"]


def test_the_csv_finds_calls_by_request_id(client, catalog, viewer_user, team):
    _ingest(team, canonical_event(id="req-1"), canonical_event(id="other"))
    client.force_login(viewer_user)
    assert [row[0] for row in _csv(client, team, request_id="req")[1:]] == ["req-1"]


def test_the_csv_link_keeps_the_filters_and_the_sort(client, catalog, viewer_user, team):
    _ingest(team, canonical_event(id="req-1"))
    client.force_login(viewer_user)
    page = _page(client, team, request_id="req", status="success")
    link = re.search(r'<a href="([^"]+)" download data-testid="usage-csv"', page)[1]
    query = parse_qs(urlsplit(link.replace("&amp;", "&")).query)
    assert query == {"request_id": ["req"], "status": ["success"], "sort": ["newest"]}
