"""The month panel: a team month's spend and TAO day by day, its forecast, and its budget.

The panel shows the month the chosen range ends in (`focus_month`), up to today: daily and
cumulative spend, the forecast at this month's pace to the month's end, the budget that
applies to what is shown (`budget_for`), and the day spend crosses it, if it does.
"""

import calendar
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import F, Q

from billing.models import Budget
from billing.overview.cube import HUNDRED, CubeRow, Filters


@dataclass(frozen=True)
class MonthPoint:
    day: date
    cost_usd: Decimal
    cumulative_usd: Decimal
    tao: Decimal
    cumulative_tao: Decimal
    tao_cost_usd: Decimal
    cumulative_tao_cost_usd: Decimal


@dataclass(frozen=True)
class MonthPanel:
    """One team month: spend so far day by day, its forecast, and the budget it is held to."""

    first_day: date
    last_day: date
    today: date | None  # the last day with a full count so far, None once the month is over
    points: list[MonthPoint]
    spend_usd: Decimal
    forecast_usd: Decimal
    budget_usd: Decimal | None
    tao_used: Decimal
    budget_tao: Decimal | None
    crossing_day: date | None
    tao_cost_usd: Decimal  # what the month's TAO cost in USD when it was used

    @property
    def used_pct(self) -> Decimal | None:
        return self.spend_usd * HUNDRED / self.budget_usd if self.budget_usd else None

    @property
    def tao_used_pct(self) -> Decimal | None:
        return self.tao_used * HUNDRED / self.budget_tao if self.budget_tao else None

    @property
    def daily_pace(self) -> Decimal:
        elapsed = (self.today or self.last_day).day
        return self.spend_usd / elapsed

    def forecast_points(self) -> list[tuple[date, Decimal]]:
        """The dashed line: from today's total at today's pace to the month's last day."""
        if self.today is None:
            return []
        pace = self.daily_pace
        return [
            (self.today + timedelta(n), self.spend_usd + pace * n)
            for n in range((self.last_day - self.today).days + 1)
        ]


def focus_month(filters: Filters) -> tuple[date, date]:
    """The month the month panel shows: the one the chosen range ends in."""
    first = filters.last_day.replace(day=1)
    return first, first.replace(day=calendar.monthrange(first.year, first.month)[1])


def month_filters(filters: Filters, today: date) -> Filters:
    first, last = focus_month(filters)
    return replace(filters, first_day=first, last_day=min(last, today))


def cube_covers(filters: Filters, wanted: Filters) -> bool:
    return filters.first_day <= wanted.first_day and wanted.last_day <= filters.last_day


def month_panel(
    team,
    cube: list[CubeRow],
    filters: Filters,
    budget: Budget | None,
    today: date,
    budget_tao: Decimal | None = None,
) -> MonthPanel:
    """Spend and TAO per day of the focus month, cumulative, with forecast and budget.

    `cube` must cover the month's days up to today (see month_filters).
    """
    first, last = focus_month(filters)
    current = today if first <= today <= last else None
    points = _month_points(cube, first, current or min(last, today))
    so_far = points[-1] if points else None
    spend = so_far.cumulative_usd if so_far else Decimal(0)
    budget_usd = budget.amount_usd if budget else None
    if budget_tao is None and budget is not None:
        budget_tao = budget.amount_tao
    panel = MonthPanel(
        first_day=first,
        last_day=last,
        today=current,
        points=points,
        spend_usd=spend,
        forecast_usd=spend,
        budget_usd=budget_usd,
        tao_used=so_far.cumulative_tao if so_far else Decimal(0),
        budget_tao=budget_tao,
        crossing_day=None,
        tao_cost_usd=so_far.cumulative_tao_cost_usd if so_far else Decimal(0),
    )
    forecast = panel.forecast_points()
    spent = [(point.day, point.cumulative_usd) for point in points]
    crossing = next((day for day, usd in spent + forecast if budget_usd and usd > budget_usd), None)
    return replace(
        panel, forecast_usd=forecast[-1][1] if forecast else spend, crossing_day=crossing
    )


def _month_points(cube: list[CubeRow], first: date, last: date) -> list[MonthPoint]:
    """Each day's spend, TAO and TAO's USD cost from first to last, with running totals."""
    daily_cost: dict[date, Decimal] = defaultdict(Decimal)
    daily_tao: dict[date, Decimal] = defaultdict(Decimal)
    daily_tao_usd: dict[date, Decimal] = defaultdict(Decimal)
    for row in cube:
        if first <= row.day <= last:
            daily_cost[row.day] += row.cost_usd
            daily_tao[row.day] += row.tao_amount
            daily_tao_usd[row.day] += row.tao_cost_usd
    points, total, tao, tao_usd = [], Decimal(0), Decimal(0), Decimal(0)
    day = first
    while day <= last:
        total += daily_cost[day]
        tao += daily_tao[day]
        tao_usd += daily_tao_usd[day]
        points.append(
            MonthPoint(
                day, daily_cost[day], total, daily_tao[day], tao, daily_tao_usd[day], tao_usd
            )
        )
        day += timedelta(1)
    return points


def budget_for(team, month: date, filters: Filters) -> Budget | None:
    """The budget that applies to what is shown: that month's own row, else the recurring one.

    A provider or task type filter compares against that provider's or task type's budget;
    a model or routing version filter has none.
    """
    if filters.model or filters.route_version is not None:
        return None
    provider = Q(provider__slug=filters.provider) if filters.provider else Q(provider=None)
    candidates = (
        Budget.objects.filter(provider, team=team, task_type=filters.task_type)
        .filter(Q(month=month) | Q(month=None))
        .order_by(F("month").desc(nulls_last=True))
    )
    return candidates.first()
