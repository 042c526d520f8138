from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from dashboard.access import get_membership_for_user
from dashboard.forms import MemberAddForm, MemberRoleForm, TeamSettingsForm, ThrottledLoginForm
from dashboard.health import broker_reachable
from dashboard.models import Membership, Role, Team
from dashboard.navigation import SECTIONS_BY_NAME
from dashboard.teams import member_remove, member_set_role


class LoginView(auth_views.LoginView):
    form_class = ThrottledLoginForm
    redirect_authenticated_user = True


@login_required
def home(request):
    memberships = {m.team_id: m.role for m in Membership.objects.filter(user=request.user)}
    teams = Team.objects.for_user(request.user).select_related("baseline_model").distinct()
    rows = [(team, memberships.get(team.id, Role.ADMIN)) for team in teams]
    return render(request, "dashboard/home.html", {"rows": rows})


@login_required
def overview(request, team):
    membership = get_membership_for_user(request, team)
    team = membership.team
    return render(
        request,
        "dashboard/overview.html",
        {"team": team, "member_count": team.memberships.count()},
    )


def _coming_soon(section_name: str, active_section: str | None = None):
    section = SECTIONS_BY_NAME[section_name]

    @login_required
    def view(request, team):
        get_membership_for_user(request, team, section.permission)
        return render(
            request,
            "dashboard/coming_soon.html",
            {"section": section, "active_section": active_section or section.url_name},
        )

    view.__name__ = f"{section_name}_coming_soon"
    return view


routing_page = _coming_soon("routing")
keys_page = _coming_soon("keys")
usage_page = _coming_soon("usage")
budgets_page = _coming_soon("budgets")
alerts_page = _coming_soon("budgets", active_section="budgets")
reports_page = _coming_soon("reports")
audit_page = _coming_soon("audit")
tokens_page = _coming_soon("tokens")


@login_required
def members(request, team):
    permission = "team.manage" if request.method == "POST" else "team.view"
    membership = get_membership_for_user(request, team, permission)
    team = membership.team
    form = MemberAddForm(request.POST or None, team=team)
    if request.method == "POST" and form.is_valid():
        member_set_role(team=team, user=form.cleaned_data["user"], role=form.cleaned_data["role"])
        messages.success(request, f"Added {form.cleaned_data['user'].username} to {team.name}.")
        return redirect("members", team=team.slug)
    team_members = team.memberships.select_related("user").order_by("user__username")
    return render(
        request,
        "dashboard/members.html",
        {"team": team, "members": team_members, "form": form, "roles": Role.choices},
        status=400 if form.errors else 200,
    )


@login_required
@require_POST
def member_role(request, team, membership_id):
    team = get_membership_for_user(request, team, "team.manage").team
    target = get_object_or_404(
        Membership.objects.select_related("user"), pk=membership_id, team=team
    )
    form = MemberRoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose one of the roles: admin, ops, finance or viewer.")
        return redirect("members", team=team.slug)
    try:
        member_set_role(team=team, user=target.user, role=form.cleaned_data["role"])
    except ValidationError as error:
        messages.error(request, error.messages[0])
    else:
        messages.success(request, f"{target.user.username} is now {form.cleaned_data['role']}.")
    return redirect("members", team=team.slug)


@login_required
def member_remove_confirm(request, team, membership_id):
    team = get_membership_for_user(request, team, "team.manage").team
    target = get_object_or_404(
        Membership.objects.select_related("user"), pk=membership_id, team=team
    )
    if request.method == "POST":
        try:
            member_remove(membership=target)
        except ValidationError as error:
            messages.error(request, error.messages[0])
        else:
            messages.success(request, f"Removed {target.user.username} from {team.name}.")
        return redirect("members", team=team.slug)
    return render(request, "dashboard/member_remove.html", {"team": team, "target": target})


@login_required
def team_settings(request, team):
    team = get_membership_for_user(request, team, "team.manage").team
    form = TeamSettingsForm(request.POST or None, instance=team)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Team settings saved.")
        return redirect("team_settings", team=team.slug)
    return render(
        request,
        "dashboard/team_settings.html",
        {"team": team, "form": form},
        status=400 if form.errors else 200,
    )


@require_GET
def health(request):
    """Liveness for load balancers and the proxy: no token, no secrets, just reachability."""
    checks = {"database": _database_ok(), "broker": broker_reachable()}
    healthy = all(checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "degraded", **checks}, status=200 if healthy else 503
    )


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:
        return False
