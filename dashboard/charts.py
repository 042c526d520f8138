"""Plotly figures as JSON-ready dicts; static/js/charts.js draws them from a data attribute."""

import zlib
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
    return {
        "data": list(traces.values()),
        "layout": {
            "barmode": "stack",
            "font": FONT,
            "margin": {"t": 10, "r": 10, "b": 50, "l": 70},
            "legend": {"orientation": "h", "y": -0.2},
            "xaxis": {"type": "date", "title": {"text": f"Day ({time_zone})"}},
            "yaxis": {"title": {"text": "Cost (USD)"}, "tickprefix": "$", "rangemode": "tozero"},
        },
    }
