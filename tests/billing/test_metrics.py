import ipaddress
import json
import re
import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from unittest import mock

import pytest
from django.db import DatabaseError, connection, connections
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext
from prometheus_client.parser import text_string_to_metric_families

from billing.budgets import CURRENT, budget_lines
from billing.ingest import tally
from billing.ingest.store import usage_ingest
from billing.models import (
    Alert,
    AlertAcknowledgement,
    AlertKind,
    AlertState,
    FxRate,
    IngestTally,
    UsageDailyRollup,
    UsageEvent,
)
from dashboard.tokens import token_create
from routing.fleet import heartbeat_record, heartbeat_values
from routing.models import Provider
from tests.factories import (
    AlertRuleFactory,
    BudgetFactory,
    TaoPriceFactory,
    TeamFactory,
    canonical_event,
)

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
URL = "/metrics"
PROMETHEUS_HOST = "10.1.2.3"


@pytest.fixture(autouse=True)
def no_allowed_networks(settings):
    settings.METRICS_ALLOWED_NETWORKS = []


@pytest.fixture
def spend_token(team):
    return token_create(team=team, name="prometheus", scopes=["spend:read"])[1]


@pytest.fixture
def allowed_network(settings):
    settings.METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network("10.0.0.0/8")]


def _scrape(client, token=None, remote_addr="192.0.2.7"):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return client.get(URL, REMOTE_ADDR=remote_addr, **headers)


def _samples(response) -> list:
    assert response.status_code == 200, response.content
    text = response.content.decode()
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def _value(response, metric: str, /, **labels) -> float:
    found = [s.value for s in _samples(response) if s.name == metric and _has(s.labels, labels)]
    assert len(found) == 1, (metric, labels, found)
    return found[0]


def _has(labels: dict, wanted: dict) -> bool:
    return all(labels.get(key) == value for key, value in wanted.items())


def _teams_seen(response) -> set[str]:
    return {s.labels["team"] for s in _samples(response) if "team" in s.labels}


def _exact(value: float) -> Decimal:
    """The sample as the decimal it was written as: float's shortest round-tripping digits."""
    return Decimal(repr(value))


def _ingest(team, *events):
    return usage_ingest(team, list(events))


# --- Who may scrape ------------------------------------------------------------------------


def test_it_refuses_a_scrape_without_a_token(client, team):
    response = _scrape(client)
    assert response.status_code == 401
    assert response.json()["error"] == "missing token"


def test_it_refuses_a_token_without_the_spend_read_scope(client, team):
    token = token_create(team=team, name="proxy", scopes=["usage:write"])[1]
    response = _scrape(client, token)
    assert response.status_code == 403


def test_a_team_token_sees_only_its_own_team(client, team, other_team, spend_token):
    assert _teams_seen(_scrape(client, spend_token)) == {"maven"}


def test_an_allowed_network_scrapes_every_team_without_a_token(
    client, team, other_team, allowed_network
):
    assert _teams_seen(_scrape(client, remote_addr=PROMETHEUS_HOST)) == {"maven", "rival"}


def test_an_address_outside_the_allowed_networks_still_needs_a_token(client, team, allowed_network):
    assert _scrape(client, remote_addr="192.0.2.7").status_code == 401


def test_a_token_sent_from_an_allowed_network_narrows_the_scrape_to_its_team(
    client, team, other_team, allowed_network, spend_token
):
    assert _teams_seen(_scrape(client, spend_token, remote_addr=PROMETHEUS_HOST)) == {"maven"}


def test_it_answers_anything_but_get_with_a_json_405(client, team, spend_token):
    response = client.post(URL, HTTP_AUTHORIZATION=f"Bearer {spend_token}")
    assert response.status_code == 405
    assert response.json()["error"] == "method not allowed"


# --- The exposition ------------------------------------------------------------------------


def test_the_exposition_is_prometheus_text_that_parses(client, team, spend_token, catalog, clock):
    _ingest(team, canonical_event(id="a"))
    response = _scrape(client, spend_token)
    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    names = {family.name for family in text_string_to_metric_families(response.content.decode())}
    assert {"llmspend_month_to_date_cost_usd", "llmspend_ingest_events"} <= names


def test_month_to_date_values_equal_the_rollups(client, team, spend_token, catalog, clock):
    TaoPriceFactory(at=datetime(2026, 11, 20, 10, 0, tzinfo=UTC), usd=Decimal("412.5"))
    chutes = {"provider": "chutes", "model": "deepseek-ai/DeepSeek-V3"}
    events = [canonical_event(id=f"c{n}", **chutes) for n in range(3)]
    _ingest(team, *events, canonical_event(id="err", status="error", **chutes))
    rows = UsageDailyRollup.objects.filter(team=team, model_name="deepseek-ai/DeepSeek-V3")
    sums = rows.aggregate(usd=Sum("cost_usd"), tao=Sum("tao_amount"), out=Sum("output_tokens"))
    response = _scrape(client, spend_token)
    where = {"team": "maven", "provider": "chutes", "model": "deepseek-ai/DeepSeek-V3"}
    assert _exact(_value(response, "llmspend_month_to_date_cost_usd", **where)) == sums["usd"]
    assert _exact(_value(response, "llmspend_month_to_date_cost_tao", **where)) == sums["tao"]
    assert _value(response, "llmspend_month_to_date_tokens", **where, type="output") == sums["out"]
    assert _value(response, "llmspend_month_to_date_requests", **where, status="success") == 3
    assert _value(response, "llmspend_month_to_date_requests", **where, status="error") == 1


def test_month_to_date_starts_on_the_first_in_the_team_time_zone(
    client, team, other_team, catalog, clock, allowed_network
):
    # 03:00 UTC on December 1st: still November 30th in New York (maven), December in UTC.
    clock.move_to(datetime(2026, 12, 1, 3, 0, tzinfo=UTC))
    november_30 = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)
    for one in (team, other_team):
        _ingest(one, canonical_event(id="late", timestamp=november_30.isoformat()))
    response = _scrape(client, remote_addr=PROMETHEUS_HOST)
    where = {"provider": "anthropic", "model": "claude-sonnet-4-5", "status": "success"}
    assert _value(response, "llmspend_month_to_date_requests", team="maven", **where) == 1
    rival = [s for s in _samples(response) if s.labels.get("team") == "rival"]
    assert not [s for s in rival if s.name == "llmspend_month_to_date_requests"]


def test_last_month_is_not_in_month_to_date(client, team, spend_token, catalog, clock):
    _ingest(team, canonical_event(id="october", timestamp="2026-10-30T12:00:00Z"))
    names = {sample.name for sample in _samples(_scrape(client, spend_token))}
    assert "llmspend_month_to_date_requests" not in names


def test_a_model_outside_the_catalog_is_labelled_other(client, team, spend_token, catalog, clock):
    _ingest(
        team,
        canonical_event(id="a", model="made-up-model-1"),
        canonical_event(id="b", model="made-up-model-2"),
        canonical_event(id="c", provider="nowhere", model="made-up-model-3"),
    )
    response = _scrape(client, spend_token)
    requests = [s for s in _samples(response) if s.name == "llmspend_month_to_date_requests"]
    labels = {(s.labels["provider"], s.labels["model"]): s.value for s in requests}
    assert labels == {("anthropic", "other"): 2, ("other", "other"): 1}


def test_hostile_team_names_and_proxy_versions_come_out_escaped(client, spend_token, team):
    team.name = 'Evil "team"\nllmspend_tao_price_usd 1\\'
    team.save()
    hostile = 'v1"} 1\nx{y="\\'
    values = heartbeat_values(
        {"instance_id": 'pod-"a"\\b', "litellm_version": hostile, "plugin_version": "1.0\\n"}
    )
    heartbeat_record(team=team, values=values, now=datetime.now(UTC))
    response = _scrape(client, spend_token)
    assert _value(response, "llmspend_team_info", team="maven", name=team.name) == 1
    assert _value(response, "llmspend_proxy_info", litellm_version=hostile.strip()) == 1
    assert not [s for s in _samples(response) if s.name == "llmspend_tao_price_usd"]


def test_the_grafana_dashboard_reads_only_metrics_the_endpoint_exposes(client, team, spend_token):
    text = _scrape(client, spend_token).content.decode()
    exposed = set(re.findall(r"^# TYPE (\S+) ", text, flags=re.MULTILINE))
    dashboard = Path(__file__).resolve().parents[2] / "docs" / "grafana-dashboard.json"
    used = set(re.findall(r"llmspend_[a-z_]+", json.dumps(json.loads(dashboard.read_text()))))
    assert used and used <= exposed, used - exposed


# --- Budgets, TAO, alerts, proxies ---------------------------------------------------------


def test_the_budget_used_ratio_is_the_budgets_page_standing(
    client, team, spend_token, catalog, clock
):
    BudgetFactory(team=team, amount_usd=Decimal("0.07"))
    _ingest(team, canonical_event(id="a"), canonical_event(id="b"))
    [line] = budget_lines(team, now=NOW)
    ratio = _value(_scrape(client, spend_token), "llmspend_budget_used_ratio", team="maven")
    assert ratio == float(line.used_pct / 100)


def test_every_budget_in_force_has_its_budgets_page_standing(
    client, team, spend_token, catalog, clock
):
    FxRate.objects.create(day=date(2026, 11, 2), currency="USD", per_eur=Decimal("1.25"))
    anthropic = Provider.objects.get(slug="anthropic")
    BudgetFactory(team=team, amount_usd=Decimal(100))  # replaced by November's own row
    BudgetFactory(
        team=team,
        month=date(2026, 11, 1),
        currency="EUR",
        amount_in_currency=Decimal(90),
        amount_usd=Decimal(90),
    )
    BudgetFactory(team=team, provider=anthropic, amount_usd=Decimal(1))
    BudgetFactory(team=team, task_type="summarization", amount_usd=Decimal(2))
    _ingest(team, canonical_event(id="a", cost_usd="30.30"), canonical_event(id="b"))
    expected = {
        (line.budget.provider.slug if line.budget.provider else "", line.budget.task_type): float(
            line.used_pct / 100
        )
        for line in budget_lines(team, now=NOW)
        if line.applies == CURRENT
    }
    samples = _samples(_scrape(client, spend_token))
    ratios = {
        (s.labels["provider"], s.labels["task_type"]): s.value
        for s in samples
        if s.name == "llmspend_budget_used_ratio"
    }
    assert ratios == expected
    assert len(ratios) == 3


def test_the_tao_price_comes_with_its_age_and_degraded_flag(client, team, spend_token, clock):
    TaoPriceFactory(at=NOW - timedelta(hours=2), usd=Decimal("300"))
    TaoPriceFactory(at=NOW - timedelta(seconds=95), usd=Decimal("412.37"), degraded=True)
    response = _scrape(client, spend_token)
    assert _exact(_value(response, "llmspend_tao_price_usd")) == Decimal("412.37")
    assert _value(response, "llmspend_tao_price_age_seconds") == 95
    assert _value(response, "llmspend_tao_price_degraded") == 1


def test_firing_alerts_are_counted_per_team_and_kind(client, team, spend_token, clock):
    rule = AlertRuleFactory(team=team, kind=AlertKind.ERROR_RATE)
    for key, state in [("a", AlertState.FIRING), ("b", AlertState.FIRING)]:
        Alert.objects.create(rule=rule, team=team, dedupe_key=key, state=state, subject=key)
    Alert.objects.create(
        rule=rule, team=team, dedupe_key="c", state=AlertState.ACKNOWLEDGED, subject="c"
    )
    response = _scrape(client, spend_token)
    assert _value(response, "llmspend_alerts_firing", kind=AlertKind.ERROR_RATE) == 2
    assert _value(response, "llmspend_alerts_firing", kind=AlertKind.LATENCY_P95) == 0


def test_a_global_alert_fires_for_each_team_until_it_acknowledges_it(
    client, team, other_team, allowed_network, clock
):
    rule = AlertRuleFactory(kind=AlertKind.TAO_PRICE_STALE)
    alert = Alert.objects.create(rule=rule, dedupe_key="stale", subject="TAO price stale")
    AlertAcknowledgement.objects.create(alert=alert, team=other_team)
    response = _scrape(client, remote_addr=PROMETHEUS_HOST)
    stale = {"kind": AlertKind.TAO_PRICE_STALE}
    assert _value(response, "llmspend_alerts_firing", team="maven", **stale) == 1
    assert _value(response, "llmspend_alerts_firing", team="rival", **stale) == 0


def test_recent_proxies_report_their_versions_routing_and_spool(client, team, spend_token, clock):
    body = {"instance_id": "pod-1", "litellm_version": "1.79.0", "plugin_version": "0.4.2"}
    body |= {"routing_version": 7, "spool_depth": 12}
    heartbeat_record(team=team, values=heartbeat_values(body), now=NOW - timedelta(seconds=30))
    response = _scrape(client, spend_token)
    proxy = {"team": "maven", "proxy": "pod-1"}
    info = {"litellm_version": "1.79.0", "plugin_version": "0.4.2"}
    assert _value(response, "llmspend_proxy_info", **proxy, **info) == 1
    assert _value(response, "llmspend_proxy_routing_version", **proxy) == 7
    assert _value(response, "llmspend_proxy_spool_depth", **proxy) == 12
    assert _value(response, "llmspend_proxy_last_seen_age_seconds", **proxy) == 30


def test_a_proxy_silent_for_over_ten_minutes_is_left_out(client, team, spend_token, clock):
    values = heartbeat_values({"instance_id": "gone", "litellm_version": "1.0"})
    heartbeat_record(team=team, values=values, now=NOW - timedelta(minutes=11))
    names = {sample.name for sample in _samples(_scrape(client, spend_token))}
    assert "llmspend_proxy_info" not in names


# --- Ingest tallies ------------------------------------------------------------------------


def _post_usage(client, token, events):
    return client.post(
        "/api/v1/usage",
        json.dumps(events),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


def test_ingest_outcomes_are_counted_through_the_usage_endpoint(
    client, team, spend_token, catalog, clock
):
    usage_token = token_create(team=team, name="proxy", scopes=["usage:write"])[1]
    _post_usage(client, usage_token, [canonical_event(id="a"), canonical_event(id="b")])
    bad = canonical_event(id="bad", input_tokens=-1)
    _post_usage(client, usage_token, [canonical_event(id="a"), bad, canonical_event(id="c")])
    response = _scrape(client, spend_token)
    counts = {
        outcome: _value(response, "llmspend_ingest_events_total", outcome=outcome)
        for outcome in ("accepted", "duplicate", "rejected")
    }
    assert counts == {"accepted": 3, "duplicate": 1, "rejected": 1}


def test_scores_are_not_counted_as_ingested_usage(client, team, catalog, clock):
    token = token_create(team=team, name="proxy", scopes=["usage:write"])[1]
    _post_usage(client, token, [canonical_event(id="a")])
    client.post(
        "/api/v1/scores",
        json.dumps([{"id": "a", "score": 0.9}]),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert IngestTally.objects.get(team=team).accepted == 1


def test_a_failing_tally_still_stores_and_answers_the_batch(client, team, catalog, clock):
    token = token_create(team=team, name="proxy", scopes=["usage:write"])[1]
    with mock.patch.object(tally, "ingest_tally_add", side_effect=DatabaseError("full disk")):
        response = _post_usage(client, token, [canonical_event(id="a")])
    assert response.json()["accepted"] == 1
    assert UsageEvent.objects.filter(team=team).count() == 1


def test_a_tally_row_created_meanwhile_is_added_to(team):
    IngestTally.objects.create(team=team, accepted=5)
    real_add = tally._add
    # The first UPDATE found no row: the other batch's INSERT had not committed yet.
    answers = [False]

    def add(one_team, counts):
        return answers.pop() if answers else real_add(one_team, counts)

    with mock.patch.object(tally, "_add", side_effect=add):
        tally.ingest_tally_add(team, accepted=2, duplicates=1, rejected=0)
    row = IngestTally.objects.get(team=team)
    assert (row.accepted, row.duplicates) == (7, 1)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs concurrent connections")
def test_concurrent_first_batches_lose_no_count(transactional_db):
    team = TeamFactory()
    barrier = threading.Barrier(8)
    errors = []

    def add():
        try:
            barrier.wait()
            tally.ingest_tally_add(team, accepted=1, duplicates=2, rejected=3)
        except Exception as error:  # reported below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=add) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    row = IngestTally.objects.get(team=team)
    assert (errors, row.accepted, row.duplicates, row.rejected) == ([], 8, 16, 24)


# --- Cost of a scrape ----------------------------------------------------------------------


def _busy_team(slug):
    team = TeamFactory(slug=slug, time_zone="Asia/Tokyo")
    _ingest(team, canonical_event(id="a"), canonical_event(id="b", model="made-up"))
    BudgetFactory(team=team, amount_usd=Decimal(50))
    rule = AlertRuleFactory(team=team)
    Alert.objects.create(rule=rule, team=team, dedupe_key="k", subject="k")
    values = heartbeat_values({"instance_id": "pod", "litellm_version": "1.0"})
    heartbeat_record(team=team, values=values, now=NOW)
    tally.ingest_tally_add(team, accepted=2, duplicates=0, rejected=0)


def _queries_of_scrape(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert _scrape(client, remote_addr=PROMETHEUS_HOST).status_code == 200
    return len(queries)


def test_the_query_count_does_not_grow_with_the_number_of_teams(
    client, catalog, clock, allowed_network
):
    TaoPriceFactory(at=NOW)
    _busy_team("one")
    with_one = _queries_of_scrape(client)
    for n in range(4):
        _busy_team(f"more-{n}")
    assert _queries_of_scrape(client) == with_one
