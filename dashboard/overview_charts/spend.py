"""Spend charts: the focus month against its budget, and cost per day by provider, model or task.

The month chart draws daily and cumulative spend, the forecast at this month's pace to the
month's end, the budget line and the day spend crosses it; the daily chart stacks each day's
cost by the series the page is split by.

Both draw money in the reader's display currency (dashboard.charts.ChartMoney), each day at
its rate; the budget line at the rate of the month's last day drawn (its forecast's, at the
latest rate), as the CSV's last row holds it.
"""

from datetime import timedelta
from decimal import Decimal
from typing import NamedTuple

from billing.overview.bundle import Overview
from billing.overview.month import MonthPanel
from billing.overview.totals import daily_groups
from dashboard.charts import (
    ALARM,
    DIMENSION_LABELS,
    NEUTRAL,
    Chart,
    ChartMoney,
    chart_money,
    day_axis_title,
    grouped_traces,
    hline,
    hline_label,
    layout,
    line_base,
    usd,
    vline,
)


class MonthSpendRow(NamedTuple):
    kind: str  # "actual" for a day so far, "forecast" for one to come
    day: str
    daily_usd: Decimal | None
    cumulative_usd: Decimal | None
    budget_usd: Decimal | None


class DailyCostRow(NamedTuple):
    day: str
    label: str  # the provider, model or task type, as the page is split
    cost_usd: Decimal


def month_spend(overview: Overview, by: str) -> Chart:
    month = overview.month
    rows = _month_spend_rows(month)
    days = [r.day for r in rows]
    money = chart_money(overview.fx, days)
    shapes, annotations = _budget_marks(month, money, days[-1] if days else None)
    fig_layout = layout(
        money.axis("Spend") | {"rangemode": "tozero"},
        x_title=day_axis_title(overview.team.time_zone),
        days=days,
        shapes=shapes,
        annotations=annotations,
    )
    if days:
        fig_layout["xaxis"]["range"] = [
            (month.first_day - timedelta(hours=12)).isoformat(),
            month.last_day.isoformat() + " 12:00",
        ]
    return Chart(
        "month-spend",
        f"Spend in {month.first_day:%B %Y} vs budget",
        money.units("USD"),
        f"spend in {month.first_day:%B %Y}",
        list(MonthSpendRow._fields),
        rows if month.spend_usd or month.budget_usd else [],
        {"data": _month_spend_traces(rows, money), "layout": fig_layout},
        note="" if month.budget_usd is not None else "No budget applies to what is shown.",
        money=money,
        money_columns=("daily_usd", "cumulative_usd", "budget_usd"),
    )


def _month_spend_rows(month: MonthPanel) -> list[MonthSpendRow]:
    """The days so far, then the forecast's days after today."""
    budget = usd(month.budget_usd)
    actual = [
        MonthSpendRow("actual", p.day.isoformat(), usd(p.cost_usd), usd(p.cumulative_usd), budget)
        for p in month.points
    ]
    forecast = [
        MonthSpendRow("forecast", day.isoformat(), None, usd(total), budget)
        for day, total in month.forecast_points()[1:]
    ]
    return actual + forecast


def _month_spend_traces(rows: list[MonthSpendRow], money: ChartMoney) -> list[dict]:
    """Daily bars, the cumulative line, and the dashed forecast on from the last actual day."""
    actual = [r for r in rows if r.kind == "actual"]
    forecast = [r for r in rows if r.kind == "forecast"]
    amount = money.hover("%{y:,.2f}")
    hover = f"%{{x|%b %-d}}<br>{amount} so far<extra>%{{fullData.name}}</extra>"
    data = [
        {
            "type": "bar",
            "name": "Daily spend",
            "x": [r.day for r in actual],
            "y": [money.y(r.daily_usd, r.day) for r in actual],
            "marker": {"color": "#c9d3e6"},
            "hovertemplate": f"%{{x|%b %-d}}<br>{amount} that day<extra></extra>",
        },
        {
            **line_base(hover, color=NEUTRAL),
            "name": "Spent, cumulative",
            "x": [r.day for r in actual],
            "y": [money.y(r.cumulative_usd, r.day) for r in actual],
        },
    ]
    if forecast and actual:
        data.append(
            {
                **line_base(hover, color=NEUTRAL, dash="dash"),
                "mode": "lines",
                "name": "Forecast at this month's pace",
                "x": [actual[-1].day] + [r.day for r in forecast],
                "y": [money.y(actual[-1].cumulative_usd, actual[-1].day)]
                + [money.y(r.cumulative_usd, r.day) for r in forecast],
            }
        )
    return data


def _budget_marks(
    month: MonthPanel, money: ChartMoney, last_day: str | None
) -> tuple[list[dict], list[dict]]:
    """The budget line (at the rate of `last_day`, the last drawn) and the day spend crosses
    it, as shapes and their annotations."""
    shapes, annotations = [], []
    budget = month.budget_usd
    if budget is not None:
        if money.converted and last_day is not None:
            budget = money.amount(usd(budget), last_day)
        shapes.append(hline(budget, ALARM))
        annotations.append(hline_label(budget, f"Budget {money.text(budget)}", ALARM))
    if month.crossing_day:
        shapes.append(vline(month.crossing_day.isoformat(), ALARM))
        annotations.append(
            {
                "x": month.crossing_day.isoformat(),
                "y": 1,
                "yref": "paper",
                "text": f"crosses {month.crossing_day:%b %-d}",
                "showarrow": False,
                "yanchor": "bottom",
                "font": {"color": ALARM},
            }
        )
    return shapes, annotations


def daily_cost(overview: Overview, by: str) -> Chart:
    rows = [
        DailyCostRow(day.isoformat(), label, usd(sum((r.cost_usd for r in members), Decimal(0))))
        for (day, label), members in daily_groups(overview.cube, by).items()
    ]
    money = chart_money(overview.fx, [r.day for r in rows])
    amount = money.hover("%{y:,.4f}")
    base = {
        "type": "bar",
        "hovertemplate": f"%{{fullData.name}}<br>%{{x|%Y-%m-%d}}<br>{amount}<extra></extra>",
    }
    points = [(r.day, r.label, money.amount(r.cost_usd, r.day), None) for r in rows]
    data = grouped_traces(points, base=base)
    return Chart(
        "daily-cost",
        f"Daily cost by {DIMENSION_LABELS[by]}",
        money.units("USD"),
        "usage",
        ["day", by, "cost_usd"],
        rows,
        {
            "data": data,
            "layout": layout(
                money.axis("Cost") | {"rangemode": "tozero"},
                x_title=day_axis_title(overview.team.time_zone),
                days=[r.day for r in rows],
                barmode="stack",
            ),
        },
        money=money,
        money_columns=("cost_usd",),
    )
