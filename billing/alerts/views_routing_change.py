"""From an alert about a routing target to a prepared draft change, with its projected cost."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from billing.alerts.messages import ROUTING_KINDS
from billing.alerts.routing_change import cost_change, routing_change_prepare
from billing.models import Alert
from billing.views_simulate import simulation_context
from dashboard.access import get_membership_for_page
from routing.proposals import DraftDiffers, proposal_apply
from routing.rules import StaleEdit

PROJECTION_DAYS = 7


@login_required
@require_http_methods(["GET", "POST"])
def alert_routing_change(request, team, alert_id):
    membership, may_edit = get_membership_for_page(
        request, team, view="team.view", edit="routing.edit"
    )
    team = membership.team
    alert = get_object_or_404(Alert.objects.select_related("rule"), pk=alert_id, team=team)
    provider = alert.details.get("provider", "")
    context = {"team": team, "alert": alert, "may_edit": may_edit, "active_section": "routing"}
    if alert.rule.kind not in ROUTING_KINDS or not provider:
        return render(request, "billing/alert_action.html", context | {"not_routing": True})
    submitted = request.POST if request.method == "POST" else (request.GET or None)
    change = routing_change_prepare(team=team, alert=alert, data=submitted, days=PROJECTION_DAYS)
    status = 400 if change.form.is_bound and not change.form.is_valid() else 200
    if request.method == "POST" and status == 200 and change.proposal.changed:
        try:
            changed = proposal_apply(team=team, user=request.user, proposal=change.proposal)
        except (StaleEdit, ValidationError, DraftDiffers) as error:
            messages.error(request, f"The draft could not take this change: {_reason(error)}")
            status = 409
        else:
            messages.success(
                request,
                f"{changed} draft rule{'s' if changed != 1 else ''} changed. Review the draft "
                "and publish it when you are sure: the proxy still uses the published version.",
            )
            return redirect("routing", team=team.slug)
    context |= {
        "target": _target(change.scope, alert.details.get("model", "")),
        "change": change,
        "proposal": change.proposal,
        "days": PROJECTION_DAYS,
    }
    if change.proposal.changed:
        chosen = "Live with this change" if change.live else "Draft with this change"
        context |= simulation_context(
            team, rules=change.proposal.after, chosen=chosen, days=PROJECTION_DAYS
        )
        context["cost_change"] = cost_change(context["sim"], change.base, live=change.live)
    return render(request, "billing/alert_action.html", context, status=status)


def _target(scope, model: str) -> str:
    """What the change moves traffic away from, as the page names it."""
    if scope.from_evidence:
        return ", ".join(f"{scope.provider}/{name}" for name in scope.calls)
    return f"{scope.provider}/{model}" if model else scope.provider


def _reason(error) -> str:
    if isinstance(error, StaleEdit):
        return "someone changed the same rule meanwhile; reload this page to start from theirs."
    if isinstance(error, DraftDiffers):
        return (
            f"the draft has unpublished edits to {error}; publish or discard them first, "
            "or make this change by hand on the Routing page."
        )
    return "; ".join(error.messages)
