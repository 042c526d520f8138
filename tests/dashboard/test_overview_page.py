import csv
import io
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html import unescape

import pytest
import time_machine
from django.urls import reverse

from billing.catalog import load_catalog
from billing.histogram import bucket_middle, bucket_of
from billing.ingest import ingest_events
from dashboard.charts import PROVIDER_COLOURS
from tests.factories import canonical_event

NOW = datetime(2026, 11, 10, 17, 0, tzinfo=UTC)
ROLES = ["admin", "ops", "finance", "viewer"]
LLAMA = {"provider": "chutes", "model": "unsloth/Llama-3.3-70B-Instruct"}


@pytest.fixture(autouse=True)
def frozen_now():
    with time_machine.travel(NOW, tick=False):
        yield


def _usage(team, count=3, **overrides):
    load_catalog()
    events = [
        canonical_event(id=f"e{n}", timestamp=(NOW - timedelta(days=n)).isoformat(), **overrides)
        for n in range(count)
    ]
    ingest_events(team, events, now=NOW)


def _page(client, user, team, query=""):
    client.force_login(user)
    return client.get(reverse("overview", kwargs={"team": team.slug}) + query)


def _csv(client, team, query=""):
    url = reverse("overview_daily_cost_csv", kwargs={"team": team.slug}) + query
    return list(csv.reader(io.StringIO(client.get(url).content.decode())))


def _figure(page: str) -> dict:
    attribute = page.split('data-plotly="', 1)[1].split('"', 1)[0]
    return json.loads(unescape(attribute))


@pytest.mark.parametrize("role", ROLES)
def test_it_shows_the_page_and_csv_to_every_role(client, users_by_role, team, role):
    assert _page(client, users_by_role[role], team).status_code == 200
    url = reverse("overview_daily_cost_csv", kwargs={"team": team.slug})
    assert client.get(url).status_code == 200


def test_it_hides_the_page_and_csv_from_outsiders(client, outsider, team):
    assert _page(client, outsider, team).status_code == 404
    url = reverse("overview_daily_cost_csv", kwargs={"team": team.slug})
    assert client.get(url).status_code == 404


def test_it_keeps_the_no_usage_guidance_without_rollups(client, viewer_user, team):
    page = _page(client, viewer_user, team).content.decode()
    assert "No usage yet" in page
    assert "data-plotly" not in page
    assert "—" in page


def test_it_draws_exactly_the_csv_rows(client, viewer_user, team):
    _usage(team)
    ingest_events(team, [canonical_event(id="l", timestamp=NOW.isoformat(), **LLAMA)], now=NOW)
    figure = _figure(_page(client, viewer_user, team).content.decode())
    drawn = sorted(
        (day, trace["name"], Decimal(str(usd)))
        for trace in figure["data"]
        for day, usd in zip(trace["x"], trace["y"], strict=True)
    )
    rows = _csv(client, team)
    assert rows[0] == ["day", "provider", "cost_usd"]
    assert drawn == sorted((day, provider, Decimal(usd)) for day, provider, usd in rows[1:])
    assert len(rows) == 5


def test_it_stacks_cost_by_provider_in_provider_colours(client, viewer_user, team):
    _usage(team, count=1)
    figure = _figure(_page(client, viewer_user, team).content.decode())
    assert figure["layout"]["barmode"] == "stack"
    assert figure["layout"]["yaxis"]["title"]["text"] == "Cost (USD)"
    assert figure["data"][0]["marker"]["color"] == PROVIDER_COLOURS["anthropic"]
    assert "$%{y" in figure["data"][0]["hovertemplate"]


def test_it_keeps_the_range_in_the_url(client, viewer_user, team):
    _usage(team, count=1)
    page = _page(client, viewer_user, team, "?days=7").content.decode()
    assert 'href="?days=7" aria-current="page"' in page
    assert "daily-cost.csv?days=7" in page


def test_it_falls_back_to_thirty_days_for_a_range_it_does_not_offer(client, viewer_user, team):
    page = _page(client, viewer_user, team, "?days=abc").content.decode()
    assert 'href="?days=30" aria-current="page"' in page


def test_it_shows_an_empty_chart_when_the_range_has_no_usage(client, viewer_user, team):
    load_catalog()
    old = canonical_event(id="old", timestamp=(NOW - timedelta(days=40)).isoformat())
    ingest_events(team, [old], now=NOW)
    page = _page(client, viewer_user, team, "?days=7").content.decode()
    assert "No usage in the last 7 days" in page
    assert "No usage yet" not in page
    assert _csv(client, team, "?days=7") == [["day", "provider", "cost_usd"]]


def test_it_shows_the_kpis_with_units(client, viewer_user, team):
    _usage(team, count=2)
    page = _page(client, viewer_user, team).content.decode()
    # Two Sonnet calls of 5000/2000 tokens: $0.045 each.
    assert "$0.09" in page
    assert " ms</dd>" in page
    assert "0.00%" in page


def test_it_reads_a_fixed_number_of_queries_whatever_the_usage(
    client, viewer_user, team, django_assert_max_num_queries
):
    _usage(team, count=60)
    client.force_login(viewer_user)
    url = reverse("overview", kwargs={"team": team.slug})
    with django_assert_max_num_queries(15):
        client.get(url)
    with django_assert_max_num_queries(7):
        client.get(reverse("overview_daily_cost_csv", kwargs={"team": team.slug}))


def _figures(page: str) -> list[dict]:
    attributes = [part.split('"', 1)[0] for part in page.split('data-plotly="')[1:]]
    return [json.loads(unescape(attribute)) for attribute in attributes]


def _drawn(figure: dict) -> list[tuple]:
    return sorted(
        (day, trace["name"], Decimal(str(y)), *extras)
        for trace in figure["data"]
        for day, y, extras in zip(trace["x"], trace["y"], trace["customdata"], strict=True)
    )


def _named_csv(client, team, name, query=""):
    url = reverse(name, kwargs={"team": team.slug}) + query
    return list(csv.reader(io.StringIO(client.get(url).content.decode())))


def _mixed_usage(team):
    _usage(team)
    llama = [
        canonical_event(id=f"l{n}", timestamp=NOW.isoformat(), latency_ms=400, **LLAMA)
        for n in range(3)
    ]
    failed = canonical_event(id="lx", timestamp=NOW.isoformat(), status="error", **LLAMA)
    ingest_events(team, [*llama, failed], now=NOW)


def test_it_draws_exactly_the_latency_csv_rows(client, viewer_user, team):
    _mixed_usage(team)
    latency = _figures(_page(client, viewer_user, team).content.decode())[1]
    rows = _named_csv(client, team, "overview_latency_csv")
    assert rows[0] == ["day", "provider", "p95_ms"]
    assert _drawn(latency) == sorted((d, p, Decimal(ms)) for d, p, ms in rows[1:])
    assert len(rows) == 5
    # Llama on the 10th: three calls at 400 ms and one at 1800 ms; p95 lands on the slow one.
    assert ["2026-11-10", "chutes", str(round(bucket_middle(bucket_of(1800)), 1))] in rows


def test_it_draws_exactly_the_error_rate_csv_rows(client, viewer_user, team):
    _mixed_usage(team)
    errors = _figures(_page(client, viewer_user, team).content.decode())[2]
    rows = _named_csv(client, team, "overview_errors_csv")
    assert rows[0] == ["day", "provider", "requests", "errors", "error_rate_pct"]
    drawn = [(d, p, pct, int(n), int(e)) for d, p, pct, n, e in _drawn(errors)]
    assert drawn == sorted((d, p, Decimal(pct), int(n), int(e)) for d, p, n, e, pct in rows[1:])
    assert ["2026-11-10", "chutes", "4", "1", "25.00"] in rows
    assert len(rows) == 5


def test_it_draws_latency_and_errors_as_lines_in_provider_colours(client, viewer_user, team):
    _usage(team, count=1)
    page = _page(client, viewer_user, team).content.decode()
    assert "Latency p95 by provider" in page and "(ms, last 30 days)" in page
    assert "Error rate by provider" in page and "(%, last 30 days)" in page
    _, latency, errors = _figures(page)
    assert latency["data"][0]["line"]["color"] == PROVIDER_COLOURS["anthropic"]
    assert errors["data"][0]["line"]["color"] == PROVIDER_COLOURS["anthropic"]
    assert " ms" in latency["data"][0]["hovertemplate"]
    assert "requests" in errors["data"][0]["hovertemplate"]
    assert "latency-p95.csv?days=30" in page and "error-rate.csv?days=30" in page


def test_it_shows_empty_latency_and_error_cards_when_the_range_has_no_usage(
    client, viewer_user, team
):
    load_catalog()
    old = canonical_event(id="old", timestamp=(NOW - timedelta(days=40)).isoformat())
    ingest_events(team, [old], now=NOW)
    page = _page(client, viewer_user, team, "?days=7").content.decode()
    assert "No timings in the last 7 days" in page
    assert page.count("No usage in the last 7 days") == 2
    assert _named_csv(client, team, "overview_latency_csv", "?days=7") == [
        ["day", "provider", "p95_ms"]
    ]


@pytest.mark.parametrize("name", ["overview_latency_csv", "overview_errors_csv"])
def test_it_hides_the_new_csvs_from_outsiders(client, outsider, team, name):
    client.force_login(outsider)
    assert client.get(reverse(name, kwargs={"team": team.slug})).status_code == 404


@pytest.mark.parametrize("name", ["overview_latency_csv", "overview_errors_csv"])
def test_it_reads_the_new_csvs_in_fixed_queries(
    client, viewer_user, team, name, django_assert_max_num_queries
):
    _usage(team, count=60)
    client.force_login(viewer_user)
    with django_assert_max_num_queries(7):
        client.get(reverse(name, kwargs={"team": team.slug}))
