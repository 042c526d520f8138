"""How money in a reader's display currency is written beside USD in CSV files: the columns and
the precision that the report, usage and chart CSVs share (billing.reports.exports,
dashboard.charts)."""

from decimal import Decimal

DISPLAY_COLUMNS = ["display_currency", "rate", "rate_day", "cost_in_display_currency"]
# Converted amounts and rates are written to 10 places.
DISPLAY_QUANTUM = Decimal("1e-10")


def exact(value: Decimal | int) -> Decimal | int:
    """The amount without trailing zeros, so it is written as plain() writes it."""
    if isinstance(value, int):
        return value
    return value.normalize() if value else Decimal(0)
