"""Sums over cube rows: the KPIs of the chosen range, and the cube grouped for the charts.

`totals_of` adds up any set of cube rows into `Totals` (requests, errors, cost, TAO, quality);
`daily_groups` groups the rows per day and provider, model or task type for the daily charts,
and `window_groups` by any key over the whole range.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from billing.overview.cube import HUNDRED, CubeRow

# Below this many scored calls a quality figure is shown but marked as too thin to act on.
MIN_QUALITY_SAMPLES = 30


@dataclass(frozen=True)
class Totals:
    requests: int
    errors: int
    cost_usd: Decimal
    tao_amount: Decimal
    quality_sum: Decimal
    quality_count: int

    @property
    def error_rate_pct(self) -> Decimal | None:
        return Decimal(self.errors) * HUNDRED / self.requests if self.requests else None

    @property
    def avg_quality(self) -> Decimal | None:
        return self.quality_sum / self.quality_count if self.quality_count else None

    @property
    def cost_per_success(self) -> Decimal | None:
        successes = self.requests - self.errors
        return self.cost_usd / successes if successes else None


def totals_of(rows) -> Totals:
    requests = errors = quality_count = 0
    cost = tao = quality = Decimal(0)
    for row in rows:
        requests += row.requests
        errors += row.errors
        cost += row.cost_usd
        tao += row.tao_amount
        quality += row.quality_sum
        quality_count += row.quality_count
    return Totals(requests, errors, cost, tao, quality, quality_count)


def label_of(row: CubeRow, dimension: str) -> str:
    if dimension == "model":
        return f"{row.provider}/{row.model}"
    if dimension == "task_type":
        return row.task_type or "(none)"
    return row.provider


def daily_groups(cube: list[CubeRow], dimension: str) -> dict[tuple[date, str], list[CubeRow]]:
    groups: dict[tuple[date, str], list[CubeRow]] = defaultdict(list)
    for row in cube:
        groups[(row.day, label_of(row, dimension))].append(row)
    return dict(sorted(groups.items()))


def window_groups(cube: list[CubeRow], key) -> dict[tuple, list[CubeRow]]:
    groups: dict[tuple, list[CubeRow]] = defaultdict(list)
    for row in cube:
        groups[key(row)].append(row)
    return dict(sorted(groups.items()))
