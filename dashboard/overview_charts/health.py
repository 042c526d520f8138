"""Health charts: how fast, how reliable and how good the calls were.

Latency and time to first token come from the rollups' histograms (percentiles within the
buckets' precision), the error rate per provider and day from the cube, and quality as a
matrix of average score by task type and provider, with thinly sampled cells marked.
"""

from decimal import Decimal
from typing import NamedTuple

from billing.overview.bundle import Overview
from billing.overview.cube import HUNDRED, CubeRow
from billing.overview.totals import MIN_QUALITY_SAMPLES, daily_groups, window_groups
from dashboard.charts import (
    DIMENSION_LABELS,
    Chart,
    day_axis_title,
    grouped_traces,
    layout,
    line_base,
    ms,
    number,
    pct,
    plotly_text,
    provider_colour,
    series_colour,
)
from dashboard.overview_charts.latency_text import axis_unit, latency_reading

# Each percentile's line style; p95 is shown, the others one legend click away.
LATENCY_PERCENTILES = [("p50", "dot"), ("p95", "solid"), ("p99", "dash")]
TTFT_PERCENTILES = [("p50", "dot"), ("p95", "solid")]
# Quality from pale (0, worst) to dark blue (1, best): one hue, so it reads for colour-blind eyes.
QUALITY_COLOURSCALE = [
    [0.0, "#f7fbff"],
    [0.25, "#c6dbef"],
    [0.5, "#6baed6"],
    [0.75, "#2171b5"],
    [1.0, "#08306b"],
]


class LatencyRow(NamedTuple):
    day: str
    label: str  # the provider, model or task type, as the page is split
    timed_requests: int
    # The middle of the histogram bucket each percentile falls in: within ±19% of the exact ms.
    p50_bucket_middle_ms: float | None
    p95_bucket_middle_ms: float | None
    p99_bucket_middle_ms: float | None


class TtftRow(NamedTuple):
    day: str
    label: str
    timed_requests: int
    ttft_p50_bucket_middle_ms: float | None
    ttft_p95_bucket_middle_ms: float | None


class ErrorRateRow(NamedTuple):
    day: str
    provider: str
    requests: int
    errors: int
    error_rate_pct: Decimal


class QualityRow(NamedTuple):
    task_type: str
    provider: str
    scored_requests: int
    average_quality: Decimal
    enough_samples: bool


def latency(overview: Overview, by: str) -> Chart:
    rows = [
        LatencyRow(
            day=day.isoformat(),
            label=label,
            timed_requests=histogram.timed,
            p50_bucket_middle_ms=ms(histogram.latency_ms(0.50)),
            p95_bucket_middle_ms=ms(histogram.latency_ms(0.95)),
            p99_bucket_middle_ms=ms(histogram.latency_ms(0.99)),
        )
        for (day, label), histogram in overview.histograms.items()
        if histogram.timed
    ]
    suffix, per_unit = axis_unit([r.p99_bucket_middle_ms for r in rows])
    data = []
    for name, dash in LATENCY_PERCENTILES:
        data += _timing_traces(
            [(r.day, r.label, getattr(r, f"{name}_bucket_middle_ms")) for r in rows],
            name=name,
            dash=dash,
            per_unit=per_unit,
            buckets="latency",
            visible=True if name == "p95" else "legendonly",
        )
    return Chart(
        "latency",
        f"Latency by {DIMENSION_LABELS[by]}",
        suffix,
        "timings",
        ["day", by, *LatencyRow._fields[2:]],
        rows,
        {
            "data": data,
            "layout": layout(
                {
                    "title": {"text": f"Latency ({suffix})"},
                    "ticksuffix": f" {suffix}",
                    "rangemode": "tozero",
                },
                x_title=day_axis_title(overview.team.time_zone),
                days=[r.day for r in rows],
            ),
        },
        note="p95 shown; click p50 or p99 in the legend to add them. Read from the hourly "
        "histograms' buckets: each figure is within ±19% of the exact value (hover for the "
        "bucket).",
    )


def ttft(overview: Overview, by: str) -> Chart:
    rows = [
        TtftRow(
            day=day.isoformat(),
            label=label,
            timed_requests=histogram.ttft_timed,
            ttft_p50_bucket_middle_ms=ms(histogram.ttft_ms(0.5)),
            ttft_p95_bucket_middle_ms=ms(histogram.ttft_ms(0.95)),
        )
        for (day, label), histogram in overview.histograms.items()
        if histogram.ttft_timed
    ]
    suffix, per_unit = axis_unit([r.ttft_p95_bucket_middle_ms for r in rows])
    data = []
    for name, dash in TTFT_PERCENTILES:
        data += _timing_traces(
            [(r.day, r.label, getattr(r, f"ttft_{name}_bucket_middle_ms")) for r in rows],
            name=name,
            dash=dash,
            per_unit=per_unit,
            buckets="time-to-first-token",
        )
    return Chart(
        "ttft",
        f"Time to first token by {DIMENSION_LABELS[by]}",
        suffix,
        "streamed calls with a time to first token",
        ["day", by, *TtftRow._fields[2:]],
        rows,
        {
            "data": data,
            "layout": layout(
                {
                    "title": {"text": f"Time to first token ({suffix})"},
                    "ticksuffix": f" {suffix}",
                    "rangemode": "tozero",
                },
                x_title=day_axis_title(overview.team.time_zone),
                days=[r.day for r in rows],
            ),
        },
    )


def _timing_traces(
    points, *, name: str, dash: str, per_unit: int, buckets: str, visible: bool | str = True
) -> list[dict]:
    """One line per label of (day, label, ms) points, in the axis unit, the bucket on hover."""
    hover = (
        f"%{{fullData.name}}<br>%{{x|%Y-%m-%d}}<br>{name} %{{customdata[0]}}"
        "<br>%{customdata[1]}<extra></extra>"
    )
    return grouped_traces(
        [
            (day, label, value / per_unit, list(latency_reading(value, buckets)))
            for day, label, value in points
        ],
        base=line_base(hover, dash=dash) | {"visible": visible},
        name_suffix=f" {name}",
        colour=series_colour,
    )


def error_rate(overview: Overview, by: str) -> Chart:
    rows = []
    for (day, provider), members in daily_groups(overview.cube, "provider").items():
        requests = sum(r.requests for r in members)
        errors = sum(r.errors for r in members)
        if requests:
            error_pct = pct(Decimal(errors) * HUNDRED / requests)
            rows.append(ErrorRateRow(day.isoformat(), provider, requests, errors, error_pct))
    hover = (
        "%{fullData.name}<br>%{x|%Y-%m-%d}<br>%{y:.2f}% errors"
        "<br>%{customdata[1]:,} of %{customdata[0]:,} requests<extra></extra>"
    )
    data = grouped_traces(
        [(r.day, r.provider, r.error_rate_pct, [r.requests, r.errors]) for r in rows],
        base=line_base(hover),
        colour=provider_colour,
    )
    return Chart(
        "errors",
        "Error rate by provider",
        "%",
        "usage",
        list(ErrorRateRow._fields),
        rows,
        {
            "data": data,
            "layout": layout(
                {"title": {"text": "Error rate (%)"}, "ticksuffix": "%", "rangemode": "tozero"},
                x_title=day_axis_title(overview.team.time_zone),
                days=[r.day for r in rows],
            ),
        },
    )


def quality(overview: Overview, by: str) -> Chart:
    rows = _quality_rows(overview.cube)
    return Chart(
        "quality",
        "Quality by task type and provider",
        "score 0-1",
        "quality scores",
        list(QualityRow._fields),
        rows,
        {
            "data": [_quality_heatmap(rows)],
            "layout": layout(
                {"title": {"text": "Task type"}, "type": "category", "automargin": True},
                x_title="Provider",
                xaxis={"title": {"text": "Provider"}, "type": "category"},
            ),
        },
        note=f'Cells marked "few" have under {MIN_QUALITY_SAMPLES} scored calls.',
    )


def _quality_rows(cube: list[CubeRow]) -> list[QualityRow]:
    """Average quality per task type and provider, over the range, where any call was scored."""
    rows = []
    groups = window_groups(cube, lambda r: (r.task_type or "(none)", r.provider))
    for (task_type, provider), members in groups.items():
        scored = sum(r.quality_count for r in members)
        if not scored:
            continue
        average = sum((r.quality_sum for r in members), Decimal(0)) / scored
        rows.append(
            QualityRow(
                task_type,
                provider,
                scored,
                average.quantize(Decimal("0.0001")),
                scored >= MIN_QUALITY_SAMPLES,
            )
        )
    return rows


def _quality_heatmap(rows: list[QualityRow]) -> dict:
    """Task types down, providers across; an empty cell where a pair has no scored calls."""
    task_types = sorted({r.task_type for r in rows})
    providers = sorted({r.provider for r in rows})
    cells = {(r.task_type, r.provider): r for r in rows}
    grid = [
        [cells.get((task_type, provider)) for provider in providers] for task_type in task_types
    ]
    return {
        "type": "heatmap",
        "x": [plotly_text(provider) for provider in providers],
        "y": [plotly_text(task_type) for task_type in task_types],
        "z": [[number(c.average_quality) if c else None for c in line] for line in grid],
        "text": [[_quality_cell_text(c) if c else "" for c in line] for line in grid],
        "customdata": [
            [[c.scored_requests, _too_few_words(c)] if c else [0, ""] for c in line]
            for line in grid
        ],
        "texttemplate": "%{text}",
        "zmin": 0,
        "zmax": 1,
        "colorscale": QUALITY_COLOURSCALE,
        "colorbar": {
            "title": {"text": "Quality<br>(darker is better)"},
            "tickvals": [0, 0.5, 1],
            "ticktext": ["0 worst", "0.5", "1 best"],
        },
        "hovertemplate": "%{y} on %{x}<br>quality %{z:.3f}<br>%{customdata[0]:,} scored"
        "%{customdata[1]}<extra></extra>",
    }


def _quality_cell_text(cell: QualityRow) -> str:
    few = "" if cell.enough_samples else " · few"
    return f"{cell.average_quality:.2f}<br>n={cell.scored_requests:,}{few}"


def _too_few_words(cell: QualityRow) -> str:
    return "" if cell.enough_samples else f" (under {MIN_QUALITY_SAMPLES}: too few to act on)"
