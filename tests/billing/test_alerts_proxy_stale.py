"""The proxy_stale alert: a proxy gone quiet, behind the published version, or spooling."""

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.alerts.evaluation import alerts_evaluate
from billing.alerts.params import params_of
from billing.alerts.rules import params_in_words
from billing.models import Alert, AlertKind, AlertNotification, AlertRule
from dashboard.models import Role
from routing.fleet import heartbeat_record, heartbeat_values
from routing.models import Model
from routing.publish import routing_publish
from routing.rules import rule_save
from tests.billing.test_alert_scenarios import open_keys
from tests.factories import AlertRuleFactory, MembershipFactory, UserFactory

NOW = datetime(2026, 12, 5, 15, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


@pytest.fixture
def routing(team, catalog, clock):
    """Version 1 published at NOW, and a way to publish the next one."""
    llama = Model.objects.get(provider__slug="chutes", name="unsloth/Llama-3.3-70B-Instruct")
    targets = [{"model_id": llama.pk, "weight": 100}]
    rule = rule_save(team=team, user=None, task_type="*", targets=targets, fallbacks=[])
    routing_publish(team=team, user=None, comment="first")

    def publish_next():
        # An unchanged draft is not published again.
        rule.refresh_from_db()
        rule_save(team=team, user=None, task_type="*", targets=targets, fallbacks=[],
                  description=f"revision {rule.revision + 1}", rule=rule)  # fmt: skip
        return routing_publish(team=team, user=None, comment="next")

    return publish_next


@pytest.fixture
def rule(team):
    MembershipFactory(team=team, user=UserFactory(email="ops@example.com"), role=Role.OPS)
    return AlertRuleFactory(kind=AlertKind.PROXY_STALE, team=team, recipient_roles=[Role.OPS])


def beat(team, instance_id="p-1", **report):
    report = {"instance_id": instance_id, "host": "proxy-1", "routing_version": 1} | report
    heartbeat_record(team=team, values=heartbeat_values(report), now=timezone.now())


def every_minute(clock, team, minutes, **report):
    for _ in range(minutes):
        clock.shift(MINUTE)
        beat(team, **report)


def test_it_fires_when_a_proxy_goes_quiet_and_resolves_when_it_reports(clock, team, routing, rule):
    beat(team)
    clock.shift(10 * MINUTE)
    assert alerts_evaluate().fired == 0
    clock.shift(MINUTE)
    alerts_evaluate()
    assert open_keys() == ["proxy_stale:p-1:unseen"]
    assert AlertNotification.objects.get().subject == "Proxy p-1 on proxy-1 not seen for 11 min"
    beat(team)
    assert alerts_evaluate().resolved == 1


def test_it_fires_when_a_proxy_stays_behind_a_publish(clock, team, routing, rule):
    beat(team)
    clock.shift(MINUTE)
    routing()
    every_minute(clock, team, 5)
    assert alerts_evaluate().fired == 0
    every_minute(clock, team, 1)
    alerts_evaluate()
    assert open_keys() == ["proxy_stale:p-1:behind"]
    assert Alert.objects.get().subject == "Proxy p-1 on proxy-1 still on v1, not v2, after 6 min"
    beat(team, routing_version=2)
    assert alerts_evaluate().resolved == 1


def test_the_behind_alert_says_why_the_proxy_did_not_apply_it(clock, team, routing, rule):
    beat(team)
    routing()
    every_minute(clock, team, 6, routing_error="model group 'default' has no deployment")
    alerts_evaluate()
    assert "It says: model group 'default' has no deployment" in Alert.objects.get().summary


def test_a_proxy_that_applies_the_publish_in_time_raises_nothing(clock, team, routing, rule):
    beat(team)
    routing()
    every_minute(clock, team, 1)
    every_minute(clock, team, 10, routing_version=2)
    assert alerts_evaluate().fired == 0


def test_it_fires_when_the_spool_grows_for_15_minutes(clock, team, routing, rule):
    beat(team, spool_depth=0)
    for depth in range(1, 17):
        clock.shift(MINUTE)
        beat(team, spool_depth=depth * 100)
    # Growing since the first rise, 15 minutes ago: not more than 15 yet.
    assert alerts_evaluate().fired == 0
    clock.shift(MINUTE)
    beat(team, spool_depth=1700)
    alerts_evaluate()
    assert open_keys() == ["proxy_stale:p-1:spool"]
    assert Alert.objects.get().subject == (
        "Proxy p-1 on proxy-1 spool growing for 16 min (1,700 calls waiting)"
    )
    beat(team, spool_depth=900)
    assert alerts_evaluate().resolved == 1


def test_each_proxy_has_its_own_alert(clock, team, routing, rule):
    beat(team, "p-1")
    beat(team, "p-2")
    clock.shift(11 * MINUTE)
    beat(team, "p-3")
    alerts_evaluate()
    assert open_keys() == ["proxy_stale:p-1:unseen", "proxy_stale:p-2:unseen"]


def test_a_proxy_gone_for_a_day_is_forgotten(clock, team, routing, rule):
    beat(team)
    clock.shift(11 * MINUTE)
    alerts_evaluate()
    clock.shift(timedelta(hours=24))
    assert alerts_evaluate().resolved == 1
    assert open_keys() == []


def test_another_team_s_proxies_are_not_this_rule_s(clock, team, other_team, routing, rule):
    beat(other_team)
    clock.shift(30 * MINUTE)
    assert alerts_evaluate().fired == 0


def test_the_email_links_to_the_fleet_panel(clock, team, routing, rule, settings):
    beat(team)
    clock.shift(11 * MINUTE)
    alerts_evaluate()
    notification = AlertNotification.objects.get()
    assert notification.recipients == ["ops@example.com"]
    assert f"{settings.SITE_URL}/t/maven/routing/#fleet" in notification.text_body


def test_its_params_default_to_10_5_and_15_minutes():
    rule = AlertRule(kind=AlertKind.PROXY_STALE)
    assert params_of(rule) == {"unseen_minutes": 10, "behind_minutes": 5, "spool_minutes": 15}
    assert params_in_words(AlertKind.PROXY_STALE, {}) == (
        "a proxy not seen for 10 min, not on the published version 5 min after a publish, "
        "or its spool growing for 15 min"
    )


def test_it_refuses_nonsense_params():
    with pytest.raises(ValueError):
        params_of(AlertRule(kind=AlertKind.PROXY_STALE, params={"unseen_minutes": 0}))


def _rule_data(**params):
    data = {"kind": "proxy_stale", "name": "Proxies", "cooldown_minutes": "60"}
    return data | {f"proxy_stale-{name}": value for name, value in params.items()}


def test_an_ops_member_adds_the_rule_with_its_minutes(client, team, ops_user):
    client.force_login(ops_user)
    url = reverse("alert_rule_new", kwargs={"team": team.slug})
    client.post(url, _rule_data(unseen_minutes="3", behind_minutes="2", spool_minutes="20"))
    saved = AlertRule.objects.get(team=team)
    assert saved.params == {"unseen_minutes": 3, "behind_minutes": 2, "spool_minutes": 20}


def test_the_form_refuses_minutes_that_are_not_whole_and_positive(client, team, ops_user):
    client.force_login(ops_user)
    url = reverse("alert_rule_new", kwargs={"team": team.slug})
    data = _rule_data(unseen_minutes="0", behind_minutes="2", spool_minutes="20")
    response = client.post(url, data)
    assert response.status_code == 400
    assert "Enter whole minutes from 1 to 10080" in response.content.decode()


def test_a_proxy_rule_cannot_be_global(client, team):
    superuser = UserFactory(username="root", is_superuser=True, is_staff=True)
    client.force_login(superuser)
    url = reverse("alert_rule_new", kwargs={"team": team.slug})
    data = _rule_data(unseen_minutes="10", behind_minutes="5", spool_minutes="15")
    response = client.post(url, data | {"make_global": "on"})
    assert response.status_code == 400
    assert not AlertRule.objects.exists()
