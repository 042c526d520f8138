from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse

from billing.catalog import catalog_rows, price_add
from billing.forms import ModelForm, PriceForm, ProviderFilterForm
from dashboard.access import can_edit_catalog
from routing.models import Model, Provider


def _require_catalog_editor(request):
    if not can_edit_catalog(request.user):
        raise PermissionDenied("Only ops staff and admins of a team can change the price catalog.")


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
    template = "billing/_partials/catalog_table.html" if request.htmx else "billing/catalog.html"
    return render(request, template, context)


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
        messages.success(request, f"Added {model}. Give it a price so its usage can be costed.")
        return redirect(f"{reverse('catalog_price_add')}?model={model.pk}")
    return render(
        request, "billing/model_form.html", {"form": form}, status=400 if form.errors else 200
    )


@login_required
def price_add_view(request):
    _require_catalog_editor(request)
    form = PriceForm(request.POST or None, initial={"model": request.GET.get("model")})
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        price = price_add(model=data.pop("model"), user=request.user, **data)
        messages.success(request, f"Added a price for {price.model} from {price.effective_from}.")
        return redirect("catalog")
    return render(
        request, "billing/price_form.html", {"form": form}, status=400 if form.errors else 200
    )
