"""The overview's charts: for each, the rows it draws (which are also its CSV) and the figure.

Every builder takes the page's `Overview` bundle (billing/overview.py) and never queries.
"""

from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

from billing.overview import (
    HUNDRED,
    MIN_QUALITY_SAMPLES,
    Overview,
    daily_groups,
    totals_of,
    window_groups,
)
from dashboard.charts import (
    NEUTRAL,
    Chart,
    grouped_traces,
    layout,
    line_base,
    ms,
    number,
    pct,
    plotly_text,
    provider_colour,
    series_colour,
    tao,
    usd,
)

DIMENSION_LABELS = {"provider": "provider", "model": "model", "task_type": "task type"}
PERCENTILES = [("p50", 0.50, "dot"), ("p95", 0.95, "solid"), ("p99", 0.99, "dash")]


def _day_axis(overview: Overview) -> str:
    return f"Day ({plotly_text(overview.team.time_zone)})"


def month_spend(overview: Overview, by: str) -> Chart:
    month = overview.month
    budget = month.budget_usd
    rows = [
        ("actual", p.day.isoformat(), usd(p.cost_usd), usd(p.cumulative_usd), usd(budget))
        for p in month.points
    ]
    rows += [
        ("forecast", day.isoformat(), None, usd(total), usd(budget))
        for day, total in month.forecast_points()[1:]
    ]
    actual = [r for r in rows if r[0] == "actual"]
    forecast = [r for r in rows if r[0] == "forecast"]
    hover = "%{x|%b %-d}<br>$%{y:,.2f} so far<extra>%{fullData.name}</extra>"
    data = [
        {
            "type": "bar",
            "name": "Daily spend",
            "x": [r[1] for r in actual],
            "y": [number(r[2]) for r in actual],
            "marker": {"color": "#c9d3e6"},
            "hovertemplate": "%{x|%b %-d}<br>$%{y:,.2f} that day<extra></extra>",
        },
        {
            **line_base(hover, color=NEUTRAL),
            "name": "Spent, cumulative",
            "x": [r[1] for r in actual],
            "y": [number(r[3]) for r in actual],
        },
    ]
    if forecast and actual:
        data.append(
            {
                **line_base(hover, color=NEUTRAL, dash="dash"),
                "mode": "lines",
                "name": "Forecast at this month's pace",
                "x": [actual[-1][1]] + [r[1] for r in forecast],
                "y": [number(actual[-1][3])] + [number(r[3]) for r in forecast],
            }
        )
    shapes, annotations = [], []
    if budget is not None:
        shapes.append(_hline(budget, "#b42318"))
        annotations.append(_hline_label(budget, f"Budget ${budget:,.0f}", "#b42318"))
    if month.crossing_day:
        shapes.append(_vline(month.crossing_day.isoformat(), "#b42318"))
        annotations.append(
            {
                "x": month.crossing_day.isoformat(),
                "y": 1,
                "yref": "paper",
                "text": f"crosses {month.crossing_day:%b %-d}",
                "showarrow": False,
                "yanchor": "bottom",
                "font": {"color": "#b42318"},
            }
        )
    xs = [r[1] for r in rows]
    fig_layout = layout(
        {"title": {"text": "Spend (USD)"}, "tickprefix": "$", "rangemode": "tozero"},
        x_title=_day_axis(overview),
        days=xs,
        shapes=shapes,
        annotations=annotations,
    )
    if xs:
        fig_layout["xaxis"]["range"] = [
            (month.first_day - timedelta(hours=12)).isoformat(),
            month.last_day.isoformat() + " 12:00",
        ]
    return Chart(
        "month-spend",
        f"Spend in {month.first_day:%B %Y} vs budget",
        "USD",
        f"spend in {month.first_day:%B %Y}",
        ["kind", "day", "daily_usd", "cumulative_usd", "budget_usd"],
        rows if month.spend_usd or budget else [],
        {"data": data, "layout": fig_layout},
        note="" if budget is not None else "No budget applies to what is shown.",
    )


def daily_cost(overview: Overview, by: str) -> Chart:
    groups = daily_groups(overview.cube, by)
    rows = [
        (day.isoformat(), label, usd(sum((r.cost_usd for r in members), Decimal(0))))
        for (day, label), members in groups.items()
    ]
    base = {
        "type": "bar",
        "hovertemplate": "%{fullData.name}<br>%{x|%Y-%m-%d}<br>$%{y:,.4f}<extra></extra>",
    }
    data = grouped_traces([(d, label, y, None) for d, label, y in rows], base=base)
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
                x_title=_day_axis(overview),
                days=[r[0] for r in rows],
                barmode="stack",
            ),
        },
    )


def provider_share(overview: Overview, by: str) -> Chart:
    per_day: dict = defaultdict(lambda: [0, Decimal(0)])
    per_provider: dict = defaultdict(lambda: [0, Decimal(0)])
    for row in overview.cube:
        per_day[row.day][0] += row.requests
        per_day[row.day][1] += row.cost_usd
        pair = per_provider[(row.day, row.provider)]
        pair[0] += row.requests
        pair[1] += row.cost_usd
    rows = []
    for (day, provider), (requests, cost) in sorted(per_provider.items()):
        all_requests, all_cost = per_day[day]
        rows.append(
            (
                day.isoformat(),
                provider,
                requests,
                pct(Decimal(requests) * HUNDRED / all_requests) if all_requests else None,
                usd(cost),
                pct(cost * HUNDRED / all_cost) if all_cost else None,
            )
        )
    requests_hover = "%{fullData.name}<br>%{x|%Y-%m-%d}<br>%{y:.1f}% of requests<extra></extra>"
    cost_hover = "%{fullData.name}<br>%{x|%Y-%m-%d}<br>%{y:.1f}% of cost<extra></extra>"
    data = grouped_traces(
        [(r[0], r[1], r[3], None) for r in rows if r[3] is not None],
        base=line_base(requests_hover),
        colour=provider_colour,
        name_suffix=" requests",
    ) + grouped_traces(
        [(r[0], r[1], r[5], None) for r in rows if r[5] is not None],
        base=line_base(cost_hover, dash="dot"),
        colour=provider_colour,
        name_suffix=" cost",
    )
    team = overview.team
    shapes = []
    note = ""
    if team.target_share_min is not None and team.target_share_max is not None:
        shapes.append(
            {
                "type": "rect",
                "xref": "paper",
                "x0": 0,
                "x1": 1,
                "y0": team.target_share_min,
                "y1": team.target_share_max,
                "fillcolor": provider_colour(team.target_provider),
                "opacity": 0.12,
                "line": {"width": 0},
                "layer": "below",
            }
        )
        note = (
            f"Shaded band: target {team.target_share_min}-{team.target_share_max}% "
            f"of requests to {team.target_provider}."
        )
    return Chart(
        "share",
        "Share of requests and cost by provider",
        "% of the day",
        "usage",
        ["day", "provider", "requests", "requests_share_pct", "cost_usd", "cost_share_pct"],
        rows,
        {
            "data": data,
            "layout": layout(
                {"title": {"text": "Share (%)"}, "ticksuffix": "%", "range": [0, 100]},
                x_title=_day_axis(overview),
                days=[r[0] for r in rows],
                shapes=shapes,
            ),
        },
        note=note or "Solid: share of requests; dotted: share of cost.",
    )


def savings(overview: Overview, by: str) -> Chart:
    rows = [
        (
            p.day.isoformat(),
            usd(p.actual_usd),
            usd(p.baseline_usd),
            usd(p.cumulative_actual_usd),
            usd(p.cumulative_baseline_usd),
            usd(p.cumulative_savings_usd),
            pct(p.cumulative_savings_pct),
        )
        for p in overview.savings
    ]
    hover = "%{x|%b %-d}<br>$%{y:,.2f}<extra>%{fullData.name}</extra>"
    days = [r[0] for r in rows]
    data = [
        {
            **line_base(hover, color=provider_colour("chutes")),
            "name": "Actual, cumulative",
            "x": days,
            "y": [number(r[3]) for r in rows],
        },
        {
            **line_base(hover, color="#98a2b3", dash="dash"),
            "name": "At the baseline price, cumulative",
            "x": days,
            "y": [number(r[4]) for r in rows],
            "fill": "tonexty",
            "fillcolor": "rgba(16,163,127,0.12)",
        },
        {
            **line_base("%{x|%b %-d}<br>%{y:.1f}% saved<extra></extra>", color="#10a37f"),
            "mode": "lines",
            "name": "Saved (%)",
            "x": days,
            "y": [number(r[6]) for r in rows],
            "yaxis": "y2",
        },
    ]
    baseline = overview.team.baseline_model
    return Chart(
        "savings",
        "Savings vs the baseline model",
        "USD and %",
        "priced usage" if baseline else "baseline model set (an admin sets it in Settings)",
        [
            "day",
            "actual_usd",
            "baseline_usd",
            "cumulative_actual_usd",
            "cumulative_baseline_usd",
            "cumulative_savings_usd",
            "cumulative_savings_pct",
        ],
        rows,
        {
            "data": data,
            "layout": layout(
                {"title": {"text": "Cost (USD)"}, "tickprefix": "$", "rangemode": "tozero"},
                x_title=_day_axis(overview),
                days=days,
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
    )


def latency(overview: Overview, by: str) -> Chart:
    rows = [
        (
            day.isoformat(),
            label,
            histogram.timed,
            *(ms(histogram.latency_ms(fraction)) for _, fraction, _ in PERCENTILES),
        )
        for (day, label), histogram in overview.histograms.items()
        if histogram.timed
    ]
    data = []
    for index, (name, _, dash) in enumerate(PERCENTILES):
        hover = f"%{{fullData.name}}<br>%{{x|%Y-%m-%d}}<br>{name} %{{y:,.0f}} ms<extra></extra>"
        data += grouped_traces(
            [(r[0], r[1], r[3 + index], None) for r in rows],
            base=line_base(hover, dash=dash) | {"visible": True if name == "p95" else "legendonly"},
            name_suffix=f" {name}",
            colour=series_colour,
        )
    return Chart(
        "latency",
        f"Latency by {DIMENSION_LABELS[by]}",
        "ms",
        "timings",
        ["day", by, "timed_requests", "p50_ms", "p95_ms", "p99_ms"],
        rows,
        {
            "data": data,
            "layout": layout(
                {"title": {"text": "Latency (ms)"}, "ticksuffix": " ms", "rangemode": "tozero"},
                x_title=_day_axis(overview),
                days=[r[0] for r in rows],
            ),
        },
        note="p95 shown; click p50 or p99 in the legend to add them. From the hourly "
        "histograms: each figure is within ±19% of the exact value.",
    )


def ttft(overview: Overview, by: str) -> Chart:
    rows = [
        (
            day.isoformat(),
            label,
            histogram.ttft_timed,
            ms(histogram.ttft_ms(0.5)),
            ms(histogram.ttft_ms(0.95)),
        )
        for (day, label), histogram in overview.histograms.items()
        if histogram.ttft_timed
    ]
    data = []
    for index, (name, dash) in enumerate([("p50", "dot"), ("p95", "solid")]):
        hover = (
            f"%{{fullData.name}}<br>%{{x|%Y-%m-%d}}<br>TTFT {name} %{{y:,.0f}} ms<extra></extra>"
        )
        data += grouped_traces(
            [(r[0], r[1], r[3 + index], None) for r in rows],
            base=line_base(hover, dash=dash),
            name_suffix=f" {name}",
            colour=series_colour,
        )
    return Chart(
        "ttft",
        f"Time to first token by {DIMENSION_LABELS[by]}",
        "ms",
        "streamed calls with a time to first token",
        ["day", by, "timed_requests", "ttft_p50_ms", "ttft_p95_ms"],
        rows,
        {
            "data": data,
            "layout": layout(
                {
                    "title": {"text": "Time to first token (ms)"},
                    "ticksuffix": " ms",
                    "rangemode": "tozero",
                },
                x_title=_day_axis(overview),
                days=[r[0] for r in rows],
            ),
        },
    )


def error_rate(overview: Overview, by: str) -> Chart:
    rows = []
    for (day, provider), members in daily_groups(overview.cube, "provider").items():
        requests = sum(r.requests for r in members)
        errors = sum(r.errors for r in members)
        if requests:
            rows.append(
                (
                    day.isoformat(),
                    provider,
                    requests,
                    errors,
                    pct(Decimal(errors) * HUNDRED / requests),
                )
            )
    hover = (
        "%{fullData.name}<br>%{x|%Y-%m-%d}<br>%{y:.2f}% errors"
        "<br>%{customdata[1]:,} of %{customdata[0]:,} requests<extra></extra>"
    )
    data = grouped_traces(
        [(r[0], r[1], r[4], [r[2], r[3]]) for r in rows],
        base=line_base(hover),
        colour=provider_colour,
    )
    return Chart(
        "errors",
        "Error rate by provider",
        "%",
        "usage",
        ["day", "provider", "requests", "errors", "error_rate_pct"],
        rows,
        {
            "data": data,
            "layout": layout(
                {"title": {"text": "Error rate (%)"}, "ticksuffix": "%", "rangemode": "tozero"},
                x_title=_day_axis(overview),
                days=[r[0] for r in rows],
            ),
        },
    )


def quality(overview: Overview, by: str) -> Chart:
    groups = window_groups(overview.cube, lambda r: (r.task_type or "(none)", r.provider))
    rows = []
    for (task_type, provider), members in groups.items():
        scored = sum(r.quality_count for r in members)
        if not scored:
            continue
        average = sum((r.quality_sum for r in members), Decimal(0)) / scored
        rows.append(
            (
                task_type,
                provider,
                scored,
                average.quantize(Decimal("0.0001")),
                scored >= MIN_QUALITY_SAMPLES,
            )
        )
    task_types = sorted({r[0] for r in rows})
    providers = sorted({r[1] for r in rows})
    cells = {(r[0], r[1]): r for r in rows}
    z, text, custom = [], [], []
    for task_type in task_types:
        z_row, text_row, custom_row = [], [], []
        for provider in providers:
            cell = cells.get((task_type, provider))
            if cell is None:
                z_row.append(None)
                text_row.append("")
                custom_row.append([0, ""])
                continue
            z_row.append(number(cell[3]))
            few = "" if cell[4] else " · few"
            text_row.append(f"{cell[3]:.2f}<br>n={cell[2]:,}{few}")
            custom_row.append(
                [cell[2], "" if cell[4] else f" (under {MIN_QUALITY_SAMPLES}: too few to act on)"]
            )
        z.append(z_row)
        text.append(text_row)
        custom.append(custom_row)
    data = [
        {
            "type": "heatmap",
            "x": [plotly_text(provider) for provider in providers],
            "y": [plotly_text(task_type) for task_type in task_types],
            "z": z,
            "text": text,
            "customdata": custom,
            "texttemplate": "%{text}",
            "zmin": 0,
            "zmax": 1,
            "colorscale": "RdYlGn",
            "colorbar": {"title": {"text": "Quality"}},
            "hovertemplate": "%{y} on %{x}<br>quality %{z:.3f}<br>%{customdata[0]:,} scored"
            "%{customdata[1]}<extra></extra>",
        }
    ]
    return Chart(
        "quality",
        "Quality by task type and provider",
        "score 0-1",
        "quality scores",
        ["task_type", "provider", "scored_requests", "average_quality", "enough_samples"],
        rows,
        {
            "data": data,
            "layout": layout(
                {"title": {"text": "Task type"}, "type": "category", "automargin": True},
                x_title="Provider",
                xaxis={"title": {"text": "Provider"}, "type": "category"},
            ),
        },
        note=f'Cells marked "few" have under {MIN_QUALITY_SAMPLES} scored calls.',
    )


def routes(overview: Overview, by: str) -> Chart:
    groups = window_groups(overview.cube, lambda r: (r.task_type or "(none)", r.provider, r.model))
    rows = []
    for (task_type, provider, model), members in groups.items():
        totals = totals_of(members)
        per_success = totals.cost_per_success
        average = totals.avg_quality
        per_point = per_success / average if per_success is not None and average else None
        rows.append(
            (
                task_type,
                provider,
                model,
                totals.requests,
                totals.requests - totals.errors,
                usd(totals.cost_usd),
                usd(per_success),
                average.quantize(Decimal("0.0001")) if average is not None else None,
                usd(per_point),
            )
        )
    drawn = [r for r in rows if r[6] is not None and r[7] is not None]
    hover = (
        "%{customdata[0]} · %{fullData.name}<br>$%{x:,.6f} per successful call"
        "<br>quality %{y:.3f}<br>$%{customdata[1]:,.6f} per quality point"
        "<br>%{customdata[2]:,} calls<extra></extra>"
    )
    traces: dict[str, dict] = {}
    for r in drawn:
        label = f"{r[1]}/{r[2]}"
        trace = traces.setdefault(
            label,
            {
                "type": "scatter",
                "mode": "markers",
                "name": plotly_text(label),
                "x": [],
                "y": [],
                "customdata": [],
                "marker": {
                    "color": series_colour(label),
                    "size": [],
                    "sizemode": "diameter",
                    "opacity": 0.85,
                    "line": {"width": 1, "color": "#fff"},
                },
                "hovertemplate": hover,
            },
        )
        trace["x"].append(number(r[6]))
        trace["y"].append(number(r[7]))
        trace["customdata"].append([plotly_text(r[0]), number(r[8]), r[3]])
        trace["marker"]["size"].append(max(8.0, min(40.0, r[3] ** 0.5 / 2)))
    return Chart(
        "routes",
        "Cost per successful call and per quality point, by route",
        "USD",
        "usage",
        [
            "task_type",
            "provider",
            "model",
            "requests",
            "successes",
            "cost_usd",
            "cost_per_success_usd",
            "average_quality",
            "cost_per_quality_point_usd",
        ],
        rows,
        {
            "data": list(traces.values()),
            "layout": layout(
                {"title": {"text": "Average quality (0-1)"}},
                x_title="USD per successful call (log scale)",
                xaxis={
                    "title": {"text": "USD per successful call (log scale)"},
                    "type": "log",
                    "dtick": 1,
                    "tickformat": "$.4~f",
                },
                # A legend line per route: more height, so the plot keeps its size.
                legend={"orientation": "h", "y": -0.22, "yanchor": "top"},
                height=330 + 22 * len(traces),
            ),
        },
        note="Bottom right is cheap but bad; top left is good value. Routes without quality "
        "scores are in the CSV only.",
    )


def tao_month(overview: Overview, by: str) -> Chart:
    month = overview.month
    budget = month.budget_tao
    rows = [
        (
            p.day.isoformat(),
            tao(p.tao),
            tao(p.cumulative_tao),
            budget,
        )
        for p in month.points
    ]
    days = [r[0] for r in rows]
    data = [
        {
            "type": "bar",
            "name": "TAO per day",
            "x": days,
            "y": [number(r[1]) for r in rows],
            "marker": {"color": provider_colour("chutes")},
            "hovertemplate": "%{x|%b %-d}<br>%{y:,.4f} TAO<extra></extra>",
        },
        {
            **line_base("%{x|%b %-d}<br>%{y:,.4f} TAO so far<extra></extra>", color=NEUTRAL),
            "name": "Cumulative",
            "x": days,
            "y": [number(r[2]) for r in rows],
        },
    ]
    shapes, annotations = [], []
    if budget is not None:
        shapes.append(_hline(budget, "#b42318"))
        annotations.append(_hline_label(budget, f"TAO budget {budget.normalize():,f}", "#b42318"))
    return Chart(
        "tao-month",
        f"TAO used in {month.first_day:%B %Y}",
        "TAO",
        f"TAO-billed usage in {month.first_day:%B %Y}",
        ["day", "tao", "cumulative_tao", "budget_tao"],
        rows if month.tao_used else [],
        {
            "data": data,
            "layout": layout(
                {"title": {"text": "TAO"}, "rangemode": "tozero"},
                x_title=_day_axis(overview),
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
        (
            point.at.astimezone(zone).isoformat(timespec="minutes"),
            point.usd,
            pct(point.spike_pct),
        )
        for point in overview.tao_prices
    ]
    local = [r[0][:16] for r in rows]
    spikes = [(x, r) for x, r in zip(local, rows, strict=True) if r[2] is not None]
    data = [
        {
            "type": "scatter",
            "mode": "lines",
            "name": "TAO/USD",
            "x": local,
            "y": [number(r[1]) for r in rows],
            "line": {"color": provider_colour("chutes"), "width": 1.5},
            "hovertemplate": "%{x|%b %-d %H:%M}<br>$%{y:,.2f}<extra></extra>",
        },
        {
            "type": "scatter",
            "mode": "markers",
            "name": "Spike (≥10% in 1 h or ≥20% in 24 h)",
            "x": [x for x, _ in spikes],
            "y": [number(r[1]) for _, r in spikes],
            "customdata": [number(r[2]) for _, r in spikes],
            "marker": {"color": "#b42318", "size": 11, "symbol": "triangle-up"},
            "hovertemplate": (
                "%{x|%b %-d %H:%M}<br>$%{y:,.2f}<br>moved %{customdata:+.1f}%<extra></extra>"
            ),
        },
    ]
    return Chart(
        "tao-price",
        "TAO price",
        "USD per TAO",
        "TAO prices",
        ["at", "usd", "spike_pct"],
        rows,
        {
            "data": data,
            "layout": layout(
                {"title": {"text": "USD per TAO"}, "tickprefix": "$"},
                x_title=f"Time ({plotly_text(overview.team.time_zone)})",
                xaxis={
                    "title": {"text": f"Time ({plotly_text(overview.team.time_zone)})"},
                    "type": "date",
                },
            ),
        },
    )


def tao_value(overview: Overview, by: str) -> Chart:
    month = overview.month
    quote = overview.tao_quote
    rows = []
    if quote is not None:
        rows = [
            (
                p.day.isoformat(),
                tao(p.cumulative_tao),
                usd(p.cumulative_tao_cost_usd),
                usd(p.cumulative_tao * quote.usd),
            )
            for p in month.points
        ]
    days = [r[0] for r in rows]
    hover = "%{x|%b %-d}<br>$%{y:,.2f}<extra>%{fullData.name}</extra>"
    data = [
        {
            **line_base(hover, color=NEUTRAL),
            "name": "USD when used",
            "x": days,
            "y": [number(r[2]) for r in rows],
        },
        {
            **line_base(hover, color=provider_colour("chutes"), dash="dash"),
            "name": f"At today's price (${quote.usd:,.2f})" if quote else "At today's price",
            "x": days,
            "y": [number(r[3]) for r in rows],
        },
    ]
    return Chart(
        "tao-value",
        f"{month.first_day:%B %Y}'s TAO at today's price vs when used",
        "USD, cumulative",
        f"TAO-billed usage in {month.first_day:%B %Y} (or no TAO price yet)",
        ["day", "cumulative_tao", "usd_when_used", "usd_at_latest_price"],
        rows if month.tao_used else [],
        {
            "data": data,
            "layout": layout(
                {"title": {"text": "USD"}, "tickprefix": "$", "rangemode": "tozero"},
                x_title=_day_axis(overview),
                days=days,
            ),
        },
    )


CHARTS = {
    "month-spend": month_spend,
    "daily-cost": daily_cost,
    "share": provider_share,
    "savings": savings,
    "latency": latency,
    "ttft": ttft,
    "errors": error_rate,
    "quality": quality,
    "routes": routes,
    "tao-month": tao_month,
    "tao-price": tao_price,
    "tao-value": tao_value,
}


def build_charts(overview: Overview, by: str) -> list[Chart]:
    return [builder(overview, by) for builder in CHARTS.values()]


def _hline(y, colour: str) -> dict:
    return {
        "type": "line",
        "xref": "paper",
        "x0": 0,
        "x1": 1,
        "y0": float(y),
        "y1": float(y),
        "line": {"color": colour, "width": 1.5, "dash": "dot"},
    }


def _hline_label(y, text: str, colour: str) -> dict:
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


def _vline(x: str, colour: str) -> dict:
    return {
        "type": "line",
        "yref": "paper",
        "x0": x,
        "x1": x,
        "y0": 0,
        "y1": 1,
        "line": {"color": colour, "width": 1, "dash": "dot"},
    }
