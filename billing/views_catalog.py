"""The shared price catalog: the list, a model's price history, adding models and prices (staff)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse

from billing.catalog import catalog_rows, needs_reprice, price_add, reprice_command
from billing.costing import PriceBook
from billing.forms import ModelForm, PriceForm, ProviderFilterForm
from billing.queries import cost_disagreements, unpriced_usage
from dashboard.access import can_edit_catalog
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
