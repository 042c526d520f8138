"""The budgets pages: the list with this month's status, add / edit, delete after confirming."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone

from billing.budgets import (
    PAST,
    budget_delete,
    budget_label,
    budget_lines,
    budget_save,
    plain_amount,
)
from billing.forms_budgets import BudgetForm
from billing.models import Budget
from billing.treasury.scenario_views import scenarios_context, scenarios_fragment
from dashboard.access import get_membership_for_page, get_membership_for_user


def _get_budget_for_user(request, team_slug: str, budget_id: int | None):
    """The team and the budget (None for a new one) for someone who may edit budgets."""
    team = get_membership_for_user(request, team_slug, "budgets.edit").team
    if budget_id is None:
        return team, None
    budgets = Budget.objects.select_related("provider")
    return team, get_object_or_404(budgets, pk=budget_id, team=team)


@login_required
def budgets_page(request, team):
    membership, may_edit = get_membership_for_page(
        request, team, view="team.view", edit="budgets.edit"
    )
    # Checked after the role, so a reader posting here is refused like on every budget page.
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    team = membership.team
    lines = budget_lines(team, now=timezone.now())
    scenarios = scenarios_context(request, team, url=request.path, lines=lines)
    if fragment := scenarios_fragment(request, scenarios):
        return fragment
    context = {
        **scenarios,
        "team": team,
        "lines": [line for line in lines if line.applies != PAST],
        "past_lines": [line for line in lines if line.applies == PAST],
        "may_edit": may_edit,
        "active_section": "budgets",
    }
    return render(request, "billing/budgets.html", context)


@login_required
def budget_edit(request, team, budget_id=None):
    team, budget = _get_budget_for_user(request, team, budget_id)
    form = BudgetForm(request.POST if request.method == "POST" else None, team=team, budget=budget)
    if form.is_bound and form.is_valid():
        try:
            saved = budget_save(team=team, user=request.user, data=form.cleaned_data, budget=budget)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            verb = "Saved" if budget else "Added"
            messages.success(request, f"{verb} the budget: {budget_label(saved)}.")
            return redirect("budgets", team=team.slug)
    context = {
        "team": team,
        "budget": budget,
        "label": budget_label(budget) if budget else "",
        "form": form,
        "active_section": "budgets",
    }
    status = 400 if form.errors else 200
    return render(request, "billing/budget_form.html", context, status=status)


@login_required
def budget_delete_view(request, team, budget_id):
    team, budget = _get_budget_for_user(request, team, budget_id)
    if request.method == "POST":
        budget_delete(budget=budget, user=request.user)
        messages.success(request, f"Deleted the budget: {budget_label(budget)}.")
        return redirect("budgets", team=team.slug)
    context = {
        "team": team,
        "budget": budget,
        "label": budget_label(budget),
        "amount_tao": plain_amount(budget.amount_tao) if budget.amount_tao else "",
        "active_section": "budgets",
    }
    return render(request, "billing/budget_delete.html", context)
