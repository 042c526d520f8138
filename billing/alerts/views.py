"""The alerts pages: alerts and their acknowledgement, alert rules, and the scheduler's jobs."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from billing.alerts.forms import STATE_FILTERS, AlertFilterForm, AlertRuleForm, params_form
from billing.alerts.messages import ROUTING_KINDS
from billing.alerts.rules import (
    alert_acknowledge,
    alert_acknowledge_for_all,
    alert_rule_delete,
    alert_rule_save,
    alert_rules_add_recommended,
    alerts_for,
    detail_rows,
    is_site_staff,
    local_path,
    may_change_rule,
    may_see_rule_addresses,
    notification_rows,
    params_in_words,
    recommended_rules,
    rules_for,
    webhook_host,
)
from billing.models import AlertState
from billing.tao_feed import tao_sources_status
from dashboard.access import get_membership_for_page, get_membership_for_user, role_may
from dashboard.fragments import wants_fragment
from dashboard.jobs import job_statuses
from dashboard.models import JobRun

ALERTS_PAGE_SIZE = 50
RECENT_RUNS = 50
SECTION = {"active_section": "budgets"}


def _tabs(alerts) -> list[tuple[str, str, int]]:
    """(state, label, how many) for each tab, counted in one query, in the team's own state."""
    counts = alerts.aggregate(
        all=Count("pk"),
        **{state: Count("pk", filter=Q(shown_state=state)) for state in AlertState},
    )
    return [(value, label, counts[value]) for value, label in STATE_FILTERS]


@login_required
@vary_on_headers("HX-Request")
def alerts_page(request, team):
    membership, may_manage = get_membership_for_page(
        request, team, view="team.view", edit="alerts.manage"
    )
    team = membership.team
    form = AlertFilterForm(request.GET)
    alerts = alerts_for(team)
    tabs = _tabs(alerts)
    page, state = None, None
    if form.is_valid():
        state = form.state_shown()
        shown = alerts if state == "all" else alerts.filter(shown_state=state)
        page = Paginator(shown, ALERTS_PAGE_SIZE).get_page(request.GET.get("page"))
        for alert in page:
            alert.safe_link = local_path(alert.link)
    context = {
        "team": team,
        "form": form,
        "page": page,
        "state": state,
        "tabs": tabs,
        "any_alerts": any(count for _, _, count in tabs),
        "may_manage": may_manage,
        **SECTION,
    }
    if wants_fragment(request):
        # htmx swaps only 2xx answers, so filter errors come back in a 200 fragment.
        return render(request, "billing/_partials/alert_list.html", context)
    return render(request, "billing/alerts.html", context, status=400 if form.errors else 200)


def _get_alert_for_user(request, team_slug: str, alert_id: int, permission: str):
    """The alert, if it is this team's or global; else 404."""
    membership = get_membership_for_user(request, team_slug, permission)
    alerts = alerts_for(membership.team)
    return membership, get_object_or_404(alerts, pk=alert_id)


@login_required
def alert_detail(request, team, alert_id):
    membership, alert = _get_alert_for_user(request, team, alert_id, "team.view")
    alert.safe_link = local_path(alert.link)
    staff = is_site_staff(request.user)
    context = {
        "team": membership.team,
        "alert": alert,
        "offers_routing_change": bool(
            alert.team_id and alert.rule.kind in ROUTING_KINDS and alert.details.get("provider")
        ),
        "details": detail_rows(alert.details),
        "notifications": notification_rows(
            alert=alert, team=membership.team, user=request.user, role=membership.role
        ),
        "may_manage": role_may(membership.role, "alerts.manage"),
        "may_acknowledge_for_all": staff and alert.team_id is None,
        "is_site_staff": staff,
        # The remote service's answer (an HTTP status, a connection error) is for staff only.
        "show_error_detail": request.user.is_staff or request.user.is_superuser,
        **SECTION,
    }
    return render(request, "billing/alert_detail.html", context)


@login_required
@require_POST
def alert_acknowledge_view(request, team, alert_id):
    membership, alert = _get_alert_for_user(request, team, alert_id, "alerts.manage")
    team = membership.team
    acknowledged = alert_acknowledge(team=team, actor=request.user, alert=alert)
    return _acknowledged(request, team, alert, acknowledged, f"Acknowledged: {alert.subject}")


@login_required
@require_POST
def alert_acknowledge_all_view(request, team, alert_id):
    membership, alert = _get_alert_for_user(request, team, alert_id, "alerts.manage")
    if alert.team_id is not None:
        raise Http404("Only a global alert is acknowledged for every team.")
    if not is_site_staff(request.user):
        raise PermissionDenied("Only site staff acknowledge a global alert for every team.")
    team = membership.team
    acknowledged = alert_acknowledge_for_all(team=team, actor=request.user, alert=alert)
    done = f"Acknowledged for every team: {alert.subject}"
    return _acknowledged(request, team, alert, acknowledged, done)


def _acknowledged(request, team, alert, acknowledged: bool, done: str):
    # Read again through alerts_for: the state shown is this team's.
    alert = alerts_for(team).get(pk=alert.pk)
    if request.htmx:
        alert.safe_link = local_path(alert.link)
        context = {"team": team, "alert": alert, "may_manage": True}
        return render(request, "billing/_partials/alert_row.html", context)
    if acknowledged:
        messages.success(request, done)
    else:
        state = AlertState(alert.shown_state).label.lower()
        messages.info(request, f"Already {state}: {alert.subject}")
    return HttpResponseRedirect(_next_or_alerts(request, team))


def _next_or_alerts(request, team) -> str:
    target = request.POST.get("next", "")
    # Only a path on this site: anything else (a view name, another host) goes to the list.
    if target.startswith("/") and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("alerts", kwargs={"team": team.slug})


def _rule_rows(rules, *, user, may_manage) -> list[dict]:
    return [
        {
            "rule": rule,
            "params": params_in_words(rule.kind, rule.params),
            "webhook": webhook_host(rule.webhook_url),
            "may_change": may_change_rule(rule, user=user, may_manage=may_manage),
            "shows_addresses": may_see_rule_addresses(rule, user=user, may_manage=may_manage),
        }
        for rule in rules
    ]


@login_required
def rules_page(request, team):
    membership, may_manage = get_membership_for_page(
        request, team, view="team.view", edit="alerts.manage"
    )
    team = membership.team
    rows = _rule_rows(rules_for(team), user=request.user, may_manage=may_manage)
    context = {
        "team": team,
        "rows": rows,
        "has_team_rules": any(row["rule"].team_id for row in rows),
        "recommended": [
            {
                "name": values["name"],
                "words": params_in_words(values["kind"], values["params"]),
                "roles": values["recipient_roles"],
            }
            for values in recommended_rules()
        ],
        "may_manage": may_manage,
        **SECTION,
    }
    return render(request, "billing/alert_rules.html", context)


@login_required
@require_POST
def rules_add_recommended(request, team):
    team = get_membership_for_user(request, team, "alerts.manage").team
    added = alert_rules_add_recommended(team=team, actor=request.user)
    if added:
        messages.success(request, f"Added {len(added)} recommended rules. Adjust them as you like.")
    else:
        messages.info(request, "The recommended rules are there already: nothing added.")
    return redirect("alert_rules", team=team.slug)


def _get_rule_for_user(request, team_slug: str, rule_id: int | None):
    """(team, rule or None for a new one) for someone who may change it; else 404 / 403."""
    team = get_membership_for_user(request, team_slug, "alerts.manage").team
    if rule_id is None:
        return team, None
    rule = get_object_or_404(rules_for(team), pk=rule_id)
    if not may_change_rule(rule, user=request.user, may_manage=True):
        raise PermissionDenied("Global rules are changed by superusers only.")
    return team, rule


@login_required
def rule_edit(request, team, rule_id=None):
    team, rule = _get_rule_for_user(request, team, rule_id)
    form = AlertRuleForm(
        request.POST if request.method == "POST" else None,
        rule=rule,
        may_make_global=request.user.is_superuser,
    )
    if form.is_bound and form.is_valid():
        saved = alert_rule_save(
            team=team,
            actor=request.user,
            values=form.values(),
            rule=rule,
            make_global=form.cleaned_data.get("make_global", False),
        )
        messages.success(request, f"Saved the rule {saved.name}.")
        return redirect("alert_rules", team=team.slug)
    context = {
        "team": team,
        "rule": rule,
        "form": form,
        "params_url": _params_url(team, rule),
        **SECTION,
    }
    status = 400 if form.is_bound and form.has_errors else 200
    return render(request, "billing/alert_rule_form.html", context, status=status)


def _params_url(team, rule) -> str:
    if rule is None:
        return reverse("alert_rule_params", kwargs={"team": team.slug})
    return reverse("alert_rule_params_edit", kwargs={"team": team.slug, "rule_id": rule.pk})


@login_required
@require_GET
def rule_params(request, team, rule_id=None):
    """The chosen kind's settings, for the rule form's htmx switch of kind."""
    team, rule = _get_rule_for_user(request, team, rule_id)
    kind = AlertRuleForm.chosen_kind(request.GET, default="")
    if not kind:
        return render(request, "billing/_partials/alert_rule_params.html", {"params_form": None})
    saved = rule.params if rule is not None and rule.kind == kind else None
    context = {"params_form": params_form(kind, params=saved)}
    return render(request, "billing/_partials/alert_rule_params.html", context)


@login_required
def rule_delete(request, team, rule_id):
    team, rule = _get_rule_for_user(request, team, rule_id)
    if request.method == "POST":
        alert_rule_delete(team=team, actor=request.user, rule=rule)
        messages.success(request, f"Deleted the rule {rule.name}.")
        return redirect("alert_rules", team=team.slug)
    context = {
        "team": team,
        "rule": rule,
        "words": params_in_words(rule.kind, rule.params),
        "alert_count": rule.alerts.count(),
        **SECTION,
    }
    return render(request, "billing/alert_rule_delete.html", context)


@login_required
def jobs_page(request, team):
    team = get_membership_for_user(request, team, "audit.view").team
    now = timezone.now()
    recent = list(JobRun.objects.all()[:RECENT_RUNS])
    context = {
        "team": team,
        "jobs": job_statuses(now, recent),
        "price_sources": tao_sources_status(now),
        "recent": recent,
        "now": now,
        **SECTION,
    }
    return render(request, "billing/jobs.html", context)
