from dashboard.access import can_edit_catalog, membership_for
from dashboard.models import Membership, Role, Team
from dashboard.navigation import ADMIN_SECTIONS, sections_for_role, switch_url


def navigation(request):
    """The team switcher and the sections the current member may open."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    membership = getattr(request, "membership", None)
    if membership is None and request.session.get("team"):
        membership = membership_for(user, request.session["team"])
    match = getattr(request, "resolver_match", None)
    url_name = match.url_name if match else None
    if user.is_superuser:
        teams = [(team, Role.ADMIN) for team in Team.objects.all()]
    else:
        teams = [
            (m.team, m.role) for m in Membership.objects.filter(user=user).select_related("team")
        ]
    switcher = [
        {
            "team": team,
            "role": role,
            "url": switch_url(url_name, team.slug),
            "current": membership is not None and team.pk == membership.team_id,
        }
        for team, role in teams
    ]
    context = {"team_switcher": switcher, "nav_url_name": url_name}
    if membership is not None:
        context.update(
            current_team=membership.team,
            current_role=membership.role,
            nav_sections=sections_for_role(membership.role),
            nav_admin_sections=sections_for_role(membership.role, ADMIN_SECTIONS),
        )
    context["may_edit_catalog"] = can_edit_catalog(user)
    return context
