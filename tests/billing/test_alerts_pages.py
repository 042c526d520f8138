from datetime import UTC, datetime, timedelta
from itertools import count

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.alerts.rules import params_in_words
from billing.audit_actions import BillingAuditAction
from billing.models import (
    Alert,
    AlertKind,
    AlertNotification,
    AlertRule,
    AlertState,
    NotificationStatus,
)
from dashboard.models import AuditEvent, JobRun
from tests.factories import AlertRuleFactory, ProviderFactory, UserFactory

MANAGERS = ["admin", "ops"]
READERS = ["finance", "viewer"]
ROLES = MANAGERS + READERS
_keys = count()


def _url(name, team, **kwargs):
    return reverse(name, kwargs={"team": team.slug, **kwargs})


def _alert(rule, state=AlertState.FIRING, **fields):
    fields.setdefault("subject", f"Alert {next(_keys)}")
    fields.setdefault("dedupe_key", fields["subject"])
    if state == AlertState.RESOLVED:
        fields.setdefault("resolved_at", timezone.now())
    return Alert.objects.create(rule=rule, team=rule.team, state=state, **fields)


@pytest.fixture(autouse=True)
def no_real_dns(dns):
    """Webhook hosts resolve to a public address unless a test says otherwise."""
    return dns


@pytest.fixture
def rule(team):
    return AlertRuleFactory(team=team)


@pytest.fixture
def firing(rule):
    return _alert(rule, subject="Errors at chutes: 12%", link="/t/maven/?provider=chutes")


def _as(client, user):
    client.force_login(user)
    return client


# The alerts page


@pytest.mark.parametrize("role", ROLES)
def test_it_shows_the_alerts_to_every_member(client, users_by_role, role, firing, team):
    page = _as(client, users_by_role[role]).get(_url("alerts", team)).content.decode()
    assert "Errors at chutes: 12%" in page


@pytest.mark.parametrize("name", ["alerts", "alert_rules", "alert_jobs"])
def test_it_hides_the_pages_from_outsiders(client, outsider, team, name):
    assert _as(client, outsider).get(_url(name, team)).status_code == 404


def test_it_hides_an_alert_from_outsiders(client, outsider, team, firing):
    response = _as(client, outsider).get(_url("alert", team, alert_id=firing.pk))
    assert response.status_code == 404


@pytest.mark.parametrize("role", ROLES)
def test_it_offers_acknowledging_to_ops_and_admins_only(client, users_by_role, role, firing, team):
    page = _as(client, users_by_role[role]).get(_url("alerts", team)).content.decode()
    assert ("Acknowledge</button>" in page) == (role in MANAGERS)


@pytest.mark.parametrize("role", READERS)
def test_it_refuses_acknowledging_to_readers(client, users_by_role, role, firing, team):
    url = _url("alert_acknowledge", team, alert_id=firing.pk)
    assert _as(client, users_by_role[role]).post(url).status_code == 403
    firing.refresh_from_db()
    assert firing.state == AlertState.FIRING


def test_it_refuses_acknowledging_to_outsiders(client, outsider, team, firing):
    url = _url("alert_acknowledge", team, alert_id=firing.pk)
    assert _as(client, outsider).post(url).status_code == 404


def test_it_acknowledges_a_firing_alert_and_audits_it(client, ops_user, team, firing):
    _as(client, ops_user).post(_url("alert_acknowledge", team, alert_id=firing.pk))
    firing.refresh_from_db()
    assert (firing.state, firing.acknowledged_by) == (AlertState.ACKNOWLEDGED, ops_user)
    event = AuditEvent.objects.get(action=BillingAuditAction.ALERT_ACKNOWLEDGED)
    assert (event.team, event.actor, event.target) == (team, ops_user, firing.subject)


def test_it_acknowledges_only_once(client, ops_user, admin_user, team, firing):
    url = _url("alert_acknowledge", team, alert_id=firing.pk)
    _as(client, ops_user).post(url)
    _as(client, admin_user).post(url)
    firing.refresh_from_db()
    assert firing.acknowledged_by == ops_user
    assert AuditEvent.objects.filter(action=BillingAuditAction.ALERT_ACKNOWLEDGED).count() == 1


def test_it_does_not_acknowledge_a_resolved_alert(client, ops_user, team, rule):
    resolved = _alert(rule, state=AlertState.RESOLVED)
    _as(client, ops_user).post(_url("alert_acknowledge", team, alert_id=resolved.pk))
    resolved.refresh_from_db()
    assert resolved.state == AlertState.RESOLVED


def test_it_swaps_the_acknowledged_row_for_htmx(client, ops_user, team, firing):
    url = _url("alert_acknowledge", team, alert_id=firing.pk)
    response = _as(client, ops_user).post(url, headers={"HX-Request": "true"})
    body = response.content.decode()
    assert body.lstrip().startswith(f'<tr id="alert-{firing.pk}"')
    assert 'data-state="acknowledged"' in body
    assert "Acknowledge</button>" not in body


def test_it_returns_to_the_list_with_a_message_without_htmx(client, ops_user, team, firing):
    url = _url("alert_acknowledge", team, alert_id=firing.pk)
    response = _as(client, ops_user).post(url, {"next": "/t/maven/alerts/?state=all"}, follow=True)
    assert response.redirect_chain[-1][0] == "/t/maven/alerts/?state=all"
    assert "Acknowledged: Errors at chutes: 12%" in response.content.decode()


def test_it_never_follows_a_next_off_site(client, ops_user, team, firing):
    url = _url("alert_acknowledge", team, alert_id=firing.pk)
    response = _as(client, ops_user).post(url, {"next": "https://evil.example/"})
    assert response.url == _url("alerts", team)


def test_it_shows_global_alerts_to_every_team(client, outsider, other_team):
    tao = AlertRuleFactory(kind=AlertKind.TAO_PRICE_SPIKE)
    _alert(tao, subject="TAO fell 14% within 60 min")
    page = _as(client, outsider).get(_url("alerts", other_team)).content.decode()
    assert "TAO fell 14% within 60 min" in page


def test_it_lets_a_team_acknowledge_a_global_alert_for_itself(client, ops_user, team):
    alert = _alert(AlertRuleFactory(kind=AlertKind.TAO_PRICE_STALE))
    _as(client, ops_user).post(_url("alert_acknowledge", team, alert_id=alert.pk))
    alert.refresh_from_db()
    assert alert.state == AlertState.FIRING
    assert alert.acknowledgements.get().team == team


def test_it_hides_other_teams_alerts(client, viewer_user, team, other_team):
    _alert(AlertRuleFactory(team=other_team), subject="Rival's errors")
    page = _as(client, viewer_user).get(_url("alerts", team)).content.decode()
    assert "Rival&#x27;s errors" not in page


@pytest.mark.parametrize(
    ("state", "shown"),
    [
        (None, {"firing"}),
        ("acknowledged", {"acknowledged"}),
        ("resolved", {"resolved"}),
        ("all", {"firing", "acknowledged", "resolved"}),
    ],
)
def test_it_filters_by_state(client, viewer_user, team, rule, state, shown):
    for each in AlertState:
        _alert(rule, state=each, subject=f"the {each} one")
    query = {"state": state} if state else {}
    page = _as(client, viewer_user).get(_url("alerts", team), query).content.decode()
    assert {each for each in AlertState if f"the {each} one" in page} == shown


def test_it_answers_the_list_alone_to_htmx(client, viewer_user, team, firing):
    response = _as(client, viewer_user).get(
        _url("alerts", team), {"state": "all"}, headers={"HX-Request": "true"}
    )
    body = response.content.decode()
    assert "Errors at chutes: 12%" in body
    assert "<html" not in body


def test_it_refuses_an_unknown_state(client, viewer_user, team):
    response = _as(client, viewer_user).get(_url("alerts", team), {"state": "snoozed"})
    assert response.status_code == 400
    assert "Show firing, acknowledged, resolved or all alerts." in response.content.decode()


def test_it_lists_the_newest_first(client, viewer_user, team, rule):
    now = timezone.now()
    _alert(rule, subject="older", fired_at=now - timedelta(hours=2))
    _alert(rule, subject="newer", fired_at=now - timedelta(hours=1))
    page = _as(client, viewer_user).get(_url("alerts", team)).content.decode()
    assert page.index("newer") < page.index("older")


def test_it_shows_fifty_alerts_a_page(client, viewer_user, team, rule):
    for _ in range(51):
        _alert(rule)
    page = _as(client, viewer_user).get(_url("alerts", team)).content.decode()
    assert page.count('data-testid="alert-row"') == 50
    assert "Page 1 of 2" in page


def test_it_shows_times_in_the_team_zone(client, viewer_user, team, rule):
    _alert(rule, fired_at=datetime(2026, 11, 20, 15, 30, tzinfo=UTC))
    page = _as(client, viewer_user).get(_url("alerts", team)).content.decode()
    assert "2026-11-20 10:30" in page


def test_it_never_links_an_alert_off_site(client, viewer_user, team, rule):
    _alert(rule, link="https://evil.example/")
    page = _as(client, viewer_user).get(_url("alerts", team)).content.decode()
    assert "evil.example" not in page


def test_it_explains_alerts_when_there_are_none(client, viewer_user, team):
    page = _as(client, viewer_user).get(_url("alerts", team)).content.decode()
    assert 'data-testid="alerts-empty"' in page
    assert _url("alert_rules", team) in page


def test_it_reads_the_alert_list_in_fixed_queries(
    client, ops_user, team, rule, django_assert_num_queries
):
    other = _as(client, ops_user)
    _alert(rule)
    with django_assert_num_queries(10):
        other.get(_url("alerts", team), {"state": "all"})
    tao = AlertRuleFactory(kind=AlertKind.TAO_PRICE_SPIKE)
    for state in [*AlertState, AlertState.FIRING]:
        _alert(rule, state=state, acknowledged_by=ops_user)
        _alert(tao, state=state)
    with django_assert_num_queries(10):
        other.get(_url("alerts", team), {"state": "all"})


def test_it_shows_an_alerts_details_as_a_table(client, viewer_user, team, rule):
    alert = _alert(rule, details={"error_rate_pct": "12.5", "window": {"minutes": 60}})
    page = _as(client, viewer_user).get(_url("alert", team, alert_id=alert.pk)).content.decode()
    assert '<th scope="row">error_rate_pct</th><td>12.5</td>' in page
    assert '<th scope="row">window.minutes</th><td>60</td>' in page


def _failed_notification(alert, **fields) -> AlertNotification:
    defaults = {
        "event": "fired",
        "subject": alert.subject,
        "text_body": "...",
        "webhook_url": "http://127.0.0.1:5432/",
        "status": NotificationStatus.PENDING,
        "attempts": 3,
        "failed_part": "webhook",
        "last_attempt_at": datetime(2026, 11, 26, 17, 0, tzinfo=UTC),
        "next_attempt_at": datetime(2026, 11, 26, 17, 4, tzinfo=UTC),
        "last_error": "Webhook not posted: RemoteProtocolError.",
    }
    return AlertNotification.objects.create(alert=alert, **(defaults | fields))


def test_it_shows_members_when_a_delivery_failed(client, viewer_user, team, firing):
    _failed_notification(firing)
    page = _as(client, viewer_user).get(_url("alert", team, alert_id=firing.pk)).content.decode()
    assert "Webhook delivery failed at 2026-11-26 12:00:00; next try 2026-11-26 12:04:00" in page


@pytest.mark.parametrize(
    "error", ["Webhook not posted: RemoteProtocolError.", "Webhook not posted: HTTP 404."]
)
def test_it_does_not_show_members_the_remote_answer(client, viewer_user, team, firing, error):
    _failed_notification(firing, status=NotificationStatus.FAILED, last_error=error)
    page = _as(client, viewer_user).get(_url("alert", team, alert_id=firing.pk)).content.decode()
    assert error not in page
    assert "Webhook delivery failed" in page


def test_it_shows_staff_the_technical_detail(client, viewer_user, team, firing):
    viewer_user.is_staff = True
    viewer_user.save()
    _failed_notification(firing)
    page = _as(client, viewer_user).get(_url("alert", team, alert_id=firing.pk)).content.decode()
    assert "Webhook not posted: RemoteProtocolError." in page


def test_it_shows_a_global_alert_on_a_team_page(client, viewer_user, team):
    alert = _alert(AlertRuleFactory(kind=AlertKind.TAO_PRICE_STALE), subject="TAO price stale")
    response = _as(client, viewer_user).get(_url("alert", team, alert_id=alert.pk))
    assert response.status_code == 200


def test_it_hides_another_teams_alert_detail(client, viewer_user, team, other_team):
    alert = _alert(AlertRuleFactory(team=other_team))
    response = _as(client, viewer_user).get(_url("alert", team, alert_id=alert.pk))
    assert response.status_code == 404


# The rules page

SPIKE = {
    "kind": "tao_price_spike",
    "name": "TAO jumps",
    "enabled": "on",
    "tao_price_spike-threshold_pct": "12.5",
    "tao_price_spike-window_minutes": "30",
    "tao_price_spike-direction": "up",
    "recipient_roles": ["admin", "ops"],
    "extra_emails": "oncall@example.com,\nfinance@example.com",
    "webhook_url": "https://hooks.slack.com/services/T000/B000/secret",
    "cooldown_minutes": "60",
}


@pytest.mark.parametrize("role", ROLES)
def test_it_lists_the_rules_to_every_member(client, users_by_role, role, team, rule):
    page = _as(client, users_by_role[role]).get(_url("alert_rules", team)).content.decode()
    assert rule.name in page
    assert ("Add a rule" in page) == (role in MANAGERS)


def test_it_lists_the_rules_read_only_for_a_viewer(client, viewer_user, team, rule):
    page = _as(client, viewer_user).get(_url("alert_rules", team)).content.decode()
    assert _url("alert_rule_edit", team, rule_id=rule.pk) not in page
    assert _url("alert_rule_delete", team, rule_id=rule.pk) not in page


@pytest.mark.parametrize("role", READERS)
@pytest.mark.parametrize(
    "name", ["alert_rule_new", "alert_rules_recommended", "alert_rule_edit", "alert_rule_delete"]
)
def test_it_refuses_changing_rules_to_readers(client, users_by_role, role, team, rule, name):
    kwargs = {"rule_id": rule.pk} if name in {"alert_rule_edit", "alert_rule_delete"} else {}
    response = _as(client, users_by_role[role]).post(_url(name, team, **kwargs), SPIKE)
    assert response.status_code == 403
    assert list(AlertRule.objects.all()) == [rule]


def test_it_refuses_another_teams_rule(client, ops_user, team, other_team):
    theirs = AlertRuleFactory(team=other_team)
    response = _as(client, ops_user).get(_url("alert_rule_edit", team, rule_id=theirs.pk))
    assert response.status_code == 404


@pytest.mark.parametrize("role", MANAGERS)
def test_it_lets_ops_and_admins_add_a_rule(client, users_by_role, role, team):
    response = _as(client, users_by_role[role]).post(_url("alert_rule_new", team), SPIKE)
    assert response.status_code == 302
    rule = AlertRule.objects.get(team=team)
    assert rule.params == {"threshold_pct": 12.5, "window_minutes": 30, "direction": "up"}
    assert rule.extra_emails == ["oncall@example.com", "finance@example.com"]
    assert rule.recipient_roles == ["admin", "ops"]


def test_it_audits_a_new_rule_without_the_webhook_path(client, ops_user, team):
    _as(client, ops_user).post(_url("alert_rule_new", team), SPIKE)
    event = AuditEvent.objects.get(action=BillingAuditAction.ALERT_RULE_CREATED)
    assert event.detail["webhook"] == "hooks.slack.com"
    assert "secret" not in str(event.detail)


def test_it_shows_only_the_webhook_host_in_the_list(client, ops_user, team):
    _as(client, ops_user).post(_url("alert_rule_new", team), SPIKE)
    page = client.get(_url("alert_rules", team)).content.decode()
    assert "hooks.slack.com" in page
    assert "B000/secret" not in page


def test_it_shows_the_params_in_words(client, viewer_user, team):
    AlertRuleFactory(team=team, kind=AlertKind.TAO_PRICE_SPIKE, params={"threshold_pct": 10})
    page = _as(client, viewer_user).get(_url("alert_rules", team)).content.decode()
    assert "10% within 60 min, both directions" in page


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/admin/",
        "http://localhost:5432/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:127.0.0.1]:6379/",
        "https://chat.internal.example/hooks/abc",
    ],
)
def test_it_refuses_a_webhook_on_an_internal_network(client, ops_user, team, dns, url):
    dns["chat.internal.example"] = ["10.0.0.5"]
    response = _as(client, ops_user).post(
        _url("alert_rule_new", team), {**SPIKE, "webhook_url": url}
    )
    page = response.content.decode()
    assert response.status_code == 400
    assert "only public internet addresses are allowed" in page
    assert not AlertRule.objects.exists()


def test_it_accepts_a_webhook_on_a_private_host_the_operator_allowed(
    client, ops_user, team, dns, settings
):
    settings.OUTBOUND_ALLOWED_PRIVATE_HOSTS = ["chat.internal.example"]
    dns["chat.internal.example"] = ["10.0.0.5"]
    url = "https://chat.internal.example/hooks/abc"
    _as(client, ops_user).post(_url("alert_rule_new", team), {**SPIKE, "webhook_url": url})
    assert AlertRule.objects.get().webhook_url == url


def test_it_refuses_a_webhook_with_a_user_name_in_it(client, ops_user, team):
    url = "https://hooks.slack.com@evil.example/hook"
    response = _as(client, ops_user).post(
        _url("alert_rule_new", team), {**SPIKE, "webhook_url": url}
    )
    assert "Leave the user name and password out of the address." in response.content.decode()
    assert not AlertRule.objects.exists()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("tao_price_spike-threshold_pct", "0", "Enter a percentage from 0.1 to 1000"),
        ("tao_price_spike-threshold_pct", "1001", "Enter a percentage from 0.1 to 1000"),
        ("tao_price_spike-window_minutes", "10081", "Enter whole minutes from 1 to 10080"),
        ("tao_price_spike-direction", "sideways", "Choose both directions, rises only or"),
        ("extra_emails", "ok@example.com, not-an-email", "Not email addresses: not-an-email."),
        ("webhook_url", "ftp://example.com/hook", "Enter an http:// or https:// address."),
        ("name", "", "Give the rule a name"),
    ],
)
def test_it_refuses_a_bad_rule_and_keeps_the_input(client, ops_user, team, field, value, message):
    response = _as(client, ops_user).post(_url("alert_rule_new", team), {**SPIKE, field: value})
    page = response.content.decode()
    assert response.status_code == 400
    assert message in page
    assert 'value="TAO jumps"' in page or field == "name"
    assert not AlertRule.objects.exists()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("error_rate-min_requests", "0", "Enter a whole number of at least 1."),
        ("error_rate-provider", "nowhere", "Choose a provider from the list, or none."),
    ],
)
def test_it_checks_the_usage_kinds_params(client, ops_user, team, field, value, message):
    data = {"kind": "error_rate", "name": "errors", "cooldown_minutes": "60", field: value}
    data |= {"error_rate-threshold_pct": "5", "error_rate-window_minutes": "60"}
    data |= {"error_rate-min_requests": data.get("error_rate-min_requests", "50")}
    response = _as(client, ops_user).post(_url("alert_rule_new", team), data)
    assert response.status_code == 400
    assert message in response.content.decode()


def test_it_takes_a_provider_and_model_for_a_usage_kind(client, ops_user, team):
    ProviderFactory(slug="chutes", name="Chutes")
    data = {"kind": "latency_p95", "name": "slow", "cooldown_minutes": "30"}
    data |= {"latency_p95-threshold_ms": "8000", "latency_p95-window_minutes": "60"}
    data |= {"latency_p95-min_requests": "20", "latency_p95-provider": "chutes"}
    data |= {"latency_p95-model": "deepseek-ai/DeepSeek-V3"}
    _as(client, ops_user).post(_url("alert_rule_new", team), data)
    assert AlertRule.objects.get().params == {
        "threshold_ms": 8000,
        "window_minutes": 60,
        "min_requests": 20,
        "provider": "chutes",
        "model": "deepseek-ai/DeepSeek-V3",
    }


def test_it_ignores_the_settings_of_other_kinds(client, ops_user, team):
    data = {**SPIKE, "error_rate-threshold_pct": "nonsense"}
    response = _as(client, ops_user).post(_url("alert_rule_new", team), data)
    assert response.status_code == 302


def test_it_prefills_the_defaults_of_the_chosen_kind(client, ops_user, team):
    page = _as(client, ops_user).get(_url("alert_rule_new", team)).content.decode()
    assert 'name="tao_price_spike-threshold_pct" value="10"' in page


def test_it_shows_every_kind_without_javascript(client, ops_user, team):
    page = _as(client, ops_user).get(_url("alert_rule_new", team)).content.decode()
    noscript = page[page.index("<noscript>") : page.index("</noscript>")]
    assert 'data-testid="all-kinds-hint"' in noscript
    assert 'name="quality_drop-min_score" value="0.7"' in noscript


def test_it_switches_the_params_with_the_kind(client, ops_user, team):
    response = _as(client, ops_user).get(
        _url("alert_rule_params", team), {"kind": "quality_drop"}, headers={"HX-Request": "true"}
    )
    body = response.content.decode()
    assert 'data-kind="quality_drop"' in body
    assert "tao_price_spike" not in body


def test_it_edits_a_rule_and_audits_what_changed(client, ops_user, team):
    _as(client, ops_user).post(_url("alert_rule_new", team), SPIKE)
    rule = AlertRule.objects.get()
    client.post(_url("alert_rule_edit", team, rule_id=rule.pk), {**SPIKE, "enabled": ""})
    rule.refresh_from_db()
    assert rule.enabled is False
    event = AuditEvent.objects.get(action=BillingAuditAction.ALERT_RULE_CHANGED)
    assert event.detail["changed"] == ["enabled"]


def test_it_asks_before_deleting_a_rule(client, ops_user, team, rule, firing):
    page = _as(client, ops_user).get(_url("alert_rule_delete", team, rule_id=rule.pk))
    assert "Its 1 alert and their notifications are deleted" in page.content.decode()
    assert AlertRule.objects.filter(pk=rule.pk).exists()


def test_it_deletes_a_rule_and_audits_it(client, ops_user, team, rule):
    _as(client, ops_user).post(_url("alert_rule_delete", team, rule_id=rule.pk))
    assert not AlertRule.objects.exists()
    assert AuditEvent.objects.filter(
        action=BillingAuditAction.ALERT_RULE_DELETED, team=team
    ).exists()


def test_it_adds_the_recommended_rules(client, ops_user, team):
    _as(client, ops_user).post(_url("alert_rules_recommended", team))
    rules = AlertRule.objects.filter(team=team)
    assert sorted(rule.kind for rule in rules) == sorted(
        [
            AlertKind.TAO_PRICE_SPIKE,
            AlertKind.TAO_PRICE_SPIKE,
            AlertKind.TAO_PRICE_STALE,
            AlertKind.TAO_PRICE_DEGRADED,
            AlertKind.BUDGET_THRESHOLD,
            AlertKind.BUDGET_FORECAST,
            AlertKind.TAO_RUNWAY,
            AlertKind.ERROR_RATE,
            AlertKind.PROXY_STALE,
        ]
    )
    assert rules.get(kind=AlertKind.BUDGET_FORECAST).recipient_roles == ["admin", "finance"]
    assert rules.get(kind=AlertKind.TAO_RUNWAY).recipient_roles == ["admin", "finance"]
    assert rules.get(kind=AlertKind.ERROR_RATE).recipient_roles == ["admin", "ops"]
    assert rules.get(kind=AlertKind.PROXY_STALE).params == {
        "unseen_minutes": 10,
        "behind_minutes": 5,
        "spool_minutes": 15,
    }


def test_it_adds_the_recommended_rules_once(client, ops_user, team):
    url = _url("alert_rules_recommended", team)
    _as(client, ops_user).post(url)
    client.post(url)
    assert AlertRule.objects.filter(team=team).count() == 9


def test_it_offers_the_recommended_rules_when_there_are_none(client, ops_user, team):
    page = _as(client, ops_user).get(_url("alert_rules", team)).content.decode()
    assert "TAO moves 20% within a day</strong>: 20% within 24 h, both directions" in page


def test_it_lists_global_rules_read_only_for_team_admins(client, admin_user, team):
    tao = AlertRuleFactory(kind=AlertKind.TAO_PRICE_STALE)
    page = _as(client, admin_user).get(_url("alert_rules", team)).content.decode()
    assert tao.name in page
    assert _url("alert_rule_edit", team, rule_id=tao.pk) not in page
    assert client.get(_url("alert_rule_edit", team, rule_id=tao.pk)).status_code == 403


def test_it_lists_the_team_rules_before_the_global_ones(client, viewer_user, team):
    AlertRuleFactory(kind=AlertKind.TAO_PRICE_STALE, name="Global stale")
    AlertRuleFactory(team=team, kind=AlertKind.TAO_PRICE_STALE, name="Team stale")
    page = _as(client, viewer_user).get(_url("alert_rules", team)).content.decode()
    assert page.index("Team stale") < page.index("Global stale")


def test_it_lets_a_superuser_make_a_tao_rule_global(client, team):
    superuser = UserFactory(username="root", is_superuser=True, is_staff=True)
    data = {**SPIKE, "make_global": "on"}
    _as(client, superuser).post(_url("alert_rule_new", team), data)
    assert AlertRule.objects.get().team is None


def test_it_refuses_a_global_rule_of_a_team_kind(client, team):
    superuser = UserFactory(username="root", is_superuser=True, is_staff=True)
    data = {"kind": "budget_forecast", "name": "forecast", "cooldown_minutes": "60"}
    response = _as(client, superuser).post(
        _url("alert_rule_new", team), {**data, "make_global": "on"}
    )
    assert response.status_code == 400
    assert "Only TAO price rules can be global." in response.content.decode()


def test_it_keeps_the_global_choice_from_team_admins(client, admin_user, team):
    _as(client, admin_user).post(_url("alert_rule_new", team), {**SPIKE, "make_global": "on"})
    assert AlertRule.objects.get().team == team


def test_it_words_each_kinds_defaults():
    assert params_in_words(AlertKind.ERROR_RATE, {"model": "claude-sonnet-4-5"}) == (
        "errors above 5% over 60 min, at least 50 requests, model claude-sonnet-4-5"
    )


# The jobs page


@pytest.mark.parametrize(("role", "status"), [("admin", 200), ("ops", 403), ("viewer", 403)])
def test_it_shows_the_jobs_to_admins_only(client, users_by_role, role, status, team):
    response = _as(client, users_by_role[role]).get(_url("alert_jobs", team))
    assert response.status_code == status


def test_it_marks_a_late_job(client, admin_user, team):
    now = timezone.now()
    JobRun.objects.create(name="heartbeat", started_at=now - timedelta(seconds=30))
    JobRun.objects.create(name="poll_tao_price", started_at=now - timedelta(minutes=20))
    page = _as(client, admin_user).get(_url("alert_jobs", team)).content.decode()
    late = [name for name in ["heartbeat", "poll_tao_price"] if _row(page, name).count("late<")]
    assert late == ["poll_tao_price"]


def test_it_shows_a_degraded_job_with_its_reason_not_ok(client, admin_user, team):
    JobRun.objects.create(
        name="poll_tao_price",
        outcome=JobRun.Outcome.DEGRADED,
        detail="no TAO price stored: coingecko: HTTP 502",
        finished_at=timezone.now(),
    )
    row = _row(
        _as(client, admin_user).get(_url("alert_jobs", team)).content.decode(), "poll_tao_price"
    )
    assert "job-degraded" in row and ">Degraded<" in row and ">OK<" not in row
    assert "no TAO price stored: coingecko: HTTP 502" in row


def test_it_says_when_a_job_never_ran(client, admin_user, team):
    page = _as(client, admin_user).get(_url("alert_jobs", team)).content.decode()
    assert "never" in _row(page, "evaluate_alerts")


def _row(page, job):
    start = page.index(f'data-testid="job-{job}"')
    return page[start : page.index("</tr>", start)]
