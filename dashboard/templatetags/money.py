"""Money on pages: USD rates as the catalog writes them, and amounts in the reader's display
currency (billing.fx converts; the context's `money_view` says which currency and day).

`{% money amount %}` renders a USD amount as "$1,234.56" when the reader sees USD, exactly as
`${{ amount|floatformat:"2g" }}` did, and otherwise converted, with the USD amount and the rate
in its hover title. The page converts at the rate of `money_day` (the period's last day) when
the view sets it, else today's.
"""

from decimal import Decimal

from django import template
from django.template.defaultfilters import floatformat
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

register = template.Library()

SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£"}
MINUS = "\N{MINUS SIGN}"
# ISO 4217 minor units where they are not 2.
MINOR_UNITS = {"JPY": 0, "ISK": 0, "KRW": 0}


@register.filter
def usd_rate(value) -> str:
    """A USD rate with at least two decimals and no trailing zeros beyond: $5.00, $0.075."""
    if value is None or value == "":
        return ""
    amount = Decimal(value)
    text = f"{amount:,.6f}".rstrip("0")
    whole, _, fraction = text.partition(".")
    return f"${whole}.{fraction.ljust(2, '0')}"


def places_for(currency: str, fmt: str) -> str:
    """A floatformat argument for the currency: cents-precision formats ("2g") take the
    currency's minor unit (0 for yen); finer ones ("6g", for a call's cost) keep their extra
    places over it."""
    fmt = str(fmt)
    digits = fmt.rstrip("gu")
    suffix = fmt[len(digits) :]
    try:
        places = int(digits)
    except ValueError:
        return fmt
    minor = MINOR_UNITS.get(currency, 2)
    return f"{max(0, places - 2 + minor) if places >= 0 else places}{suffix}"


def amount_text(amount, currency: str, fmt: str = "2g", *, signed: bool = False) -> str:
    """The amount with its symbol (€, £, $) or, for other currencies, its code: "CHF 12.50".
    With `signed`: "+$1.00", "$0.00", or a true minus sign before "$0.50", as the bridge does."""
    sign = ""
    if signed:
        amount = Decimal(amount)
        sign = MINUS if amount < 0 else "+" if amount > 0 else ""
        amount = abs(amount)
    number = floatformat(amount, places_for(currency, fmt))
    symbol = SYMBOLS.get(currency)
    return f"{sign}{symbol}{number}" if symbol else f"{sign}{currency}\u00a0{number}"


def quote_text(quote) -> str:
    """ "0.9485 EUR per USD, ECB reference rate of 2026-12-04", and when the day had none,
    "(the last before 2026-12-06)"."""
    text = (
        f"{quote.rate:.4f} {quote.currency} per USD, {quote.source} reference rate of {quote.day}"
    )
    return f"{text} (the last before {quote.asked})" if quote.stale else text


@register.simple_tag(takes_context=True)
def money(context, amount, fmt="2g", day=None, signed=False):
    """A USD amount in the reader's display currency; see the module's docstring."""
    if amount is None or amount == "":
        return ""
    usd = amount_text(amount, "USD", fmt, signed=signed)
    view = context.get("money_view")
    if view is None or view.is_usd:
        return usd
    quote = view.quote(day or context.get("money_day"))
    if quote is None:
        title = f"No {view.currency} rate is stored yet: shown in USD"
        return format_html('<span class="money no-rate" title="{}">{}</span>', title, usd)
    shown = amount_text(quote.convert(Decimal(amount)), quote.currency, fmt, signed=signed)
    title = f"{usd} at {quote_text(quote)}"
    return format_html('<span class="money" title="{}">{}</span>', title, shown)


@register.filter
def in_currency(amount, currency) -> str:
    """An amount already in `currency` (a budget set in euros), with its symbol or code."""
    if amount is None or amount == "":
        return ""
    return amount_text(amount, currency or "USD")


@register.simple_tag(takes_context=True)
def money_note(context, day=None):
    """Once per page, near its figures: which currency and rate the page's amounts are in.
    Nothing for USD, the stored and billing currency."""
    view = context.get("money_view")
    if view is None or view.is_usd:
        return ""
    quote = view.quote(day or context.get("money_day"))
    link = _currency_link(context)
    if quote is None:
        return format_html(
            '<p class="muted small money-note" data-testid="money-note">Amounts are in USD: no '
            "{} reference rate is stored yet.{}</p>",
            view.currency,
            link,
        )
    stale = f", the last before {quote.asked}" if quote.stale else ""
    return format_html(
        '<p class="muted small money-note" data-testid="money-note">Amounts in {} at the {} '
        "reference rate of {} ({} {} per USD{}); stored and billed in USD, which each amount "
        "shows on hover.{}</p>",
        quote.currency,
        quote.source,
        quote.day,
        f"{quote.rate:.4f}",
        quote.currency,
        stale,
        link,
    )


def _currency_link(context) -> str:
    team = context.get("team") or context.get("current_team")
    if team is None:
        return ""
    try:
        url = reverse("display_currency", kwargs={"team": team.slug})
    except NoReverseMatch:
        return ""
    return format_html(' <a href="{}">Change currency</a>', url)
