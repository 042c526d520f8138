"""A team's own (negotiated) prices, under /t/<team>/prices/: the list and adding a row."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponseNotAllowed
from django.shortcuts import redirect, render

from billing.catalog import needs_reprice, reprice_command, team_price_add, team_price_rows
from billing.forms import TeamPriceForm
from dashboard.access import get_membership_for_page, get_membership_for_user, role_may


@login_required
def team_prices_page(request, team):
    membership, may_edit = get_membership_for_page(
        request, team, view="team.view", edit="prices.manage"
    )
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    team = membership.team
    context = {
        "team": team,
        "rows": team_price_rows(team),
        "may_edit": may_edit,
        "may_read_audit": role_may(membership.role, "audit.view"),
        "active_section": "team_prices",
    }
    return render(request, "billing/team_prices.html", context)


@login_required
def team_price_add_view(request, team):
    team = get_membership_for_user(request, team, "prices.manage").team
    form = TeamPriceForm(
        request.POST if request.method == "POST" else None,
        initial={"model": request.GET.get("model")},
        user=request.user,
    )
    if form.is_bound and form.is_valid():
        data = dict(form.cleaned_data)
        price = team_price_add(team=team, model=data.pop("model"), user=request.user, **data)
        messages.success(
            request, f"Added {team.name}'s price for {price.model} from {price.effective_from}."
        )
        if needs_reprice(price.effective_from):
            command = reprice_command(since=price.effective_from, model=price.model, team=team)
            messages.warning(
                request,
                f"Calls already stored from {price.effective_from} on keep their old cost until "
                f"they are priced again: site staff run {command}",
                extra_tags="reprice",
            )
        return redirect("team_prices", team=team.slug)
    context = {"team": team, "form": form, "active_section": "team_prices"}
    status = 400 if form.errors else 200
    return render(request, "billing/team_price_form.html", context, status=status)
