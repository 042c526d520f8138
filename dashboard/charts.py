"""Plotly figures as JSON-ready dicts; static/js/charts.js draws them from a data attribute."""

import json
import zlib
from dataclasses import dataclass
from decimal import Decimal

# One colour per provider, on every chart.
PROVIDER_COLOURS = {
    "anthropic": "#d97757",
    "openai": "#10a37f",
    "chutes": "#6c47d9",
    "openrouter": "#2f5bd3",
    "deepseek": "#4d6bfe",
    "google": "#f4b400",
}
# Providers the catalog does not know still get a stable colour from their name.
FALLBACK_COLOURS = ["#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#9467bd"]
CSV_QUANTUM = Decimal("0.000001")
PCT_QUANTUM = Decimal("0.01")
FONT = {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 13}


def provider_colour(provider: str) -> str:
    if provider in PROVIDER_COLOURS:
        return PROVIDER_COLOURS[provider]
    return FALLBACK_COLOURS[zlib.crc32(provider.encode()) % len(FALLBACK_COLOURS)]


def daily_cost_points(rows) -> list[tuple[str, str, Decimal]]:
    """(day, provider, USD) exactly as drawn and as downloaded."""
    return [(row.day.isoformat(), row.provider, row.cost_usd.quantize(CSV_QUANTUM)) for row in rows]


def daily_cost_figure(rows, *, time_zone: str) -> dict:
    """Daily cost stacked by provider."""
    traces: dict[str, dict] = {}
    for day, provider, usd in daily_cost_points(rows):
        trace = traces.setdefault(
            provider,
            {
                "type": "bar",
                "name": provider,
                "x": [],
                "y": [],
                "marker": {"color": provider_colour(provider)},
                "hovertemplate": "%{fullData.name}<br>%{x|%Y-%m-%d}<br>$%{y:,.4f}<extra></extra>",
            },
        )
        trace["x"].append(day)
        trace["y"].append(float(usd))
    yaxis = {"title": {"text": "Cost (USD)"}, "tickprefix": "$", "rangemode": "tozero"}
    data = list(traces.values())
    return {"data": data, "layout": _layout(time_zone, yaxis, data, barmode="stack")}


def latency_p95_points(rows) -> list[tuple[str, str, float]]:
    """(day, provider, p95 ms) exactly as drawn and as downloaded; days without timings left out."""
    return [
        (row.day.isoformat(), row.provider, round(row.p95_ms, 1))
        for row in rows
        if row.p95_ms is not None
    ]


def latency_p95_figure(rows, *, time_zone: str) -> dict:
    """Daily p95 latency, one line per provider."""
    lines = [(day, provider, ms, []) for day, provider, ms in latency_p95_points(rows)]
    hover = "%{fullData.name}<br>%{x|%Y-%m-%d}<br>p95 %{y:,.1f} ms<extra></extra>"
    yaxis = {"title": {"text": "p95 latency (ms)"}, "ticksuffix": " ms", "rangemode": "tozero"}
    data = _lines(lines, hover)
    return {"data": data, "layout": _layout(time_zone, yaxis, data)}


def error_rate_points(rows) -> list[tuple[str, str, int, int, Decimal]]:
    """(day, provider, requests, errors, error %) exactly as drawn and as downloaded."""
    return [
        (
            row.day.isoformat(),
            row.provider,
            row.requests,
            row.errors,
            (Decimal(row.errors) * 100 / row.requests).quantize(PCT_QUANTUM),
        )
        for row in rows
        if row.requests
    ]


def error_rate_figure(rows, *, time_zone: str) -> dict:
    """Daily error rate, one line per provider; hover shows the counts behind each point."""
    lines = [
        (day, provider, pct, [requests, errors])
        for day, provider, requests, errors, pct in error_rate_points(rows)
    ]
    hover = (
        "%{fullData.name}<br>%{x|%Y-%m-%d}<br>%{y:.2f}% errors"
        "<br>%{customdata[1]:,} of %{customdata[0]:,} requests<extra></extra>"
    )
    yaxis = {"title": {"text": "Error rate (%)"}, "ticksuffix": "%", "rangemode": "tozero"}
    data = _lines(lines, hover)
    return {"data": data, "layout": _layout(time_zone, yaxis, data)}


@dataclass(frozen=True)
class ChartCard:
    """One overview chart card: its title, units, CSV route, and figure (empty when no data)."""

    slug: str
    title: str
    units: str
    csv_url_name: str
    empty: str
    figure: dict

    @property
    def figure_json(self) -> str | None:
        return json.dumps(self.figure) if self.figure["data"] else None


def _lines(lines, hovertemplate: str) -> list[dict]:
    """Line traces by provider from (day, provider, y, hover extras) points."""
    traces: dict[str, dict] = {}
    for day, provider, y, extras in lines:
        trace = traces.setdefault(
            provider,
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": provider,
                "x": [],
                "y": [],
                "customdata": [],
                "line": {"color": provider_colour(provider)},
                "marker": {"color": provider_colour(provider)},
                "hovertemplate": hovertemplate,
            },
        )
        trace["x"].append(day)
        trace["y"].append(float(y))
        trace["customdata"].append(extras)
    return list(traces.values())


DAY_MS = 24 * 3600 * 1000


def _layout(time_zone: str, yaxis: dict, data: list[dict], **extra) -> dict:
    xaxis = {"type": "date", "title": {"text": f"Day ({time_zone})"}, "tickformat": "%b %-d"}
    # A few days apart, plotly would tick every few hours; one tick a day reads better.
    if len({x for trace in data for x in trace["x"]}) <= 14:
        xaxis["dtick"] = DAY_MS
    return {
        **extra,
        "font": FONT,
        "margin": {"t": 10, "r": 10, "b": 50, "l": 70},
        "legend": {"orientation": "h", "y": -0.2},
        "xaxis": xaxis,
        "yaxis": yaxis,
    }
