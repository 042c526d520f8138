"""cost_of: USD for a call's tokens at a price, exact to 12 decimals."""

from decimal import Decimal
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.costing import cost_of

rates = st.decimals(min_value=0, max_value=Decimal("999999.999999"), places=6)
counts = st.integers(min_value=0, max_value=10**12)


def _price(input_rate, output_rate, cached_rate=None, write_rate=None):
    return SimpleNamespace(
        input_per_mtok=input_rate,
        output_per_mtok=output_rate,
        cached_input_per_mtok=cached_rate,
        cache_write_per_mtok=write_rate,
    )


def _by_hand(tokens: dict, price) -> Decimal:
    """The definition: every rate per million tokens, cached and written tokens at their own."""
    cached = price.cached_input_per_mtok
    write = price.cache_write_per_mtok
    uncached = tokens["input_tokens"] - tokens["cached_input_tokens"] - tokens["cache_write_tokens"]
    return (
        uncached * Decimal(price.input_per_mtok)
        + tokens["cached_input_tokens"] * (price.input_per_mtok if cached is None else cached)
        + tokens["cache_write_tokens"] * (price.input_per_mtok if write is None else write)
        + tokens["output_tokens"] * price.output_per_mtok
    ).scaleb(-6)


def test_it_prices_cached_and_written_tokens_at_their_own_rates():
    price = _price(Decimal("3"), Decimal("15"), Decimal("0.3"), Decimal("3.75"))
    cost = cost_of(
        input_tokens=1_000_000,
        cached_input_tokens=200_000,
        cache_write_tokens=100_000,
        output_tokens=10_000,
        price=price,
    )
    assert cost == Decimal("2.1") + Decimal("0.06") + Decimal("0.375") + Decimal("0.15")
    assert cost.as_tuple().exponent == -12


@given(
    st.tuples(counts, counts, counts, counts),
    rates,
    rates,
    st.none() | rates,
    st.none() | rates,
)
def test_it_is_exact_for_any_tokens_and_six_decimal_rates(counts4, input_rate, output_rate, c, w):
    cached, written, extra, output = counts4
    tokens = {
        "input_tokens": cached + written + extra,
        "cached_input_tokens": cached,
        "cache_write_tokens": written,
        "output_tokens": output,
    }
    price = _price(input_rate, output_rate, c, w)
    cost = cost_of(price=price, **tokens)
    assert cost == _by_hand(tokens, price)
    assert cost.as_tuple().exponent == -12


@pytest.mark.parametrize("rate", [Decimal("0.1234567"), Decimal("1E-9")])
def test_a_rate_of_more_than_six_decimals_is_rounded_to_12_decimals(rate):
    cost = cost_of(
        input_tokens=3, cached_input_tokens=0, cache_write_tokens=0, output_tokens=0,
        price=_price(rate, Decimal(0)),
    )  # fmt: skip
    assert cost == (3 * rate / 1_000_000).quantize(Decimal("1e-12"))
