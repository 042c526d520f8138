import re
from datetime import date
from decimal import Decimal

from django import forms

from billing.budgets import BOTH_SCOPES, known_key_aliases, scopes_set, thresholds_text
from billing.fx import CURRENCY_NAMES, currency_checked
from billing.models import default_thresholds
from billing.queries import known_task_types
from dashboard.suggestions import did_you_mean
from dashboard.widgets import DatalistInput
from routing.models import Provider

MONTH = re.compile(r"(\d{4})-(\d{2})")
MAX_THRESHOLD = 1000


def parse_month(raw: str) -> date | None:
    """ "2026-05" -> 2026-05-01; empty -> None (every month)."""
    raw = raw.strip()
    if not raw:
        return None
    match = MONTH.fullmatch(raw)
    if match is None or not 1 <= int(match[2]) <= 12 or not 2000 <= int(match[1]) <= 2999:
        raise forms.ValidationError(
            "Enter a month as YYYY-MM, e.g. 2026-05, or leave it empty for every month."
        )
    return date(int(match[1]), int(match[2]), 1)


def parse_thresholds(raw: str) -> list[int]:
    """ "50, 80, 100" -> [50, 80, 100]: whole percentages 1-1000, strictly ascending."""
    parts = [part.strip().removesuffix("%").strip() for part in raw.split(",")]
    parts = [part for part in parts if part]
    if not parts:
        return default_thresholds()
    values: list[int] = []
    for part in parts:
        if not (part.isascii() and part.isdigit()):
            raise forms.ValidationError(
                f"“{part}” is not a whole percentage: write them like 50, 80, 100."
            )
        value = int(part)
        if not 1 <= value <= MAX_THRESHOLD:
            raise forms.ValidationError(
                f"{value}% is out of range: each threshold is from 1 to {MAX_THRESHOLD}%."
            )
        if value in values:
            raise forms.ValidationError(f"{value}% is listed twice: give each threshold once.")
        if values and value < values[-1]:
            raise forms.ValidationError(
                f"{value}% comes after {values[-1]}%: list the thresholds from low to high."
            )
        values.append(value)
    return values


class BudgetForm(forms.Form):
    month = forms.CharField(
        required=False,
        widget=forms.TextInput(attrs={"type": "month", "placeholder": "YYYY-MM"}),
        help_text="Leave empty for a budget that applies every month. A budget for a given "
        "month replaces the every-month one of the same scope in that month.",
    )
    provider = forms.ModelChoiceField(
        queryset=Provider.objects.all(),
        required=False,
        empty_label="All providers",
        error_messages={"invalid_choice": "Choose one of the providers in the list."},
        help_text="Only this provider's spend counts against the budget.",
    )
    task_type = forms.CharField(
        max_length=100,
        required=False,
        widget=DatalistInput(),
        help_text="Or only this task type's spend, as the proxy sends it (e.g. summarize): one "
        "the team has used, routes by a rule or budgets for. Not together with a provider.",
    )
    api_key_alias = forms.CharField(
        label="API key alias",
        max_length=200,
        required=False,
        widget=DatalistInput(),
        help_text="Or only the calls made with one of the proxy's keys, by the alias the proxy "
        "sends (LiteLLM's key alias). Not together with a provider or a task type.",
    )
    currency = forms.ChoiceField(
        required=False,
        error_messages={
            "invalid_choice": "“%(value)s” is not a currency with a daily reference rate: "
            "choose USD, EUR, GBP or another currency in the list."
        },
        help_text="Spend is stored in USD. In another currency, each day's spend counts at that "
        "day's ECB reference rate against the amount as you set it.",
    )
    # Named for the USD amount it was before budgets had a currency; in `currency` now.
    amount_usd = forms.DecimalField(
        label="Amount",
        max_digits=18,
        decimal_places=2,
        widget=forms.NumberInput(attrs={"step": "0.01", "min": "0.01"}),
        error_messages={"max_decimal_places": "Give the amount in dollars and cents."},
    )
    amount_tao = forms.DecimalField(
        label="Amount (TAO)",
        required=False,
        max_digits=24,
        decimal_places=6,
        widget=forms.NumberInput(attrs={"step": "any", "min": "0"}),
        help_text="Optional: a limit on TAO spent at TAO-billed providers such as Chutes.",
    )
    thresholds = forms.CharField(
        label="Thresholds (%)",
        required=False,
        initial=thresholds_text(default_thresholds()),
        help_text="Whole percentages of the budget (USD, and TAO when set), low to high, "
        "comma-separated: an alert is sent as spend reaches each one. Empty means 50, 80, 100.",
    )

    def __init__(self, data=None, *, team, budget=None):
        initial = None
        if budget is not None:
            initial = {
                "month": f"{budget.month:%Y-%m}" if budget.month else "",
                "provider": budget.provider_id,
                "task_type": budget.task_type,
                "api_key_alias": budget.api_key_alias,
                "currency": budget.currency,
                "amount_usd": budget.amount_in_currency
                if budget.currency != "USD" and budget.amount_in_currency is not None
                else budget.amount_usd,
                "amount_tao": budget.amount_tao,
                "thresholds": thresholds_text(budget.thresholds),
            }
        else:
            initial = {"currency": team.display_currency}
        super().__init__(data, initial=initial)
        # USD and the team's currency first, then the rest of the ECB's.
        first = dict.fromkeys(["USD", team.display_currency, *CURRENCY_NAMES])
        self.fields["currency"].choices = [
            (code, f"{code} · {CURRENCY_NAMES.get(code, code)}") for code in first
        ]
        self.known_task_types = known_task_types(team)
        self.fields["task_type"].widget.options = self.known_task_types
        self.fields["api_key_alias"].widget.options = known_key_aliases(team)

    def clean_month(self):
        return parse_month(self.cleaned_data["month"])

    def clean_currency(self):
        raw = self.cleaned_data["currency"]
        try:
            return currency_checked(raw) if raw else "USD"
        except ValueError as error:
            raise forms.ValidationError(str(error)) from None

    def clean_task_type(self):
        return self.cleaned_data["task_type"].strip()

    def clean_api_key_alias(self):
        return self.cleaned_data["api_key_alias"].strip()

    def clean_amount_usd(self):
        return _positive(self.cleaned_data["amount_usd"])

    def clean_amount_tao(self):
        value = self.cleaned_data["amount_tao"]
        return None if value is None else _positive(value)

    def clean_thresholds(self):
        return parse_thresholds(self.cleaned_data["thresholds"])

    def clean(self):
        data = super().clean()
        task_type = data.get("task_type")
        if scopes_set(data) > 1:
            self.add_error(
                "api_key_alias" if data.get("api_key_alias") else "task_type", BOTH_SCOPES
            )
        elif task_type and task_type not in self.known_task_types:
            # A misspelt task type would match no call and never alert.
            self.add_error(
                "task_type",
                f"No call, routing rule or budget of this team has task type “{task_type}”."
                + did_you_mean(task_type, self.known_task_types),
            )
        return data


def _positive(value: Decimal) -> Decimal:
    if value <= 0:
        raise forms.ValidationError("The amount must be more than 0.")
    return value
