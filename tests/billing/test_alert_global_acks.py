"""Global (TAO) alerts shared by every team: each team is told, and acknowledges, for itself;
site staff may acknowledge for all. Addresses are shown to staff and to the team's admins only."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from billing.alerts.evaluation import alerts_evaluate
from billing.alerts.rules import alert_rule_save
from billing.audit_actions import BillingAuditAction
from billing.models import (
    Alert,
    AlertKind,
    AlertNotification,
    AlertRule,
    AlertState,
    NotificationStatus,
)
from dashboard.models import AuditEvent, Role
from tests.factories import AlertRuleFactory, MembershipFactory, TaoPriceFactory, UserFactory

NOW = datetime(2026, 5, 14, 16, 0, tzinfo=UTC)
SUBJECT = "TAO up 14.2% in 1 h: $146.20 -> $166.95"


@pytest.fixture
def rival_ops(other_team):
    return MembershipFactory(
        team=other_team, user=UserFactory(username="rival-ops"), role=Role.OPS
    ).user


@pytest.fixture
def root(db):
    return UserFactory(username="root", is_superuser=True, is_staff=True)


@pytest.fixture
def spike(clock, root, ops_user, admin_user, rival_ops):
    """A global TAO rule telling each team's ops and admins, fired at NOW."""
    TaoPriceFactory(at=NOW - timedelta(minutes=70), usd=Decimal("146.20"))
    TaoPriceFactory(at=NOW - timedelta(minutes=5), usd=Decimal("166.95"))
    AlertRuleFactory(
        kind=AlertKind.TAO_PRICE_SPIKE,
        name="TAO 1 h",
        recipient_roles=[Role.OPS, Role.ADMIN],
        extra_emails=["treasury@example.com"],
        webhook_url="https://hooks.slack.example/services/T0/B0/s3cr3t",
        cooldown_minutes=30,
    )
    alerts_evaluate()
    return Alert.objects.get()


def _url(name, team, **kwargs):
    return reverse(name, kwargs={"team": team.slug, **kwargs})


def _as(client, user):
    client.force_login(user)
    return client


def _audiences():
    """Who each pending notification goes to, by team slug ("" for the rule's own list)."""
    rows = AlertNotification.objects.select_related("team").order_by("id")
    return {(row.team.slug if row.team else ""): row.recipients for row in rows}


def _reminded_after_cooldown(clock):
    AlertNotification.objects.all().delete()
    clock.shift(timedelta(minutes=31))
    alerts_evaluate()
    return _audiences()


# Who hears of a global alert


def test_it_tells_each_team_of_a_global_alert_apart(spike):
    assert _audiences() == {
        "": ["root@example.com", "treasury@example.com"],
        "maven": ["admin-user@example.com", "ops-user@example.com"],
        "rival": ["rival-ops@example.com"],
    }


def test_a_teams_email_names_no_other_team(spike, other_team):
    email = AlertNotification.objects.get(team__slug="maven")
    assert "Rival" not in email.text_body + email.html_body
    assert "/t/maven/alerts/" in email.text_body
    assert email.webhook_url == ""


# Acknowledging for one team


def test_a_teams_acknowledgement_stops_only_its_own_reminders(client, clock, spike, ops_user, team):
    _as(client, ops_user).post(_url("alert_acknowledge", team, alert_id=spike.pk))
    assert set(_reminded_after_cooldown(clock)) == {"", "rival"}


def test_another_team_still_sees_it_firing_and_no_name(
    client, spike, ops_user, team, other_team, rival_ops
):
    _as(client, ops_user).post(_url("alert_acknowledge", team, alert_id=spike.pk))
    page = _as(client, rival_ops).get(_url("alerts", other_team)).content.decode()
    assert 'data-state="firing"' in page
    assert "ops-user" not in page
    detail = client.get(_url("alert", other_team, alert_id=spike.pk)).content.decode()
    assert "ops-user" not in detail
    assert "Acknowledge</button>" in detail


def test_the_acknowledging_team_sees_it_acknowledged_by_its_member(
    client, spike, ops_user, team, viewer_user
):
    _as(client, ops_user).post(_url("alert_acknowledge", team, alert_id=spike.pk))
    page = _as(client, viewer_user).get(_url("alerts", team), {"state": "acknowledged"})
    assert 'data-state="acknowledged"' in page.content.decode()
    assert "ops-user" in page.content.decode()


def test_the_tabs_count_each_teams_own_state(client, spike, ops_user, team, other_team, rival_ops):
    _as(client, ops_user).post(_url("alert_acknowledge", team, alert_id=spike.pk))
    mine = client.get(_url("alerts", team)).context["tabs"]
    theirs = _as(client, rival_ops).get(_url("alerts", other_team)).context["tabs"]
    assert [count for _, _, count in mine][:2] == [0, 1]
    assert [count for _, _, count in theirs][:2] == [1, 0]


def test_a_team_acknowledges_a_global_alert_once_and_audits_it(
    client, spike, ops_user, admin_user, team
):
    url = _url("alert_acknowledge", team, alert_id=spike.pk)
    _as(client, ops_user).post(url)
    _as(client, admin_user).post(url)
    event = AuditEvent.objects.get(action=BillingAuditAction.ALERT_ACKNOWLEDGED)
    assert (event.team, event.actor, event.detail["global"]) == (team, ops_user, True)


# Acknowledging for every team


def test_staff_acknowledge_a_global_alert_for_every_team(client, clock, spike, root, team):
    _as(client, root).post(_url("alert_acknowledge_all", team, alert_id=spike.pk))
    spike.refresh_from_db()
    assert (spike.state, spike.acknowledged_by) == (AlertState.ACKNOWLEDGED, root)
    assert _reminded_after_cooldown(clock) == {}
    event = AuditEvent.objects.get(action=BillingAuditAction.ALERT_ACKNOWLEDGED)
    assert (event.team, event.actor, event.detail["for_all_teams"]) == (team, root, True)


def test_other_teams_see_it_acknowledged_for_all_without_the_staff_name(
    client, spike, root, team, other_team, rival_ops
):
    _as(client, root).post(_url("alert_acknowledge_all", team, alert_id=spike.pk))
    page = _as(client, rival_ops).get(_url("alerts", other_team), {"state": "acknowledged"})
    body = page.content.decode()
    assert "for every team" in body
    assert "root" not in body


def test_team_admins_cannot_acknowledge_for_every_team(client, spike, admin_user, team):
    url = _url("alert_acknowledge_all", team, alert_id=spike.pk)
    assert _as(client, admin_user).post(url).status_code == 403
    spike.refresh_from_db()
    assert spike.state == AlertState.FIRING


def test_a_team_alert_is_not_acknowledged_for_every_team(client, root, team):
    rule = AlertRuleFactory(team=team, kind=AlertKind.ERROR_RATE, name="errors")
    alert = Alert.objects.create(rule=rule, team=team, dedupe_key="k", subject="Errors")
    url = _url("alert_acknowledge_all", team, alert_id=alert.pk)
    assert _as(client, root).post(url).status_code == 404


# Whose addresses are shown


@pytest.mark.parametrize("role", ["ops", "viewer"])
def test_members_see_no_address_on_a_global_alerts_page(client, spike, users_by_role, role, team):
    page = _as(client, users_by_role[role]).get(_url("alert", team, alert_id=spike.pk))
    body = page.content.decode()
    assert "@example.com" not in body
    assert "s3cr3t" not in body
    assert "2 addresses: the team&#x27;s ops and admin members" in body


def test_a_team_admin_sees_only_the_own_teams_recipients(client, spike, admin_user, team):
    body = _as(client, admin_user).get(_url("alert", team, alert_id=spike.pk)).content.decode()
    assert "admin-user@example.com, ops-user@example.com" in body
    assert "root@example.com" not in body
    assert "treasury@example.com" not in body
    assert "rival-ops@example.com" not in body


def test_staff_see_every_recipient(client, spike, root, team):
    body = _as(client, root).get(_url("alert", team, alert_id=spike.pk)).content.decode()
    for email in ["root", "treasury", "ops-user", "rival-ops"]:
        assert f"{email}@example.com" in body


@pytest.fixture
def team_alert(team, admin_user, viewer_user):
    rule = AlertRuleFactory(
        team=team, kind=AlertKind.ERROR_RATE, name="errors", recipient_roles=[Role.ADMIN]
    )
    alert = Alert.objects.create(rule=rule, team=team, dedupe_key="k", subject="Errors")
    AlertNotification.objects.create(
        alert=alert,
        team=team,
        event="fired",
        subject="Errors",
        text_body="...",
        recipients=["admin-user@example.com"],
        status=NotificationStatus.FAILED,
        last_error="SMTPRecipientsRefused: {'admin-user@example.com': (550, b'unknown')}",
    )
    return alert


def test_a_viewer_sees_a_count_and_no_address_in_errors(client, team, team_alert, viewer_user):
    page = _as(client, viewer_user).get(_url("alert", team, alert_id=team_alert.pk))
    body = page.content.decode()
    assert "admin-user@example.com" not in body
    assert "1 address: the team&#x27;s admin members" in body
    assert "Delivery failed" in body
    assert "SMTPRecipientsRefused" not in body


def test_the_teams_admin_sees_a_team_alerts_recipients(client, team, team_alert, admin_user):
    page = _as(client, admin_user).get(_url("alert", team, alert_id=team_alert.pk))
    assert "admin-user@example.com" in page.content.decode()


# Rules


def test_readers_see_no_extra_address_of_a_team_rule(client, team, viewer_user, ops_user):
    AlertRuleFactory(
        team=team, kind=AlertKind.ERROR_RATE, name="errors", extra_emails=["pager@example.com"]
    )
    page = _as(client, viewer_user).get(_url("alert_rules", team)).content.decode()
    assert "pager@example.com" not in page
    assert "1 other address" in page
    page = _as(client, ops_user).get(_url("alert_rules", team)).content.decode()
    assert "pager@example.com" in page


def test_team_admins_see_no_extra_address_of_a_global_rule(client, spike, admin_user, root, team):
    page = _as(client, admin_user).get(_url("alert_rules", team)).content.decode()
    assert "treasury@example.com" not in page
    page = _as(client, root).get(_url("alert_rules", team)).content.decode()
    assert "treasury@example.com" in page


def test_the_audit_log_keeps_no_address_of_a_global_rule(spike, root, team):
    rule = AlertRule.objects.get()
    values = {name: getattr(rule, name) for name in ["kind", "name", "enabled", "params"]}
    values |= {
        "recipient_roles": rule.recipient_roles,
        "extra_emails": rule.extra_emails,
        "webhook_url": rule.webhook_url,
        "cooldown_minutes": 15,
        "notify_on_resolve": False,
    }
    alert_rule_save(team=team, actor=root, values=values, rule=rule, make_global=True)
    event = AuditEvent.objects.get(action=BillingAuditAction.ALERT_RULE_CHANGED)
    assert "treasury@example.com" not in str(event.detail)
    assert event.detail["recipients"] == ["ops", "admin", "1 extra address"]
