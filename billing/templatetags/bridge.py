"""Filters for the report's bridge: amounts as the waterfall labels them, and exactly."""

from django import template

from billing.reports.bridge_chart import money
from billing.reports.exports import plain

register = template.Library()


@register.filter
def usd_signed(amount) -> str:
    """+$1,234.56, $0.00, or -$0.50 with a true minus sign."""
    return money(amount, signed=True)


@register.filter
def usd_exact(amount) -> str:
    """The exact amount without exponent or trailing zeros: 0.0105, -2.5."""
    return plain(amount)
