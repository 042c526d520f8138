"""Whom an alert rule's notifications go to: its team's members in the chosen roles and its
extra addresses, or for a global rule the superusers, plus one audience per team."""

from collections import defaultdict

from django.contrib.auth import get_user_model

from billing.models import AlertRule
from dashboard.models import Membership, Team


def recipients_for(rule: AlertRule) -> list[str]:
    """The rule's extra emails plus its team's members in the chosen roles (for a global rule:
    the superusers), lower-cased, deduplicated and sorted."""
    emails = list(rule.extra_emails or [])
    if rule.team_id is None:
        users = get_user_model().objects.filter(is_superuser=True, is_active=True)
        emails += users.values_list("email", flat=True)
    elif rule.recipient_roles:
        members = Membership.objects.filter(
            team_id=rule.team_id, role__in=rule.recipient_roles, user__is_active=True
        )
        emails += members.values_list("user__email", flat=True)
    return _cleaned(emails)


def team_audiences(rule: AlertRule) -> list[tuple[Team, list[str]]]:
    """For a global rule: each team with members in the rule's roles, and their addresses, one
    notification each, so no team sees another's people. None for a team rule. One query."""
    if rule.team_id is not None or not rule.recipient_roles:
        return []
    members = Membership.objects.filter(
        role__in=rule.recipient_roles, user__is_active=True
    ).select_related("team", "user")
    teams: dict[int, Team] = {}
    emails: dict[int, list[str]] = defaultdict(list)
    for membership in members:
        teams[membership.team_id] = membership.team
        emails[membership.team_id].append(membership.user.email)
    audiences = [(teams[team_id], _cleaned(found)) for team_id, found in emails.items()]
    return sorted(
        ((team, found) for team, found in audiences if found), key=lambda pair: pair[0].slug
    )


def _cleaned(emails) -> list[str]:
    return sorted({str(email).strip().lower() for email in emails if email and str(email).strip()})
