import io
import json
from datetime import UTC, datetime

import pytest
import time_machine
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection, models
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing.audit_actions import BillingAuditAction
from dashboard.audit import audit_record
from dashboard.audit_actions import AuditAction, audit_action_choices, register_audit_actions
from dashboard.models import AuditEvent, Membership, ProxyToken
from dashboard.teams import member_remove, member_set_role
from dashboard.tokens import token_create, token_revoke
from routing.audit_actions import RoutingAuditAction
from tests.factories import ProxyTokenFactory


def _url(team, **query):
    url = reverse("audit", kwargs={"team": team.slug})
    return url + ("?" + "&".join(f"{key}={value}" for key, value in query.items()) if query else "")


def _record(
    team, action=RoutingAuditAction.KEY_TESTED, target="openai / prod (sk-…abcd)", **kwargs
):
    return audit_record(team=team, action=action, target=target, **kwargs)


def _rows(response) -> str:
    return response.content.decode()


# Who may open the page


def test_it_shows_the_log_to_admins(admin_client, team):
    assert admin_client.get(_url(team)).status_code == 200


@pytest.mark.parametrize("role", ["ops", "finance", "viewer"])
def test_it_refuses_the_log_to_other_roles(client, users_by_role, team, role):
    client.force_login(users_by_role[role])
    assert client.get(_url(team)).status_code == 403


def test_it_hides_the_log_from_outsiders(client, outsider, team):
    client.force_login(outsider)
    assert client.get(_url(team)).status_code == 404


# What gets recorded


def test_it_records_a_token_created_by_a_user_without_the_token(team, admin_user):
    row, token = token_create(
        team=team, name="litellm-prod", scopes=["usage:write"], user=admin_user
    )
    event = AuditEvent.objects.get(action=AuditAction.TOKEN_CREATED)
    assert (event.team, event.actor) == (team, admin_user)
    assert event.target == f"litellm-prod ({row.prefix}…)"
    assert event.detail == {"scopes": ["usage:write"]}
    assert token not in json.dumps(list(AuditEvent.objects.values()), default=str)


def test_it_records_a_token_revoked_by_a_user(team, admin_user):
    proxy_token = ProxyTokenFactory(team=team, name="litellm-prod")
    token_revoke(token=proxy_token, user=admin_user)
    event = AuditEvent.objects.get(action=AuditAction.TOKEN_REVOKED)
    assert (event.actor, event.target) == (admin_user, f"litellm-prod ({proxy_token.prefix}…)")


def test_it_records_a_revocation_only_once(team, admin_user):
    proxy_token = ProxyTokenFactory(team=team)
    token_revoke(token=proxy_token, user=admin_user)
    token_revoke(token=proxy_token, user=admin_user)
    assert AuditEvent.objects.filter(action=AuditAction.TOKEN_REVOKED).count() == 1


def test_it_records_who_created_a_token_on_the_tokens_page(admin_client, team, admin_user):
    admin_client.post(
        reverse("tokens", kwargs={"team": team.slug}), {"name": "edge", "scopes": ["usage:write"]}
    )
    event = AuditEvent.objects.get(action=AuditAction.TOKEN_CREATED)
    assert event.actor == admin_user


def test_it_records_who_revoked_a_token_on_the_revoke_page(admin_client, team, admin_user):
    proxy_token = ProxyTokenFactory(team=team)
    admin_client.post(
        reverse("token_revoke", kwargs={"team": team.slug, "token_id": proxy_token.pk})
    )
    assert AuditEvent.objects.get(action=AuditAction.TOKEN_REVOKED).actor == admin_user


def test_it_records_a_token_from_manage_py_as_system(team):
    call_command("create_proxy_token", team="maven", name="cli", stdout=io.StringIO())
    event = AuditEvent.objects.get(action=AuditAction.TOKEN_CREATED)
    assert (event.actor, event.actor_label) == (None, "system")


def test_it_records_an_invitation_sent_on_the_members_page(admin_client, team, admin_user):
    admin_client.post(
        reverse("members", kwargs={"team": team.slug}),
        {"email": "Newbie@example.com", "role": "ops"},
    )
    event = AuditEvent.objects.get(action=AuditAction.INVITATION_SENT)
    assert (event.actor, event.target, event.detail) == (
        admin_user,
        "Newbie@example.com",
        {"role": "ops"},
    )


def test_it_records_a_role_change_with_from_and_to(admin_client, team, admin_user, viewer_user):
    membership = Membership.objects.get(team=team, user=viewer_user)
    url = reverse("member_role", kwargs={"team": team.slug, "membership_id": membership.pk})
    admin_client.post(url, {"role": "finance"})
    event = AuditEvent.objects.get(action=AuditAction.MEMBER_ROLE_CHANGED)
    assert (event.actor, event.target) == (admin_user, viewer_user.username)
    assert event.detail == {"from": "viewer", "to": "finance"}


def test_it_records_nothing_when_the_role_stays_the_same(team, admin_user, viewer_user):
    member_set_role(team=team, user=viewer_user, role="viewer", actor=admin_user)
    assert not AuditEvent.objects.exists()


def test_it_records_a_member_removed(admin_client, team, admin_user, viewer_user):
    membership = Membership.objects.get(team=team, user=viewer_user)
    admin_client.post(
        reverse("member_remove", kwargs={"team": team.slug, "membership_id": membership.pk})
    )
    event = AuditEvent.objects.get(action=AuditAction.MEMBER_REMOVED)
    assert (event.actor, event.target, event.detail) == (
        admin_user,
        viewer_user.username,
        {"role": "viewer"},
    )


def test_it_records_nothing_when_the_last_admin_cannot_leave(team, admin_user):
    with pytest.raises(Exception, match="last admin"):
        member_remove(membership=Membership.objects.get(team=team, user=admin_user))
    assert not AuditEvent.objects.exists()


# The page


def test_it_says_when_nothing_was_recorded(admin_client, team):
    assert "Nothing recorded yet" in _rows(admin_client.get(_url(team)))


def test_it_lists_events_newest_first_in_the_teams_time_zone(admin_client, team):
    with time_machine.travel(datetime(2026, 1, 15, 15, 0, tzinfo=UTC), tick=False):
        _record(team, target="first thing")
    with time_machine.travel(datetime(2026, 1, 15, 16, 30, tzinfo=UTC), tick=False):
        _record(team, target="second thing")
    page = _rows(admin_client.get(_url(team)))
    assert page.index("second thing") < page.index("first thing")
    # America/New_York is UTC-5 in January.
    assert "2026-01-15 10:00:00" in page
    assert "2026-01-15 11:30:00" in page


def test_it_shows_who_acted_and_a_compact_detail(admin_client, team, admin_user):
    token_create(team=team, name="edge", scopes=["usage:write", "routes:read"], user=admin_user)
    page = _rows(admin_client.get(_url(team)))
    assert "Proxy token created" in page
    assert "routes:read, usage:write" in page
    assert ">admin-user<" in page


def test_it_names_the_proxy_token_that_acted(admin_client, team):
    proxy_token = ProxyTokenFactory(team=team, prefix="lsp_abcd1234")
    _record(team, action=RoutingAuditAction.KEY_READ, target="1 active key(s)", token=proxy_token)
    assert "proxy token lsp_abcd1234…" in _rows(admin_client.get(_url(team)))


def test_it_narrows_the_rows_by_action(admin_client, team):
    _record(team, action=RoutingAuditAction.KEY_TESTED, target="tested thing")
    _record(team, action=RoutingAuditAction.KEY_ADDED, target="added thing")
    page = _rows(admin_client.get(_url(team, action="key.added")))
    assert "added thing" in page
    assert "tested thing" not in page


def test_it_narrows_the_rows_by_person(admin_client, team, admin_user, ops_user):
    _record(team, target="by admin", actor=admin_user)
    _record(team, target="by ops", actor=ops_user)
    page = _rows(admin_client.get(_url(team, person=ops_user.pk)))
    assert "by ops" in page
    assert "by admin" not in page


def test_it_narrows_the_rows_to_proxy_tokens(admin_client, team, admin_user):
    _record(team, target="by admin", actor=admin_user)
    _record(team, target="by proxy", token=ProxyTokenFactory(team=team))
    page = _rows(admin_client.get(_url(team, person="tokens")))
    assert "by proxy" in page
    assert "by admin" not in page


def test_it_narrows_the_rows_to_the_system(admin_client, team, admin_user):
    _record(team, target="by admin", actor=admin_user)
    _record(team, target="by manage.py")
    page = _rows(admin_client.get(_url(team, person="system")))
    assert "by manage.py" in page
    assert "by admin" not in page


def test_it_offers_former_members_as_people(admin_client, team, admin_user, viewer_user):
    _record(team, target="by viewer", actor=viewer_user)
    Membership.objects.filter(user=viewer_user).delete()
    page = _rows(admin_client.get(_url(team)))
    assert f'<option value="{viewer_user.pk}">viewer-user</option>' in page


def test_it_says_when_no_event_matches(admin_client, team):
    _record(team, action=RoutingAuditAction.KEY_TESTED)
    page = _rows(admin_client.get(_url(team, action="member.removed")))
    assert "Nothing matches these filters" in page


def test_it_answers_htmx_with_the_rows_only(admin_client, team):
    _record(team, target="a thing")
    response = admin_client.get(_url(team, action="key.tested"), headers={"HX-Request": "true"})
    page = _rows(response)
    assert "a thing" in page
    assert "<html" not in page
    assert 'data-testid="audit-filters"' not in page


def test_it_never_shows_another_teams_events(admin_client, team, other_team):
    _record(other_team, target="rival secret thing")
    assert "rival secret thing" not in _rows(admin_client.get(_url(team)))


def test_it_refuses_an_unknown_action_with_400(admin_client, team):
    response = admin_client.get(_url(team, action="key.exploded"))
    assert response.status_code == 400
    assert "key.exploded is not an action" in _rows(response)


def test_it_refuses_someone_outside_the_team_as_person(admin_client, team, outsider):
    response = admin_client.get(_url(team, person=outsider.pk))
    assert response.status_code == 400
    assert "is not a person here" in _rows(response)


def test_it_refuses_a_person_that_is_not_a_number_with_400(admin_client, team):
    assert admin_client.get(_url(team, person="1 OR 1=1")).status_code == 400


def test_it_pages_fifty_events_at_a_time(admin_client, team):
    AuditEvent.objects.bulk_create(
        AuditEvent(team=team, action=RoutingAuditAction.KEY_TESTED, target=f"thing {n}")
        for n in range(51)
    )
    first, second = admin_client.get(_url(team)), admin_client.get(_url(team, page=2))
    assert _rows(first).count("<tr data-event") == 50
    assert _rows(second).count("<tr data-event") == 1
    assert "Older →" in _rows(first)


def test_it_reads_a_page_in_the_same_number_of_queries_however_many_rows(
    admin_client, team, admin_user
):
    token = ProxyTokenFactory(team=team)
    _record(team, actor=admin_user)

    def count():
        with CaptureQueriesContext(connection) as queries:
            admin_client.get(_url(team))
        return len(queries)

    few = count()
    for _ in range(5):
        _record(team, actor=admin_user)
        _record(team, token=token)
    assert count() == few


def test_it_keeps_the_token_revoked_row_when_the_token_is_deleted(admin_client, team, admin_user):
    proxy_token = ProxyTokenFactory(team=team, name="gone")
    token_revoke(token=proxy_token, user=admin_user)
    ProxyToken.objects.filter(pk=proxy_token.pk).delete()
    assert f"gone ({proxy_token.prefix}…)" in _rows(admin_client.get(_url(team)))


def test_the_admin_shows_audit_events_read_only(client, django_user_model, team):
    event = _record(team)
    client.force_login(django_user_model.objects.create_superuser("root", "r@example.com", "x"))
    page = client.get(reverse("admin:dashboard_auditevent_change", args=[event.pk]))
    assert page.status_code == 200
    assert 'name="target"' not in page.content.decode()


def test_it_refuses_an_action_no_app_registered(team):
    with pytest.raises(ValueError, match="not an audit action"):
        audit_record(team=team, action="key.lost", target="openai / prod")


def test_each_app_registers_its_own_actions():
    registered = dict(audit_action_choices())
    assert registered[AuditAction.TOKEN_CREATED] == "Proxy token created"
    assert registered[RoutingAuditAction.ROUTING_PUBLISHED] == "Routing published"
    assert registered[BillingAuditAction.MONTH_CLOSED] == "Month closed"


def test_a_new_action_needs_no_dashboard_migration():
    assert not AuditEvent._meta.get_field("action").choices


def test_an_action_registered_twice_with_another_label_stops_the_start():
    class Clashing(models.TextChoices):
        KEY_ADDED = "key.added", "Key created"

    with pytest.raises(ImproperlyConfigured, match=r"key\.added"):
        register_audit_actions(Clashing)


def test_an_action_no_app_registers_any_more_still_shows(admin_client, team):
    AuditEvent.objects.create(team=team, action="widget.polished", target="the widget")
    assert "widget.polished" in admin_client.get(_url(team)).content.decode()
