from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from billing.overview.teams import all_teams_month
from dashboard.access import get_membership_for_page, get_membership_for_user, role_may
from dashboard.audit import detail_pairs
from dashboard.forms import (
    AuditFilterForm,
    DisplayCurrencyForm,
    InvitationForm,
    MemberRoleForm,
    TeamSettingsForm,
    ThrottledLoginForm,
    TokenCreateForm,
)
from dashboard.fragments import wants_fragment
from dashboard.health import broker_reachable
from dashboard.invitations import InvitationNotSent, invitation_send
from dashboard.models import Membership, ProxyToken, Role, Team
from dashboard.openapi import openapi_document
from dashboard.sso import sign_in_options
from dashboard.team_settings import member_currency_save, team_settings_save
from dashboard.teams import member_remove, member_set_role
from dashboard.tokens import token_create, token_revoke


class LoginView(auth_views.LoginView):
    form_class = ThrottledLoginForm
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), **sign_in_options()}


@login_required
def home(request):
    memberships = {m.team_id: m.role for m in Membership.objects.filter(user=request.user)}
    teams = Team.objects.for_user(request.user).select_related("baseline_model").distinct()
    rows = [(team, memberships.get(team.id, Role.ADMIN)) for team in teams]
    # People in several teams (and superusers) get the month side by side.
    summary = all_teams_month(teams, timezone.now()) if len(rows) > 1 else []
    return render(request, "dashboard/home.html", {"rows": rows, "summary": summary})


AUDIT_PAGE_SIZE = 50


@login_required
@vary_on_headers("HX-Request")
def audit_page(request, team):
    team = get_membership_for_user(request, team, "audit.view").team
    form = AuditFilterForm(request.GET, team=team)
    page = None
    if form.is_valid():
        events = form.narrow(team.audit_events.select_related("actor", "token"))
        page = Paginator(events, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
        for event in page:
            event.detail_pairs = detail_pairs(event)
    context = {"team": team, "form": form, "page": page, "any_events": team.audit_events.exists()}
    if wants_fragment(request):
        # htmx swaps only 2xx answers, so filter errors come back in a 200 fragment.
        return render(request, "dashboard/_partials/audit_rows.html", context)
    return render(request, "dashboard/audit.html", context, status=400 if form.errors else 200)


@login_required
def members(request, team):
    membership, may_manage = get_membership_for_page(
        request, team, view="team.view", edit="team.manage"
    )
    team = membership.team
    form = InvitationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        email = form.cleaned_data["email"]
        try:
            invitation_send(
                team=team, email=email, role=form.cleaned_data["role"], invited_by=request.user
            )
        except ValidationError as error:
            form.add_error(None, error)
        except InvitationNotSent as error:
            messages.error(request, str(error))
            return redirect("members", team=team.slug)
        else:
            # The same words whether or not an account has this address.
            messages.success(request, f"Invitation sent to {email}.")
            return redirect("members", team=team.slug)
    team_members = team.memberships.select_related("user").order_by("user__username")
    invitations = team.invitations.pending().select_related("invited_by")
    if not may_manage:
        invitations = invitations.none()
    context = {
        "team": team,
        "members": team_members,
        "invitations": invitations,
        "form": form,
        "roles": Role.choices,
    }
    return render(request, "dashboard/members.html", context, status=400 if form.errors else 200)


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
        member_set_role(
            team=team, user=target.user, role=form.cleaned_data["role"], actor=request.user
        )
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
            member_remove(membership=target, actor=request.user)
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
        team_settings_save(team=team, form=form)
        messages.success(request, "Team settings saved.")
        return redirect("team_settings", team=team.slug)
    return render(
        request,
        "dashboard/team_settings.html",
        {"team": team, "form": form},
        status=400 if form.errors else 200,
    )


@login_required
def display_currency(request, team):
    """Any member's own display currency in this team (the team's is in its settings)."""
    membership = get_membership_for_user(request, team)
    team = membership.team
    form = DisplayCurrencyForm(
        request.POST if request.method == "POST" else None,
        team=team,
        initial={"currency": membership.display_currency},
    )
    if form.is_bound and membership.pk is None:
        form.add_error(None, "You see this team as site staff, not a member: its currency applies.")
    elif form.is_bound and form.is_valid():
        member_currency_save(membership=membership, currency=form.cleaned_data["currency"])
        shown = form.cleaned_data["currency"] or f"the team's currency ({team.display_currency})"
        messages.success(request, f"Money in {team.name} is now shown in {shown}.")
        return redirect("display_currency", team=team.slug)
    context = {"team": team, "form": form, "may_manage": role_may(membership.role, "team.manage")}
    status = 400 if form.errors else 200
    return render(request, "dashboard/display_currency.html", context, status=status)


# The proxy endpoint new tokens are meant for; shown in setup examples.


@login_required
def tokens_page(request, team):
    team = get_membership_for_user(request, team, "tokens.manage").team
    form = TokenCreateForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        proxy_token, token = token_create(
            team=team,
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"],
            user=request.user,
        )
        return _token_created(request, team, proxy_token, token)
    tokens = team.proxy_tokens.select_related("created_by", "revoked_by").order_by("-created_at")
    context = {
        "team": team,
        "tokens": tokens,
        "form": form,
        "usage_url": settings.SITE_URL + reverse("api_usage"),
    }
    return render(request, "dashboard/tokens.html", context, status=400 if form.errors else 200)


def _token_created(request, team, proxy_token, token):
    """The one response that ever carries the token: answered directly, never cached."""
    context = {
        "team": team,
        "proxy_token": proxy_token,
        "token": token,
        "api_base": settings.SITE_URL,
    }
    response = render(request, "dashboard/token_created.html", context)
    add_never_cache_headers(response)
    return response


@login_required
def token_revoke_confirm(request, team, token_id):
    team = get_membership_for_user(request, team, "tokens.manage").team
    proxy_token = get_object_or_404(
        ProxyToken.objects.select_related("revoked_by"), pk=token_id, team=team
    )
    if request.method == "POST":
        label = f"{proxy_token.name} ({proxy_token.prefix}…)"
        if token_revoke(token=proxy_token, user=request.user):
            messages.success(request, f"Revoked {label}: the proxy using it now gets 401.")
        else:
            messages.info(request, f"{label} was already revoked.")
        return redirect("tokens", team=team.slug)
    return render(
        request, "dashboard/token_revoke.html", {"team": team, "proxy_token": proxy_token}
    )


@require_GET
def health(request):
    """Liveness for load balancers and the proxy: no token, no secrets, just reachability."""
    checks = {"database": _database_ok(), "broker": broker_reachable()}
    healthy = all(checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "degraded", **checks}, status=200 if healthy else 503
    )


@require_GET
def openapi_json(request):
    """The API's description, for code generators and the tests that hold answers to it."""
    response = JsonResponse(openapi_document(settings.SITE_URL))
    response["Access-Control-Allow-Origin"] = "*"
    return response


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:
        return False
