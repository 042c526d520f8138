"""Every team view, for every role: members see their teams, outsiders get 404, roles 403."""

import pytest
from django.urls import reverse

from dashboard.models import Membership

ROLES = ["admin", "ops", "finance", "viewer"]

# url name -> the roles that may open it; everyone else in the team gets 403.
TEAM_PAGES = {
    "overview": ROLES,
    "routing": ROLES,
    "routing_fleet": ROLES,
    "keys": ROLES,
    "usage": ROLES,
    "budgets": ROLES,
    "alerts": ROLES,
    "reports": ROLES,
    "audit": ["admin"],
    "tokens": ["admin"],
    "members": ROLES,
    "team_settings": ["admin"],
}

CASES = [(name, role, role in allowed) for name, allowed in TEAM_PAGES.items() for role in ROLES]


@pytest.mark.parametrize(("url_name", "role", "allowed"), CASES)
def test_it_lets_each_role_open_only_its_pages(
    client, users_by_role, team, url_name, role, allowed
):
    client.force_login(users_by_role[role])
    # The reports index sends readers on to last month's report.
    response = client.get(reverse(url_name, kwargs={"team": team.slug}), follow=True)
    assert response.status_code == (200 if allowed else 403)


@pytest.mark.parametrize("url_name", TEAM_PAGES)
def test_it_hides_a_team_from_outsiders(client, outsider, team, url_name):
    client.force_login(outsider)
    response = client.get(reverse(url_name, kwargs={"team": team.slug}))
    assert response.status_code == 404


@pytest.mark.parametrize("url_name", TEAM_PAGES)
def test_it_answers_404_for_an_unknown_team(client, admin_user, url_name):
    client.force_login(admin_user)
    assert client.get(reverse(url_name, kwargs={"team": "no-such-team"})).status_code == 404


@pytest.mark.parametrize("url_name", TEAM_PAGES)
def test_it_sends_anonymous_visitors_to_sign_in(client, team, url_name):
    response = client.get(reverse(url_name, kwargs={"team": team.slug}))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def _member_of(team, user):
    return Membership.objects.get(team=team, user=user)


MEMBER_ACTIONS = {
    "add": lambda team, target: (reverse("members", kwargs={"team": team.slug}), {"username": "x"}),
    "role": lambda team, target: (
        reverse("member_role", kwargs={"team": team.slug, "membership_id": target.pk}),
        {"role": "admin"},
    ),
    "remove": lambda team, target: (
        reverse("member_remove", kwargs={"team": team.slug, "membership_id": target.pk}),
        {},
    ),
}


@pytest.mark.parametrize("role", ["ops", "finance", "viewer"])
@pytest.mark.parametrize("action", MEMBER_ACTIONS)
def test_it_refuses_member_changes_to_non_admins(client, users_by_role, team, role, action):
    target = _member_of(team, users_by_role["viewer"])
    url, data = MEMBER_ACTIONS[action](team, target)
    client.force_login(users_by_role[role])
    assert client.post(url, data).status_code == 403
    assert Membership.objects.filter(pk=target.pk, role="viewer").exists()


@pytest.mark.parametrize("action", MEMBER_ACTIONS)
def test_it_hides_member_changes_from_outsiders(client, users_by_role, team, action):
    target = _member_of(team, users_by_role["viewer"])
    url, data = MEMBER_ACTIONS[action](team, target)
    client.force_login(users_by_role["outsider"])
    assert client.post(url, data).status_code == 404


def test_it_refuses_a_membership_of_another_team_by_id(
    client, admin_user, outsider, team, other_team
):
    foreign = _member_of(other_team, outsider)
    client.force_login(admin_user)
    url = reverse("member_remove", kwargs={"team": team.slug, "membership_id": foreign.pk})
    assert client.post(url).status_code == 404
    assert Membership.objects.filter(pk=foreign.pk).exists()


def test_it_treats_a_superuser_as_admin_of_every_team(client, team, django_user_model):
    root = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(root)
    assert client.get(reverse("audit", kwargs={"team": team.slug})).status_code == 200


def test_it_lists_only_the_users_own_teams(client, viewer_user, team, other_team):
    client.force_login(viewer_user)
    response = client.get(reverse("home"))
    assert team.name in response.content.decode()
    assert other_team.name not in response.content.decode()


def test_it_explains_what_to_do_when_the_user_has_no_team(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("loner"))
    response = client.get(reverse("home"))
    assert "You are not in any team yet" in response.content.decode()


@pytest.mark.parametrize(
    ("role", "visible", "hidden"),
    [
        ("admin", ["Reports", "Audit", "Proxy tokens", "Settings"], []),
        ("ops", ["Routing", "Keys", "Reports"], ["Audit", "Proxy tokens", "Settings"]),
        ("finance", ["Reports", "Budgets &amp; alerts"], ["Audit", "Proxy tokens", "Settings"]),
        ("viewer", ["Reports", "Usage"], ["Audit", "Proxy tokens", "Settings"]),
    ],
)
def test_it_shows_each_role_the_navigation_it_may_use(
    client, users_by_role, team, role, visible, hidden
):
    client.force_login(users_by_role[role])
    page = client.get(reverse("overview", kwargs={"team": team.slug})).content.decode()
    for label in visible:
        assert f">{label}</a>" in page
    for label in hidden:
        assert f">{label}</a>" not in page
