"""Savings: what the team spent against the same tokens at its baseline model's price.

The baseline is the model an admin picks in the team's Settings; `savings_by_day` prices each
day's tokens at its price in force today and keeps running totals, so the page shows how much
has been saved so far, in USD and as a share of the baseline cost.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from billing.costing import cost_of
from billing.ingest.events import TOKEN_FIELDS
from billing.models import ModelPrice
from billing.overview.cube import HUNDRED, CubeRow


@dataclass(frozen=True)
class SavingsPoint:
    day: date
    actual_usd: Decimal
    baseline_usd: Decimal
    cumulative_actual_usd: Decimal
    cumulative_baseline_usd: Decimal

    @property
    def cumulative_savings_usd(self) -> Decimal:
        return self.cumulative_baseline_usd - self.cumulative_actual_usd

    @property
    def cumulative_savings_pct(self) -> Decimal | None:
        if not self.cumulative_baseline_usd:
            return None
        return self.cumulative_savings_usd * HUNDRED / self.cumulative_baseline_usd


def baseline_price(team, today: date) -> ModelPrice | None:
    if team.baseline_model_id is None:
        return None
    return ModelPrice.objects.in_force_on(today).filter(model_id=team.baseline_model_id).first()


def savings_by_day(cube: list[CubeRow], price: ModelPrice | None) -> list[SavingsPoint]:
    """Actual cost vs the same tokens at the baseline model's price, day by day, cumulative.

    Rows with unpriced calls are left out of both sides: their actual cost is unknown.
    """
    if price is None:
        return []
    actual: dict[date, Decimal] = defaultdict(Decimal)
    tokens: dict[date, list[int]] = defaultdict(lambda: [0] * len(TOKEN_FIELDS))
    for row in cube:
        if row.unpriced_requests:
            continue
        actual[row.day] += row.cost_usd
        day_tokens = tokens[row.day]
        for index, name in enumerate(TOKEN_FIELDS):
            day_tokens[index] += getattr(row, name)
    # Cost is linear in tokens and exact at 12 decimals: one cost_of per day is the same sum.
    baseline = {
        day: cost_of(price=price, **dict(zip(TOKEN_FIELDS, counts, strict=True)))
        for day, counts in tokens.items()
    }
    points, spent, would = [], Decimal(0), Decimal(0)
    for day in sorted(actual):
        spent += actual[day]
        would += baseline[day]
        points.append(SavingsPoint(day, actual[day], baseline[day], spent, would))
    return points
