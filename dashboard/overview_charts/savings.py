"""The savings chart: cumulative actual cost against the same tokens at the baseline's price.

The gap between the two lines is shaded, and the share saved so far is drawn on a second axis.
Without a baseline model the chart is empty and says who can set one. Costs are drawn in the
reader's display currency, each day at its rate (dashboard.charts.ChartMoney).
"""

from decimal import Decimal
from typing import NamedTuple

from billing.overview.bundle import Overview
from dashboard.charts import (
    Chart,
    ChartMoney,
    chart_money,
    day_axis_title,
    layout,
    line_base,
    number,
    pct,
    provider_colour,
    usd,
)


class SavingsRow(NamedTuple):
    day: str
    actual_usd: Decimal
    baseline_usd: Decimal
    cumulative_actual_usd: Decimal
    cumulative_baseline_usd: Decimal
    cumulative_savings_usd: Decimal
    cumulative_savings_pct: Decimal | None


def savings(overview: Overview, by: str) -> Chart:
    rows = [
        SavingsRow(
            day=p.day.isoformat(),
            actual_usd=usd(p.actual_usd),
            baseline_usd=usd(p.baseline_usd),
            cumulative_actual_usd=usd(p.cumulative_actual_usd),
            cumulative_baseline_usd=usd(p.cumulative_baseline_usd),
            cumulative_savings_usd=usd(p.cumulative_savings_usd),
            cumulative_savings_pct=pct(p.cumulative_savings_pct),
        )
        for p in overview.savings
    ]
    baseline = overview.team.baseline_model
    money = chart_money(overview.fx, [r.day for r in rows])
    return Chart(
        "savings",
        "Savings vs the baseline model",
        money.units("USD and %"),
        "priced usage" if baseline else "baseline model set (an admin sets it in Settings)",
        list(SavingsRow._fields),
        rows,
        {
            "data": _savings_traces(rows, money),
            "layout": layout(
                money.axis("Cost") | {"rangemode": "tozero"},
                x_title=day_axis_title(overview.team.time_zone),
                days=[r.day for r in rows],
                yaxis2={
                    "title": {"text": "Saved (%)"},
                    "ticksuffix": "%",
                    "tickformat": ".0f",
                    "rangemode": "tozero",
                    "overlaying": "y",
                    "side": "right",
                    "showgrid": False,
                    "automargin": True,
                },
                margin={"t": 30, "r": 20, "b": 50, "l": 70},
            ),
        },
        note=f"The same tokens priced at {baseline.label} today; unpriced calls left out."
        if baseline
        else "",
        money=money,
        money_columns=(
            "actual_usd",
            "baseline_usd",
            "cumulative_actual_usd",
            "cumulative_baseline_usd",
            "cumulative_savings_usd",
        ),
    )


def _savings_traces(rows: list[SavingsRow], money: ChartMoney) -> list[dict]:
    """Actual and baseline cost, cumulative, with the gap shaded; the % saved on the right."""
    hover = f"%{{x|%b %-d}}<br>{money.hover('%{y:,.2f}')}<extra>%{{fullData.name}}</extra>"
    days = [r.day for r in rows]
    return [
        {
            **line_base(hover, color=provider_colour("chutes")),
            "name": "Actual, cumulative",
            "x": days,
            "y": [money.y(r.cumulative_actual_usd, r.day) for r in rows],
        },
        {
            **line_base(hover, color="#98a2b3", dash="dash"),
            "name": "At the baseline price, cumulative",
            "x": days,
            "y": [money.y(r.cumulative_baseline_usd, r.day) for r in rows],
            "fill": "tonexty",
            "fillcolor": "rgba(16,163,127,0.12)",
        },
        {
            **line_base("%{x|%b %-d}<br>%{y:.1f}% saved<extra></extra>", color="#10a37f"),
            "mode": "lines",
            "name": "Saved (%)",
            "x": days,
            "y": [number(r.cumulative_savings_pct) for r in rows],
            "yaxis": "y2",
        },
    ]
