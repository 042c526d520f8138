"""Plotly figures as JSON-ready dicts; static/js/charts.js draws them from a data attribute.

plotly.js reads a subset of HTML (<a href>, <b>, <br>, <span style>...) in trace names, tick
labels, hover text and annotations. Every string from the data (model, provider and task type
names, time zones) goes into a figure through plotly_text(), so it shows as the literal text.
"""

import html
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
NEUTRAL = "#44506a"
# Budget lines, the day spend crosses one, and TAO price spikes.
ALARM = "#b42318"
CSV_QUANTUM = Decimal("0.000001")
PCT_QUANTUM = Decimal("0.01")
TAO_QUANTUM = Decimal("0.000000000001")  # the stored precision of TAO amounts
FONT = {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 13}
DAY_MS = 24 * 3600 * 1000
# How each way of splitting the overview's series reads in a chart title.
DIMENSION_LABELS = {"provider": "provider", "model": "model", "task_type": "task type"}


def plotly_text(text: str) -> str:
    """Data as plotly shows it literally: <, > and & escaped (plotly decodes the entities).

    Only ever put the result into data fields (name, x, y, text, customdata), never into a
    hovertemplate or texttemplate string, where %{...} would be read as a template."""
    return html.escape(text, quote=False)


def provider_colour(provider: str) -> str:
    if provider in PROVIDER_COLOURS:
        return PROVIDER_COLOURS[provider]
    return FALLBACK_COLOURS[zlib.crc32(provider.encode()) % len(FALLBACK_COLOURS)]


def series_colour(label: str) -> str:
    """A provider's colour for "provider" or "provider/model" labels, else one from the name."""
    return provider_colour(label.split("/", 1)[0])


def usd(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(CSV_QUANTUM)


def tao(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(TAO_QUANTUM)


def pct(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(PCT_QUANTUM)


def ms(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def number(value) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True)
class Chart:
    """One chart card: title, units, the rows drawn (also its CSV), and the figure."""

    slug: str
    title: str
    units: str
    empty: str
    header: list[str]
    rows: list[tuple]
    figure: dict
    note: str = ""

    @property
    def figure_json(self) -> str | None:
        return json.dumps(self.figure) if self.rows and self.figure["data"] else None


def layout(yaxis: dict, *, x_title: str, days: list | None = None, **extra) -> dict:
    """The house layout; `days` are the x values of a daily chart, for one tick a day."""
    xaxis = {"title": {"text": x_title}, "automargin": True}
    if days is not None:
        xaxis |= {"type": "date", "tickformat": "%b %-d"}
        # A few days apart, plotly would tick every few hours; one tick a day reads better.
        if len(set(days)) <= 14:
            xaxis["dtick"] = DAY_MS
    return {
        "font": FONT,
        "margin": {"t": 30, "r": 10, "b": 50, "l": 70},
        "legend": {"orientation": "h", "y": -0.3, "yanchor": "top"},
        "hoverlabel": {"namelength": -1},
        "xaxis": xaxis,
        "yaxis": {"automargin": True, **yaxis},
        **extra,
    }


def grouped_traces(points, *, base: dict, colour=series_colour, name_suffix: str = "") -> list:
    """One trace per label from (x, label, y, customdata) points, in first-seen order.

    Labels are data and escaped here; customdata must be numbers or already plotly_text()."""
    traces: dict[str, dict] = {}
    for x, label, y, extras in points:
        trace = traces.setdefault(
            label,
            {
                **base,
                "name": f"{plotly_text(label)}{name_suffix}",
                "legendgroup": plotly_text(label),
                "x": [],
                "y": [],
                "customdata": [],
                "marker": {"color": colour(label)},
                **({"line": base["line"] | {"color": colour(label)}} if "line" in base else {}),
            },
        )
        trace["x"].append(x)
        trace["y"].append(number(y))
        trace["customdata"].append(extras)
    return list(traces.values())


def line_base(hovertemplate: str, **line) -> dict:
    return {
        "type": "scatter",
        "mode": "lines+markers",
        "line": {"width": 2, **line},
        "hovertemplate": hovertemplate,
    }


def day_axis_title(time_zone: str) -> str:
    return f"Day ({plotly_text(time_zone)})"


def hline(y, colour: str) -> dict:
    """A dotted line across the plot at height y, e.g. a budget."""
    return {
        "type": "line",
        "xref": "paper",
        "x0": 0,
        "x1": 1,
        "y0": float(y),
        "y1": float(y),
        "line": {"color": colour, "width": 1.5, "dash": "dot"},
    }


def hline_label(y, text: str, colour: str) -> dict:
    """The words over the left end of an hline()."""
    return {
        "xref": "paper",
        "x": 0,
        "y": float(y),
        "text": text,
        "showarrow": False,
        "xanchor": "left",
        "yanchor": "bottom",
        "font": {"color": colour},
    }


def vline(x: str, colour: str) -> dict:
    """A dotted line up the plot at x, e.g. the day spend crosses the budget."""
    return {
        "type": "line",
        "yref": "paper",
        "x0": x,
        "x1": x,
        "y0": 0,
        "y1": 1,
        "line": {"color": colour, "width": 1, "dash": "dot"},
    }


# The changes drawn over time charts: on an axis of their own, 0 at the bottom and 1 at the top.
CHANGES_AXIS = "yaxis9"
CHANGE_COLOUR = "#7a8699"


def with_changes(figure: dict, markers, zone) -> dict:
    """The figure with a dotted line and a hover mark (naming the change, linking to it on a
    click) at each change, when its x axis is a date axis; both are one legend entry, and
    static/js/charts.js hides them all at once (their meta is "changes")."""
    if not markers or figure["layout"].get("xaxis", {}).get("type") != "date":
        return figure
    drawn = [str(x) for trace in figure["data"] for x in trace.get("x", []) if x is not None]
    if not drawn:
        return figure
    # Only the changes within the days the chart draws: a month's chart keeps to its month.
    first, last = min(drawn)[:10], max(drawn)[:10]
    placed = [(marker.at.astimezone(zone).strftime("%Y-%m-%d %H:%M"), marker) for marker in markers]
    placed = [(x, marker) for x, marker in placed if first <= x[:10] <= last]
    if not placed:
        return figure
    xs, markers = [x for x, _ in placed], [marker for _, marker in placed]
    line_x, line_y = [], []
    for x in xs:
        line_x += [x, x, None]
        line_y += [0, 1, None]
    common = {"type": "scatter", "yaxis": "y9", "legendgroup": "changes", "meta": "changes"}
    lines = common | {
        "mode": "lines",
        "x": line_x,
        "y": line_y,
        "line": {"color": CHANGE_COLOUR, "width": 1, "dash": "dot"},
        "hoverinfo": "skip",
        "showlegend": False,
    }
    marks = common | {
        "mode": "markers",
        "name": "Changes",
        "x": xs,
        "y": [1] * len(xs),
        "marker": {"symbol": "triangle-down", "size": 11, "color": CHANGE_COLOUR},
        "customdata": [
            [plotly_text(m.kind_label), plotly_text(m.title), plotly_text(m.detail), m.url]
            for m in markers
        ],
        "hovertemplate": "<b>%{customdata[0]}</b><br>%{customdata[1]}<br>%{customdata[2]}"
        "<extra>%{x}</extra>",
        "cliponaxis": False,
    }
    axis = {"overlaying": "y", "range": [0, 1.02], "visible": False, "fixedrange": True}
    layout = figure["layout"] | {CHANGES_AXIS: axis}
    return figure | {"data": [*figure["data"], lines, marks], "layout": layout}
