"""The report's waterfall: last month's spend, one bar per effect of the bridge, this month's.
A plotly figure as a dict, drawn by static/js/charts.js; every text through plotly_text().
Given a display-currency quote, every bar is converted at that one rate (the page's), so the
bars still add up; the hover keeps the exact USD amount."""

from decimal import ROUND_HALF_UP, Decimal

from billing.fx import FxQuote
from billing.reports.bridge import Bridge
from billing.reports.exports import plain
from dashboard.charts import ALARM, FONT, NEUTRAL, number, plotly_text
from dashboard.templatetags.money import amount_text

CENT = Decimal("0.01")
MINUS = "\N{MINUS SIGN}"  # as the report's other changes are written
# Spend going down.
SAVING = "#1f7a4d"
HOVER = "%{x}: %{text}<br>exactly %{customdata} USD<extra></extra>"


def money(amount: Decimal, *, signed: bool = False) -> str:
    """$1,234.56, or with `signed` +$1,234.56; below zero -$0.50 with a true minus sign."""
    sign = MINUS if amount < 0 else "+" if signed and amount > 0 else ""
    # Half up, as the page's floatformat rounds.
    cents = abs(amount).quantize(CENT, rounding=ROUND_HALF_UP)
    return f"{sign}${cents:,.2f}"


def bridge_figure(bridge: Bridge, *, before: str, after: str, quote: FxQuote | None = None) -> dict:
    """The waterfall from `before` (last month's label) to `after`; a residual bar only when
    there is one. In USD, or with `quote` in its currency at its rate."""
    bars = [(before, bridge.start, "absolute")]
    bars += [(effect.label, effect.amount, "relative") for effect in bridge.effects]
    if bridge.residual:
        bars.append(("Residual", bridge.residual, "relative"))
    bars.append((after, bridge.end, "total"))
    if quote is not None and not quote.is_identity:
        drawn = [quote.convert(amount) for _, amount, _ in bars]
        texts = [
            amount_text(amount, quote.currency, signed=kind == "relative")
            for amount, (_, _, kind) in zip(drawn, bars, strict=True)
        ]
        hover = HOVER.replace(" USD<", f" USD at {quote.rate:.4f} {quote.currency} per USD<")
        yaxis = {"title": {"text": plotly_text(quote.currency)}, "automargin": True}
    else:
        drawn = [amount for _, amount, _ in bars]
        texts = [money(amount, signed=kind == "relative") for _, amount, kind in bars]
        hover = HOVER
        yaxis = {"title": {"text": "USD"}, "tickprefix": "$", "automargin": True}
    trace = {
        "type": "waterfall",
        "orientation": "v",
        "measure": [kind for _, _, kind in bars],
        "x": [plotly_text(label) for label, _, _ in bars],
        "y": [number(amount) for amount in drawn],
        "text": [plotly_text(text) for text in texts],
        "textposition": "outside",
        "cliponaxis": False,
        "customdata": [plotly_text(plain(amount)) for _, amount, _ in bars],
        "hovertemplate": hover,
        "connector": {"line": {"color": NEUTRAL, "width": 1, "dash": "dot"}},
        "increasing": {"marker": {"color": ALARM}},
        "decreasing": {"marker": {"color": SAVING}},
        "totals": {"marker": {"color": NEUTRAL}},
    }
    layout = {
        "font": FONT,
        "height": 380,
        "margin": {"t": 30, "r": 10, "b": 50, "l": 70},
        "showlegend": False,
        "xaxis": {"automargin": True, "type": "category"},
        "yaxis": yaxis,
    }
    return {"data": [trace], "layout": layout}
