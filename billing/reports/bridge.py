"""The month-over-month bridge of spend: how last month's total became this month's, split into
volume, mix, token intensity, unit price and TAO rate, each in USD.

A cell is a provider, model and task type. In a month it has n calls, weighted tokens W (its
tokens at fixed weights: the model's catalog list price per token type on the first day of the
earlier month, the same for both months), a USD cost C and, for TAO-billed cells, a TAO amount
A. With N all the month's calls, s = n/N (mix), q = W/n (intensity), and p = C/W, r = 1 for USD
cells or p = A/W (TAO per weighted token), r = C/A (USD per TAO as used) for TAO cells, the
month's spend is the sum over cells of N·s·q·p·r. Putting this month's N, then s, q, p and r in
place of last month's, one after the other, in exact fractions, gives the five effects; they add
up to the change exactly. A cell found in one month only borrows q, p and r from the month it
has, so all its change is volume and mix; a month without calls makes everything volume.

The effects are then rounded to the quantum of the stored cost_usd so that the Decimal effects
still add up exactly to the difference of the two totals (largest remainder). Plain functions
over the report's day rows: no queries here (the reference prices are the caller's).
"""

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal, localcontext
from fractions import Fraction
from itertools import pairwise
from math import floor
from typing import TYPE_CHECKING, NamedTuple

from billing.ingest.events import TOKEN_FIELDS
from billing.models import USD_DIGITS

if TYPE_CHECKING:
    from billing.reports.day_rows import DayRow

ZERO = Decimal(0)
MILLION = 1_000_000
# Effects are rounded to the stored quantum of cost_usd (10^-12 USD), or finer if an amount is.
USD_EXPONENT = -USD_DIGITS["decimal_places"]
EXACT_DIGITS = 60

EFFECTS = ("volume", "mix", "intensity", "unit_price", "tao_rate")
EFFECT_LABELS = {
    "volume": "Volume",
    "mix": "Mix",
    "intensity": "Token intensity",
    "unit_price": "Unit price",
    "tao_rate": "TAO rate",
}

Cell = tuple[str, str, str]  # provider, model, task type


class Effect(NamedTuple):
    """One step of the bridge: its name (one of EFFECTS) and its USD amount."""

    name: str
    amount: Decimal

    @property
    def label(self) -> str:
        return EFFECT_LABELS.get(self.name, self.name)


@dataclass(frozen=True)
class Bridge:
    """Last month's spend (start) to this month's (end): the effects between, and what they
    leave unexplained (residual; zero unless some usage had a cost without calls)."""

    start: Decimal
    end: Decimal
    effects: tuple[Effect, ...]
    residual: Decimal

    @property
    def change(self) -> Decimal:
        return self.end - self.start

    def to_json(self) -> dict:
        return {
            "start": str(self.start),
            "end": str(self.end),
            "effects": [[effect.name, str(effect.amount)] for effect in self.effects],
            "residual": str(self.residual),
        }

    @classmethod
    def from_json(cls, data: dict) -> "Bridge":
        return cls(
            start=Decimal(data["start"]),
            end=Decimal(data["end"]),
            effects=tuple(Effect(name, Decimal(amount)) for name, amount in data["effects"]),
            residual=Decimal(data["residual"]),
        )


@dataclass(frozen=True)
class BridgeLine:
    """The bridge of one provider's or one task type's calls alone."""

    key: str
    label: str
    bridge: Bridge

    def to_json(self) -> dict:
        return {"key": self.key, "label": self.label, "bridge": self.bridge.to_json()}

    @classmethod
    def from_json(cls, data: dict) -> "BridgeLine":
        return cls(data["key"], data["label"], Bridge.from_json(data["bridge"]))


@dataclass(frozen=True)
class ReportBridge:
    """What the monthly report shows: the bridge of all calls, then per provider and task type."""

    total: Bridge
    by_provider: list[BridgeLine]
    by_task_type: list[BridgeLine]

    def to_json(self) -> dict:
        return {
            "total": self.total.to_json(),
            "by_provider": [line.to_json() for line in self.by_provider],
            "by_task_type": [line.to_json() for line in self.by_task_type],
        }

    @classmethod
    def from_json(cls, data: dict) -> "ReportBridge":
        return cls(
            total=Bridge.from_json(data["total"]),
            by_provider=[BridgeLine.from_json(line) for line in data["by_provider"]],
            by_task_type=[BridgeLine.from_json(line) for line in data["by_task_type"]],
        )


# --- Weights -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenWeights:
    """What one token of each TOKEN_FIELDS count weighs. input_tokens counts every prompt token,
    so cached and cache-write tokens weigh their own rate's difference from the input rate."""

    input_tokens: Fraction
    output_tokens: Fraction
    cached_input_tokens: Fraction = Fraction(0)
    cache_write_tokens: Fraction = Fraction(0)

    def weigh(self, figures) -> Fraction:
        return sum(
            (getattr(self, name) * getattr(figures, name) for name in TOKEN_FIELDS), Fraction(0)
        )


# A model without a price: its input and output tokens count one each.
UNPRICED_WEIGHTS = TokenWeights(Fraction(1), Fraction(1))


def token_weights(price) -> TokenWeights:
    """A list price (USD per million tokens; empty cache rates are the input rate) as weights
    in USD per token, so a cell at exactly that price has a unit price of 1."""
    input_rate = Fraction(price.input_per_mtok) / MILLION
    cached_rate = _rate(price.cached_input_per_mtok, input_rate)
    write_rate = _rate(price.cache_write_per_mtok, input_rate)
    return TokenWeights(
        input_tokens=input_rate,
        output_tokens=Fraction(price.output_per_mtok) / MILLION,
        cached_input_tokens=cached_rate - input_rate,
        cache_write_tokens=write_rate - input_rate,
    )


def _rate(per_mtok: Decimal | None, default: Fraction) -> Fraction:
    return default if per_mtok is None else Fraction(per_mtok) / MILLION


# --- The method ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CellMonth:
    """One cell's month: its calls, weighted tokens, USD cost and TAO."""

    calls: int
    weighted: Fraction
    cost: Fraction
    tao: Fraction


@dataclass(frozen=True)
class Factors:
    """A cell's month as the spend formula reads it: N·s·q·p·r."""

    share: Fraction
    intensity: Fraction
    price: Fraction
    rate: Fraction


def month_bridge(
    rows_before: Iterable["DayRow"],
    rows_after: Iterable["DayRow"],
    *,
    reference_prices: Mapping[tuple[str, str], TokenWeights],
) -> Bridge:
    """The bridge from the spend of `rows_before` (last month) to that of `rows_after`.

    `reference_prices` maps (provider, model) to its weights (see token_weights); a model it
    lacks is weighed as unpriced.
    """
    rows_before, rows_after = list(rows_before), list(rows_after)
    before = _cells(rows_before, reference_prices)
    after = _cells(rows_after, reference_prices)
    exact = _exact_effects(before, after)
    cells_change = _cost(after) - _cost(before)
    exponent = min([USD_EXPONENT, *(_exponent(row) for row in rows_before + rows_after)])
    amounts = _rounded(exact, cells_change, exponent)
    start, end = _total(rows_before), _total(rows_after)
    return Bridge(
        start=start,
        end=end,
        effects=tuple(Effect(n, amount) for n, amount in zip(EFFECTS, amounts, strict=True)),
        residual=end - start - sum(amounts, ZERO),
    )


def _exact_effects(before: dict[Cell, CellMonth], after: dict[Cell, CellMonth]) -> list[Fraction]:
    """The five effects as exact fractions, in EFFECTS' order: they add up to the change in the
    cells' cost."""
    calls_before = sum(cell.calls for cell in before.values())
    calls_after = sum(cell.calls for cell in after.values())
    if not calls_before and not calls_after:
        return [Fraction(0)] * len(EFFECTS)
    old, new = [], []
    for key in sorted(before.keys() | after.keys()):
        was, now = before.get(key), after.get(key)
        (q0, p0, r0), (q1, p1, r1) = _own_factors_of_both(was, now)
        old.append(Factors(_share(was, calls_before), q0, p0, r0))
        new.append(Factors(_share(now, calls_after), q1, p1, r1))
    if not calls_before:
        # Nothing last month: its shares are this month's, so all the change is volume.
        old = [replace(o, share=n.share) for o, n in zip(old, new, strict=True)]
    if not calls_after:
        new = [replace(n, share=o.share) for o, n in zip(old, new, strict=True)]
    steps = [
        _spend(calls_before, old, old, old, old),
        _spend(calls_after, old, old, old, old),
        _spend(calls_after, new, old, old, old),
        _spend(calls_after, new, new, old, old),
        _spend(calls_after, new, new, new, old),
        _spend(calls_after, new, new, new, new),
    ]
    return [later - earlier for earlier, later in pairwise(steps)]


def _cells(rows: list["DayRow"], prices: Mapping[tuple[str, str], TokenWeights]) -> dict:
    """The rows summed per cell; cells without calls are left out (see Bridge.residual)."""
    sums: dict = {}
    # Enough digits that sums of 12-decimal amounts stay exact.
    with localcontext(prec=EXACT_DIGITS):
        for row in rows:
            key = (row.provider, row.model, row.task_type)
            sums[key] = sums[key] + row.figures if key in sums else row.figures
    return {
        key: CellMonth(
            calls=figures.requests,
            weighted=prices.get(key[:2], UNPRICED_WEIGHTS).weigh(figures),
            cost=Fraction(figures.cost_usd),
            tao=Fraction(figures.tao_amount),
        )
        for key, figures in sums.items()
        if figures.requests
    }


Own = tuple[Fraction, Fraction, Fraction]  # intensity, price, rate


def _own_factors_of_both(was: CellMonth | None, now: CellMonth | None) -> tuple[Own, Own]:
    """The cell's own intensity, price and rate last month and this month; a cell of one month
    only takes that month's for both."""
    if was is not None and now is not None:
        return _own_factors(was, now), _own_factors(now, was)
    cell = was if was is not None else now
    assert cell is not None, "a cell of neither month"
    only = _own_factors(cell, None)
    return only, only


def _own_factors(cell: CellMonth, other: CellMonth | None) -> Own:
    """The cell's intensity, price and rate in its own month."""
    # Calls without tokens (failed calls, say) count as one weighted token each.
    weighted = cell.weighted or Fraction(cell.calls)
    intensity = weighted / cell.calls
    if cell.tao:
        return intensity, cell.tao / weighted, cell.cost / cell.tao
    if other is not None and other.tao and other.cost:
        # A TAO-billed cell whose calls carried no TAO this month (no fresh TAO price): its
        # cost in TAO at the other month's rate, so a missing TAO price is no rate move.
        rate = other.cost / other.tao
        return intensity, cell.cost / weighted / rate, rate
    return intensity, cell.cost / weighted, Fraction(1)


def _share(cell: CellMonth | None, calls: int) -> Fraction:
    return Fraction(cell.calls, calls) if cell and calls else Fraction(0)


def _spend(
    calls: int,
    shares: list[Factors],
    intensities: list[Factors],
    prices: list[Factors],
    rates: list[Factors],
) -> Fraction:
    """Σ N·s·q·p·r over the cells, each factor read from its own month's list."""
    return sum(
        (
            calls * s.share * q.intensity * p.price * r.rate
            for s, q, p, r in zip(shares, intensities, prices, rates, strict=True)
        ),
        Fraction(0),
    )


def _cost(cells: dict[Cell, CellMonth]) -> Fraction:
    return sum((cell.cost for cell in cells.values()), Fraction(0))


def _total(rows: list["DayRow"]) -> Decimal:
    with localcontext(prec=EXACT_DIGITS):
        return sum((row.figures.cost_usd for row in rows), ZERO)


def _exponent(row: "DayRow") -> int:
    exponent = row.figures.cost_usd.as_tuple().exponent
    return exponent if isinstance(exponent, int) else 0


def _rounded(exact: list[Fraction], total: Fraction, exponent: int) -> list[Decimal]:
    """The exact amounts in units of 10^exponent, adding up to `total` (a whole number of
    units): each rounded down, then a unit more to those that lost most (largest remainder,
    the earlier effect first on a tie). An exact zero stays zero."""
    unit = Fraction(10) ** exponent
    wanted = total / unit
    assert wanted.denominator == 1, "the total is a whole number of units"
    units = [floor(amount / unit) for amount in exact]
    remainders = [amount / unit - whole for amount, whole in zip(exact, units, strict=True)]
    missing = int(wanted) - sum(units)
    for index in sorted(range(len(units)), key=lambda i: -remainders[i])[:missing]:
        units[index] += 1
    return [_decimal(whole, exponent) for whole in units]


def _decimal(units: int, exponent: int) -> Decimal:
    """units * 10^exponent, exactly whatever the context's precision."""
    digits = tuple(int(digit) for digit in str(abs(units)))
    return Decimal((1 if units < 0 else 0, digits, exponent))


# --- Per group -----------------------------------------------------------------------------


def bridges_by(
    rows_before: list["DayRow"],
    rows_after: list["DayRow"],
    key: Callable[["DayRow"], str],
    label: Callable[[str], str],
    *,
    reference_prices: Mapping[tuple[str, str], TokenWeights],
) -> list[BridgeLine]:
    """The bridge of each group's calls alone (the same method within the group), biggest
    spend this month first."""
    before: dict[str, list] = defaultdict(list)
    after: dict[str, list] = defaultdict(list)
    for row in rows_before:
        before[key(row)].append(row)
    for row in rows_after:
        after[key(row)].append(row)
    lines = [
        BridgeLine(
            name,
            label(name),
            month_bridge(before[name], after[name], reference_prices=reference_prices),
        )
        for name in before.keys() | after.keys()
    ]
    return sorted(lines, key=lambda line: (-line.bridge.end, -line.bridge.start, line.key))


def report_bridge(
    rows_before: list["DayRow"],
    rows_after: list["DayRow"],
    *,
    reference_prices: Mapping[tuple[str, str], TokenWeights],
    task_label: Callable[[str], str] = str,
) -> ReportBridge:
    """The bridge of all the rows, and per provider and per task type."""
    return ReportBridge(
        total=month_bridge(rows_before, rows_after, reference_prices=reference_prices),
        by_provider=bridges_by(
            rows_before,
            rows_after,
            lambda row: row.provider,
            str,
            reference_prices=reference_prices,
        ),
        by_task_type=bridges_by(
            rows_before,
            rows_after,
            lambda row: row.task_type,
            task_label,
            reference_prices=reference_prices,
        ),
    )
