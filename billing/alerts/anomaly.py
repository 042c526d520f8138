"""Is a day's figure out of the ordinary for its weekday? A robust judgement over a daily series.

The usual value of a day is the median of the same weekday over the weeks before it (4 to 8),
so a quiet Sunday is compared with Sundays, never with Mondays. Its spread is the larger of:

- the MAD of those same weekdays (times 1.4826, the standard deviation of normal noise), and
- the week-over-week moves of every weekday in those weeks, each relative to its weekday's
  median, pooled (MAD / √2, times this weekday's median): five or six Mondays alone say little
  about how much a Monday wanders, and a MAD of six points is far too often tiny by chance.

That spread grows by √(1 + π / 2n), the median's own uncertainty over n weeks, and never falls
below `min_abs / threshold`: a perfectly flat history is still judged (a jump of at least
`min_abs` fires, equality never does). The day is an anomaly when it is at least `threshold`
spreads above the usual AND at least `min_abs` above it in absolute terms, so that a team
spending cents is not paged for doubling them. Only rises are anomalies: a drop in spend,
errors or latency is nobody's emergency.

Days missing from the series have no data (not zero: the caller fills zeros where it knows
them). Fewer than MIN_HISTORY same weekdays with data give no verdict at all.
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from itertools import pairwise
from statistics import median

MIN_WEEKS, DEFAULT_WEEKS, MAX_WEEKS = 4, 6, 8
MIN_HISTORY = 3
DEFAULT_THRESHOLD = Decimal(4)
# The standard deviation of normal noise is 1.4826 times its median absolute deviation.
MAD_SCALE = Decimal("1.4826")
# Pooled week-over-week moves need this many to say anything.
MIN_POOLED_MOVES = 6
WEEK = timedelta(days=7)
ZERO = Decimal(0)


@dataclass(frozen=True)
class Verdict:
    """One day judged against the same weekdays before it."""

    day: date
    value: Decimal
    baseline: Decimal  # the median of the same weekdays
    mad: Decimal  # their MAD x 1.4826
    spread: Decimal  # what one deviation is worth (see the module)
    deviations: Decimal  # (value - baseline) / spread
    history: int  # same weekdays with data
    anomaly: bool

    @property
    def change(self) -> Decimal:
        return self.value - self.baseline


def anomaly_judge(
    series: Mapping[date, Decimal | float | int],
    day: date,
    *,
    weeks: int = DEFAULT_WEEKS,
    threshold: Decimal | float | int = DEFAULT_THRESHOLD,
    min_abs: Decimal | float | int,
) -> Verdict | None:
    """`day` of `series` against the same weekday of the `weeks` weeks before; None without
    the day itself or with fewer than MIN_HISTORY of those weekdays in the series."""
    if not MIN_WEEKS <= weeks <= MAX_WEEKS:
        raise ValueError(f"weeks must be from {MIN_WEEKS} to {MAX_WEEKS}, not {weeks}")
    threshold, min_abs = _decimal(threshold), _decimal(min_abs)
    if threshold <= 0 or min_abs <= 0:
        raise ValueError("threshold and min_abs must be above 0")
    values = {when: _decimal(value) for when, value in series.items()}
    if day not in values:
        return None
    same = [values[when] for when in same_weekdays(day, weeks) if when in values]
    if len(same) < MIN_HISTORY:
        return None
    baseline = median(same)
    mad = median(abs(value - baseline) for value in same) * MAD_SCALE
    pooled = _pooled_relative_spread(values, day, weeks) * abs(baseline)
    # The median of n days is itself uncertain: about √(π / 2n) of one day's spread.
    widened = max(mad, pooled) * Decimal(1 + math.pi / (2 * len(same))).sqrt()
    spread = max(widened, min_abs / threshold)
    value = values[day]
    deviations = (value - baseline) / spread
    return Verdict(
        day=day,
        value=value,
        baseline=baseline,
        mad=mad,
        spread=spread,
        deviations=deviations,
        history=len(same),
        anomaly=deviations >= threshold and value - baseline >= min_abs,
    )


def same_weekdays(day: date, weeks: int) -> list[date]:
    """The same weekday in each of the `weeks` weeks before `day`, the latest first."""
    return [day - WEEK * back for back in range(1, weeks + 1)]


def _pooled_relative_spread(values: dict[date, Decimal], day: date, weeks: int) -> Decimal:
    """The spread of a day relative to its weekday's median, from the week-over-week moves of
    every weekday in the `weeks` weeks before `day`; 0 when there are too few moves."""
    moves = []
    for offset in range(1, 8):
        days = [day - timedelta(days=offset) - WEEK * back for back in range(weeks)]
        level = median([values[when] for when in days if when in values] or [ZERO])
        if level <= 0:
            continue
        moves += [
            abs(values[later] - values[earlier]) / level
            for later, earlier in pairwise(days)
            if later in values and earlier in values
        ]
    if len(moves) < MIN_POOLED_MOVES:
        return ZERO
    # A move between two days has √2 times one day's spread.
    return median(moves) * MAD_SCALE / Decimal(2).sqrt()


def _decimal(value) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))
