from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from billing.catalog import is_backdated
from billing.models import ModelPrice, Status, TeamModelPrice
from billing.queries import (
    DEFAULT_SORT,
    EXPORT_SORT,
    USAGE_SORTS,
    Cursor,
    UsageChoices,
    UsageFilters,
    UsageSort,
    time_bounds,
)
from dashboard.access import is_site_staff
from dashboard.forms import DayField
from routing.models import Model, Provider


class ModelForm(forms.ModelForm):
    class Meta:
        model = Model
        fields = ["provider", "name", "display_name", "enabled"]
        help_texts = {
            "name": "Exactly as the provider spells it in API calls, e.g. deepseek-ai/DeepSeek-V3.",
            "display_name": "Optional; shown instead of the name.",
        }

    def clean(self):
        cleaned = super().clean()
        provider, name = cleaned.get("provider"), (cleaned.get("name") or "").strip()
        cleaned["name"] = name
        if provider and name and Model.objects.filter(provider=provider, name=name).exists():
            self.add_error("name", f"{provider.name} already has a model called {name}.")
        return cleaned

    def validate_unique(self):
        # clean() reports the duplicate with a clearer message than the constraint's.
        pass


RATE_FIELDS = ["input_per_mtok", "output_per_mtok", "cached_input_per_mtok", "cache_write_per_mtok"]
RATE_LABELS = {
    "input_per_mtok": "Input (USD / 1M tokens)",
    "output_per_mtok": "Output (USD / 1M tokens)",
    "cached_input_per_mtok": "Cached input (USD / 1M tokens)",
    "cache_write_per_mtok": "Cache write (USD / 1M tokens)",
}
RATE_HELP = {
    "effective_from": "Events from this day (UTC) on are priced with this row. A day before "
    "today changes costs already computed: only site staff may choose one, with a reason.",
    "cached_input_per_mtok": "Empty when the provider charges cached tokens as input.",
    "cache_write_per_mtok": "Leave empty when the provider charges cache writes as input.",
}


class _RatesForm(forms.ModelForm):
    """Rates per million tokens from a day on; a day already begun needs staff and a reason."""

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["model"].queryset = Model.objects.select_related("provider")
        self.fields["effective_from"].initial = timezone.now().date()
        for name in RATE_FIELDS:
            self.fields[name].widget.attrs.update(step="0.000001", min="0")

    def clean(self):
        cleaned = super().clean()
        for name in RATE_FIELDS:
            value = cleaned.get(name)
            if value is not None and value < 0:
                self.add_error(name, "A price cannot be negative.")
        day = cleaned.get("effective_from")
        if day is not None and is_backdated(day):
            if not is_site_staff(self.user):
                self.add_error(
                    "effective_from",
                    "Only site staff may record a price from a day already past, since it "
                    "changes costs already computed. Choose today or a later day, or ask "
                    "site staff to record it.",
                )
            elif not (cleaned.get("reason") or "").strip():
                self.add_error("reason", "Say why this price applies to days already past.")
        return cleaned

    def validate_unique(self):
        pass


class PriceForm(_RatesForm):
    class Meta:
        model = ModelPrice
        fields = ["model", "effective_from", *RATE_FIELDS, "source", "reason"]
        labels = {**RATE_LABELS, "reason": "Reason for back-dating"}
        help_texts = {
            **RATE_HELP,
            "source": "Where the figures come from: a pricing page, an invoice, a contract.",
            "reason": "Needed when the price starts before today.",
        }
        widgets = {"effective_from": forms.DateInput(attrs={"type": "date"})}

    def clean(self):
        cleaned = super().clean()
        model, day = cleaned.get("model"), cleaned.get("effective_from")
        if model and day and ModelPrice.objects.filter(model=model, effective_from=day).exists():
            self.add_error(
                "effective_from",
                f"{model} already has a price from {day}. Prices are never edited: "
                "add the new one from another day.",
            )
        return cleaned


class TeamPriceForm(_RatesForm):
    class Meta:
        model = TeamModelPrice
        fields = ["model", "effective_from", *RATE_FIELDS, "reason"]
        labels = {**RATE_LABELS, "reason": "Reason"}
        help_texts = {
            **RATE_HELP,
            "model": "The catalog model your team pays a negotiated price for.",
            "reason": "The contract or invoice behind the price, or what this row corrects. "
            "A row from the same day as an earlier one replaces it.",
        }
        widgets = {"effective_from": forms.DateInput(attrs={"type": "date"})}


class ProviderFilterForm(forms.Form):
    provider = forms.ModelChoiceField(
        queryset=Provider.objects.all(),
        required=False,
        to_field_name="slug",
        empty_label="All providers",
    )


RANGE_CHOICES = [
    ("24h", "Last 24 hours"),
    ("7d", "Last 7 days"),
    ("30d", "Last 30 days"),
    ("90d", "Last 90 days"),
    ("custom", "Custom dates"),
]
DEFAULT_RANGE = "7d"
SORT_CHOICES = [(key, sort.label) for key, sort in USAGE_SORTS.items()]


def _exact_text(label: str) -> forms.CharField:
    """An optional filter on a text the proxy sends, matched exactly (end user, key alias)."""
    return forms.CharField(
        label=label,
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"placeholder": "exactly as sent"}),
        error_messages={"max_length": "At most 200 characters: no call carries a longer one."},
    )


class UsageFilterForm(forms.Form):
    """The explorer's filters from the query string; choices come from the team's rollups."""

    range = forms.ChoiceField(label="Time range", choices=RANGE_CHOICES)
    start = DayField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = DayField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    provider = forms.ChoiceField(required=False)
    model = forms.ChoiceField(required=False)
    task_type = forms.ChoiceField(label="Task type", required=False)
    status = forms.ChoiceField(choices=[("", "Any status"), *Status.choices], required=False)
    route_version = forms.IntegerField(
        label="Route version",
        required=False,
        min_value=1,
        max_value=2**31 - 1,
        widget=forms.NumberInput(attrs={"placeholder": "any", "min": 1}),
        error_messages=dict.fromkeys(
            ("invalid", "min_value", "max_value"), "Enter a routing version number, e.g. 7."
        ),
    )
    unpriced = forms.BooleanField(label="Unpriced only", required=False)
    disagreement = forms.BooleanField(label="Cost disagreement only", required=False)
    request_id = forms.CharField(
        label="Request id",
        required=False,
        max_length=255,
        widget=forms.TextInput(attrs={"placeholder": "id or its beginning"}),
        error_messages={"max_length": "A request id has at most 255 characters."},
    )
    end_user = _exact_text("End user")
    api_key_alias = _exact_text("API key alias")
    sort = forms.ChoiceField(label="Sort", choices=SORT_CHOICES)
    # Set by the pager's links, never by the form: changing a filter starts at the top.
    before = forms.CharField(required=False, widget=forms.HiddenInput)
    after = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, data, *, choices: UsageChoices):
        data = data.copy()
        # Dates mean a custom range, so a form sent without JavaScript does what it says.
        if data.get("start") or data.get("end"):
            data["range"] = "custom"
        elif not data.get("range"):
            data["range"] = DEFAULT_RANGE
        # A CSV asked for without a sort lists the calls oldest first, as it always did.
        self.sort_sent = bool(data.get("sort"))
        if not self.sort_sent:
            data["sort"] = DEFAULT_SORT
        super().__init__(data)
        self.fields["provider"].choices = _choices("All providers", choices.providers)
        self.fields["model"].choices = _choices("All models", choices.models)
        self.fields["task_type"].choices = _choices("All task types", choices.task_types)

    def clean_sort(self) -> UsageSort:
        return USAGE_SORTS[self.cleaned_data["sort"]]

    def clean_before(self):
        return self._cursor("before")

    def clean_after(self):
        return self._cursor("after")

    def _cursor(self, name):
        text, sort = self.cleaned_data[name], self.cleaned_data.get("sort")
        if not text or sort is None:
            return None
        try:
            return Cursor.parse(text, sort)
        except ValueError:
            raise ValidationError(
                "This page link is broken: start again from the first page."
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
            route_version=data["route_version"],
            unpriced_only=data["unpriced"],
            disagreement_only=data["disagreement"],
            request_id=data["request_id"],
            end_user=data["end_user"],
            api_key_alias=data["api_key_alias"],
        )

    def export_sort(self) -> UsageSort:
        """The CSV's order: the page's sort when one is sent, else oldest first."""
        return self.cleaned_data["sort"] if self.sort_sent else USAGE_SORTS[EXPORT_SORT]


def _choices(everything: str, values: list[str]) -> list[tuple[str, str]]:
    return [("", everything), *((value, value) for value in values)]
