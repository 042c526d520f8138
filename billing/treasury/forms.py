"""The forms of the treasury page: a TAO lot bought, a transfer to the Chutes account.

Moments are typed in the team's time zone (the view activates it), as a date alone or a date
and time; amounts as invoices print them ("$1,204.50", "12.5 TAO")."""

from datetime import datetime
from decimal import Decimal

from django import forms
from django.utils import timezone

from billing.models import TaoLot, TaoTransfer
from billing.reports.forms import AmountField
from billing.treasury.records import plain

# The TAO columns hold 24 digits, 12 of them decimals.
MAX_TAO = Decimal(10) ** 12
TAO_PLACES = 12
# usd_paid holds 18 digits, 2 of them decimals.
MAX_USD = Decimal(10) ** 16
MOMENT_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"]


def _places(amount: Decimal) -> int:
    # 1.50 and 1.5 are the same amount: only significant decimals count.
    exponent = amount.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _moment_field(label: str, help_text: str) -> forms.DateTimeField:
    return forms.DateTimeField(
        label=label,
        input_formats=MOMENT_FORMATS,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text=help_text,
        error_messages={
            "required": "Enter the date, e.g. 2026-11-03, or the date and time.",
            "invalid": "Enter the date as YYYY-MM-DD, or the date and time as YYYY-MM-DD HH:MM.",
        },
    )


def _tao_field(label: str, help_text: str, *, required: bool = True) -> AmountField:
    return AmountField(
        label=label,
        required=required,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
        help_text=help_text,
        error_messages={
            "required": "Enter the TAO amount, e.g. 12.5.",
            "invalid": "Enter the TAO amount as a number, e.g. 12.5.",
        },
    )


def _check_tao(amount: Decimal | None, *, zero_ok: bool = False) -> Decimal | None:
    if amount is None:
        return None
    if amount < 0 or (amount == 0 and not zero_ok):
        raise forms.ValidationError(
            "The TAO amount cannot be negative." if amount < 0 else "Enter more than 0 TAO."
        )
    if amount >= MAX_TAO:
        raise forms.ValidationError("The TAO amount is too large.")
    if _places(amount) > TAO_PLACES:
        raise forms.ValidationError(f"Give a TAO amount with at most {TAO_PLACES} decimals.")
    return amount


def _not_future(moment: datetime) -> datetime:
    if moment > timezone.now():
        raise forms.ValidationError("That moment is in the future: record it once it happened.")
    return moment


def _local(moment: datetime) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%dT%H:%M}"


class TaoLotForm(forms.Form):
    bought_at = _moment_field(
        "Bought on",
        "In the team's time zone. A lot funds the usage of its own day and the days after.",
    )
    tao = _tao_field("TAO bought", "As received, e.g. 12.5.")
    usd_paid = AmountField(
        label="USD paid",
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
        help_text="Everything it cost, fees included, e.g. 1,834.20.",
        error_messages={
            "required": "Enter what the lot cost in USD.",
            "invalid": "Enter the USD paid as a number, e.g. 1834.20.",
        },
    )
    venue = forms.CharField(
        max_length=200, required=False, help_text="Exchange, OTC desk or wallet, e.g. Kraken."
    )
    reference = forms.CharField(
        max_length=200, required=False, help_text="Order id or transaction hash."
    )

    def __init__(self, data=None, *, lot: TaoLot | None = None):
        initial = {"bought_at": _local(timezone.now())}
        if lot is not None:
            initial = {
                "bought_at": _local(lot.bought_at),
                "tao": plain(lot.tao),
                "usd_paid": f"{lot.usd_paid:.2f}",
                "venue": lot.venue,
                "reference": lot.reference,
            }
        super().__init__(data, initial=initial)

    def clean_bought_at(self):
        return _not_future(self.cleaned_data["bought_at"])

    def clean_tao(self):
        return _check_tao(self.cleaned_data["tao"])

    def clean_usd_paid(self):
        amount = self.cleaned_data["usd_paid"]
        if amount <= 0:
            raise forms.ValidationError("Enter what the lot cost: more than $0.")
        if amount >= MAX_USD:
            raise forms.ValidationError("The amount is too large.")
        if _places(amount) > 2:
            raise forms.ValidationError("Give the USD paid in dollars and cents (2 decimals).")
        return amount

    def clean_venue(self):
        return self.cleaned_data["venue"].strip()

    def clean_reference(self):
        return self.cleaned_data["reference"].strip()


class TaoTransferForm(forms.Form):
    sent_at = _moment_field(
        "Sent on",
        "In the team's time zone. Give the time too when you state the balance after it: "
        "usage from that hour on is taken off it.",
    )
    tao = _tao_field("TAO sent", "What left the wallet for the Chutes account, e.g. 10.")
    balance_after = _tao_field(
        "Chutes balance after it",
        "The account's TAO balance once it arrived, if you know it. The latest stated "
        "balance is what the page counts from.",
        required=False,
    )
    reference = forms.CharField(
        max_length=200, required=False, help_text="Transaction hash or wallet."
    )

    def __init__(self, data=None, *, transfer: TaoTransfer | None = None):
        initial = {"sent_at": _local(timezone.now())}
        if transfer is not None:
            initial = {
                "sent_at": _local(transfer.sent_at),
                "tao": plain(transfer.tao),
                "balance_after": plain(transfer.balance_after)
                if transfer.balance_after is not None
                else "",
                "reference": transfer.reference,
            }
        super().__init__(data, initial=initial)

    def clean_sent_at(self):
        return _not_future(self.cleaned_data["sent_at"])

    def clean_tao(self):
        return _check_tao(self.cleaned_data["tao"])

    def clean_balance_after(self):
        return _check_tao(self.cleaned_data["balance_after"], zero_ok=True)

    def clean_reference(self):
        return self.cleaned_data["reference"].strip()
