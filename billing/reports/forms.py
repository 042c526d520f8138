import re
from decimal import Decimal

from django import forms

from billing.models import ProviderInvoice
from billing.reports.invoices import CURRENCIES, PLACES, TAO, USD, amount_plain
from routing.models import Provider

# The column holds 24 digits, 8 of them decimals.
MAX_AMOUNT = Decimal(10) ** 16
# A currency written before or after the amount, as invoices print it: $86.10, 2.5 TAO.
CURRENCY_MARK = re.compile(r"^\s*(US\$|\$|USD|TAO)\s*|\s*(USD|TAO)\s*$", re.IGNORECASE)
MARK_CURRENCY = {"$": USD, "us$": USD, "usd": USD, "tao": TAO}
# Commas only between groups of three digits before the point: 1,204.50.
GROUPED = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?")


def amount_currency_mark(text: str) -> str | None:
    """The currency an amount is written with ("$86.10" -> USD), or None."""
    groups = CURRENCY_MARK.findall(text)
    marks = {MARK_CURRENCY[mark.lower()] for group in groups for mark in group if mark}
    return marks.pop() if len(marks) == 1 else None


def amount_text_plain(text: str) -> str:
    """ "$1,204.50" -> "1204.50": currency marks and thousands commas dropped, nothing rounded.
    A comma anywhere else ("1.204,50", "86,10") is refused: it may be a decimal comma."""
    text = CURRENCY_MARK.sub("", text).strip()
    if "," not in text:
        return text
    if GROUPED.fullmatch(text):
        return text.replace(",", "")
    raise forms.ValidationError(
        f"“{text}” is ambiguous: a comma may mark thousands or decimals. Write a point before "
        "the decimals and commas only between thousands, e.g. 1,204.50 or 1204.50.",
        code="ambiguous",
    )


class AmountField(forms.DecimalField):
    """A decimal typed the way invoices print it: "$86.10", "1,204.50", "2.5 TAO"."""

    def to_python(self, value):
        if isinstance(value, str):
            value = amount_text_plain(value)
        return super().to_python(value)


class ProviderChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, provider):
        return f"{provider.name} (bills in {provider.billing_currency})"


class InvoiceForm(forms.Form):
    provider = ProviderChoiceField(
        queryset=Provider.objects.all(),
        empty_label="Choose a provider",
        error_messages={
            "required": "Choose the provider that sent the invoice.",
            "invalid_choice": "Choose one of the providers in the list.",
        },
    )
    amount = AmountField(
        label="Invoiced amount",
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
        error_messages={
            "required": "Enter the invoiced amount.",
            "invalid": "Enter the amount as a number, e.g. 1234.50.",
        },
        help_text="The invoice's total for the month, e.g. 1,204.50 or $86.10.",
    )
    currency = forms.ChoiceField(
        choices=[("", "The provider's billing currency")] + [(c, c) for c in CURRENCIES],
        required=False,
        help_text="TAO for a provider paid in TAO such as Chutes, else USD. A USD invoice "
        "from a TAO-billed provider is compared with its computed USD.",
    )
    reference = forms.CharField(
        max_length=200,
        required=False,
        help_text="The invoice number or a note, e.g. INV-2026-11-0042.",
    )

    def __init__(self, data=None, *, invoice: ProviderInvoice | None = None, provider=None):
        initial = {}
        if invoice is not None:
            initial = {
                "provider": invoice.provider_id,
                "amount": amount_plain(invoice.amount, invoice.currency),
                "currency": invoice.currency,
                "reference": invoice.reference,
            }
        elif provider is not None:
            initial = {"provider": provider.pk, "currency": provider.billing_currency}
        super().__init__(data, initial=initial)
        if invoice is not None:
            # A correction changes the amount, never whose invoice it is.
            self.fields["provider"].disabled = True

    def clean_amount(self):
        amount = self.cleaned_data["amount"]
        if amount < 0:
            raise forms.ValidationError("The amount cannot be negative.")
        if amount >= MAX_AMOUNT:
            raise forms.ValidationError("The amount is too large.")
        return amount

    def clean_reference(self):
        return self.cleaned_data["reference"].strip()

    def clean(self):
        data = super().clean()
        provider = data.get("provider")
        if not data.get("currency"):
            data["currency"] = provider.billing_currency if provider else USD
        mark = amount_currency_mark(self.data.get("amount", ""))
        if mark and mark != data["currency"]:
            self.add_error(
                "amount",
                f"The amount is written in {mark} but the invoice is in {data['currency']}.",
            )
            return data
        amount = data.get("amount")
        if amount is not None and _places(amount) > PLACES[data["currency"]]:
            message = (
                "Give a USD amount in dollars and cents (at most 2 decimals)."
                if data["currency"] == USD
                else "Give a TAO amount with at most 8 decimals."
            )
            self.add_error("amount", message)
        return data


def _places(amount: Decimal) -> int:
    # 1.50 and 1.5 are the same amount: only significant decimals count.
    return max(0, -amount.normalize().as_tuple().exponent)
