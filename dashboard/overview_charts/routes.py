"""Where the calls go: each provider's share of requests and cost, and what each route is worth.

The share chart draws, per day, each provider's share of requests (solid) and of cost (dotted),
with the team's target band for its target provider; the routes chart places every task type,
provider and model on cost per successful call against average quality.
"""

from collections import defaultdict
from decimal import Decimal
from typing import NamedTuple

from billing.overview.bundle import Overview
from billing.overview.cube import HUNDRED, CubeRow
from billing.overview.totals import Totals, totals_of, window_groups
from dashboard.charts import (
    Chart,
    day_axis_title,
    grouped_traces,
    layout,
    line_base,
    number,
    pct,
    plotly_text,
    provider_colour,
    series_colour,
    usd,
)


class ShareRow(NamedTuple):
    day: str
    provider: str
    requests: int
    requests_share_pct: Decimal | None
    cost_usd: Decimal
    cost_share_pct: Decimal | None


class RouteRow(NamedTuple):
    task_type: str
    provider: str
    model: str
    requests: int
    successes: int
    cost_usd: Decimal
    cost_per_success_usd: Decimal | None
    average_quality: Decimal | None
    cost_per_quality_point_usd: Decimal | None


def provider_share(overview: Overview, by: str) -> Chart:
    rows = _share_rows(overview.cube)
    shapes, note = _target_band(overview.team)
    return Chart(
        "share",
        "Share of requests and cost by provider",
        "% of the day",
        "usage",
        list(ShareRow._fields),
        rows,
        {
            "data": _share_traces(rows),
            "layout": layout(
                {"title": {"text": "Share (%)"}, "ticksuffix": "%", "range": [0, 100]},
                x_title=day_axis_title(overview.team.time_zone),
                days=[r.day for r in rows],
                shapes=shapes,
            ),
        },
        note=note or "Solid: share of requests; dotted: share of cost.",
    )


def _share_rows(cube: list[CubeRow]) -> list[ShareRow]:
    """Each provider's requests and cost per day, and their shares of the day's."""
    per_day: dict = defaultdict(lambda: [0, Decimal(0)])
    per_provider: dict = defaultdict(lambda: [0, Decimal(0)])
    for row in cube:
        per_day[row.day][0] += row.requests
        per_day[row.day][1] += row.cost_usd
        pair = per_provider[(row.day, row.provider)]
        pair[0] += row.requests
        pair[1] += row.cost_usd
    rows = []
    for (day, provider), (requests, cost) in sorted(per_provider.items()):
        all_requests, all_cost = per_day[day]
        requests_share = Decimal(requests) * HUNDRED / all_requests if all_requests else None
        cost_share = cost * HUNDRED / all_cost if all_cost else None
        rows.append(
            ShareRow(
                day.isoformat(), provider, requests, pct(requests_share), usd(cost), pct(cost_share)
            )
        )
    return rows


def _share_traces(rows: list[ShareRow]) -> list[dict]:
    requests_hover = "%{fullData.name}<br>%{x|%Y-%m-%d}<br>%{y:.1f}% of requests<extra></extra>"
    cost_hover = "%{fullData.name}<br>%{x|%Y-%m-%d}<br>%{y:.1f}% of cost<extra></extra>"
    return grouped_traces(
        [
            (r.day, r.provider, r.requests_share_pct, None)
            for r in rows
            if r.requests_share_pct is not None
        ],
        base=line_base(requests_hover),
        colour=provider_colour,
        name_suffix=" requests",
    ) + grouped_traces(
        [(r.day, r.provider, r.cost_share_pct, None) for r in rows if r.cost_share_pct is not None],
        base=line_base(cost_hover, dash="dot"),
        colour=provider_colour,
        name_suffix=" cost",
    )


def _target_band(team) -> tuple[list[dict], str]:
    """The team's target share for its target provider as a shaded band, and its note."""
    if team.target_share_min is None or team.target_share_max is None:
        return [], ""
    band = {
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
    note = (
        f"Shaded band: target {team.target_share_min}-{team.target_share_max}% "
        f"of requests to {team.target_provider}."
    )
    return [band], note


def routes(overview: Overview, by: str) -> Chart:
    rows = _route_rows(overview.cube)
    traces = _route_traces(
        [r for r in rows if r.cost_per_success_usd is not None and r.average_quality is not None]
    )
    return Chart(
        "routes",
        "Cost per successful call and per quality point, by route",
        "USD",
        "usage",
        list(RouteRow._fields),
        rows,
        {
            "data": traces,
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


def _route_rows(cube: list[CubeRow]) -> list[RouteRow]:
    groups = window_groups(cube, lambda r: (r.task_type or "(none)", r.provider, r.model))
    return [_route_row(*route, totals_of(members)) for route, members in groups.items()]


def _route_row(task_type: str, provider: str, model: str, totals: Totals) -> RouteRow:
    per_success = totals.cost_per_success
    average = totals.avg_quality
    per_point = per_success / average if per_success is not None and average else None
    return RouteRow(
        task_type=task_type,
        provider=provider,
        model=model,
        requests=totals.requests,
        successes=totals.requests - totals.errors,
        cost_usd=usd(totals.cost_usd),
        cost_per_success_usd=usd(per_success),
        average_quality=average.quantize(Decimal("0.0001")) if average is not None else None,
        cost_per_quality_point_usd=usd(per_point),
    )


def _route_traces(drawn: list[RouteRow]) -> list[dict]:
    """One marker trace per provider/model, a marker per task type sized by its calls."""
    hover = (
        "%{customdata[0]} · %{fullData.name}<br>$%{x:,.6f} per successful call"
        "<br>quality %{y:.3f}<br>$%{customdata[1]:,.6f} per quality point"
        "<br>%{customdata[2]:,} calls<extra></extra>"
    )
    traces: dict[str, dict] = {}
    for r in drawn:
        label = f"{r.provider}/{r.model}"
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
        trace["x"].append(number(r.cost_per_success_usd))
        trace["y"].append(number(r.average_quality))
        trace["customdata"].append(
            [plotly_text(r.task_type), number(r.cost_per_quality_point_usd), r.requests]
        )
        trace["marker"]["size"].append(max(8.0, min(40.0, r.requests**0.5 / 2)))
    return list(traces.values())
