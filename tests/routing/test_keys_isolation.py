"""No one reaches another team's keys, and each role does only what it may with its own."""

import pytest
import respx
from django.urls import reverse

from routing.models import ProviderKey
from tests.factories import ProviderKeyFactory

ROLES = ["admin", "ops", "finance", "viewer"]
MANAGERS = ["admin", "ops"]
NEW_SECRET = "cpk_zyxwvutsrqponmlkjihgfedcba9876543210cd34"


@pytest.fixture
def our_key(team, chutes):
    return ProviderKeyFactory(team=team, provider=chutes, label="prod")


@pytest.fixture
def their_key(other_team, chutes):
    return ProviderKeyFactory(team=other_team, provider=chutes, label="rival-prod")


@pytest.fixture(autouse=True)
def chutes_api():
    with respx.mock(assert_all_called=False) as mock:
        yield mock.get("https://llm.chutes.ai/v1/models").respond(200, json={"data": []})


def _key_url(name, team_slug, key):
    return reverse(name, kwargs={"team": team_slug, "key_id": key.pk})


# action -> (method, url name, form data); every one goes through "keys.manage".
KEY_ACTIONS = {
    "rotate page": ("get", "key_rotate", {}),
    "rotate": ("post", "key_rotate", {"secret": NEW_SECRET}),
    "revoke page": ("get", "key_revoke", {}),
    "revoke": ("post", "key_revoke", {}),
    "test": ("post", "key_test", {}),
}


def _act(client, action, team_slug, key):
    method, url_name, data = KEY_ACTIONS[action]
    return getattr(client, method)(_key_url(url_name, team_slug, key), data)


def _add(client, team_slug, provider):
    url = reverse("keys", kwargs={"team": team_slug})
    return client.post(url, {"provider": provider.pk, "label": "new", "secret": NEW_SECRET})


def _untouched(key):
    fresh = ProviderKey.objects.get(pk=key.pk)
    return fresh.is_active and not fresh.last_test_result and not hasattr(fresh, "replaced_by")


# Another team's keys


@pytest.mark.parametrize("action", KEY_ACTIONS)
def test_it_hides_another_teams_key_behind_our_team_url(client, admin_user, their_key, action):
    client.force_login(admin_user)
    assert _act(client, action, "maven", their_key).status_code == 404
    assert _untouched(their_key)


@pytest.mark.parametrize("action", KEY_ACTIONS)
def test_it_hides_another_teams_key_behind_its_own_url(client, admin_user, their_key, action):
    client.force_login(admin_user)
    assert _act(client, action, "rival", their_key).status_code == 404
    assert _untouched(their_key)


def test_it_hides_another_teams_key_list(client, admin_user, their_key):
    client.force_login(admin_user)
    assert client.get(reverse("keys", kwargs={"team": "rival"})).status_code == 404


def test_it_lists_only_our_teams_keys(client, admin_user, our_key, their_key):
    client.force_login(admin_user)
    page = client.get(reverse("keys", kwargs={"team": "maven"})).content.decode()
    assert our_key.fingerprint in page
    assert their_key.fingerprint not in page
    assert "rival-prod" not in page


def test_it_refuses_to_add_a_key_to_another_team(client, admin_user, other_team, chutes):
    client.force_login(admin_user)
    assert _add(client, "rival", chutes).status_code == 404
    assert not ProviderKey.objects.filter(team=other_team, label="new").exists()


# Roles on our own keys


@pytest.mark.parametrize("role", ROLES)
def test_it_lets_every_role_see_the_list(client, users_by_role, team, our_key, role):
    client.force_login(users_by_role[role])
    assert client.get(reverse("keys", kwargs={"team": "maven"})).status_code == 200


@pytest.mark.parametrize("role", MANAGERS)
@pytest.mark.parametrize("action", KEY_ACTIONS)
def test_it_lets_admins_and_ops_act_on_keys(client, users_by_role, our_key, role, action):
    client.force_login(users_by_role[role])
    assert _act(client, action, "maven", our_key).status_code in (200, 302)


@pytest.mark.parametrize("role", MANAGERS)
def test_it_lets_admins_and_ops_add_keys(client, users_by_role, team, chutes, role):
    client.force_login(users_by_role[role])
    assert _add(client, "maven", chutes).status_code == 302
    assert ProviderKey.objects.filter(team=team, label="new").exists()


@pytest.mark.parametrize("role", ["finance", "viewer"])
@pytest.mark.parametrize("action", KEY_ACTIONS)
def test_it_refuses_key_actions_to_other_roles(client, users_by_role, our_key, role, action):
    client.force_login(users_by_role[role])
    assert _act(client, action, "maven", our_key).status_code == 403
    assert _untouched(our_key)


@pytest.mark.parametrize("role", ["finance", "viewer"])
def test_it_refuses_to_add_keys_for_other_roles(client, users_by_role, team, chutes, role):
    client.force_login(users_by_role[role])
    assert _add(client, "maven", chutes).status_code == 403
    assert not ProviderKey.objects.filter(team=team).exists()


@pytest.mark.parametrize("action", KEY_ACTIONS)
def test_it_hides_key_actions_from_outsiders(client, outsider, our_key, action):
    client.force_login(outsider)
    assert _act(client, action, "maven", our_key).status_code == 404
    assert _untouched(our_key)


def test_it_hides_the_list_from_outsiders(client, outsider, our_key):
    client.force_login(outsider)
    assert client.get(reverse("keys", kwargs={"team": "maven"})).status_code == 404


def test_it_hides_adding_from_outsiders(client, outsider, team, chutes):
    client.force_login(outsider)
    assert _add(client, "maven", chutes).status_code == 404
    assert not ProviderKey.objects.filter(team=team).exists()


@pytest.mark.parametrize("action", KEY_ACTIONS)
def test_it_answers_404_for_an_unknown_team(client, admin_user, our_key, action):
    client.force_login(admin_user)
    assert _act(client, action, "no-such-team", our_key).status_code == 404


def test_it_answers_404_for_an_unknown_key(client, admin_user, our_key):
    client.force_login(admin_user)
    url = reverse("key_rotate", kwargs={"team": "maven", "key_id": our_key.pk + 1000})
    assert client.get(url).status_code == 404


@pytest.mark.parametrize("action", KEY_ACTIONS)
def test_it_sends_anonymous_visitors_to_sign_in(client, our_key, action):
    response = _act(client, action, "maven", our_key)
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))
