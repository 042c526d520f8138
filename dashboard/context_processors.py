from functools import partial

from django.urls import reverse
from django.utils import timezone

from dashboard.access import can_edit_catalog, membership_for
from dashboard.jobs import scheduler_stall
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
    teams: list[tuple[Team, str]]
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
    # Called by the template, so htmx fragments (which never show it) never query for it.
    context["scheduler_banner"] = partial(scheduler_banner, membership, teams)
    return context


def scheduler_banner(membership, teams) -> dict | None:
    """For admins: a warning when a watched job (alert evaluation) has stalled, linking to the
    jobs page of the current team, or of a team they administer when they are not an admin here."""
    admin_of = [team for team, role in teams if role == Role.ADMIN]
    if membership is not None and membership.role == Role.ADMIN:
        admin_of.insert(0, membership.team)
    if not admin_of:
        return None
    stall = scheduler_stall(timezone.now())
    if stall is None:
        return None
    jobs_url = reverse("alert_jobs", kwargs={"team": admin_of[0].slug})
    return {"job": stall.job, "minutes": stall.minutes, "jobs_url": jobs_url}
