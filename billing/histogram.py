"""Fixed log-scale millisecond buckets, so percentiles can be read from hourly rollups.

Bucket 0 holds 0-10 ms; each next bucket is √2 wider than the one before (10 ms · √2^i);
the last one holds everything above 327.68 s. A percentile read back lands inside the right
bucket and is reported at its geometric middle: within ±19% of the true value.
"""

import math
from bisect import bisect_left
from collections.abc import Sequence

BUCKETS = 32
UPPER_BOUNDS = [10 * 2 ** (i / 2) for i in range(BUCKETS - 1)]


def bucket_of(ms: float) -> int:
    return bisect_left(UPPER_BOUNDS, ms)


def bucket_middle(index: int) -> float:
    if index == 0:
        return UPPER_BOUNDS[0] / 2
    lower = UPPER_BOUNDS[index - 1]
    upper = UPPER_BOUNDS[index] if index < len(UPPER_BOUNDS) else lower * math.sqrt(2)
    return math.sqrt(lower * upper)


def percentile_bucket(counts: Sequence[int], fraction: float) -> int | None:
    """The bucket holding the value below which `fraction` of the observations fall."""
    total = sum(counts)
    if not total:
        return None
    rank = fraction * total
    seen = 0
    for index, count in enumerate(counts):
        seen += count
        if seen >= rank and count:
            return index
    return len(counts) - 1


def percentile(counts: Sequence[int], fraction: float) -> float | None:
    """The value below which `fraction` of the observations fall, or None without any."""
    index = percentile_bucket(counts, fraction)
    return None if index is None else bucket_middle(index)


def bucket_bounds(index: int) -> tuple[float, float | None]:
    """A bucket's lower and upper bound in ms (None above the last bound)."""
    low = UPPER_BOUNDS[index - 1] if index else 0.0
    return low, UPPER_BOUNDS[index] if index < len(UPPER_BOUNDS) else None


def latency_field(index: int) -> str:
    return f"lat_{index:02d}"


def ttft_field(index: int) -> str:
    return f"ttft_{index:02d}"


LATENCY_FIELDS = [latency_field(i) for i in range(BUCKETS)]
TTFT_FIELDS = [ttft_field(i) for i in range(BUCKETS)]
