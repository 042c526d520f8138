import json

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from billing.catalog import catalog_rows, needs_reprice, price_add, reprice_command
from billing.costing import PriceBook
from billing.csv_output import csv_lines
from billing.forms import ModelForm, PriceForm, ProviderFilterForm, UsageFilterForm
from billing.queries import (
    cost_disagreements,
    tao_note,
    unpriced_usage,
    usage_choices,
    usage_event,
    usage_events,
    usage_page,
)
from billing.reports.exports import usage_filename, usage_rows
from dashboard.access import can_edit_catalog, get_membership_for_user, role_may
from dashboard.fragments import wants_fragment
from dashboard.models import Team
from routing.models import Model, Provider


def _require_catalog_editor(request):
    if not can_edit_catalog(request.user):
        raise PermissionDenied(
            "The price catalog is shared by every team: only site staff change it. "
            "A team that pays its own price records it under its team prices."
        )


@login_required
def catalog(request):
    filter_form = ProviderFilterForm(request.GET or None)
    provider = filter_form.cleaned_data["provider"] if filter_form.is_valid() else None
    context = {
        "filter_form": filter_form,
        "rows": catalog_rows(provider=provider),
        "providers": Provider.objects.all(),
        "selected_provider": provider,
    }
    if wants_fragment(request):
        return render(request, "billing/_partials/catalog_table.html", context)
    teams = Team.objects.for_user(request.user)
    context["unpriced"] = unpriced_usage(teams=teams)
    context["disagreements"] = cost_disagreements(teams=teams)
    return render(request, "billing/catalog.html", context)


@login_required
def model_prices(request, model_id):
    model = get_object_or_404(Model.objects.select_related("provider"), pk=model_id)
    prices = model.prices.select_related("created_by").order_by("-effective_from")
    template = (
        "billing/_partials/price_history.html" if request.htmx else "billing/model_prices.html"
    )
    return render(request, template, {"model": model, "prices": prices})


@login_required
def model_add(request):
    _require_catalog_editor(request)
    form = ModelForm(request.POST or None, initial={"provider": request.GET.get("provider")})
    if request.method == "POST" and form.is_valid():
        model = form.save()
        # The price book resolves model names: the next batch must know this one.
        PriceBook.forget()
        messages.success(request, f"Added {model}. Give it a price so its usage can be costed.")
        return redirect(f"{reverse('catalog_price_add')}?model={model.pk}")
    return render(
        request, "billing/model_form.html", {"form": form}, status=400 if form.errors else 200
    )


@login_required
def price_add_view(request):
    _require_catalog_editor(request)
    form = PriceForm(
        request.POST or None, initial={"model": request.GET.get("model")}, user=request.user
    )
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        price = price_add(model=data.pop("model"), user=request.user, **data)
        messages.success(request, f"Added a price for {price.model} from {price.effective_from}.")
        if needs_reprice(price.effective_from):
            command = reprice_command(since=price.effective_from, model=price.model)
            messages.warning(
                request,
                f"Calls already stored from {price.effective_from} on keep their old cost "
                f"until they are priced again: run {command}",
                extra_tags="reprice",
            )
        return redirect("catalog")
    return render(
        request, "billing/price_form.html", {"form": form}, status=400 if form.errors else 200
    )


@login_required
@vary_on_headers("HX-Request")
def usage_explorer(request, team):
    membership = get_membership_for_user(request, team)
    team = membership.team
    choices = usage_choices(team)
    form = UsageFilterForm(request.GET, choices=choices)
    page = None
    if form.is_valid():
        page = usage_page(
            team=team,
            filters=form.filters(zone=team.zone, now=timezone.now()),
            before=form.cleaned_data["before"],
            after=form.cleaned_data["after"],
        )
    context = {
        "team": team,
        "form": form,
        "page": page,
        "any_usage": choices.any_usage,
        "may_manage_tokens": role_may(membership.role, "tokens.manage"),
        "usage_url": settings.SITE_URL + reverse("api_usage"),
    }
    if wants_fragment(request):
        # htmx swaps only 2xx answers, so filter errors come back in a 200 fragment.
        return render(request, "billing/_partials/usage_results.html", context)
    return render(request, "billing/usage.html", context, status=400 if form.errors else 200)


@login_required
@require_GET
def usage_csv(request, team):
    """The calls the explorer's filters match, one per row, as CSV (the filters' errors as the
    explorer shows them)."""
    membership = get_membership_for_user(request, team)
    team = membership.team
    form = UsageFilterForm(request.GET, choices=usage_choices(team))
    if not form.is_valid():
        return usage_explorer(request, team.slug)
    now = timezone.now()
    events = usage_events(team=team, filters=form.filters(zone=team.zone, now=now))
    response = StreamingHttpResponse(
        csv_lines(usage_rows(events)), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{usage_filename(team, now)}"'
    return response


@login_required
@vary_on_headers("HX-Request")
def usage_event_detail(request, team, event_pk):
    team = get_membership_for_user(request, team).team
    event = usage_event(team=team, event_pk=event_pk)
    if event is None:
        raise Http404("No such event.")
    context = {
        "team": team,
        "active_section": "usage",
        "event": event,
        "tao_note": tao_note(event),
        "metadata_json": json.dumps(event.metadata, indent=2, sort_keys=True, ensure_ascii=False),
    }
    if wants_fragment(request):
        return render(request, "billing/_partials/usage_event.html", context)
    return render(request, "billing/usage_event.html", context)
