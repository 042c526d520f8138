from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from billing.models import AlertKind
from dashboard.models import JobRun, Role
from tests.factories import AlertRuleFactory, MembershipFactory, UserFactory

BANNER = 'data-testid="scheduler-banner"'


def _evaluated(minutes_ago):
    JobRun.objects.create(
        name="evaluate_alerts", started_at=timezone.now() - timedelta(minutes=minutes_ago)
    )


def _page(client, user, team):
    client.force_login(user)
    return client.get(reverse("overview", kwargs={"team": team.slug})).content.decode()


@pytest.fixture
def enabled_rule(team):
    return AlertRuleFactory(team=team, kind=AlertKind.ERROR_RATE, name="errors")


def test_it_warns_admins_when_alerts_were_not_evaluated_lately(client, admin_user, team):
    _evaluated(minutes_ago=25)
    page = _page(client, admin_user, team)
    assert "Alerts have not been evaluated for 25 minutes" in page
    assert reverse("alert_jobs", kwargs={"team": team.slug}) in page


def test_it_warns_admins_when_alerts_never_ran_but_rules_exist(
    client, admin_user, team, enabled_rule
):
    assert "Alerts have never been evaluated" in _page(client, admin_user, team)


def test_it_stays_quiet_when_nothing_ran_and_no_rule_is_enabled(client, admin_user, team):
    AlertRuleFactory(team=team, kind=AlertKind.ERROR_RATE, name="off", enabled=False)
    assert BANNER not in _page(client, admin_user, team)


def test_it_stays_quiet_when_alerts_were_evaluated_lately(client, admin_user, team, enabled_rule):
    _evaluated(minutes_ago=2)
    assert BANNER not in _page(client, admin_user, team)


@pytest.mark.parametrize("role", ["ops", "finance", "viewer"])
def test_it_hides_the_warning_from_non_admins(client, users_by_role, team, role, enabled_rule):
    _evaluated(minutes_ago=60)
    assert BANNER not in _page(client, users_by_role[role], team)


def test_it_warns_superusers(client, team):
    _evaluated(minutes_ago=60)
    superuser = UserFactory(username="root", is_superuser=True)
    assert BANNER in _page(client, superuser, team)


def test_it_links_an_admin_elsewhere_to_the_team_they_administer(
    client, viewer_user, team, other_team
):
    MembershipFactory(team=other_team, user=viewer_user, role=Role.ADMIN)
    _evaluated(minutes_ago=60)
    page = _page(client, viewer_user, team)
    assert reverse("alert_jobs", kwargs={"team": other_team.slug}) in page


def _queries(client, user, url) -> int:
    client.force_login(user)
    client.get(url)
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    return len(queries)


def test_it_costs_admins_one_query(client, admin_user, ops_user, team, enabled_rule):
    _evaluated(minutes_ago=60)
    url = reverse("alert_rules", kwargs={"team": team.slug})
    assert _queries(client, admin_user, url) == _queries(client, ops_user, url) + 1
