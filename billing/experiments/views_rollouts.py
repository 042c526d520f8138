"""The rollout plans page under /t/<team>/routing/rollouts/: each plan's state, its gates on the
evidence so far, its history and chart; starting, checking, resuming and cancelling plans."""

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from billing.experiments.evidence import most_expensive
from billing.experiments.gates import GateStatus
from billing.experiments.plans import (
    plan_gates,
    rollout_cancel,
    rollout_create,
    rollout_evaluate,
    rollout_resume,
    step_name,
)
from billing.experiments.progress import team_progress
from billing.experiments.rollout_chart import rollout_daily, rollout_figure
from billing.experiments.rollout_forms import RolloutPlanForm, StepFormSet, step_initial
from dashboard.access import get_membership_for_user, role_may
from routing.models import RolloutPlan, RolloutState
from routing.publish import latest_version
from routing.rollouts import draft_holds, step_targets

HISTORY_SHOWN = 50


def _plan_view(plan: RolloutPlan, now) -> dict:
    report = plan_gates(plan, now=now)
    daily = rollout_daily(plan)
    figure = rollout_figure(plan, daily)
    return {
        "plan": plan,
        "steps": [
            {
                "number": index + 1,
                "step": step,
                "current": index == plan.step,
                "done": index < plan.step or plan.state == RolloutState.COMPLETED,
            }
            for index, step in enumerate(plan.steps)
        ],
        "current_name": step_name(plan, plan.step),
        "report": report,
        "waiting_on_publish": plan.state == RolloutState.WAITING,
        "draft_holds_step": plan.state == RolloutState.WAITING
        and draft_holds(plan, step_targets(plan, plan.step)),
        "events": list(plan.events.select_related("actor")[:HISTORY_SHOWN]),
        "figure_json": json.dumps(figure) if figure else None,
    }


@login_required
@require_http_methods(["GET"])
def rollouts_page(request, team):
    membership = get_membership_for_user(request, team, "team.view")
    team = membership.team
    now = timezone.now()
    plans = list(RolloutPlan.objects.filter(team=team).select_related("created_by", "team"))
    plans.sort(key=lambda plan: (not plan.is_open, -plan.created_at.timestamp()))
    context = {
        "team": team,
        "plans": [_plan_view(plan, now) for plan in plans],
        "progress": team_progress(team),
        "may_edit": role_may(membership.role, "routing.edit"),
        "may_manage_team": role_may(membership.role, "team.manage"),
        "published": latest_version(team) is not None,
        "GateStatus": GateStatus,
        "active_section": "routing",
    }
    return render(request, "billing/rollouts.html", context)


def _plan_forms(team, data=None):
    live = latest_version(team)
    snapshot = live.snapshot if live else []
    now = timezone.now()
    form = RolloutPlanForm(
        data,
        team=team,
        live_snapshot=snapshot,
        incumbent_of=lambda arms: most_expensive(arms, team_id=team.pk, now=now),
    )
    steps = StepFormSet(data, prefix="steps", initial=None if data else step_initial())
    return form, steps


@login_required
@require_http_methods(["GET", "POST"])
def rollout_new(request, team):
    team = get_membership_for_user(request, team, "routing.edit").team
    if latest_version(team) is None:
        messages.error(request, "Publish the routing first: a plan grows a split of a live rule.")
        return redirect("rollouts", team=team.slug)
    if request.method == "GET":
        form, steps = _plan_forms(team)
        return _render_new(request, team, form, steps)
    form, steps = _plan_forms(team, request.POST)
    valid = form.is_valid() & steps.is_valid()
    if valid and steps.steps[0].weight <= form.cleaned_data["live_weight"]:
        form.add_error(
            None,
            f"The rule already puts {form.cleaned_data['live_weight']}% on the candidate: the "
            "first step must give it more.",
        )
        valid = False
    if not valid:
        return _render_new(request, team, form, steps, status=400)
    data = form.cleaned_data
    try:
        plan = rollout_create(
            team=team,
            user=request.user,
            task_type=data["task_type"],
            candidate=data["candidate_ref"],
            control=data["control_ref"],
            steps=steps.steps,
            auto_advance=data["auto_advance"],
            auto_rollback=data["auto_rollback"],
        )
    except ValidationError as error:
        form.add_error(None, error)
        return _render_new(request, team, form, steps, status=400)
    if plan.state == RolloutState.RUNNING:
        messages.success(request, "Plan started: its first step is already live.")
    else:
        messages.success(
            request,
            "Plan started: its first step is in the draft. Review the draft and publish it; the "
            "plan's evidence counts from then.",
        )
    return redirect(f"{_rollouts_url(team)}#plan-{plan.pk}")


def _render_new(request, team, form, steps, status=200):
    context = {"team": team, "form": form, "steps": steps, "active_section": "routing"}
    return render(request, "billing/rollout_form.html", context, status=status)


def _rollouts_url(team) -> str:
    return reverse("rollouts", kwargs={"team": team.slug})


def _plan_for(request, team, plan_id):
    team = get_membership_for_user(request, team, "routing.edit").team
    return get_object_or_404(RolloutPlan.objects.select_related("team"), pk=plan_id, team=team)


@login_required
@require_POST
def rollout_check(request, team, plan_id):
    """Check the plan now instead of at the next scheduled run."""
    plan = _plan_for(request, team, plan_id)
    if plan.state not in (RolloutState.WAITING, RolloutState.RUNNING):
        messages.error(request, "Only a waiting or running plan is checked.")
    else:
        events = rollout_evaluate(plan, now=timezone.now())
        said = "; ".join(event.message for event in events) or "Nothing changed."
        messages.info(request, f"Checked: {said}")
    return redirect(f"{_rollouts_url(plan.team)}#plan-{plan.pk}")


@login_required
@require_POST
def rollout_resume_view(request, team, plan_id):
    plan = _plan_for(request, team, plan_id)
    try:
        rollout_resume(plan, user=request.user)
    except ValidationError as error:
        messages.error(request, "; ".join(error.messages))
    else:
        messages.success(request, "Plan resumed.")
    return redirect(f"{_rollouts_url(plan.team)}#plan-{plan.pk}")


@login_required
@require_http_methods(["GET", "POST"])
def rollout_cancel_view(request, team, plan_id):
    plan = _plan_for(request, team, plan_id)
    if request.method == "POST":
        try:
            rollout_cancel(plan, user=request.user)
        except ValidationError as error:
            messages.error(request, "; ".join(error.messages))
        else:
            messages.success(request, "Plan cancelled. The routing stays as it is.")
        return redirect(f"{_rollouts_url(plan.team)}#plan-{plan.pk}")
    context = {"team": plan.team, "plan": plan, "active_section": "routing"}
    return render(request, "billing/rollout_cancel.html", context)
