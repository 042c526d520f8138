"""Latencies read from histogram buckets, worded with the precision they have.

A percentile from the rollups is the middle of a bucket √2 wide (billing/histogram.py), so
it is shown to two figures with "≈" ("≈24 s", "≈850 ms"), and the bucket it was read from is
said on hover ("between 20.5 s and 29 s: read from latency buckets").
"""

import math
from typing import NamedTuple

from billing.histogram import UPPER_BOUNDS, bucket_of

SECOND_MS = 1000


class LatencyReading(NamedTuple):
    approx: str  # "≈24 s"
    bounds: str  # "between 20.5 s and 29 s: read from latency buckets"


def latency_reading(ms: float | None, buckets: str = "latency") -> LatencyReading | None:
    if ms is None:
        return None
    return LatencyReading(latency_approx(ms), latency_bounds(ms, buckets))


def latency_approx(ms: float) -> str:
    return f"≈{duration_text(ms, figures=2)}"


def latency_bounds(ms: float, buckets: str = "latency") -> str:
    """The bounds of the bucket `ms` lies in, and where they come from."""
    index = bucket_of(ms)
    source = f"read from {buckets} buckets"
    if index == 0:
        return f"under {duration_text(UPPER_BOUNDS[0])}: {source}"
    lower = duration_text(UPPER_BOUNDS[index - 1])
    if index == len(UPPER_BOUNDS):
        return f"over {lower}: {source}"
    return f"between {lower} and {duration_text(UPPER_BOUNDS[index])}: {source}"


def duration_text(ms: float, *, figures: int = 3) -> str:
    """ms to `figures` significant figures, in s from a second up: "20.5 s", "905 ms"."""
    rounded = _significant(ms, figures)
    if rounded >= SECOND_MS:
        return f"{_plain(rounded / SECOND_MS, figures)} s"
    return f"{_plain(rounded, figures)} ms"


def axis_unit(values_ms: list[float]) -> tuple[str, int]:
    """Seconds for an axis that reaches a second, else milliseconds: (suffix, ms per unit)."""
    return ("s", SECOND_MS) if values_ms and max(values_ms) >= SECOND_MS else ("ms", 1)


def _significant(value: float, figures: int) -> float:
    if value <= 0:
        return 0.0
    return round(value, figures - 1 - math.floor(math.log10(value)))


def _plain(value: float, figures: int) -> str:
    """Without exponent or trailing zeros: 24.0 → "24", 1.50 → "1.5", 1280.0 → "1,280"."""
    decimals = max(0, figures - 1 - math.floor(math.log10(value))) if value > 0 else 0
    text = f"{value:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
