"""Team memberships from the identity provider's group claim (OIDC_GROUP_ROLES).

At each sign-in the claim is the truth for the memberships it granted: they are added, their
role follows the mapping, and they go when the person leaves the group. Memberships made by an
invitation or by an admin are never changed here. For a team named by several of the person's
groups, the first mapping in OIDC_GROUP_ROLES wins.
"""

import logging

from django.conf import settings

from dashboard.models import Membership, Team
from dashboard.teams import LastAdminError, member_remove, member_set_role

logger = logging.getLogger(__name__)


def claimed_groups(claims: dict) -> set[str]:
    """The group claim as a set of names: providers send a list, or one string."""
    value = claims.get(settings.OIDC_GROUPS_CLAIM)
    if isinstance(value, str):
        return {value}
    if isinstance(value, list):
        return {item for item in value if isinstance(item, str)}
    return set()


def memberships_sync(user, groups: set[str]) -> None:
    wanted: dict[str, tuple[str, str]] = {}
    for group, team_slug, role in settings.OIDC_GROUP_ROLES:
        if group in groups and team_slug not in wanted:
            wanted[team_slug] = (role, group)
    teams = {team.slug: team for team in Team.objects.filter(slug__in=wanted)}
    for slug in sorted(wanted.keys() - teams.keys()):
        logger.warning("OIDC_GROUP_ROLES names the team %r, which does not exist.", slug)
    held = {m.team.slug: m for m in Membership.objects.filter(user=user).select_related("team")}
    for slug, team in teams.items():
        role, group = wanted[slug]
        membership = held.get(slug)
        if membership is not None and not membership.granted_by_sso_group:
            continue
        via = f"single sign-on group {group}"
        try:
            membership, _ = member_set_role(team=team, user=user, role=role, via=via)
        except LastAdminError as refusal:
            logger.warning("Single sign-on left a role as it was: %s", refusal.message)
            continue
        if membership.granted_by_sso_group != group:
            membership.granted_by_sso_group = group
            membership.save(update_fields=["granted_by_sso_group"])
    for slug, membership in held.items():
        if membership.granted_by_sso_group and slug not in teams:
            via = f"single sign-on: no longer in group {membership.granted_by_sso_group}"
            try:
                member_remove(membership=membership, via=via)
            except LastAdminError as refusal:
                logger.warning("Single sign-on kept a membership: %s", refusal.message)
