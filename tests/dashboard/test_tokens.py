import logging

import pytest
from django.urls import reverse

from dashboard.models import ProxyToken
from dashboard.tokens import _hash, token_authenticate, token_create
from tests.factories import ProxyTokenFactory

NON_ADMIN_ROLES = ["ops", "finance", "viewer"]


@pytest.fixture
def proxy_token(team):
    return ProxyTokenFactory(team=team, name="litellm-prod")


def _list_url(team_slug):
    return reverse("tokens", kwargs={"team": team_slug})


def _revoke_url(team_slug, proxy_token):
    return reverse("token_revoke", kwargs={"team": team_slug, "token_id": proxy_token.pk})


def _create(client, team, name="litellm-prod", scopes=("usage:write", "routes:read")):
    return client.post(_list_url(team.slug), {"name": name, "scopes": list(scopes)})


# Who may open what


@pytest.mark.parametrize("role", NON_ADMIN_ROLES)
def test_it_refuses_the_list_to_non_admins(client, users_by_role, team, role):
    client.force_login(users_by_role[role])
    assert client.get(_list_url(team.slug)).status_code == 403


@pytest.mark.parametrize("role", NON_ADMIN_ROLES)
def test_it_refuses_to_create_a_token_for_non_admins(client, users_by_role, team, role):
    client.force_login(users_by_role[role])
    assert _create(client, team).status_code == 403
    assert not ProxyToken.objects.exists()


@pytest.mark.parametrize("role", NON_ADMIN_ROLES)
def test_it_refuses_the_revoke_page_to_non_admins(client, users_by_role, proxy_token, role):
    client.force_login(users_by_role[role])
    assert client.get(_revoke_url("maven", proxy_token)).status_code == 403


@pytest.mark.parametrize("role", NON_ADMIN_ROLES)
def test_it_refuses_to_revoke_for_non_admins(client, users_by_role, proxy_token, role):
    client.force_login(users_by_role[role])
    assert client.post(_revoke_url("maven", proxy_token)).status_code == 403
    proxy_token.refresh_from_db()
    assert proxy_token.is_active


def test_it_hides_the_list_from_outsiders(client, outsider, team):
    client.force_login(outsider)
    assert client.get(_list_url(team.slug)).status_code == 404


def test_it_hides_creation_from_outsiders(client, outsider, team):
    client.force_login(outsider)
    assert _create(client, team).status_code == 404
    assert not ProxyToken.objects.exists()


@pytest.mark.parametrize("method", ["get", "post"])
def test_it_hides_revocation_from_outsiders(client, outsider, proxy_token, method):
    client.force_login(outsider)
    assert getattr(client, method)(_revoke_url("maven", proxy_token)).status_code == 404
    proxy_token.refresh_from_db()
    assert proxy_token.is_active


def test_it_answers_404_for_the_list_of_an_unknown_team(admin_client):
    assert admin_client.get(_list_url("no-such-team")).status_code == 404


def test_it_answers_404_for_creating_in_an_unknown_team(admin_client):
    data = {"name": "x", "scopes": ["usage:write"]}
    assert admin_client.post(_list_url("no-such-team"), data).status_code == 404


def test_it_answers_404_for_revoking_in_an_unknown_team(admin_client, proxy_token):
    assert admin_client.get(_revoke_url("no-such-team", proxy_token)).status_code == 404


@pytest.mark.parametrize("url_name", ["tokens", "token_revoke"])
def test_it_sends_anonymous_visitors_to_sign_in(client, proxy_token, url_name):
    kwargs = {"team": "maven"} | ({"token_id": proxy_token.pk} if url_name != "tokens" else {})
    response = client.get(reverse(url_name, kwargs=kwargs))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


# The list


def test_it_explains_tokens_when_there_are_none(admin_client, team):
    page = admin_client.get(_list_url(team.slug)).content.decode()
    assert "No proxy tokens yet" in page
    assert "/api/v1/usage" in page
    assert "callback_type: generic_api" in page


def test_it_lists_the_teams_tokens_with_their_prefix(admin_client, team, proxy_token):
    page = admin_client.get(_list_url(team.slug)).content.decode()
    assert "litellm-prod" in page
    assert f"{proxy_token.prefix}…" in page
    assert "never" in page


def test_it_does_not_list_another_teams_tokens(admin_client, team, other_team):
    ProxyTokenFactory(team=other_team, name="rival-proxy")
    assert "rival-proxy" not in admin_client.get(_list_url(team.slug)).content.decode()


def test_it_shows_who_revoked_a_token(admin_client, team, proxy_token, admin_user):
    admin_client.post(_revoke_url(team.slug, proxy_token))
    page = admin_client.get(_list_url(team.slug)).content.decode()
    assert "revoked" in page
    assert f"by {admin_user.username}" in page


def test_it_checks_usage_and_routes_by_default(admin_client, team):
    page = admin_client.get(_list_url(team.slug)).content.decode()
    assert 'value="usage:write" id="id_scopes_0" checked' in page
    assert 'value="routes:read" id="id_scopes_1" checked' in page
    assert 'value="keys:read" id="id_scopes_2">' in page


def test_it_warns_that_keys_read_exposes_provider_secrets(admin_client, team):
    page = admin_client.get(_list_url(team.slug)).content.decode()
    assert "can read Maven's provider secrets" in page


# Creating


def test_it_shows_the_new_token_in_the_response(admin_client, team):
    response = _create(admin_client, team)
    assert response.status_code == 200
    token = response.context["token"]
    page = response.content.decode()
    assert f'value="{token}" readonly' in page
    assert "will not be shown again" in page
    assert f'curl -H "Authorization: Bearer {token}"' in page


def test_it_forbids_caching_the_new_token(admin_client, team):
    response = _create(admin_client, team)
    assert "no-store" in response["Cache-Control"]


def test_it_never_shows_the_token_again_in_the_list(admin_client, team):
    token = _create(admin_client, team).context["token"]
    page = admin_client.get(_list_url(team.slug)).content.decode()
    assert token not in page
    assert f"{ProxyToken.objects.get().prefix}…" in page


def test_it_keeps_the_token_out_of_the_session(admin_client, team):
    token = _create(admin_client, team).context["token"]
    assert token not in str(dict(admin_client.session))


def test_it_keeps_the_token_out_of_the_logs(admin_client, team, caplog):
    caplog.set_level(logging.DEBUG)
    token = _create(admin_client, team).context["token"]
    assert token not in caplog.text


def test_it_creates_a_token_that_authenticates_with_its_scopes(admin_client, team, admin_user):
    token = _create(admin_client, team, scopes=["usage:write"]).context["token"]
    row = token_authenticate(token)
    assert (row.team, row.name, row.scopes, row.created_by) == (
        team,
        "litellm-prod",
        ["usage:write"],
        admin_user,
    )


def test_it_stores_the_hash_of_the_token_not_the_token(admin_client, team):
    token = _create(admin_client, team).context["token"]
    row = ProxyToken.objects.get()
    assert row.token_hash == _hash(token)
    assert token not in str(list(ProxyToken.objects.values().get().values()))


def test_it_refuses_an_empty_name_and_says_why(admin_client, team):
    response = _create(admin_client, team, name="  ")
    assert response.status_code == 400
    assert "Give the token a name" in response.content.decode()
    assert not ProxyToken.objects.exists()


def test_it_refuses_a_token_without_scopes_and_keeps_the_name(admin_client, team):
    response = _create(admin_client, team, name="edge-proxy", scopes=[])
    page = response.content.decode()
    assert response.status_code == 400
    assert "Choose at least one scope" in page
    assert 'value="edge-proxy"' in page
    assert not ProxyToken.objects.exists()


def test_it_refuses_an_unknown_scope(admin_client, team):
    response = _create(admin_client, team, scopes=["admin:all"])
    assert response.status_code == 400
    assert not ProxyToken.objects.exists()


# Revoking


def test_it_asks_before_revoking(admin_client, team, proxy_token):
    response = admin_client.get(_revoke_url(team.slug, proxy_token))
    assert response.status_code == 200
    assert "will get 401 at once" in response.content.decode()
    proxy_token.refresh_from_db()
    assert proxy_token.is_active


def test_it_revokes_on_post_and_says_so(admin_client, team, proxy_token, admin_user):
    response = admin_client.post(_revoke_url(team.slug, proxy_token))
    assert response.status_code == 302
    assert response.url == _list_url(team.slug)
    proxy_token.refresh_from_db()
    assert (proxy_token.is_active, proxy_token.revoked_by) == (False, admin_user)


def test_it_confirms_the_revocation_with_a_message(admin_client, team, proxy_token):
    response = admin_client.post(_revoke_url(team.slug, proxy_token), follow=True)
    assert "Revoked litellm-prod" in response.content.decode()


def test_it_stops_a_revoked_token_from_authenticating(admin_client, team, admin_user):
    proxy_token, token = token_create(team=team, name="edge", scopes=["usage:write"])
    admin_client.post(_revoke_url(team.slug, proxy_token))
    assert token_authenticate(token) is None


def test_it_says_when_a_token_was_already_revoked(admin_client, team, proxy_token):
    admin_client.post(_revoke_url(team.slug, proxy_token))
    response = admin_client.post(_revoke_url(team.slug, proxy_token), follow=True)
    assert "was already revoked" in response.content.decode()


def test_it_shows_an_already_revoked_token_without_a_revoke_button(admin_client, team, proxy_token):
    admin_client.post(_revoke_url(team.slug, proxy_token))
    page = admin_client.get(_revoke_url(team.slug, proxy_token)).content.decode()
    assert "is already revoked" in page
    assert 'class="danger"' not in page


def test_it_refuses_a_token_of_another_team_by_id(admin_client, team, other_team):
    foreign = ProxyTokenFactory(team=other_team)
    assert admin_client.post(_revoke_url(team.slug, foreign)).status_code == 404
    foreign.refresh_from_db()
    assert foreign.is_active


# The admin


def test_the_admin_cannot_add_tokens(superuser_client):
    assert superuser_client.get(reverse("admin:dashboard_proxytoken_add")).status_code == 403


def test_the_admin_shows_the_hash_read_only(superuser_client, proxy_token):
    url = reverse("admin:dashboard_proxytoken_change", args=[proxy_token.pk])
    page = superuser_client.get(url).content.decode()
    assert 'name="token_hash"' not in page
    assert 'name="name"' in page


def test_the_admin_revokes_selected_tokens(superuser_client, proxy_token):
    superuser_client.post(
        reverse("admin:dashboard_proxytoken_changelist"),
        {"action": "revoke", "_selected_action": [proxy_token.pk]},
    )
    proxy_token.refresh_from_db()
    assert not proxy_token.is_active
