import json
from datetime import date

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.vary import vary_on_headers

from billing.catalog import catalog_rows, price_add
from billing.forms import ModelForm, PriceForm, ProviderFilterForm
from billing.models import Status
from billing.queries import (
    Cursor,
    UsageChoices,
    UsageFilters,
    cost_disagreements,
    tao_note,
    time_bounds,
    unpriced_usage,
    usage_choices,
    usage_event,
    usage_page,
)
from dashboard.access import can_edit_catalog, get_membership_for_user, role_may
from dashboard.models import Team
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
    if request.htmx:
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


RANGE_CHOICES = [
    ("24h", "Last 24 hours"),
    ("7d", "Last 7 days"),
    ("30d", "Last 30 days"),
    ("90d", "Last 90 days"),
    ("custom", "Custom dates"),
]
DEFAULT_RANGE = "7d"
EARLIEST_DAY, LATEST_DAY = date(2000, 1, 1), date(2999, 12, 31)


class UsageFilterForm(forms.Form):
    """The explorer's filters from the query string; choices come from the team's rollups."""

    range = forms.ChoiceField(label="Time range", choices=RANGE_CHOICES)
    start = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    provider = forms.ChoiceField(required=False)
    model = forms.ChoiceField(required=False)
    task_type = forms.ChoiceField(label="Task type", required=False)
    status = forms.ChoiceField(choices=[("", "Any status"), *Status.choices], required=False)
    unpriced = forms.BooleanField(label="Unpriced only", required=False)
    disagreement = forms.BooleanField(label="Cost disagreement only", required=False)
    # Set by the Older/Newer links, never by the form: changing a filter starts at the newest.
    before = forms.CharField(required=False, widget=forms.HiddenInput)
    after = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, data, *, choices: UsageChoices):
        data = data.copy()
        # Dates mean a custom range, so a form sent without JavaScript does what it says.
        if data.get("start") or data.get("end"):
            data["range"] = "custom"
        elif not data.get("range"):
            data["range"] = DEFAULT_RANGE
        super().__init__(data)
        self.fields["provider"].choices = _choices("All providers", choices.providers)
        self.fields["model"].choices = _choices("All models", choices.models)
        self.fields["task_type"].choices = _choices("All task types", choices.task_types)

    def clean_start(self):
        return self._day("start")

    def clean_end(self):
        return self._day("end")

    def clean_before(self):
        return self._cursor("before")

    def clean_after(self):
        return self._cursor("after")

    def _day(self, name):
        day = self.cleaned_data[name]
        if day is not None and not EARLIEST_DAY <= day <= LATEST_DAY:
            raise ValidationError(f"Choose a day between {EARLIEST_DAY} and {LATEST_DAY}.")
        return day

    def _cursor(self, name):
        text = self.cleaned_data[name]
        if not text:
            return None
        try:
            return Cursor.parse(text)
        except ValueError:
            raise ValidationError(
                "This page link is broken: start again from the newest."
            ) from None

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end and start > end:
            self.add_error("end", "The last day is before the first day.")
        dates_sent = self.data.get("start") or self.data.get("end")
        if cleaned.get("range") == "custom" and not dates_sent:
            self.add_error("start", "Choose a first or a last day for a custom range.")
        if cleaned.get("before") and cleaned.get("after"):
            self.add_error(None, "A page link cannot go both older and newer.")
        return cleaned

    def filters(self, *, zone, now) -> UsageFilters:
        data = self.cleaned_data
        start, end = time_bounds(
            preset=data["range"], start=data["start"], end=data["end"], zone=zone, now=now
        )
        return UsageFilters(
            start=start,
            end=end,
            provider=data["provider"],
            model=data["model"],
            task_type=data["task_type"],
            status=data["status"],
            unpriced_only=data["unpriced"],
            disagreement_only=data["disagreement"],
        )


def _choices(everything: str, values: list[str]) -> list[tuple[str, str]]:
    return [("", everything), *((value, value) for value in values)]


def _wants_fragment(request) -> bool:
    # A history restore asks for the whole page, even though it comes from htmx.
    return bool(request.htmx) and not request.htmx.history_restore_request


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
    if _wants_fragment(request):
        # htmx swaps only 2xx answers, so filter errors come back in a 200 fragment.
        return render(request, "billing/_partials/usage_results.html", context)
    return render(request, "billing/usage.html", context, status=400 if form.errors else 200)


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
    if _wants_fragment(request):
        return render(request, "billing/_partials/usage_event.html", context)
    return render(request, "billing/usage_event.html", context)
