from django.urls import reverse

from dashboard.models import Membership, Role


def _url(name, team, **kwargs):
    return reverse(name, kwargs={"team": team.slug, **kwargs})


def test_it_lists_the_members_with_their_roles(admin_client, team, viewer_user):
    page = admin_client.get(_url("members", team)).content.decode()
    assert viewer_user.username in page
    assert "admin-user" in page


def test_it_shows_no_members_email_addresses(admin_client, team, users_by_role):
    page = admin_client.get(_url("members", team)).content.decode()
    for user in users_by_role.values():
        assert user.email not in page


def test_it_changes_a_role(admin_client, team, viewer_user):
    membership = Membership.objects.get(team=team, user=viewer_user)
    admin_client.post(_url("member_role", team, membership_id=membership.pk), {"role": "finance"})
    membership.refresh_from_db()
    assert membership.role == Role.FINANCE


def test_it_refuses_an_unknown_role(admin_client, team, viewer_user):
    membership = Membership.objects.get(team=team, user=viewer_user)
    url = _url("member_role", team, membership_id=membership.pk)
    response = admin_client.post(url, {"role": "owner"}, follow=True)
    assert "Choose one of the roles" in response.content.decode()
    membership.refresh_from_db()
    assert membership.role == Role.VIEWER


def test_it_keeps_the_last_admin(admin_client, team, admin_user):
    membership = Membership.objects.get(team=team, user=admin_user)
    url = _url("member_role", team, membership_id=membership.pk)
    response = admin_client.post(url, {"role": "viewer"}, follow=True)
    assert "last admin" in response.content.decode()
    membership.refresh_from_db()
    assert membership.role == Role.ADMIN


def test_it_asks_before_removing_a_member(admin_client, team, viewer_user):
    membership = Membership.objects.get(team=team, user=viewer_user)
    page = admin_client.get(_url("member_remove", team, membership_id=membership.pk))
    assert f"Remove {viewer_user.username} from Maven?" in page.content.decode()
    assert Membership.objects.filter(pk=membership.pk).exists()


def test_it_removes_a_member_on_confirmation(admin_client, team, viewer_user):
    membership = Membership.objects.get(team=team, user=viewer_user)
    admin_client.post(_url("member_remove", team, membership_id=membership.pk))
    assert not Membership.objects.filter(pk=membership.pk).exists()


def test_it_refuses_to_remove_the_last_admin(admin_client, team, admin_user):
    membership = Membership.objects.get(team=team, user=admin_user)
    admin_client.post(_url("member_remove", team, membership_id=membership.pk))
    assert Membership.objects.filter(pk=membership.pk).exists()


def test_a_removed_member_no_longer_sees_the_team(client, team, viewer_user, admin_user):
    Membership.objects.filter(team=team, user=viewer_user).delete()
    client.force_login(viewer_user)
    assert client.get(_url("overview", team)).status_code == 404
