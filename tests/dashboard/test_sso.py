"""Single sign-on with OpenID Connect, against a real provider on a loopback port (no network):
the whole code flow, what it refuses, team memberships from group claims, and password sign-in
turned off."""

import logging
import re
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.contrib.auth import get_user_model
from django.urls import reverse

from dashboard.invitations import invitation_send
from dashboard.models import AuditEvent, Membership, Role, SsoIdentity
from dashboard.sso import discovery
from tests.factories import MembershipFactory, TeamFactory, UserFactory
from tests.oidc_provider import OidcProvider, provider_in_use

User = get_user_model()
LINK = re.compile(r"https?://[^/\s]+(/invitations/[^/\s]+/)")


@pytest.fixture
def provider(settings, db):
    with provider_in_use(settings) as provider:
        yield provider


def sso_sign_in(client, next_path: str = ""):
    """The browser's round trip: our start view, the provider's authorize, our callback."""
    query = f"?next={next_path}" if next_path else ""
    start = client.get(reverse("oidc_authentication_init") + query)
    assert start.status_code == 302, start.content
    authorized = httpx.get(start["Location"], follow_redirects=False)
    assert authorized.status_code == 302, authorized.text
    callback = urlsplit(authorized.headers["location"])
    return client.get(f"{callback.path}?{callback.query}")


def signed_in_user(client):
    return client.get(reverse("home")).wsgi_request.user


def messages_of(response) -> list[str]:
    return [str(message) for message in response.wsgi_request._messages]


# --- the flow ---------------------------------------------------------------------------------


def test_a_first_sign_in_creates_the_account_and_signs_in(client, provider):
    provider.sign_in_as("ana@acme.test", given_name="Ana", family_name="Lima")

    response = sso_sign_in(client)

    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    user = signed_in_user(client)
    assert user.is_authenticated
    assert (user.username, user.email, user.first_name) == ("ana@acme.test", "ana@acme.test", "Ana")
    assert SsoIdentity.objects.get(user=user).subject == "sub-ana@acme.test"


def test_the_start_sends_state_nonce_and_a_pkce_challenge(client, provider):
    start = client.get(reverse("oidc_authentication_init"))

    query = parse_qs(urlsplit(start["Location"]).query)
    assert start["Location"].startswith(f"{provider.issuer}/authorize?")
    assert query["client_id"] == [provider.client_id]
    assert query["code_challenge_method"] == ["S256"]
    assert {"state", "nonce", "code_challenge"} <= query.keys()
    assert query["scope"] == ["openid email profile"]


def test_the_sign_in_returns_to_the_page_asked_for(client, provider, team):
    provider.sign_in_as("ana@acme.test")

    response = sso_sign_in(client, next_path="/t/maven/")

    assert response["Location"] == "/t/maven/"


def test_a_later_sign_in_finds_the_person_by_subject_after_an_address_change(client, provider):
    provider.sign_in_as("ana@acme.test", sub="person-17")
    sso_sign_in(client)
    client.logout()

    provider.sign_in_as("ana.lima@acme.test", sub="person-17")
    sso_sign_in(client)

    user = signed_in_user(client)
    assert user.username == "ana@acme.test"
    assert user.email == "ana.lima@acme.test"
    assert User.objects.count() == 1


def test_an_existing_account_with_the_address_is_linked(client, provider):
    existing = UserFactory(username="ana", email="Ana@Acme.test")
    provider.sign_in_as("ana@acme.test")

    sso_sign_in(client)

    assert signed_in_user(client) == existing
    assert SsoIdentity.objects.get().user == existing


def test_a_taken_username_gets_a_number(client, provider):
    UserFactory(username="ana@acme.test", email="someone-else@acme.test")
    provider.sign_in_as("ana@acme.test")

    sso_sign_in(client)

    assert signed_in_user(client).username == "ana@acme.test-2"


def test_the_client_secret_goes_to_the_token_endpoint(client, provider):
    provider.sign_in_as("ana@acme.test")

    sso_sign_in(client)

    assert provider.token_requests[0]["client_secret"] == provider.client_secret
    assert provider.token_requests[0]["code_verifier"]


# --- what it refuses ----------------------------------------------------------------------------


def assert_refused(client, response, says: str):
    assert response.status_code == 302
    assert response["Location"] == reverse("login")
    assert not signed_in_user(client).is_authenticated
    page = client.get(response["Location"])
    assert says in page.content.decode()


def test_a_token_for_another_audience_is_refused(client, provider):
    provider.sign_in_as("ana@acme.test")
    provider.id_token_changes = {"aud": "some-other-app"}

    response = sso_sign_in(client)

    assert_refused(client, response, "issued for another application")
    assert not User.objects.exists()


def test_a_token_naming_us_beside_another_authorized_party_is_refused(client, provider):
    provider.sign_in_as("ana@acme.test")
    provider.id_token_changes = {"aud": [provider.client_id, "other"], "azp": "other"}

    assert_refused(client, sso_sign_in(client), "issued to another application")


def test_an_expired_token_is_refused(client, provider):
    provider.sign_in_as("ana@acme.test")
    provider.id_token_changes = {"exp": 1_700_000_000, "iat": 1_699_999_000}

    assert_refused(client, sso_sign_in(client), "sign-in token has expired")
    assert not User.objects.exists()


def test_a_token_from_another_issuer_is_refused(client, provider):
    provider.sign_in_as("ana@acme.test")
    provider.id_token_changes = {"iss": "https://evil.example"}

    assert_refused(client, sso_sign_in(client), "was issued by")


def test_a_token_signed_with_another_key_is_refused(client, provider):
    provider.sign_in_as("ana@acme.test")
    published = provider.jwks()
    provider.jwks = lambda: published
    provider.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    assert_refused(client, sso_sign_in(client), "sign-in token is not valid")


def test_an_address_outside_the_allowed_domains_is_refused(client, provider, settings):
    settings.OIDC_ALLOWED_EMAIL_DOMAINS = ["acme.test"]
    provider.sign_in_as("mallory@evil.test")

    assert_refused(client, sso_sign_in(client), "Addresses at evil.test may not sign in here.")
    assert not User.objects.exists()


def test_an_address_inside_the_allowed_domains_signs_in(client, provider, settings):
    settings.OIDC_ALLOWED_EMAIL_DOMAINS = ["acme.test"]
    provider.sign_in_as("ana@ACME.test")

    sso_sign_in(client)

    assert signed_in_user(client).is_authenticated


def test_an_unverified_address_is_refused(client, provider):
    UserFactory(username="boss", email="boss@acme.test")
    provider.sign_in_as("boss@acme.test", email_verified=False)

    assert_refused(client, sso_sign_in(client), "boss@acme.test is not verified")


def test_userinfo_about_someone_else_is_refused(client, provider):
    provider.sign_in_as("ana@acme.test")
    provider.userinfo_changes = {"sub": "someone-else"}

    assert_refused(client, sso_sign_in(client), "user info is about someone else")


def test_a_wrong_client_secret_is_refused_and_said(client, provider, settings):
    settings.OIDC_RP_CLIENT_SECRET = "not-the-secret"
    provider.sign_in_as("ana@acme.test")

    assert_refused(client, sso_sign_in(client), "did not complete the sign-in")


def test_a_provider_that_refuses_says_why_escaped(client, provider):
    client.get(reverse("oidc_authentication_init"))
    state = next(iter(client.session["oidc_states"]))

    response = client.get(
        reverse("oidc_authentication_callback"),
        {"error": "access_denied", "error_description": "<b>no</b>", "state": state},
    )

    page = client.get(response["Location"]).content.decode()
    assert "refused the sign-in: &lt;b&gt;no&lt;/b&gt;" in page


def test_a_callback_this_browser_never_started_is_refused(client, provider):
    client.get(reverse("oidc_authentication_init"))

    response = client.get(reverse("oidc_authentication_callback"), {"code": "x", "state": "forged"})

    assert_refused(client, response, "was not started here")


def test_a_provider_that_cannot_be_reached_is_said_on_the_sign_in_page(client, settings, db):
    settings.OIDC_ISSUER = "http://127.0.0.1:9"
    settings.OIDC_TIMEOUT = 1
    discovery.forget()

    response = client.get(reverse("oidc_authentication_init"))

    assert_refused(client, response, "The identity provider could not be reached")


def test_a_discovery_document_for_another_issuer_is_not_used(client, provider, settings):
    provider.discovery = lambda: {**OidcProvider.discovery(provider), "issuer": "https://x.test"}

    response = client.get(reverse("oidc_authentication_init"))

    assert_refused(client, response, "could not be reached")


def test_a_disabled_account_is_not_signed_in(client, provider):
    UserFactory(username="ana", email="ana@acme.test", is_active=False)
    provider.sign_in_as("ana@acme.test")

    assert_refused(client, sso_sign_in(client), "This account is disabled here")


def test_without_an_issuer_the_sso_pages_are_not_found(client, db):
    assert client.get(reverse("oidc_authentication_init")).status_code == 404
    assert client.get(reverse("oidc_authentication_callback")).status_code == 404


# --- teams from the group claim ---------------------------------------------------------------


@pytest.fixture
def mapped(settings, provider):
    settings.OIDC_GROUP_ROLES = [
        ("llm-finance", "maven", "finance"),
        ("llm-ops", "maven", "ops"),
        ("llm-ops", "rival", "viewer"),
        ("llm-ops", "ghost", "ops"),
    ]
    return TeamFactory(slug="maven", name="Maven"), TeamFactory(slug="rival", name="Rival")


def roles_of(user) -> dict[str, str]:
    return {m.team.slug: m.role for m in Membership.objects.filter(user=user)}


def test_group_claims_join_the_mapped_teams_with_their_roles(client, provider, mapped, caplog):
    provider.sign_in_as("ana@acme.test", groups=["llm-ops", "unrelated"])

    with caplog.at_level(logging.WARNING):
        sso_sign_in(client)

    user = signed_in_user(client)
    assert roles_of(user) == {"maven": Role.OPS, "rival": Role.VIEWER}
    assert "names the team 'ghost', which does not exist" in caplog.text
    added = AuditEvent.objects.get(team__slug="maven", action="member.added")
    assert added.detail == {"role": "ops", "via": "single sign-on group llm-ops"}
    assert added.actor is None


def test_the_first_mapping_for_a_team_wins(client, provider, mapped):
    provider.sign_in_as("ana@acme.test", groups=["llm-ops", "llm-finance"])

    sso_sign_in(client)

    assert roles_of(signed_in_user(client))["maven"] == Role.FINANCE


def test_a_group_change_follows_at_the_next_sign_in(client, provider, mapped):
    provider.sign_in_as("ana@acme.test", groups=["llm-ops"])
    sso_sign_in(client)
    client.logout()

    provider.sign_in_as("ana@acme.test", groups=["llm-finance"])
    sso_sign_in(client)

    assert roles_of(signed_in_user(client)) == {"maven": Role.FINANCE}
    removed = AuditEvent.objects.get(team__slug="rival", action="member.removed")
    assert removed.detail["via"] == "single sign-on: no longer in group llm-ops"


def test_a_membership_made_by_hand_is_never_changed_by_groups(client, provider, mapped):
    maven, _ = mapped
    ana = UserFactory(username="ana", email="ana@acme.test")
    MembershipFactory(team=maven, user=ana, role=Role.ADMIN)
    provider.sign_in_as("ana@acme.test", groups=["llm-finance"])

    sso_sign_in(client)

    assert roles_of(ana) == {"maven": Role.ADMIN}


def test_groups_as_a_single_string_count(client, provider, mapped):
    provider.sign_in_as("ana@acme.test", groups="llm-finance")

    sso_sign_in(client)

    assert roles_of(signed_in_user(client)) == {"maven": Role.FINANCE}


def invitation_link(email: str, role: str, mailoutbox) -> str:
    team = TeamFactory(slug="maven")
    invitation_send(team=team, email=email, role=role, invited_by=None)
    return LINK.search(mailoutbox[-1].body).group(1)


def test_an_invitation_is_accepted_after_signing_in_with_sso(client, provider, mailoutbox):
    link = invitation_link("ana@acme.test", Role.FINANCE, mailoutbox)
    page = client.get(link).content.decode()
    assert "Sign in with single sign-on to accept" in page
    provider.sign_in_as("ana@acme.test")

    back = sso_sign_in(client, next_path=link)
    assert back["Location"] == link
    client.post(link)

    assert roles_of(signed_in_user(client)) == {"maven": Role.FINANCE}


# --- password sign-in off ---------------------------------------------------------------------


@pytest.fixture
def passwords_off(settings, provider):
    settings.PASSWORD_SIGN_IN = False
    settings.OIDC_PROVIDER_NAME = "Acme SSO"


def password_sign_in(client, username: str):
    return client.post(reverse("login"), {"username": username, "password": "pw-123-secret!"})


def test_with_passwords_off_a_member_cannot_sign_in_with_one(client, passwords_off):
    UserFactory(username="ana", password="pw-123-secret!")

    response = password_sign_in(client, "ana")

    assert not signed_in_user(client).is_authenticated
    assert "Password sign-in is off here: everyone else signs in with Acme SSO" in (
        response.content.decode()
    )


def test_with_passwords_off_a_superuser_still_can(client, passwords_off):
    UserFactory(username="root", password="pw-123-secret!", is_superuser=True, is_staff=True)

    response = password_sign_in(client, "root")

    assert response.status_code == 302
    assert signed_in_user(client).username == "root"


def test_turning_passwords_off_ends_password_sessions_of_members(client, settings, provider):
    ana = UserFactory(username="ana", password="pw-123-secret!")
    password_sign_in(client, "ana")
    assert signed_in_user(client) == ana

    settings.PASSWORD_SIGN_IN = False

    assert not signed_in_user(client).is_authenticated


def test_with_passwords_off_the_sign_in_page_leads_with_sso(client, passwords_off):
    page = client.get(reverse("login"), {"next": "/t/maven/"}).content.decode()

    assert "Sign in with Acme SSO" in page
    assert f"{reverse('oidc_authentication_init')}?next=/t/maven/" in page
    assert "Break-glass sign-in (superusers only)" in page


def test_with_passwords_on_the_sign_in_page_offers_both(client, provider):
    page = client.get(reverse("login")).content.decode()

    assert "Sign in with single sign-on" in page
    assert 'name="password"' in page
    assert "Break-glass" not in page


def test_without_sso_the_sign_in_page_is_the_password_form(client, db):
    page = client.get(reverse("login")).content.decode()

    assert "single sign-on" not in page
    assert 'name="password"' in page


def test_with_passwords_off_an_invitation_creates_no_password_account(
    client, passwords_off, mailoutbox
):
    link = invitation_link("new@acme.test", Role.OPS, mailoutbox)
    form = {"username": "new", "password1": "pw-123-secret!", "password2": "pw-123-secret!"}

    page = client.post(link, form).content.decode()

    assert "Create the account" not in page
    assert "Sign in with Acme SSO to accept" in page
    assert not User.objects.filter(username="new").exists()
