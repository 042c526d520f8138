"""From an alert about a routing target to a prepared draft change, with its projected cost."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from billing.alerts.messages import ROUTING_KINDS
from billing.models import Alert
from billing.views_simulate import simulation_context
from dashboard.access import get_membership_for_page
from routing.proposals import proposal_apply, proposal_for_team
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
    model = alert.details.get("model", "")
    proposal = proposal_for_team(team, provider=provider, model=model)
    status = 200
    if request.method == "POST" and proposal.changed:
        try:
            changed = proposal_apply(team=team, user=request.user, proposal=proposal)
        except (StaleEdit, ValidationError) as error:
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
        "target": f"{provider}/{model}" if model else provider,
        "proposal": proposal,
        "days": PROJECTION_DAYS,
    }
    if proposal.changed:
        context |= simulation_context(
            team, rules=proposal.after, chosen="Draft with this change", days=PROJECTION_DAYS
        )
    return render(request, "billing/alert_action.html", context, status=status)


def _reason(error) -> str:
    if isinstance(error, StaleEdit):
        return "someone changed the same rule meanwhile; reload this page to start from theirs."
    return "; ".join(error.messages)
