"""Plotly figures as JSON-ready dicts; static/js/charts.js draws them from a data attribute.

plotly.js reads a subset of HTML (<a href>, <b>, <br>, <span style>...) in trace names, tick
labels, hover text and annotations. Every string from the data (model, provider and task type
names, time zones) goes into a figure through plotly_text(), so it shows as the literal text.

Money is drawn in the reader's display currency through ChartMoney: each day's USD amount at
that day's rate (the last before it on a day without one), the CSV keeping the USD columns and
adding the currency, the rate, its day and the converted amounts (chart_csv).
"""

import html
import json
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Protocol

from dashboard.display_money import DISPLAY_COLUMNS, DISPLAY_QUANTUM, exact
from dashboard.templatetags.money import amount_text

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


class FxQuote(Protocol):
    """A day's rate from USD to the display currency (billing.fx.FxQuote)."""

    rate: Decimal
    day: date

    def convert(self, amount_usd: Decimal) -> Decimal: ...


class FxRates(Protocol):
    """The rates of a range of days (billing.fx.FxRates)."""

    currency: str

    def on(self, day: date) -> FxQuote | None: ...


@dataclass(frozen=True)
class ChartMoney:
    """The currency a chart draws money in: USD as stored, or the reader's display currency
    with the quote of each day drawn (ISO day -> quote). Build it with chart_money()."""

    currency: str = "USD"
    quotes: Mapping[str, FxQuote] = field(default_factory=dict)

    @property
    def converted(self) -> bool:
        return self.currency != "USD"

    def amount(self, amount_usd: Decimal | None, day: str) -> Decimal | None:
        """The amount as drawn on `day`: as it is in USD, else converted at that day's rate
        (to the 10 places the CSV writes, so the CSV holds exactly what is drawn)."""
        if amount_usd is None or not self.converted:
            return amount_usd
        return self.quotes[day].convert(amount_usd).quantize(DISPLAY_QUANTUM)

    def y(self, amount_usd: Decimal | None, day: str) -> float | None:
        return number(self.amount(amount_usd, day))

    def axis(self, title: str = "") -> dict:
        """The money axis: "Spend (USD)" with $ ticks, or "Spend (EUR)"."""
        code = plotly_text(self.currency)
        axis: dict = {"title": {"text": f"{title} ({code})" if title else code}}
        return axis if self.converted else axis | {"tickprefix": "$"}

    def hover(self, y: str) -> str:
        """A hovertemplate's amount, e.g. hover("%{y:,.2f}"): "$1,234.56" or "1,234.56 EUR".
        The code is one of billing.fx's, three capital letters: safe in a template."""
        return f"{y} {self.currency}" if self.converted else f"${y}"

    def text(self, amount: Decimal, places: int = 0) -> str:
        """An amount for an annotation: "$1,235", or as pages write it: "€1,235", "CHF 1,235"."""
        if self.converted:
            return plotly_text(amount_text(amount, self.currency, f"{places}g"))
        return f"${amount:,.{places}f}"

    def units(self, units: str) -> str:
        """The card's units ("USD", "USD and %") in the currency drawn."""
        return units.replace("USD", self.currency, 1)


USD_MONEY = ChartMoney()


def chart_money(rates: FxRates, days: Iterable[str]) -> ChartMoney:
    """How a chart of these ISO days draws money for a reader whose rates are `rates`: in USD
    for a USD reader, or when any day drawn has no rate on or before it (a chart is never
    drawn in two currencies); else in the display currency at each day's rate."""
    if rates.currency == "USD":
        return USD_MONEY
    quotes = {day: rates.on(date.fromisoformat(day[:10])) for day in set(days)}
    if any(quote is None for quote in quotes.values()):
        return USD_MONEY
    return ChartMoney(rates.currency, quotes)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Chart:
    """One chart card: title, units, the rows drawn (also its CSV), and the figure.

    `money_columns` are the rows' USD amounts and `money` the currency they are drawn in; a
    chart drawn in another currency has them converted in its CSV (chart_csv)."""

    slug: str
    title: str
    units: str
    empty: str
    header: list[str]
    rows: list[tuple]
    figure: dict
    note: str = ""
    money: ChartMoney = USD_MONEY
    money_columns: tuple[str, ...] = ()

    @property
    def figure_json(self) -> str | None:
        return json.dumps(self.figure) if self.rows and self.figure["data"] else None


def in_display_currency(column: str) -> str:
    """cost_usd -> cost_in_display_currency, as the report's CSV names it; usd_when_used ->
    when_used_in_display_currency."""
    stem = column.removesuffix("_usd").removeprefix("usd_")
    return f"{stem}_in_display_currency"


def chart_csv(chart: Chart) -> list[list]:
    """The chart's CSV, header first: its rows, and when it is drawn in another currency the
    display currency, the rate and its day (the row's, or the last before it) and each USD
    column converted, as drawn (the report CSV's convention)."""
    header = list(chart.header)
    if not chart.money.converted or not chart.money_columns:
        return [header, *map(list, chart.rows)]
    day_at = header.index("day")
    money_at = [header.index(column) for column in chart.money_columns]
    added = DISPLAY_COLUMNS[:3] + [in_display_currency(c) for c in chart.money_columns]
    lines: list[list] = [header + added]
    for row in chart.rows:
        day = row[day_at]
        quote = chart.money.quotes[day]
        converted = [chart.money.amount(row[at], day) for at in money_at]
        lines.append(
            [
                *row,
                chart.money.currency,
                exact(quote.rate.quantize(DISPLAY_QUANTUM)),
                quote.day,
                *(None if value is None else exact(value) for value in converted),
            ]
        )
    return lines


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
