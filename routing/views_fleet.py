"""The fleet panel of the Routing page: what each of the team's proxies runs."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from dashboard.access import get_membership_for_user
from dashboard.fragments import wants_fragment
from routing.fleet import fleet_status


@login_required
@require_GET
def fleet_panel(request, team):
    """The panel alone, for its own htmx polling; the Routing page for anyone else."""
    team = get_membership_for_user(request, team, "team.view").team
    if not wants_fragment(request):
        return redirect(reverse("routing", kwargs={"team": team.slug}) + "#fleet")
    context = {"team": team, "fleet": fleet_status(team, timezone.now())}
    return render(request, "routing/_partials/fleet.html", context)
