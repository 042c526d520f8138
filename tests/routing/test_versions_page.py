"""Published versions: the list, diffs between two, and rollback."""

import re
from datetime import UTC, datetime
from html import unescape

import pytest
from django.urls import reverse

from dashboard.forms import OverviewFilterForm
from routing.models import RoutingVersion
from routing.publish import routing_publish
from routing.rules import rule_save
from routing.views_rules import OVERVIEW_MAX_DAYS

ROLES = ["admin", "ops", "finance", "viewer"]


@pytest.fixture
def two_versions(team, admin_user, llama, deepseek):
    rule = rule_save(
        team=team,
        user=admin_user,
        task_type="*",
        targets=[{"model_id": llama.pk, "weight": 70}, {"model_id": deepseek.pk, "weight": 30}],
        fallbacks=[],
    )
    first = routing_publish(team=team, user=admin_user, comment="first")
    rule_save(
        team=team,
        user=admin_user,
        task_type="*",
        targets=[{"model_id": llama.pk, "weight": 50}, {"model_id": deepseek.pk, "weight": 50}],
        fallbacks=[],
        rule=rule,
    )
    second = routing_publish(team=team, user=admin_user, comment="half and half")
    return first, second


def _url(name, team, **kwargs):
    return reverse(name, kwargs={"team": team.slug, **kwargs})


@pytest.mark.parametrize("role", ROLES)
def test_it_lists_the_versions_to_every_role(client, users_by_role, team, two_versions, role):
    client.force_login(users_by_role[role])
    response = client.get(_url("routing_versions", team))
    assert response.status_code == 200
    assert "half and half" in response.content.decode()


@pytest.mark.parametrize(("role", "sees"), [("ops", True), ("finance", False), ("viewer", False)])
def test_it_offers_rollback_only_to_editors(client, users_by_role, team, two_versions, role, sees):
    client.force_login(users_by_role[role])
    page = client.get(_url("routing_versions", team)).content.decode()
    assert ("Roll back to v1" in page) is sees


def test_it_explains_versions_when_none_is_published(client, viewer_user, team):
    client.force_login(viewer_user)
    assert "Nothing published yet" in client.get(_url("routing_versions", team)).content.decode()


@pytest.mark.parametrize("name", ["routing_versions", "routing_version_diff"])
def test_it_hides_versions_from_outsiders(client, outsider, team, name):
    client.force_login(outsider)
    assert client.get(_url(name, team)).status_code == 404


def test_it_answers_404_for_an_unknown_team(client, admin_user):
    client.force_login(admin_user)
    assert client.get(reverse("routing_versions", kwargs={"team": "nope"})).status_code == 404


def test_it_shows_a_changed_weight_between_two_versions(client, viewer_user, team, two_versions):
    client.force_login(viewer_user)
    response = client.get(_url("routing_version_diff", team), {"old": 1, "new": 2})
    page = response.content.decode()
    assert response.status_code == 200
    assert 'class="diff-change"' in page
    # One row for the target: its weight before (70%) and after (50%).
    assert re.search(
        r'Llama-3.3-70B-Instruct</td>\s*<td class="num">70%</td>\s*<td class="num">50%', page
    )


def test_it_refuses_a_diff_with_a_version_that_does_not_exist(
    client, viewer_user, team, two_versions
):
    client.force_login(viewer_user)
    response = client.get(_url("routing_version_diff", team), {"old": 1, "new": 9})
    assert response.status_code == 400
    assert "Maven has no version 9." in response.content.decode()


def test_it_confirms_before_rolling_back(client, ops_user, team, two_versions):
    client.force_login(ops_user)
    response = client.get(_url("routing_version_rollback", team, number=1))
    assert response.status_code == 200
    assert "Roll back to version 1?" in response.content.decode()
    assert RoutingVersion.objects.filter(team=team).count() == 2


def test_it_rolls_back_as_a_new_version_with_the_old_rules(client, ops_user, team, two_versions):
    first, _ = two_versions
    client.force_login(ops_user)
    response = client.post(_url("routing_version_rollback", team, number=1), follow=True)
    third = RoutingVersion.objects.get(team=team, number=3)
    assert (third.snapshot, third.rollback_of) == (first.snapshot, first)
    assert "Published version 3: the rules of version 1 again." in response.content.decode()


@pytest.mark.parametrize("role", ["finance", "viewer"])
def test_it_refuses_rollback_to_readers(client, users_by_role, team, two_versions, role):
    client.force_login(users_by_role[role])
    assert client.post(_url("routing_version_rollback", team, number=1)).status_code == 403
    assert RoutingVersion.objects.filter(team=team).count() == 2


def test_it_hides_rollback_from_outsiders(client, outsider, team, two_versions):
    client.force_login(outsider)
    assert client.post(_url("routing_version_rollback", team, number=1)).status_code == 404


def test_it_answers_404_for_a_version_of_another_team(
    client, admin_user, outsider, team, other_team, two_versions
):
    RoutingVersion.objects.create(team=other_team, number=7, snapshot=[])
    client.force_login(admin_user)
    assert client.post(_url("routing_version_rollback", team, number=7)).status_code == 404


def test_it_does_not_roll_back_to_the_live_version(client, admin_user, team, two_versions):
    client.force_login(admin_user)
    client.post(_url("routing_version_rollback", team, number=2))
    assert RoutingVersion.objects.filter(team=team).count() == 2


@pytest.fixture
def dated_versions(team):
    """v1 published late on November 2nd and v2 on November 20th, in the team's New York."""
    for number, published_at in [
        (1, datetime(2026, 11, 3, 2, tzinfo=UTC)),
        (2, datetime(2026, 11, 20, 15, tzinfo=UTC)),
    ]:
        RoutingVersion.objects.create(
            team=team, number=number, snapshot=[], published_at=published_at
        )


def _overview_links(page: str) -> list[str]:
    return [
        unescape(href)
        for href in re.findall(r'<a href="([^"]*)" data-testid="version-overview"', page)
    ]


@pytest.mark.usefixtures("frozen_now", "dated_versions")
def test_it_links_each_version_to_its_overview_from_its_publish_day(client, viewer_user, team):
    client.force_login(viewer_user)
    page = client.get(_url("routing_versions", team)).content.decode()
    overview = _url("overview", team)
    # Today (November 26th) for the live version, the next one's publish day for the older.
    assert _overview_links(page) == [
        f"{overview}?range=custom&start=2026-11-20&end=2026-11-26&version=2",
        f"{overview}?range=custom&start=2026-11-02&end=2026-11-20&version=1",
    ]
    assert "Overview of v2" in page


@pytest.mark.usefixtures("frozen_now")
def test_it_links_a_long_lived_version_to_its_last_366_days(client, viewer_user, team):
    published_at = datetime(2024, 1, 10, 12, tzinfo=UTC)
    RoutingVersion.objects.create(team=team, number=1, snapshot=[], published_at=published_at)
    client.force_login(viewer_user)
    [link] = _overview_links(client.get(_url("routing_versions", team)).content.decode())
    assert link.endswith("?range=custom&start=2025-11-26&end=2026-11-26&version=1")


def test_its_links_ask_for_no_longer_a_range_than_the_overview_takes():
    assert OVERVIEW_MAX_DAYS == OverviewFilterForm.MAX_CUSTOM_DAYS


@pytest.mark.usefixtures("frozen_now", "dated_versions")
def test_a_version_s_link_opens_its_overview(client, viewer_user, team):
    client.force_login(viewer_user)
    [_, older] = _overview_links(client.get(_url("routing_versions", team)).content.decode())
    response = client.get(older)
    assert response.status_code == 200
    assert "Nov 2, 2026 \N{EN DASH} Nov 20, 2026 · routing version v1" in response.content.decode()
