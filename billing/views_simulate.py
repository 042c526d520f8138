"""The routing simulator page: the team's real traffic replayed through the draft or a version."""

from decimal import Decimal

from django import forms
from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from billing.simulate import Projection, Simulation, simulate
from dashboard.access import get_membership_for_user, role_may
from dashboard.charts import provider_colour
from dashboard.fragments import wants_fragment
from routing.models import RoutingVersion
from routing.publish import draft_snapshot

WINDOWS = [(7, "7 days"), (30, "30 days"), (90, "90 days")]
DEFAULTS = {"config": "draft", "window": "30"}
COST_WINDOW_DAYS = 30
# Colours of the provider bars, as the rules page's weight bars (provider-0 … provider-5).


class SimulateForm(forms.Form):
    config = forms.ChoiceField(label="Config")
    window = forms.TypedChoiceField(label="Traffic of the last", choices=WINDOWS, coerce=int)

    def __init__(self, *args, versions, **kwargs):
        super().__init__(*args, **kwargs)
        self.versions = {f"v{version.number}": version for version in versions}
        choices = [("draft", "The draft")]
        choices += [(key, f"Version {v.number}") for key, v in self.versions.items()]
        self.fields["config"].choices = choices

    def snapshot(self, team) -> list[dict]:
        config = self.cleaned_data["config"]
        return draft_snapshot(team) if config == "draft" else self.versions[config].snapshot


def saving(chosen: Projection | None, other: Projection | None) -> dict | None:
    """What the chosen config saves against another, in USD and % of the other (negative: costs
    more)."""
    if chosen is None or other is None or None in (chosen.monthly_usd, other.monthly_usd):
        return None
    usd = other.monthly_usd - chosen.monthly_usd
    percent = usd / other.monthly_usd * 100 if other.monthly_usd else None
    return {
        "usd": abs(usd),
        "percent": abs(percent) if percent is not None else None,
        "more": usd < 0,
    }


def provider_bars(projection: Projection | None) -> list[dict]:
    if projection is None:
        return []
    return [
        {
            "provider": provider,
            "percent": Decimal(str(share)) * 100,
            "colour": provider_colour(provider),
        }
        for provider, share in projection.provider_share.items()
    ]


def simulation_context(team, *, rules: list[dict], chosen: str, days: int) -> dict:
    """Everything the results show: the three projections, savings, shares, mix and scale."""
    published = team.routing_versions.order_by("-number").first()
    result: Simulation = simulate(
        team, candidate=rules, published=published.snapshot if published else None, days=days
    )
    baseline = team.baseline_model
    rows = [
        {"label": f"{chosen} (chosen)", "projection": result.candidate, "missing": "no rules"},
        {
            "label": f"Published version {published.number}" if published else "Published",
            "projection": result.published,
            "missing": "nothing published",
            "saving": saving(result.candidate, result.published),
        },
        {
            "label": f"Baseline: {baseline.label}" if baseline else "Baseline",
            "projection": result.baseline,
            "missing": "no baseline model",
            "saving": saving(result.candidate, result.baseline),
        },
    ]
    return {
        "sim": result,
        "cost_rows": rows,
        "task_types": sorted(result.mix.requests.items(), key=lambda item: (-item[1], item[0])),
        "provider_bars": provider_bars(result.candidate),
        "unpriced": [
            f"{row['label']}: {line}"
            for row in rows
            if row["projection"] is not None
            for line in row["projection"].unpriced
        ],
    }


@login_required
@require_GET
@vary_on_headers("HX-Request")
def simulate_page(request, team):
    membership = get_membership_for_user(request, team, "team.view")
    team = membership.team
    versions = RoutingVersion.objects.filter(team=team).order_by("-number")
    form = SimulateForm(DEFAULTS | request.GET.dict(), versions=versions)
    context = {
        "team": team,
        "form": form,
        "may_manage_team": role_may(membership.role, "team.manage"),
        "active_section": "routing",
    }
    if form.is_valid():
        chosen = dict(form.fields["config"].choices)[form.cleaned_data["config"]]
        days = form.cleaned_data["window"]
        context |= simulation_context(team, rules=form.snapshot(team), chosen=chosen, days=days)
    if wants_fragment(request):
        # htmx swaps only 2xx answers, so form errors come back in a 200 fragment.
        return render(request, "routing/_partials/simulation.html", context)
    return render(request, "routing/simulate.html", context, status=400 if form.errors else 200)


@login_required
@require_GET
def publish_cost(request, team):
    """The draft's projected monthly cost against the live version's, for the publish
    confirmation (an htmx fragment; routing does not import billing)."""
    team = get_membership_for_user(request, team, "team.view").team
    published = team.routing_versions.order_by("-number").first()
    result = simulate(
        team,
        candidate=draft_snapshot(team),
        published=published.snapshot if published else None,
        days=COST_WINDOW_DAYS,
    )
    context = {
        "team": team,
        "sim": result,
        "published": published,
        "saving": saving(result.candidate, result.published),
    }
    return render(request, "routing/_partials/publish_cost.html", context)
