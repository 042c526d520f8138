"""Anomaly alerts end to end: eight weeks of usage with a weekly rhythm land through ingestion,
rules are evaluated, the alert names its likely cause and the day's bridge."""

import random
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from billing.alerts.anomaly_causes import likely_causes, model_moves
from billing.alerts.daily import SpendRow
from billing.alerts.evaluation import alerts_evaluate, conditions_of
from billing.alerts.params import params_of
from billing.alerts.rules import params_in_words
from billing.ingest.store import usage_ingest
from billing.models import (
    Alert,
    AlertKind,
    AlertNotification,
    AlertRule,
    AlertState,
    TeamModelPrice,
)
from billing.reports.bridge import EFFECTS
from routing.models import Model, RoutingVersion
from tests.factories import AlertRuleFactory, TaoPriceFactory, UserFactory, canonical_event

# Noon in New York on Thursday May 14th: Wednesday May 13th is the last complete day.
NOW = datetime(2026, 5, 14, 16, 0, tzinfo=UTC)
WEDNESDAY = date(2026, 5, 13)
FIRST_DAY = WEDNESDAY - timedelta(weeks=8)
GPT = {"provider": "openai", "model": "gpt-5-mini", "task_type": "summarization"}
SONNET = {"provider": "anthropic", "model": "claude-sonnet-4-5", "task_type": "code_completion"}
BIG_GPT = {"provider": "openai", "model": "gpt-5.2", "task_type": "summarization"}


def day_of_usage(team, day, rng, *, scale=1.0, extra=(), **fields):
    """The team's usual day: 6 summaries and 4 completions on a weekday, 2 and 1 at the
    weekend, each off its usual cost by 10% noise; plus `extra` as (fields, calls, usd each)."""
    at = datetime.combine(day, time(11), tzinfo=team.zone)
    weekday = day.weekday() < 5
    lines = [(GPT, 6 if weekday else 2, 8), (SONNET, 4 if weekday else 1, 5), *extra]
    events = [
        canonical_event(
            id=f"{day}-{kind['model']}-{n}",
            timestamp=at.isoformat(),
            cost_usd=round(each * scale * (1 + rng.gauss(0, 0.1)), 6),
            input_tokens=4000,
            output_tokens=1000,
            **{**kind, **fields},
        )
        for kind, calls, each in lines
        for n in range(calls)
    ]
    usage_ingest(team, events, now=at + timedelta(minutes=1))


def weeks_of_usage(team, last_day, *, seed=7, **options):
    rng = random.Random(seed)
    day = FIRST_DAY
    while day <= last_day:
        day_of_usage(team, day, rng, **options)
        day += timedelta(days=1)


@pytest.fixture
def usual_weeks(team, catalog):
    """Eight weeks of the weekly rhythm up to the Tuesday before the day judged."""
    weeks_of_usage(team, WEDNESDAY - timedelta(days=1))


@pytest.fixture
def published_the_day_before(team):
    """v7, published on Tuesday at 18:00 in New York, sends summaries to GPT-5.2."""
    return RoutingVersion.objects.create(
        team=team,
        number=7,
        snapshot={},
        comment="Summaries to <b>GPT-5.2</b>",
        published_at=datetime(2026, 5, 12, 22, 0, tzinfo=UTC),
        published_by=UserFactory(username="ana"),
    )


def the_spike(team, *, seed=8):
    """Wednesday: the usual calls, and 24 summaries at GPT-5.2 for $20 each."""
    day_of_usage(team, WEDNESDAY, random.Random(seed), extra=[(BIG_GPT, 24, 20)])


def spend_rule(team, **params):
    return AlertRuleFactory(kind=AlertKind.SPEND_ANOMALY, team=team, params=params)


# --- Spend --------------------------------------------------------------------------------


def test_it_fires_on_a_day_of_unusual_spend_naming_the_publish_before_it(
    team, usual_weeks, published_the_day_before
):
    spend_rule(team, scope="team")
    the_spike(team)
    result = alerts_evaluate(now=NOW)
    assert (result.fired, result.failed) == (1, [])
    alert = Alert.objects.get()
    assert alert.dedupe_key == "spend_anomaly:2026-05-13:team"
    assert alert.subject.startswith("Spend anomaly: team Maven spent $")
    assert alert.subject.endswith("; likely v7 published")
    assert (
        "Likely cause: v7 published the day before at 18:00 EDT: Summaries to <b>GPT-5.2</b> "
        "(by ana)." in alert.summary
    )
    assert "openai/gpt-5.2 cost $" in alert.summary


def test_the_alert_keeps_the_numbers_and_the_bridge_of_the_day(
    team, usual_weeks, published_the_day_before
):
    spend_rule(team, scope="team")
    the_spike(team)
    alerts_evaluate(now=NOW)
    details = Alert.objects.get().details
    assert details["day"] == "2026-05-13"
    assert details["history_days"] == 6
    assert Decimal(details["change_usd"]) > 400
    assert details["model_moves"][0].startswith("openai/gpt-5.2 cost $")
    bridge = details["bridge"]
    assert bridge["reference_day"] in {f"2026-0{d}" for d in ("5-06", "4-29", "4-22", "4-15")}
    effects = [Decimal(bridge[name]) for name in EFFECTS]
    assert sum(effects) == Decimal(bridge["end_usd"]) - Decimal(bridge["start_usd"])
    assert Decimal(bridge["volume"]) > 0


def test_the_email_tells_the_cause_and_the_bridge_and_escapes_the_comment(
    team, usual_weeks, published_the_day_before, admin_user
):
    spend_rule(team, scope="team")
    the_spike(team)
    alerts_evaluate(now=NOW)
    email = AlertNotification.objects.get()
    assert "Summaries to <b>GPT-5.2</b>" in email.text_body
    assert "Summaries to &lt;b&gt;GPT-5.2&lt;/b&gt;" in email.html_body
    assert "<b>GPT" not in email.html_body
    assert "Bridge from Wednesday, " in email.text_body
    assert "Volume +$" in email.text_body


def test_each_series_has_its_own_alert(team, usual_weeks, published_the_day_before):
    spend_rule(team)
    the_spike(team)
    alerts_evaluate(now=NOW)
    assert sorted(Alert.objects.values_list("dedupe_key", flat=True)) == [
        "spend_anomaly:2026-05-13:provider:openai",
        "spend_anomaly:2026-05-13:task_type:summarization",
        "spend_anomaly:2026-05-13:team",
    ]
    provider = Alert.objects.get(dedupe_key__endswith="provider:openai")
    assert provider.link == (
        "/t/maven/?range=custom&start=2026-04-01&end=2026-05-13&provider=openai&by=model"
    )


def test_it_names_the_model_when_nothing_was_published(team, usual_weeks):
    spend_rule(team, scope="team")
    the_spike(team)
    alerts_evaluate(now=NOW)
    alert = Alert.objects.get()
    assert alert.subject.endswith("; likely openai/gpt-5.2 +$" + alert.subject.rsplit("+$", 1)[1])
    assert "Likely cause: openai/gpt-5.2 cost $" in alert.summary


def test_it_stays_quiet_on_a_usual_day(team, usual_weeks, published_the_day_before):
    spend_rule(team)
    day_of_usage(team, WEDNESDAY, random.Random(8))
    assert alerts_evaluate(now=NOW).fired == 0


@pytest.mark.parametrize("seed", range(4))
def test_it_stays_quiet_on_the_weekly_rhythm_every_day_of_a_week(team, catalog, seed):
    weeks_of_usage(team, WEDNESDAY + timedelta(days=6), seed=seed)
    rule = spend_rule(team)
    for days in range(7):
        assert conditions_of(rule, NOW + timedelta(days=days)) == []


def test_it_ignores_a_big_jump_of_cents(team, catalog):
    weeks_of_usage(team, WEDNESDAY - timedelta(days=1), scale=0.001)
    spend_rule(team)
    day_of_usage(team, WEDNESDAY, random.Random(8), scale=0.005)
    assert alerts_evaluate(now=NOW).fired == 0


def test_it_judges_complete_days_only(team, usual_weeks):
    spend_rule(team)
    day_of_usage(team, WEDNESDAY, random.Random(8))
    # Thursday's spike is today so far in New York: judged tomorrow.
    day_of_usage(team, WEDNESDAY + timedelta(days=1), random.Random(9), extra=[(BIG_GPT, 24, 20)])
    assert alerts_evaluate(now=NOW).fired == 0
    assert alerts_evaluate(now=NOW + timedelta(days=1)).fired == 3


def test_it_resolves_when_the_next_day_is_usual(team, usual_weeks):
    spend_rule(team, scope="team")
    the_spike(team)
    alerts_evaluate(now=NOW)
    day_of_usage(team, WEDNESDAY + timedelta(days=1), random.Random(9))
    result = alerts_evaluate(now=NOW + timedelta(days=1))
    assert (result.fired, result.resolved) == (0, 1)
    assert Alert.objects.get().state == AlertState.RESOLVED


def test_it_needs_three_weeks_of_history(team, catalog):
    rng = random.Random(1)
    for back in range(15, 0, -1):
        day_of_usage(team, WEDNESDAY - timedelta(days=back), rng)
    spend_rule(team)
    the_spike(team)
    assert alerts_evaluate(now=NOW).fired == 0


# --- Likely causes ------------------------------------------------------------------------


def test_a_price_change_of_a_model_used_comes_before_the_model_that_grew(team, usual_weeks):
    TeamModelPrice.objects.create(
        team=team,
        model=Model.objects.get(name="gpt-5.2"),
        effective_from=WEDNESDAY,
        input_per_mtok=Decimal(2),
        output_per_mtok=Decimal(16),
        reason="contract",
    )
    spend_rule(team, scope="team")
    the_spike(team)
    alerts_evaluate(now=NOW)
    summary = Alert.objects.get().summary
    assert "Likely cause: openai/gpt-5.2: team price the day before at 20:00 EDT: $2" in summary
    assert "Also: openai/gpt-5.2 cost $" in summary


def _row(day, model, cost, *, tao=Decimal(0)):
    return SpendRow(day, "chutes", model, "summarization", 10, Decimal(cost), tao)


def test_a_tao_move_over_the_day_comes_after_the_model_that_grew(team):
    TaoPriceFactory(at=datetime(2026, 5, 13, 3, 0, tzinfo=UTC), usd=Decimal(400))
    TaoPriceFactory(at=datetime(2026, 5, 14, 3, 0, tzinfo=UTC), usd=Decimal(460))
    rows = [_row(WEDNESDAY - timedelta(weeks=back), "llama", 10) for back in (1, 2, 3)]
    rows.append(_row(WEDNESDAY, "llama", 60, tao=Decimal("0.13")))
    moves = model_moves(rows, day=WEDNESDAY, first_day=rows[2].day, weeks=6)
    causes = likely_causes(team, rows, day=WEDNESDAY, moves=moves)
    assert [cause.headline for cause in causes] == ["chutes/llama +$50", "TAO up 15.0%"]
    assert causes[1].text.startswith("TAO/USD up 15.0% over May 13, from $400 to $460")


def test_a_tao_move_is_no_cause_for_usd_spend(team):
    TaoPriceFactory(at=datetime(2026, 5, 13, 3, 0, tzinfo=UTC), usd=Decimal(400))
    TaoPriceFactory(at=datetime(2026, 5, 14, 3, 0, tzinfo=UTC), usd=Decimal(460))
    rows = [_row(WEDNESDAY, "llama", 60)]
    causes = likely_causes(team, rows, day=WEDNESDAY, moves=[])
    assert causes == []


# --- Error rate and latency in anomaly mode -----------------------------------------------


def calls_of_a_day(team, day, *, count=60, errors=1, latency_ms=800):
    at = datetime.combine(day, time(11), tzinfo=team.zone)
    events = [
        canonical_event(
            id=f"{day}-call-{n}",
            timestamp=at.isoformat(),
            status="error" if n < errors else "success",
            latency_ms=latency_ms,
            **GPT,
        )
        for n in range(count)
    ]
    usage_ingest(team, events, now=at + timedelta(minutes=1))


@pytest.fixture
def usual_health(team, catalog):
    """Six weeks of 60 calls a day to OpenAI, one or two of them failing, answered in 0.8 s."""
    for back in range(42, 0, -1):
        calls_of_a_day(team, WEDNESDAY - timedelta(days=back), errors=1 + back % 2)


def test_an_error_rate_rule_in_anomaly_mode_fires_and_resolves(team, usual_health):
    AlertRuleFactory(kind=AlertKind.ERROR_RATE, team=team, params={"mode": "anomaly"})
    calls_of_a_day(team, WEDNESDAY, errors=9)
    assert alerts_evaluate(now=NOW).fired == 1
    alert = Alert.objects.get()
    assert alert.dedupe_key == "error_rate:anomaly:openai"
    assert alert.subject == (
        "openai error rate 15.0% on Wed May 13, usually 2.5% (9 of 60 calls failed)"
    )
    assert alert.details["failed_calls"] == {"gpt-5-mini": {"summarization": 9}}
    calls_of_a_day(team, WEDNESDAY + timedelta(days=1), errors=1)
    assert alerts_evaluate(now=NOW + timedelta(days=1)).resolved == 1


def test_an_error_rate_rule_in_anomaly_mode_ignores_a_rise_under_its_points(team, usual_health):
    AlertRuleFactory(
        kind=AlertKind.ERROR_RATE, team=team, params={"mode": "anomaly", "min_points": 20}
    )
    calls_of_a_day(team, WEDNESDAY, errors=9)
    assert alerts_evaluate(now=NOW).fired == 0


def test_a_latency_rule_in_anomaly_mode_fires_and_resolves(team, usual_health):
    AlertRuleFactory(kind=AlertKind.LATENCY_P95, team=team, params={"mode": "anomaly"})
    calls_of_a_day(team, WEDNESDAY, latency_ms=9000)
    assert alerts_evaluate(now=NOW).fired == 1
    alert = Alert.objects.get()
    assert alert.dedupe_key == "latency_p95:anomaly:openai"
    assert alert.details["usual_ms"] < 1000 < 8000 < alert.details["p95_ms"]
    calls_of_a_day(team, WEDNESDAY + timedelta(days=1))
    assert alerts_evaluate(now=NOW + timedelta(days=1)).resolved == 1


def test_a_health_anomaly_names_the_publish_before_it(team, usual_health, published_the_day_before):
    AlertRuleFactory(kind=AlertKind.ERROR_RATE, team=team, params={"mode": "anomaly"})
    calls_of_a_day(team, WEDNESDAY, errors=9)
    alerts_evaluate(now=NOW)
    assert "Likely cause: v7 published the day before" in Alert.objects.get().summary


def test_threshold_mode_still_reads_the_window(team, usual_health):
    AlertRuleFactory(kind=AlertKind.ERROR_RATE, team=team, params={"mode": "threshold"})
    calls_of_a_day(team, WEDNESDAY, errors=9)
    # The window is the last hour: nothing there.
    assert alerts_evaluate(now=NOW).fired == 0


# --- Params -------------------------------------------------------------------------------


def test_a_threshold_rule_leaves_the_anomaly_params_out():
    rule = AlertRule(kind=AlertKind.LATENCY_P95, params={"mode": "threshold", "weeks": 5})
    assert "weeks" not in params_of(rule)
    assert "mode" not in params_of(rule)


def test_an_anomaly_rule_takes_the_anomaly_defaults():
    rule = AlertRule(kind=AlertKind.ERROR_RATE, params={"mode": "anomaly"})
    params = params_of(rule)
    assert (params["deviations"], params["min_points"], params["weeks"]) == (4, 2, 6)


@pytest.mark.parametrize(
    ("kind", "params"),
    [
        (AlertKind.SPEND_ANOMALY, {"weeks": 3}),
        (AlertKind.SPEND_ANOMALY, {"weeks": 9}),
        (AlertKind.SPEND_ANOMALY, {"min_usd": 0}),
        (AlertKind.SPEND_ANOMALY, {"scope": "model"}),
        (AlertKind.SPEND_ANOMALY, {"threshold_pct": 5}),
        (AlertKind.ERROR_RATE, {"mode": "sometimes"}),
        (AlertKind.ERROR_RATE, {"min_ms": 100}),
        (AlertKind.LATENCY_P95, {"deviations": "lots"}),
    ],
)
def test_it_refuses_nonsense_and_unknown_params(kind, params):
    with pytest.raises(ValueError):
        params_of(AlertRule(kind=kind, params=params))


def test_it_words_the_anomaly_rules():
    assert params_in_words(AlertKind.SPEND_ANOMALY, {}) == (
        "yesterday's spend of the team, each provider and each task type at least 4 "
        "deviations and $20 above the same weekday's usual over 6 weeks"
    )
    assert params_in_words(AlertKind.LATENCY_P95, {"mode": "anomaly"}).startswith(
        "yesterday's p95 latency at least 4 deviations and 2000 ms above"
    )


# --- The rules page -----------------------------------------------------------------------


def _url(name, team):
    return reverse(name, kwargs={"team": team.slug})


RULE = {"name": "Unusual days", "recipient_roles": ["admin"], "cooldown_minutes": "60"}
SPEND = {
    **RULE,
    "kind": "spend_anomaly",
    "spend_anomaly-scope": "provider",
    "spend_anomaly-deviations": "5",
    "spend_anomaly-min_usd": "50",
    "spend_anomaly-weeks": "8",
}


def test_the_rules_page_offers_the_spend_anomaly_settings(client, ops_user, team):
    client.force_login(ops_user)
    response = client.get(
        _url("alert_rule_params", team), {"kind": "spend_anomaly"}, headers={"HX-Request": "true"}
    )
    body = response.content.decode()
    assert 'name="spend_anomaly-min_usd" value="20"' in body
    assert "never today so far" in body


def test_it_saves_a_spend_anomaly_rule(client, ops_user, team):
    client.force_login(ops_user)
    assert client.post(_url("alert_rule_new", team), SPEND).status_code == 302
    rule = AlertRule.objects.get()
    assert rule.params == {"scope": "provider", "deviations": 5, "min_usd": 50, "weeks": 8}
    assert params_of(rule)["min_usd"] == 50


def test_it_refuses_weeks_out_of_range(client, ops_user, team):
    client.force_login(ops_user)
    response = client.post(_url("alert_rule_new", team), {**SPEND, "spend_anomaly-weeks": "9"})
    assert response.status_code == 400
    assert "Enter whole weeks from 4 to 8." in response.content.decode()
    assert not AlertRule.objects.exists()


def test_it_saves_an_error_rate_rule_in_anomaly_mode_with_the_defaults_left_empty(
    client, ops_user, team
):
    client.force_login(ops_user)
    data = {**RULE, "kind": "error_rate", "error_rate-mode": "anomaly"}
    data |= {"error_rate-threshold_pct": "5", "error_rate-window_minutes": "60"}
    data |= {"error_rate-min_requests": "50", "error_rate-min_points": ""}
    assert client.post(_url("alert_rule_new", team), data).status_code == 302
    rule = AlertRule.objects.get()
    assert rule.params["mode"] == "anomaly"
    assert "min_points" not in rule.params
    assert params_of(rule)["min_points"] == 2


def test_the_rule_form_shows_the_mode_of_an_error_rate_rule(client, ops_user, team):
    rule = AlertRuleFactory(kind=AlertKind.ERROR_RATE, team=team, params={"mode": "anomaly"})
    client.force_login(ops_user)
    page = client.get(reverse("alert_rule_edit", kwargs={"team": team.slug, "rule_id": rule.pk}))
    assert '<option value="anomaly" selected>' in page.content.decode()


def test_the_alert_page_shows_the_cause_escaped_and_the_bridge(
    client, viewer_user, team, usual_weeks, published_the_day_before
):
    spend_rule(team, scope="team")
    the_spike(team)
    alerts_evaluate(now=NOW)
    alert = Alert.objects.get()
    client.force_login(viewer_user)
    url = reverse("alert", kwargs={"team": team.slug, "alert_id": alert.pk})
    page = client.get(url).content.decode()
    assert "Summaries to &lt;b&gt;GPT-5.2&lt;/b&gt; (by ana).<br>" in page
    assert "bridge.volume" in page
