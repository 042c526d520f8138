"""Latency and time to first token: the rollups' histograms, summed per day and series.

The rollups keep a histogram of latencies and one of times to first token instead of
the times themselves; `load_histograms` adds them up per day and provider, model or task type,
and a `Histogram` answers percentiles from the buckets (billing/histogram.py).
"""

from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import Count, Sum

from billing.histogram import LATENCY_FIELDS, TTFT_FIELDS, percentile
from billing.models import UsageDailyRollup, UsageEvent
from billing.overview.cube import ROLLUPS, Filters, day_start, raw_day, whole
from billing.rollups import NO_VERSION, _bucket_filter

GROUP_COLUMNS = {
    "provider": ["provider_name"],
    "model": ["provider_name", "model_name"],
    "task_type": ["task_type"],
}


@dataclass(frozen=True)
class Histogram:
    latency: list[int]
    ttft: list[int]

    @property
    def timed(self) -> int:
        return sum(self.latency)

    @property
    def ttft_timed(self) -> int:
        return sum(self.ttft)

    def latency_ms(self, fraction: float) -> float | None:
        return percentile(self.latency, fraction)

    def ttft_ms(self, fraction: float) -> float | None:
        return percentile(self.ttft, fraction)


def load_histograms(
    team, filters: Filters, by: str, *, source: str = ROLLUPS
) -> dict[tuple[date, str], Histogram]:
    """Merged latency and TTFT histograms per day and provider, model or task type."""
    columns = GROUP_COLUMNS[by]
    if source == ROLLUPS:
        rows = _rollup_histograms(team, filters, columns)
    else:
        rows = _raw_histograms(team, filters, columns)
    result = {}
    for row in rows.order_by():
        label = "/".join(row[name] for name in columns) or "(none)"
        result[(row["day"], label)] = Histogram(
            [int(row[f"s_{name}"] or 0) for name in LATENCY_FIELDS],
            [int(row[f"s_{name}"] or 0) for name in TTFT_FIELDS],
        )
    return dict(sorted(result.items()))


def merged(histograms) -> Histogram:
    latency, ttft = [0] * len(LATENCY_FIELDS), [0] * len(TTFT_FIELDS)
    for histogram in histograms:
        for index, count in enumerate(histogram.latency):
            latency[index] += count
        for index, count in enumerate(histogram.ttft):
            ttft[index] += count
    return Histogram(latency, ttft)


def _narrowing(filters: Filters, *, raw: bool = False) -> dict[str, object]:
    """The filters' provider, model, task type and routing version as lookups on the usage
    columns (of raw events when raw, else of the rollups)."""
    lookups: dict[str, object] = {
        name: value
        for name, value in [
            ("provider_name", filters.provider),
            ("model_name", filters.model),
            ("task_type", filters.task_type),
        ]
        if value
    }
    if filters.route_version is not None:
        # Raw events keep None (IS NULL) for a call sent without a version, rollups NO_VERSION.
        unversioned = raw and filters.route_version == NO_VERSION
        lookups["route_version"] = None if unversioned else filters.route_version
    return lookups


def _rollup_histograms(team, filters: Filters, columns: list[str]):
    return (
        UsageDailyRollup.objects.filter(
            team=team,
            day__gte=filters.first_day,
            day__lte=filters.last_day,
            **_narrowing(filters),
        )
        .values("day", *columns)
        .annotate(**{f"s_{name}": whole(Sum(name)) for name in LATENCY_FIELDS + TTFT_FIELDS})
    )


def _raw_histograms(team, filters: Filters, columns: list[str]):
    """The same histograms bucketed straight from raw events."""
    start = day_start(team, filters.first_day)
    end = day_start(team, filters.last_day + timedelta(1))
    histogram = {
        f"s_{name}": Count("id", filter=_bucket_filter("latency_ms", index))
        for index, name in enumerate(LATENCY_FIELDS)
    } | {
        f"s_{name}": Count("id", filter=_bucket_filter("ttft_ms", index))
        for index, name in enumerate(TTFT_FIELDS)
    }
    return (
        UsageEvent.objects.filter(
            team=team, occurred_at__gte=start, occurred_at__lt=end, **_narrowing(filters, raw=True)
        )
        .annotate(day=raw_day(team))
        .values("day", *columns)
        .annotate(**histogram)
    )
