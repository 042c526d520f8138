"""The overview month panel's bridge: this month so far against the same days of last month,
split into volume, mix, token intensity, unit price and TAO rate (billing.reports.bridge).

The same days, not last month's whole: early in a month a whole month would read as a fall in
volume. The page's provider, model and task type filters apply; a routing version does not
(versions rarely span two months), and then there is no bridge. The page loads it in a request
of its own, after the rest: the overview's figures do not wait for it.
"""

from dataclasses import dataclass
from datetime import date, timedelta

from billing.months import last_day_of, previous_month
from billing.overview.cube import Filters
from billing.reports.bridge import Bridge, month_bridge
from billing.reports.day_rows import DayRow, day_rows
from billing.reports.month_report import list_price_weights


@dataclass(frozen=True)
class MonthToDateBridge:
    bridge: Bridge
    before: tuple[date, date]
    after: tuple[date, date]


def _kept(row: DayRow, filters: Filters) -> bool:
    return (
        (not filters.provider or row.provider == filters.provider)
        and (not filters.model or row.model == filters.model)
        and (not filters.task_type or row.task_type == filters.task_type)
    )


def month_to_date_bridge(
    team, first_day: date, last: date, filters: Filters
) -> MonthToDateBridge | None:
    """The month from `first_day` to `last` against the same days of the month before. Two
    queries: the days of both months, and the list prices that weigh their tokens."""
    if filters.route_version is not None:
        return None
    earlier = previous_month(first_day)
    earlier_last = min(earlier + timedelta(days=(last - first_day).days), last_day_of(earlier))
    rows = [row for row in day_rows([team], earlier, last) if _kept(row, filters)]
    before = [row for row in rows if row.day <= earlier_last]
    after = [row for row in rows if row.day >= first_day]
    if not before and not after:
        return None
    prices = list_price_weights(rows, earlier)
    return MonthToDateBridge(
        month_bridge(before, after, reference_prices=prices),
        (earlier, earlier_last),
        (first_day, last),
    )
