"""Provider invoices: recording what each provider invoiced a team for a month (audited), and
reconciling those amounts with the month's computed cost.

A month is the team's calendar month in its time zone, identified by its first day. An invoice
is in USD or TAO; it is compared with the computed cost in its own currency (the TAO amounts
of a TAO-billed provider's calls, USD otherwise) and flagged when the variance exceeds
settings.INVOICE_TOLERANCE_PCT percent of the computed cost.
"""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from billing.audit_actions import BillingAuditAction
from billing.budgets import plain_amount
from billing.models import ProviderInvoice, UsageDailyRollup
from billing.months import current_month, next_month
from dashboard.audit import audit_record
from dashboard.models import Team
from routing.models import Provider

USD, TAO = "USD", "TAO"
CURRENCIES = [USD, TAO]
# Decimal places an amount may have in each currency.
PLACES = {USD: 2, TAO: 8}

WITHIN, OVER, NOT_INVOICED, NO_USAGE = "within", "over", "not_invoiced", "no_usage"


@dataclass(frozen=True)
class ComputedCost:
    """A provider's cost for a month as computed from usage: USD, and TAO for TAO-billed calls."""

    usd: Decimal
    tao: Decimal


# --- Months --------------------------------------------------------------------------------


def month_has_begun(team: Team, month: date, now=None) -> bool:
    return month <= current_month(team, now)


# --- Describing an invoice -----------------------------------------------------------------


def amount_text(value: Decimal, currency: str, *, signed: bool = False) -> str:
    """An amount as the page shows it: "$1,234.50", "0.125 TAO"; with "+" if `signed`."""
    sign = _sign(value, signed)
    value = abs(value)
    if currency == TAO:
        return f"{sign}{plain_amount(value.quantize(Decimal('1e-8')))} TAO"
    return f"{sign}${value:,.2f}"


def _sign(value: Decimal, signed: bool) -> str:
    if value < 0:
        return "-"
    return "+" if signed and value else ""


def invoice_label(invoice: ProviderInvoice) -> str:
    """What the audit log and messages call it, e.g. "Chutes invoice for November 2026"."""
    return f"{invoice.provider.name} invoice for {invoice.month:%B %Y}"


def amount_plain(amount: Decimal, currency: str) -> str:
    """An amount without its currency, as a form shows it: "120.50" USD, "0.125" TAO."""
    return f"{amount:.2f}" if currency == USD else plain_amount(amount)


def _audit_values(invoice: ProviderInvoice) -> dict[str, str]:
    return {
        "month": f"{invoice.month:%Y-%m}",
        "provider": invoice.provider.slug,
        "amount": amount_plain(invoice.amount, invoice.currency),
        "currency": invoice.currency,
        "reference": invoice.reference or "none",
    }


# --- Recording, correcting and deleting ----------------------------------------------------


def invoice_save(
    *, team: Team, month: date, user, data: dict, invoice: ProviderInvoice | None = None
) -> ProviderInvoice:
    """Record a provider's invoice for `month` from `data` (provider, amount, currency,
    reference; parsed), or correct `invoice` to it (its provider stays); audited, a correction
    as old → new of what changed.

    Raises ValidationError for a month that has not begun in the team's time zone, a second
    invoice for the same provider and month, or an invoice deleted meanwhile.
    """
    if not month_has_begun(team, month):
        raise ValidationError(
            f"{month:%B %Y} has not begun yet in {team.time_zone}: "
            "invoices are recorded for this month or earlier ones."
        )
    with transaction.atomic():
        if invoice is None:
            return _record(team, month, user, data)
        invoice = (
            ProviderInvoice.objects.select_for_update()
            .select_related("provider")
            .filter(pk=invoice.pk, team=team)
            .first()
        )
        if invoice is None:
            raise ValidationError("This invoice was deleted meanwhile: record it again.")
        old = _audit_values(invoice)
        _assign(invoice, data)
        new = _audit_values(invoice)
        changes = {name: f"{old[name]} → {new[name]}" for name in old if old[name] != new[name]}
        if changes:
            invoice.entered_by = user
            invoice.entered_at = timezone.now()
            invoice.save()
            _audit(invoice, user, changes)
        return invoice


def invoice_delete(*, invoice: ProviderInvoice, user) -> None:
    with transaction.atomic():
        audit_record(
            team=invoice.team,
            action=BillingAuditAction.INVOICE_DELETED,
            target=invoice_label(invoice),
            actor=user,
            detail=_audit_values(invoice),
        )
        invoice.delete()


def _record(team: Team, month: date, user, data: dict) -> ProviderInvoice:
    provider = data["provider"]
    invoice = ProviderInvoice(team=team, month=month, provider=provider, entered_by=user)
    _assign(invoice, data)
    try:
        with transaction.atomic():
            invoice.save()
    except IntegrityError:
        existing = ProviderInvoice.objects.filter(team=team, month=month, provider=provider).first()
        raise ValidationError(_already_recorded(existing or invoice)) from None
    _audit(invoice, user, _audit_values(invoice))
    return invoice


def _already_recorded(existing: ProviderInvoice) -> str:
    return (
        f"{existing.provider.name} already has an invoice for {existing.month:%B %Y} "
        f"({amount_text(existing.amount, existing.currency)}): correct that one instead."
    )


def _assign(invoice: ProviderInvoice, data: dict) -> None:
    invoice.amount = data["amount"]
    invoice.currency = data["currency"]
    invoice.reference = data.get("reference") or ""


def _audit(invoice: ProviderInvoice, user, detail: dict) -> None:
    audit_record(
        team=invoice.team,
        action=BillingAuditAction.INVOICE_RECORDED,
        target=invoice_label(invoice),
        actor=user,
        detail=detail,
    )


# --- Reconciling -----------------------------------------------------------------------------


def tolerance_pct() -> Decimal:
    return Decimal(str(getattr(settings, "INVOICE_TOLERANCE_PCT", Decimal("2"))))


def computed_by_provider(team: Team, month: date) -> dict[str, ComputedCost]:
    """The month's computed cost per provider slug, from the team's daily rollups (one query)."""
    rows = (
        UsageDailyRollup.objects.filter(team=team, day__gte=month, day__lt=next_month(month))
        .values("provider_name")
        .order_by("provider_name")
        .annotate(usd=Sum("cost_usd"), tao=Sum("tao_amount"))
    )
    return {row["provider_name"]: ComputedCost(usd=row["usd"], tao=row["tao"]) for row in rows}


@dataclass(frozen=True)
class InvoiceLine:
    """A provider on the reconciliation: its invoice (if any) against its computed cost.

    `computed`, `invoiced` and `variance` are in `currency`: the invoice's, or for a provider
    not invoiced yet its billing currency. `variance_pct` is of the computed cost; an invoice
    against no computed cost is 100% off.
    """

    provider_slug: str
    provider: Provider | None  # None when the catalog does not know the usage's provider
    invoice: ProviderInvoice | None
    currency: str
    cost: ComputedCost
    computed: Decimal
    invoiced: Decimal | None
    variance: Decimal | None
    variance_pct: Decimal | None
    flagged: bool
    tolerance_pct: Decimal

    @property
    def provider_name(self) -> str:
        return self.provider.name if self.provider else self.provider_slug

    @property
    def status(self) -> str:
        if self.invoice is None:
            return NOT_INVOICED
        if self.computed == 0 and self.invoiced:
            return NO_USAGE
        return OVER if self.flagged else WITHIN

    @property
    def invoiced_text(self) -> str:
        return amount_text(self.invoiced, self.currency) if self.invoice else ""

    @property
    def computed_text(self) -> str:
        return amount_text(self.computed, self.currency)

    @property
    def computed_usd_text(self) -> str:
        """The computed USD beside a TAO figure, for scale."""
        return amount_text(self.cost.usd, USD) if self.currency == TAO else ""

    @property
    def variance_text(self) -> str:
        if self.variance is None:
            return ""
        return amount_text(self.variance, self.currency, signed=True)

    @property
    def variance_pct_text(self) -> str:
        if self.variance_pct is None:
            return ""
        return f"{_sign(self.variance_pct, True)}{abs(self.variance_pct):.2f}%"


def invoice_lines(team: Team, month: date, computed: dict[str, ComputedCost]) -> list[InvoiceLine]:
    """The month's invoices against `computed` (provider slug → the month's computed cost),
    with a line for each provider that has a computed cost but no invoice yet.

    Invoiced providers come first, then those not invoiced yet, each by provider name.
    """
    tolerance = tolerance_pct()
    invoices = list(
        ProviderInvoice.objects.filter(team=team, month=month).select_related(
            "provider", "entered_by"
        )
    )
    invoiced_slugs = {invoice.provider.slug for invoice in invoices}
    awaiting = [
        slug
        for slug, cost in computed.items()
        if slug not in invoiced_slugs and (cost.usd or cost.tao)
    ]
    providers = {p.slug: p for p in Provider.objects.filter(slug__in=awaiting)} if awaiting else {}
    zero = ComputedCost(usd=Decimal(0), tao=Decimal(0))
    lines = [
        _invoiced_line(invoice, computed.get(invoice.provider.slug, zero), tolerance)
        for invoice in invoices
    ]
    lines.sort(key=lambda line: line.provider_name.lower())
    waiting = [
        _awaiting_line(slug, providers.get(slug), computed[slug], tolerance) for slug in awaiting
    ]
    waiting.sort(key=lambda line: line.provider_name.lower())
    return lines + waiting


def _in_currency(cost: ComputedCost, currency: str) -> Decimal:
    return cost.tao if currency == TAO else cost.usd


def _invoiced_line(invoice: ProviderInvoice, cost: ComputedCost, tolerance: Decimal):
    computed = _in_currency(cost, invoice.currency)
    variance = invoice.amount - computed
    if computed:
        pct = variance * 100 / computed
        # Compared without the division, so a variance of exactly the tolerance never flags.
        flagged = abs(variance) * 100 > tolerance * abs(computed)
    else:
        pct = Decimal(100) if invoice.amount else Decimal(0)
        flagged = bool(invoice.amount)
    return InvoiceLine(
        provider_slug=invoice.provider.slug,
        provider=invoice.provider,
        invoice=invoice,
        currency=invoice.currency,
        cost=cost,
        computed=computed,
        invoiced=invoice.amount,
        variance=variance,
        variance_pct=pct,
        flagged=flagged,
        tolerance_pct=tolerance,
    )


def _awaiting_line(slug: str, provider: Provider | None, cost: ComputedCost, tolerance: Decimal):
    currency = provider.billing_currency if provider else USD
    return InvoiceLine(
        provider_slug=slug,
        provider=provider,
        invoice=None,
        currency=currency,
        cost=cost,
        computed=_in_currency(cost, currency),
        invoiced=None,
        variance=None,
        variance_pct=None,
        flagged=False,
        tolerance_pct=tolerance,
    )
