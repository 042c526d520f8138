from decimal import Decimal

import pytest

from dashboard.templatetags.money import usd_rate


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (Decimal("5.000000"), "$5.00"),
        (Decimal("0.070000"), "$0.07"),
        (Decimal("0.075000"), "$0.075"),
        (Decimal("0.000001"), "$0.000001"),
        (Decimal("1250.5"), "$1,250.50"),
    ],
)
def test_it_shows_rates_with_at_least_cents_and_no_trailing_zeros(value, shown):
    assert usd_rate(value) == shown
