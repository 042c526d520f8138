from decimal import Decimal

from django import template

register = template.Library()


@register.filter
def usd_rate(value) -> str:
    """A USD rate with at least two decimals and no trailing zeros beyond: $5.00, $0.075."""
    if value is None or value == "":
        return ""
    amount = Decimal(value)
    text = f"{amount:,.6f}".rstrip("0")
    whole, _, fraction = text.partition(".")
    return f"${whole}.{fraction.ljust(2, '0')}"
