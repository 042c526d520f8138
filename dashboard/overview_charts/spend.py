"""Spend charts: the focus month against its budget, and cost per day by provider, model or task.

The month chart draws daily and cumulative spend, the forecast at this month's pace to the
month's end, the budget line and the day spend crosses it; the daily chart stacks each day's
cost by the series the page is split by.
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
    day_axis_title,
    grouped_traces,
    hline,
    hline_label,
    layout,
    line_base,
    number,
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
    shapes, annotations = _budget_marks(month)
    days = [r.day for r in rows]
    fig_layout = layout(
        {"title": {"text": "Spend (USD)"}, "tickprefix": "$", "rangemode": "tozero"},
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
        "USD",
        f"spend in {month.first_day:%B %Y}",
        list(MonthSpendRow._fields),
        rows if month.spend_usd or month.budget_usd else [],
        {"data": _month_spend_traces(rows), "layout": fig_layout},
        note="" if month.budget_usd is not None else "No budget applies to what is shown.",
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


def _month_spend_traces(rows: list[MonthSpendRow]) -> list[dict]:
    """Daily bars, the cumulative line, and the dashed forecast on from the last actual day."""
    actual = [r for r in rows if r.kind == "actual"]
    forecast = [r for r in rows if r.kind == "forecast"]
    hover = "%{x|%b %-d}<br>$%{y:,.2f} so far<extra>%{fullData.name}</extra>"
    data = [
        {
            "type": "bar",
            "name": "Daily spend",
            "x": [r.day for r in actual],
            "y": [number(r.daily_usd) for r in actual],
            "marker": {"color": "#c9d3e6"},
            "hovertemplate": "%{x|%b %-d}<br>$%{y:,.2f} that day<extra></extra>",
        },
        {
            **line_base(hover, color=NEUTRAL),
            "name": "Spent, cumulative",
            "x": [r.day for r in actual],
            "y": [number(r.cumulative_usd) for r in actual],
        },
    ]
    if forecast and actual:
        data.append(
            {
                **line_base(hover, color=NEUTRAL, dash="dash"),
                "mode": "lines",
                "name": "Forecast at this month's pace",
                "x": [actual[-1].day] + [r.day for r in forecast],
                "y": [number(actual[-1].cumulative_usd)]
                + [number(r.cumulative_usd) for r in forecast],
            }
        )
    return data


def _budget_marks(month: MonthPanel) -> tuple[list[dict], list[dict]]:
    """The budget line and the day spend crosses it, as shapes and their annotations."""
    shapes, annotations = [], []
    budget = month.budget_usd
    if budget is not None:
        shapes.append(hline(budget, ALARM))
        annotations.append(hline_label(budget, f"Budget ${budget:,.0f}", ALARM))
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
    base = {
        "type": "bar",
        "hovertemplate": "%{fullData.name}<br>%{x|%Y-%m-%d}<br>$%{y:,.4f}<extra></extra>",
    }
    data = grouped_traces([(r.day, r.label, r.cost_usd, None) for r in rows], base=base)
    return Chart(
        "daily-cost",
        f"Daily cost by {DIMENSION_LABELS[by]}",
        "USD",
        "usage",
        ["day", by, "cost_usd"],
        rows,
        {
            "data": data,
            "layout": layout(
                {"title": {"text": "Cost (USD)"}, "tickprefix": "$", "rangemode": "tozero"},
                x_title=day_axis_title(overview.team.time_zone),
                days=[r.day for r in rows],
                barmode="stack",
            ),
        },
    )
