"""Spend per end user or per API key alias: a card the overview and the report load, and a
page of its own."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from billing.attribution import ATTRIBUTES, AttributionInvalid, attribution_asked, spend_by
from dashboard.access import get_membership_for_user
from dashboard.fragments import wants_fragment


@login_required
@require_GET
@vary_on_headers("HX-Request")
def usage_attribution(request, team, attribute):
    """The card alone for htmx, else a page around it. The card's select sends ?attribute=,
    which a form without JavaScript cannot put in the path."""
    team = get_membership_for_user(request, team).team
    today = timezone.now().astimezone(team.zone).date()
    context = {"team": team, "attributes": ATTRIBUTES, "active_section": "usage"}
    status = 200
    try:
        asked = attribution_asked(
            request.GET.get("attribute") or attribute, request.GET, today=today
        )
    except AttributionInvalid as error:
        context["problem"], status = str(error), 400
    else:
        context |= {
            "asked": asked,
            "spend": spend_by(team, **asked.narrowing()),
            "explorer_query": asked.explorer_query(),
            "money_day": min(asked.last_day, today),
        }
    if wants_fragment(request):
        return render(request, "billing/_partials/attribution.html", context, status=status)
    return render(request, "billing/attribution.html", context, status=status)
