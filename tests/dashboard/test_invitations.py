import re
from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from dashboard.audit_actions import AuditAction
from dashboard.models import AuditEvent, Invitation, Membership, Role
from tests.factories import PASSWORD, MembershipFactory, TeamFactory, UserFactory

LINK = re.compile(r"http://testserver(/invitations/[A-Za-z0-9_-]+/)")
NEW_PASSWORD = "a long and unusual passphrase 42"


@pytest.fixture(autouse=True)
def site_url(settings):
    settings.SITE_URL = "http://testserver"


@pytest.fixture
def admin_client(admin_user):
    """Apart from `client`, so the invited person browses with their own cookies."""
    admin_client = Client()
    admin_client.force_login(admin_user)
    return admin_client


def _members_url(team):
    return reverse("members", kwargs={"team": team.slug})


def _invite(client, team, email="newcomer@example.com", role="ops", **extra):
    return client.post(_members_url(team), {"email": email, "role": role}, **extra)


def _link(mail) -> str:
    return LINK.search(mail.body).group(1)


def _messages(client, response) -> list[str]:
    page = client.get(response["Location"])
    return [str(message) for message in page.context["messages"]]


@pytest.fixture
def invited(admin_client, team, mailoutbox):
    """An invitation to newcomer@example.com as ops; returns its link's path."""
    _invite(admin_client, team)
    return _link(mailoutbox[-1])


def test_it_answers_the_same_whether_or_not_an_account_has_the_address(admin_client, team):
    UserFactory(username="kestrel", email="known@example.com")
    known = _invite(admin_client, team, email="known@example.com")
    known_messages = _messages(admin_client, known)
    unknown = _invite(admin_client, team, email="unknown@example.com")
    assert (known.status_code, known["Location"], known.content) == (
        unknown.status_code,
        unknown["Location"],
        unknown.content,
    )
    assert known_messages == ["Invitation sent to known@example.com."]
    assert _messages(admin_client, unknown) == ["Invitation sent to unknown@example.com."]


def test_it_never_names_the_account_that_has_the_invited_address(admin_client, team):
    UserFactory(username="kestrel", email="known@example.com")
    page = _invite(admin_client, team, email="known@example.com", follow=True).content.decode()
    assert "kestrel" not in page


def test_it_never_adds_an_account_without_its_consent(admin_client, team):
    UserFactory(username="kestrel", email="known@example.com")
    _invite(admin_client, team, email="known@example.com")
    assert not Membership.objects.filter(team=team, user__username="kestrel").exists()


def test_it_no_longer_adds_an_existing_account_by_username(admin_client, team):
    UserFactory(username="newbie")
    admin_client.post(_members_url(team), {"username": "newbie", "role": "ops"})
    assert not Membership.objects.filter(team=team, user__username="newbie").exists()


def test_it_emails_a_link_naming_the_team_and_the_inviter(admin_client, team, mailoutbox):
    _invite(admin_client, team)
    mail = mailoutbox[0]
    assert mail.to == ["newcomer@example.com"]
    assert "admin-user" in mail.subject and "Maven" in mail.subject
    html = mail.alternatives[0][0]
    assert f"http://testserver{_link(mail)}" in html
    assert "Maven" in mail.body and "admin-user" in mail.body


def test_the_emailed_link_shows_the_team_and_role(client, invited):
    page = client.get(invited).content.decode()
    assert "Maven" in page and "Ops" in page


def test_it_strips_line_breaks_from_email_headers(client, db, mailoutbox):
    team = TeamFactory(name="Maven\r\nBcc: thief@evil.example")
    admin = MembershipFactory(team=team, role=Role.ADMIN).user
    client.force_login(admin)
    _invite(client, team)
    mail = mailoutbox[0].message()
    assert "\n" not in mailoutbox[0].subject
    assert mail["Bcc"] is None


def test_it_keeps_what_was_typed_when_the_address_is_wrong(admin_client, team, mailoutbox):
    response = _invite(admin_client, team, email="not an address")
    assert response.status_code == 400
    assert 'value="not an address"' in response.content.decode()
    assert mailoutbox == []


def test_it_limits_invitations_per_team_and_hour(admin_client, team, settings, mailoutbox):
    settings.INVITATIONS_PER_HOUR = 2
    _invite(admin_client, team, email="a@example.com")
    _invite(admin_client, team, email="b@example.com")
    response = _invite(admin_client, team, email="c@example.com")
    assert response.status_code == 400
    assert "at most 2 invitations an hour" in response.content.decode()
    assert len(mailoutbox) == 2


def test_the_limit_lifts_after_an_hour(admin_client, team, settings, mailoutbox):
    settings.INVITATIONS_PER_HOUR = 1
    _invite(admin_client, team, email="a@example.com")
    with time_machine.travel(timezone.now() + timedelta(minutes=61)):
        _invite(admin_client, team, email="b@example.com")
    assert len(mailoutbox) == 2


def test_a_signed_in_user_accepts_and_joins_with_the_role(client, team, invited):
    newcomer = UserFactory(username="newcomer")
    client.force_login(newcomer)
    response = client.post(invited)
    assert response["Location"] == reverse("overview", kwargs={"team": team.slug})
    assert Membership.objects.get(team=team, user=newcomer).role == Role.OPS


def test_accepting_needs_a_post(client, team, invited):
    newcomer = UserFactory(username="newcomer")
    client.force_login(newcomer)
    client.get(invited)
    assert not Membership.objects.filter(team=team, user=newcomer).exists()


def test_accepting_twice_changes_nothing_more(client, team, invited):
    newcomer = UserFactory(username="newcomer")
    client.force_login(newcomer)
    client.post(invited)
    Membership.objects.filter(team=team, user=newcomer).update(role=Role.VIEWER)
    client.post(invited)
    assert Membership.objects.get(team=team, user=newcomer).role == Role.VIEWER
    assert AuditEvent.objects.filter(action=AuditAction.INVITATION_ACCEPTED).count() == 1


def test_a_member_accepting_keeps_their_role(client, team, viewer_user, invited):
    client.force_login(viewer_user)
    response = client.post(invited, follow=True)
    assert "already a member of Maven" in response.content.decode()
    assert Membership.objects.get(team=team, user=viewer_user).role == Role.VIEWER


def test_someone_signed_out_is_offered_to_sign_in_and_come_back(client, invited):
    page = client.get(invited).content.decode()
    assert f"{reverse('login')}?next={invited}" in page


def test_signing_in_from_the_offer_comes_back_to_the_link(client, invited):
    UserFactory(username="newcomer")
    response = client.post(
        reverse("login"), {"username": "newcomer", "password": PASSWORD, "next": invited}
    )
    assert response["Location"] == invited


def test_someone_without_an_account_creates_one_and_joins(client, team, invited):
    response = client.post(
        invited, {"username": "newcomer", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    )
    membership = Membership.objects.select_related("user").get(team=team, role=Role.OPS)
    assert membership.user.username == "newcomer"
    assert membership.user.email == "newcomer@example.com"
    assert membership.user.check_password(NEW_PASSWORD)
    assert response["Location"] == reverse("overview", kwargs={"team": team.slug})
    assert client.get(response["Location"]).status_code == 200


def test_a_new_account_must_have_a_good_password(client, team, invited):
    response = client.post(
        invited, {"username": "newcomer", "password1": "123", "password2": "123"}
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "too short" in page and 'value="newcomer"' in page
    assert not Membership.objects.filter(team=team, user__username="newcomer").exists()


def test_a_new_account_cannot_take_a_username_in_use(client, team, admin_user, invited):
    response = client.post(
        invited, {"username": "ADMIN-user", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    )
    assert response.status_code == 400
    assert Membership.objects.filter(team=team).count() == 1


def test_an_expired_link_says_so(client, team, invited):
    newcomer = UserFactory(username="newcomer")
    client.force_login(newcomer)
    with time_machine.travel(timezone.now() + timedelta(days=7, minutes=1)):
        page = client.get(invited)
        accepted = client.post(invited)
    assert page.status_code == 410 and "expired" in page.content.decode()
    assert accepted.status_code == 410
    assert not Membership.objects.filter(team=team, user=newcomer).exists()


def test_the_expiry_is_a_setting(admin_client, client, team, settings, mailoutbox):
    settings.INVITATION_EXPIRY_DAYS = 2
    _invite(admin_client, team)
    with time_machine.travel(timezone.now() + timedelta(days=2, minutes=1)):
        assert client.get(_link(mailoutbox[0])).status_code == 410


def test_a_revoked_link_says_so(client, team, admin_user, invited):
    invitation = Invitation.objects.get()
    client.force_login(admin_user)
    client.post(reverse("invitation_revoke", kwargs={"team": team.slug, "pk": invitation.pk}))
    client.logout()
    response = client.get(invited)
    assert response.status_code == 410 and "withdrawn" in response.content.decode()


def test_a_used_link_says_so(client, team, invited):
    client.force_login(UserFactory(username="newcomer"))
    client.post(invited)
    client.force_login(UserFactory(username="latecomer"))
    response = client.post(invited)
    assert response.status_code == 410 and "already been used" in response.content.decode()
    assert not Membership.objects.filter(team=team, user__username="latecomer").exists()


def test_a_wrong_link_says_so(client, db):
    response = client.get("/invitations/not-a-real-token/")
    assert response.status_code == 404
    assert "not valid" in response.content.decode()


def test_a_wrong_link_cannot_create_an_account(client, db):
    data = {"username": "newcomer", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    assert client.post("/invitations/not-a-real-token/", data).status_code == 404
    assert not Membership.objects.exists()


def test_it_lists_pending_invitations_for_admins(admin_client, team):
    _invite(admin_client, team, email="Newcomer@Example.com")
    page = admin_client.get(_members_url(team)).content.decode()
    assert "Newcomer@Example.com" in page and "admin-user" in page


def test_other_roles_do_not_see_pending_invitations(admin_client, client, team, viewer_user):
    _invite(admin_client, team)
    client.force_login(viewer_user)
    assert "newcomer@example.com" not in client.get(_members_url(team)).content.decode()


def test_inviting_the_same_address_again_replaces_the_pending_invitation(admin_client, team):
    _invite(admin_client, team, email="newcomer@example.com")
    _invite(admin_client, team, email="NEWCOMER@example.com", role="viewer")
    assert list(team.invitations.pending().values_list("role", flat=True)) == [Role.VIEWER]


def test_it_asks_before_revoking(admin_client, team, invited):
    invitation = Invitation.objects.get()
    url = reverse("invitation_revoke", kwargs={"team": team.slug, "pk": invitation.pk})
    assert "newcomer@example.com" in admin_client.get(url).content.decode()
    invitation.refresh_from_db()
    assert invitation.revoked_at is None


def test_resending_mails_a_new_link_and_retires_the_old_one(
    admin_client, client, team, invited, mailoutbox
):
    invitation = Invitation.objects.get()
    admin_client.post(reverse("invitation_resend", kwargs={"team": team.slug, "pk": invitation.pk}))
    assert len(mailoutbox) == 2
    assert client.get(invited).status_code == 404
    assert client.get(_link(mailoutbox[1])).status_code == 200


def test_it_audits_sending_accepting_and_revoking(admin_client, client, team, mailoutbox):
    _invite(admin_client, team, email="first@example.com")
    _invite(admin_client, team, email="second@example.com")
    client.force_login(UserFactory(username="newcomer"))
    client.post(_link(mailoutbox[0]))
    second = Invitation.objects.get(email="second@example.com")
    admin_client.post(reverse("invitation_revoke", kwargs={"team": team.slug, "pk": second.pk}))
    events = AuditEvent.objects.filter(team=team).order_by("created_at", "id")
    assert [(event.action, event.actor.username) for event in events] == [
        (AuditAction.INVITATION_SENT, "admin-user"),
        (AuditAction.INVITATION_SENT, "admin-user"),
        (AuditAction.INVITATION_ACCEPTED, "newcomer"),
        (AuditAction.INVITATION_REVOKED, "admin-user"),
    ]


def test_the_token_is_stored_only_as_a_hash(invited):
    token = invited.strip("/").split("/")[-1]
    assert token not in Invitation.objects.get().token_hash


@pytest.mark.parametrize("role", ["ops", "finance", "viewer"])
def test_only_admins_invite(client, team, users_by_role, role, mailoutbox):
    client.force_login(users_by_role[role])
    assert _invite(client, team).status_code == 403
    assert mailoutbox == []


@pytest.mark.parametrize("role", ["ops", "finance", "viewer"])
def test_only_admins_revoke_or_resend(client, team, users_by_role, role, invited):
    invitation = Invitation.objects.get()
    client.force_login(users_by_role[role])
    for name in ["invitation_revoke", "invitation_resend"]:
        url = reverse(name, kwargs={"team": team.slug, "pk": invitation.pk})
        assert client.post(url).status_code == 403


def test_outsiders_cannot_invite(client, team, outsider, mailoutbox):
    client.force_login(outsider)
    assert _invite(client, team).status_code == 404
    assert mailoutbox == []


def test_another_teams_admin_cannot_revoke_or_resend_your_invitations(
    client, other_team, outsider, invited
):
    invitation = Invitation.objects.get()
    client.force_login(outsider)
    for name in ["invitation_revoke", "invitation_resend"]:
        url = reverse(name, kwargs={"team": other_team.slug, "pk": invitation.pk})
        assert client.post(url).status_code == 404
    invitation.refresh_from_db()
    assert invitation.revoked_at is None
    assert "newcomer@example.com" not in client.get(_members_url(other_team)).content.decode()
