import httpx
import pytest
import respx
from cryptography.fernet import Fernet
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from routing.keys import key_revoke, key_rotate
from routing.models import Provider, ProviderKey
from tests.factories import ProviderKeyFactory

SECRET = "cpk_0123456789abcdefghijklmnopqrstuvwxyzab12"
NEW_SECRET = "cpk_zyxwvutsrqponmlkjihgfedcba9876543210cd34"
CHUTES_MODELS = "https://llm.chutes.ai/v1/models"


@pytest.fixture
def key(team, chutes, admin_user):
    return ProviderKeyFactory(
        team=team, provider=chutes, label="prod", secret=SECRET, user=admin_user
    )


@pytest.fixture
def chutes_api():
    with respx.mock(assert_all_called=False) as mock:
        yield mock.get(CHUTES_MODELS)


def _keys_url(team):
    return reverse("keys", kwargs={"team": team.slug})


def _url(name, key):
    return reverse(name, kwargs={"team": key.team.slug, "key_id": key.pk})


def _add(client, team, provider, label="prod", secret=SECRET, follow=False):
    data = {"provider": provider.pk, "label": label, "secret": secret}
    return client.post(_keys_url(team), data, follow=follow)


def _page(client, team):
    return client.get(_keys_url(team)).content.decode()


# The list


def test_it_lists_a_key_with_its_mask_and_fingerprint(admin_client, team, key):
    page = _page(admin_client, team)
    assert "cpk_…ab12" in page
    assert key.fingerprint in page


def test_it_shows_who_added_a_key(admin_client, team, key):
    assert "added by admin-user" in _page(admin_client, team)


def test_it_shows_who_rotated_a_key(admin_client, team, key, ops_user):
    key_rotate(key=key, secret=NEW_SECRET, user=ops_user)
    assert "Rotated by ops-user at" in _page(admin_client, team)


def test_it_lists_revoked_keys_below_the_active_ones_dimmed(admin_client, team, chutes, key):
    ProviderKeyFactory(team=team, provider=chutes, label="staging", secret=NEW_SECRET)
    key_revoke(key=key, user=None)
    page = _page(admin_client, team)
    assert page.index("cpk_…cd34") < page.index("Revoked keys") < page.index("cpk_…ab12")
    assert f'<tr id="key-{key.pk}" class="disabled"' in page


def test_it_shows_the_last_test_result(admin_client, team, key):
    ProviderKey.objects.filter(pk=key.pk).update(
        last_test_result="rejected", last_test_message="HTTP 401: Invalid API key"
    )
    page = _page(admin_client, team)
    assert "badge test-rejected" in page
    assert "HTTP 401: Invalid API key" in page


def test_it_explains_what_keys_are_for_when_there_are_none(admin_client, team, chutes):
    page = _page(admin_client, team)
    assert "No active provider keys" in page
    assert "GET /api/v1/keys" in page
    assert "keys:read" in page


def test_it_reads_the_keys_in_a_fixed_number_of_queries(admin_client, team, chutes, key):
    with CaptureQueriesContext(connection) as one_key:
        admin_client.get(_keys_url(team))
    for label in ["a", "b", "c"]:
        ProviderKeyFactory(team=team, provider=chutes, label=label)
    with CaptureQueriesContext(connection) as four_keys:
        admin_client.get(_keys_url(team))
    assert len(four_keys) == len(one_key)


def test_it_warns_when_keys_use_the_local_key_file(admin_client, team, settings, tmp_path):
    settings.FIELD_ENCRYPTION_KEYS, settings.VAR_DIR = [], tmp_path
    page = _page(admin_client, team)
    assert "because FIELD_ENCRYPTION_KEYS is not set: fine for the demo" in page


def test_it_does_not_warn_when_encryption_keys_are_set(admin_client, team, settings):
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    assert "FIELD_ENCRYPTION_KEYS is not set" not in _page(admin_client, team)


@pytest.mark.parametrize("role", ["admin", "ops"])
def test_it_offers_the_add_form_and_actions_to_key_managers(client, users_by_role, team, key, role):
    client.force_login(users_by_role[role])
    page = _page(client, team)
    assert "Add a key" in page
    assert _url("key_rotate", key) in page


@pytest.mark.parametrize("role", ["finance", "viewer"])
def test_it_shows_other_roles_the_list_only(client, users_by_role, team, key, role):
    client.force_login(users_by_role[role])
    page = _page(client, team)
    assert "cpk_…ab12" in page
    assert "Add a key" not in page
    assert _url("key_rotate", key) not in page
    assert _url("key_test", key) not in page


def test_it_asks_for_the_secret_in_an_empty_password_field(admin_client, team, chutes):
    page = _page(admin_client, team)
    assert '<input type="password" name="secret" autocomplete="off"' in page


# Adding


def test_it_adds_a_key_and_shows_its_mask_and_fingerprint(admin_client, team, chutes):
    response = _add(admin_client, team, chutes, follow=True)
    key = ProviderKey.objects.get(team=team, label="prod")
    assert "Added Chutes (Bittensor SN64) key prod (cpk_…ab12)." in response.content.decode()
    assert key.fingerprint in response.content.decode()


def test_it_stores_a_key_that_looks_wrong_and_warns(admin_client, team, chutes):
    response = _add(admin_client, team, chutes, secret="sk-not-a-chutes-key-123", follow=True)
    assert ProviderKey.objects.filter(team=team, label="prod").exists()
    assert "Chutes keys start with cpk_; this one does not." in response.content.decode()


def test_it_refuses_a_second_active_key_with_the_same_label(admin_client, team, chutes, key):
    response = _add(admin_client, team, chutes, secret=NEW_SECRET)
    assert response.status_code == 400
    assert "already has an active Chutes (Bittensor SN64) key labelled prod" in (
        response.content.decode()
    )
    assert ProviderKey.objects.filter(team=team).count() == 1


def test_it_keeps_provider_and_label_after_an_error(admin_client, team, chutes):
    anthropic = Provider.objects.get(slug="anthropic")
    response = _add(admin_client, team, anthropic, label="nightly", secret="")
    page = response.content.decode()
    assert "Paste the API key." in page
    assert f'<option value="{anthropic.pk}" selected>' in page
    assert 'value="nightly"' in page


def test_it_asks_for_a_label(admin_client, team, chutes):
    response = _add(admin_client, team, chutes, label=" ")
    assert response.status_code == 400
    assert "Give the key a label" in response.content.decode()


# Rotating


def test_it_explains_rotation_before_asking_for_the_new_secret(admin_client, key):
    page = admin_client.get(_url("key_rotate", key)).content.decode()
    assert "The old key is kept, revoked, for the record" in page
    assert 'name="secret"' in page


def test_it_rotates_a_key_keeping_the_old_one_revoked(admin_client, team, key):
    response = admin_client.post(_url("key_rotate", key), {"secret": NEW_SECRET})
    assert response.status_code == 302
    old, new = ProviderKey.objects.filter(team=team).order_by("pk")
    assert (old.is_active, new.is_active, new.replaces, new.label) == (False, True, old, "prod")


def test_it_warns_about_a_rotated_secret_that_looks_wrong(admin_client, key):
    response = admin_client.post(_url("key_rotate", key), {"secret": "sk-wrong-1234"}, follow=True)
    assert "this one does not" in response.content.decode()


def test_it_asks_again_for_an_empty_rotated_secret(admin_client, key):
    response = admin_client.post(_url("key_rotate", key), {"secret": ""})
    assert response.status_code == 400
    assert "Paste the API key." in response.content.decode()
    assert ProviderKey.objects.get(pk=key.pk).is_active


def test_it_does_not_rotate_a_revoked_key(admin_client, key, admin_user):
    key_revoke(key=key, user=admin_user)
    response = admin_client.post(_url("key_rotate", key), {"secret": NEW_SECRET})
    assert response.status_code == 400
    assert "add a new one instead" in response.content.decode()


# Revoking


def test_it_asks_before_revoking(admin_client, key):
    page = admin_client.get(_url("key_revoke", key)).content.decode()
    assert "The proxy stops receiving" in page
    assert ProviderKey.objects.get(pk=key.pk).is_active


def test_it_revokes_after_confirmation(admin_client, team, key, admin_user):
    response = admin_client.post(_url("key_revoke", key))
    assert response.url == _keys_url(team)
    key.refresh_from_db()
    assert (key.is_active, key.revoked_by) == (False, admin_user)


def test_it_says_when_a_key_was_already_revoked(admin_client, key, admin_user):
    key_revoke(key=key, user=admin_user)
    response = admin_client.post(_url("key_revoke", key), follow=True)
    assert "was already revoked" in response.content.decode()


# Testing


def _test_with_htmx(client, key):
    return client.post(_url("key_test", key), HTTP_HX_REQUEST="true")


def test_it_answers_htmx_with_the_keys_row_only(admin_client, key, chutes_api):
    chutes_api.respond(200, json={"data": []})
    page = _test_with_htmx(admin_client, key).content.decode()
    assert page.lstrip().startswith(f'<tr id="key-{key.pk}"')
    assert "<html" not in page


def test_it_shows_an_accepted_key_as_ok(admin_client, key, chutes_api):
    chutes_api.respond(200, json={"data": []})
    page = _test_with_htmx(admin_client, key).content.decode()
    assert "badge test-ok" in page
    assert "accepted the key (HTTP 200)" in page


def test_it_shows_a_refused_key_as_rejected(admin_client, key, chutes_api):
    chutes_api.respond(401, json={"error": {"message": "Invalid API key"}})
    page = _test_with_htmx(admin_client, key).content.decode()
    assert "badge test-rejected" in page
    assert "HTTP 401: Invalid API key" in page


def test_it_shows_an_offline_provider_as_unreachable(admin_client, key, chutes_api):
    chutes_api.mock(side_effect=httpx.ConnectError("boom"))
    response = _test_with_htmx(admin_client, key)
    assert response.status_code == 200
    assert "badge test-unreachable" in response.content.decode()


def test_it_sends_the_key_to_the_provider(admin_client, key, chutes_api):
    chutes_api.respond(200, json={"data": []})
    _test_with_htmx(admin_client, key)
    assert chutes_api.calls.last.request.headers["Authorization"] == f"Bearer {SECRET}"


def test_it_redirects_back_with_the_result_without_javascript(admin_client, team, key, chutes_api):
    chutes_api.respond(401, json={"error": {"message": "Invalid API key"}})
    response = admin_client.post(_url("key_test", key), follow=True)
    assert response.redirect_chain == [(_keys_url(team), 302)]
    assert "Tested chutes / prod (cpk_…ab12): HTTP 401: Invalid API key" in (
        response.content.decode()
    )


def test_it_says_a_demo_key_was_not_tested_without_calling_the_provider(
    admin_client, team, chutes, admin_user, chutes_api
):
    demo = ProviderKeyFactory(
        team=team, provider=chutes, label="demo", secret="demo-not-a-real-key-x", user=admin_user
    )
    page = _test_with_htmx(admin_client, demo).content.decode()
    assert "Demo key: not tested; it is fake and never sent." in page
    assert not chutes_api.called


def test_it_only_tests_on_post(admin_client, key):
    assert admin_client.get(_url("key_test", key)).status_code == 405
