"""Who may see and do what: the one permission helper every team view goes through."""

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils import timezone

from dashboard.models import Membership, Role, Team

ALL_ROLES = frozenset(Role.values)

# permission -> roles that hold it. Admin holds everything.
PERMISSIONS: dict[str, frozenset[str]] = {
    "team.view": ALL_ROLES,
    "team.manage": frozenset({Role.ADMIN}),
    "keys.view": ALL_ROLES,
    "keys.manage": frozenset({Role.ADMIN, Role.OPS}),
    "tokens.manage": frozenset({Role.ADMIN}),
    "routing.edit": frozenset({Role.ADMIN, Role.OPS}),
    "alerts.manage": frozenset({Role.ADMIN, Role.OPS}),
    "budgets.edit": frozenset({Role.ADMIN, Role.FINANCE}),
    # Ops reads the reports it answers for; closing months and invoices stay with finance.
    "reports.view": ALL_ROLES,
    "reports.close": frozenset({Role.ADMIN, Role.FINANCE}),
    "audit.view": frozenset({Role.ADMIN}),
    # A negotiated price is a money matter: finance records it as well as admins.
    "prices.manage": frozenset({Role.ADMIN, Role.FINANCE}),
}


def role_may(role: str, permission: str) -> bool:
    return role in PERMISSIONS[permission]


def membership_for(user, team_slug: str) -> Membership | None:
    """The user's membership in the team; superusers act as admins of every team."""
    if not user.is_authenticated:
        return None
    membership = (
        Membership.objects.select_related("team", "team__baseline_model")
        .filter(team__slug=team_slug, user=user)
        .first()
    )
    if membership is None and user.is_superuser:
        team = Team.objects.select_related("baseline_model").filter(slug=team_slug).first()
        if team is not None:
            membership = Membership(team=team, user=user, role=Role.ADMIN)
    return membership


def get_membership_for_user(request, team_slug: str, permission: str = "team.view") -> Membership:
    """Load the team for this request, or stop it.

    Outsiders and unknown slugs get the same 404, so team names cannot be probed;
    members whose role lacks the permission get 403.
    """
    membership = membership_for(request.user, team_slug)
    if membership is None:
        raise Http404("No such team.")
    request.membership = membership
    # Pages outside a team (the catalog, the team list) keep this team's navigation.
    request.session["team"] = membership.team.slug
    # Days and months on screen are the team's; ResetTimezoneMiddleware undoes this per request.
    timezone.activate(membership.team.zone)
    if not role_may(membership.role, permission):
        raise PermissionDenied(
            f"Your role in {membership.team.name} ({membership.get_role_display()}) cannot do this."
        )
    return membership


def get_membership_for_page(request, team_slug: str, *, view: str, edit: str):
    """For a page anyone with `view` reads and only `edit` may post to: (membership, may edit)."""
    permission = edit if request.method == "POST" else view
    membership = get_membership_for_user(request, team_slug, permission)
    return membership, role_may(membership.role, edit)


def is_site_staff(user) -> bool:
    """Staff of the site itself (Django's is_staff or a superuser), above every team."""
    return user.is_authenticated and (user.is_staff or user.is_superuser)


def can_edit_catalog(user) -> bool:
    """The catalog (providers, models, list prices) prices every team's usage: only site
    staff change it. A team records its own negotiated prices as team prices instead."""
    return is_site_staff(user)
