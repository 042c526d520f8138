from django import forms
from django.utils import timezone

from billing.models import ModelPrice
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


class PriceForm(forms.ModelForm):
    class Meta:
        model = ModelPrice
        fields = ["model", "effective_from", *RATE_FIELDS, "source"]
        labels = {
            "input_per_mtok": "Input (USD / 1M tokens)",
            "output_per_mtok": "Output (USD / 1M tokens)",
            "cached_input_per_mtok": "Cached input (USD / 1M tokens)",
            "cache_write_per_mtok": "Cache write (USD / 1M tokens)",
        }
        help_texts = {
            "effective_from": "Events from this day (UTC) on are priced with this row.",
            "cached_input_per_mtok": "Empty when the provider charges cached tokens as input.",
            "cache_write_per_mtok": "Leave empty when the provider charges cache writes as input.",
            "source": "Where the figures come from: a pricing page, an invoice, a contract.",
        }
        widgets = {"effective_from": forms.DateInput(attrs={"type": "date"})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
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
        model, day = cleaned.get("model"), cleaned.get("effective_from")
        if model and day and ModelPrice.objects.filter(model=model, effective_from=day).exists():
            self.add_error(
                "effective_from",
                f"{model} already has a price from {day}. Prices are never edited: "
                "add the new one from another day.",
            )
        return cleaned

    def validate_unique(self):
        pass


class ProviderFilterForm(forms.Form):
    provider = forms.ModelChoiceField(
        queryset=Provider.objects.all(),
        required=False,
        to_field_name="slug",
        empty_label="All providers",
    )
