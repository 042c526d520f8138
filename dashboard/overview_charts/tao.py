"""TAO charts: the focus month's TAO against its TAO budget, the TAO price, and what it is worth.

TAO-billed providers charge in TAO, whose USD price moves: one chart draws the TAO used per
day and in total, one the TAO/USD price with its spikes marked, and one the month's TAO at
the latest price against what it cost in USD when it was used. That last chart's amounts are
drawn in the reader's display currency, each day at its rate (dashboard.charts.ChartMoney);
TAO amounts and the TAO price stay as they are.
"""

from decimal import Decimal
from typing import NamedTuple

from billing.overview.bundle import Overview
from dashboard.charts import (
    ALARM,
    NEUTRAL,
    Chart,
    chart_money,
    day_axis_title,
    hline,
    hline_label,
    layout,
    line_base,
    number,
    pct,
    plotly_text,
    provider_colour,
    tao,
    usd,
)


class TaoMonthRow(NamedTuple):
    day: str
    tao: Decimal
    cumulative_tao: Decimal
    budget_tao: Decimal | None


class TaoPriceRow(NamedTuple):
    at: str  # in the team's time zone, to the minute
    usd: Decimal
    spike_pct: Decimal | None


class TaoValueRow(NamedTuple):
    day: str
    cumulative_tao: Decimal
    usd_when_used: Decimal
    usd_at_latest_price: Decimal


def tao_month(overview: Overview, by: str) -> Chart:
    month = overview.month
    budget = month.budget_tao
    rows = [
        TaoMonthRow(p.day.isoformat(), tao(p.tao), tao(p.cumulative_tao), budget)
        for p in month.points
    ]
    days = [r.day for r in rows]
    data = [
        {
            "type": "bar",
            "name": "TAO per day",
            "x": days,
            "y": [number(r.tao) for r in rows],
            "marker": {"color": provider_colour("chutes")},
            "hovertemplate": "%{x|%b %-d}<br>%{y:,.4f} TAO<extra></extra>",
        },
        {
            **line_base("%{x|%b %-d}<br>%{y:,.4f} TAO so far<extra></extra>", color=NEUTRAL),
            "name": "Cumulative",
            "x": days,
            "y": [number(r.cumulative_tao) for r in rows],
        },
    ]
    shapes, annotations = [], []
    if budget is not None:
        shapes.append(hline(budget, ALARM))
        annotations.append(hline_label(budget, f"TAO budget {budget.normalize():,f}", ALARM))
    return Chart(
        "tao-month",
        f"TAO used in {month.first_day:%B %Y}",
        "TAO",
        f"TAO-billed usage in {month.first_day:%B %Y}",
        list(TaoMonthRow._fields),
        rows if month.tao_used else [],
        {
            "data": data,
            "layout": layout(
                {"title": {"text": "TAO"}, "rangemode": "tozero"},
                x_title=day_axis_title(overview.team.time_zone),
                days=days,
                shapes=shapes,
                annotations=annotations,
            ),
        },
        note="" if budget is not None else "No TAO budget set for this month.",
    )


def tao_price(overview: Overview, by: str) -> Chart:
    zone = overview.team.zone
    rows = [
        TaoPriceRow(
            point.at.astimezone(zone).isoformat(timespec="minutes"),
            point.usd,
            pct(point.spike_pct),
        )
        for point in overview.tao_prices
    ]
    time_title = f"Time ({plotly_text(overview.team.time_zone)})"
    return Chart(
        "tao-price",
        "TAO price",
        "USD per TAO",
        "TAO prices",
        list(TaoPriceRow._fields),
        rows,
        {
            "data": _tao_price_traces(rows),
            "layout": layout(
                {"title": {"text": "USD per TAO"}, "tickprefix": "$"},
                x_title=time_title,
                xaxis={"title": {"text": time_title}, "type": "date"},
            ),
        },
    )


def _tao_price_traces(rows: list[TaoPriceRow]) -> list[dict]:
    """The price line, and a marker where each spike began."""
    # Plotly dates carry no time zone: the team's local time, its offset cut off.
    local = [r.at[:16] for r in rows]
    spikes = [(x, r) for x, r in zip(local, rows, strict=True) if r.spike_pct is not None]
    return [
        {
            "type": "scatter",
            "mode": "lines",
            "name": "TAO/USD",
            "x": local,
            "y": [number(r.usd) for r in rows],
            "line": {"color": provider_colour("chutes"), "width": 1.5},
            "hovertemplate": "%{x|%b %-d %H:%M}<br>$%{y:,.2f}<extra></extra>",
        },
        {
            "type": "scatter",
            "mode": "markers",
            "name": "Spike (≥10% in 1 h or ≥20% in 24 h)",
            "x": [x for x, _ in spikes],
            "y": [number(r.usd) for _, r in spikes],
            "customdata": [number(r.spike_pct) for _, r in spikes],
            "marker": {"color": ALARM, "size": 11, "symbol": "triangle-up"},
            "hovertemplate": (
                "%{x|%b %-d %H:%M}<br>$%{y:,.2f}<br>moved %{customdata:+.1f}%<extra></extra>"
            ),
        },
    ]


def tao_value(overview: Overview, by: str) -> Chart:
    month = overview.month
    quote = overview.tao_quote
    rows = []
    if quote is not None:
        rows = [
            TaoValueRow(
                p.day.isoformat(),
                tao(p.cumulative_tao),
                usd(p.cumulative_tao_cost_usd),
                usd(p.cumulative_tao * quote.usd),
            )
            for p in month.points
        ]
    days = [r.day for r in rows]
    money = chart_money(overview.fx, days)
    hover = f"%{{x|%b %-d}}<br>{money.hover('%{y:,.2f}')}<extra>%{{fullData.name}}</extra>"
    data = [
        {
            **line_base(hover, color=NEUTRAL),
            "name": "USD when used" if not money.converted else "When used",
            "x": days,
            "y": [money.y(r.usd_when_used, r.day) for r in rows],
        },
        {
            **line_base(hover, color=provider_colour("chutes"), dash="dash"),
            "name": f"At today's price (${quote.usd:,.2f})" if quote else "At today's price",
            "x": days,
            "y": [money.y(r.usd_at_latest_price, r.day) for r in rows],
        },
    ]
    return Chart(
        "tao-value",
        f"{month.first_day:%B %Y}'s TAO at today's price vs when used",
        money.units("USD, cumulative"),
        f"TAO-billed usage in {month.first_day:%B %Y} (or no TAO price yet)",
        list(TaoValueRow._fields),
        rows if month.tao_used else [],
        {
            "data": data,
            "layout": layout(
                money.axis() | {"rangemode": "tozero"},
                x_title=day_axis_title(overview.team.time_zone),
                days=days,
            ),
        },
        money=money,
        money_columns=("usd_when_used", "usd_at_latest_price"),
    )
