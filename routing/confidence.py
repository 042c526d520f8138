"""Confidence intervals for the difference between two arms that stay valid when people look
every day: always-valid confidence sequences, not a fixed-sample interval recomputed per view.

The interval is the normal-mixture confidence sequence of Robbins, as used for always-valid
A/B tests (Johari, Pekelis and Walsh, "Always valid inference", 2017; Howard et al. 2021): with V
the variance of the estimated difference, the true difference lies within

    estimate +- sqrt(2 V (V + tau^2) / tau^2 * log(sqrt((V + tau^2) / V) / alpha))

at every moment of the experiment at once, with probability 1 - alpha (asymptotically, as a
t-test is). Looking again only narrows what is known; it never spends the error rate again.
TAU, the mixing scale, is the size of difference the interval is tuned for: 0.05 quality points.
"""

import math
from dataclasses import dataclass
from enum import StrEnum

ALPHA = 0.05
TAU = 0.05
# No interval before each arm has this many observations: too few for a variance.
MIN_OBSERVATIONS = 30


@dataclass(frozen=True)
class Moments:
    """One arm's observations, summed: how many, their sum and the sum of their squares."""

    count: int
    total: float
    total_sq: float

    @property
    def mean(self) -> float | None:
        return self.total / self.count if self.count else None

    @property
    def variance(self) -> float:
        """The sample variance with one observation of 0 and one of 1 added (as Agresti and
        Caffo do for proportions): rare errors, or 30 identical scores, do not claim a
        certainty they have not earned. Simulated: at most 5% false alarms down to 2% rates."""
        count, total = self.count + 2, self.total + 1
        spread = max(self.total_sq + 1 - total * total / count, 0.0)
        return spread / (count - 1)


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float


class Verdict(StrEnum):
    BETTER = "better"
    NOT_WORSE = "not worse"
    WORSE = "worse"
    NOT_ENOUGH_DATA = "not enough data yet"


def half_width(variance: float, *, alpha: float = ALPHA, tau: float = TAU) -> float:
    """The confidence sequence's half width for an estimate of this variance."""
    mixed = variance + tau * tau
    return math.sqrt(
        2 * variance * mixed / (tau * tau) * math.log(math.sqrt(mixed / variance) / alpha)
    )


def difference_variance(candidate: Moments, control: Moments) -> float:
    return candidate.variance / candidate.count + control.variance / control.count


def difference_interval(
    candidate: Moments, control: Moments, *, alpha: float = ALPHA
) -> Interval | None:
    """The candidate's mean minus the control's, with its always-valid interval; None until
    each arm has MIN_OBSERVATIONS."""
    if min(candidate.count, control.count) < MIN_OBSERVATIONS:
        return None
    estimate = candidate.total / candidate.count - control.total / control.count
    width = half_width(difference_variance(candidate, control), alpha=alpha)
    return Interval(estimate, estimate - width, estimate + width)


def verdict(interval: Interval | None, margin: float) -> Verdict:
    """Higher is better: better when surely above 0, not worse when surely above -margin,
    worse when surely below 0 and not shown within the margin."""
    if interval is None:
        return Verdict.NOT_ENOUGH_DATA
    if interval.low > 0:
        return Verdict.BETTER
    if interval.low > -margin:
        return Verdict.NOT_WORSE
    if interval.high < 0:
        return Verdict.WORSE
    return Verdict.NOT_ENOUGH_DATA


def observations_needed(candidate: Moments, control: Moments, margin: float) -> int | None:
    """About how many more observations (both arms, in their current proportion) until the
    verdict is no longer "not enough data", if the means and spreads stay as they are; None
    when they never would (the difference sits exactly where no amount of data decides)."""
    short = sum(max(MIN_OBSERVATIONS - arm.count, 0) for arm in (candidate, control))
    if short:
        return short
    interval = difference_interval(candidate, control)
    if interval is None or verdict(interval, margin) is not Verdict.NOT_ENOUGH_DATA:
        return 0
    # To show "not worse" the interval must shrink to estimate + margin; "worse", to -estimate.
    target = max(interval.estimate + margin, -interval.estimate)
    if target <= 1e-9:
        return None
    variance = difference_variance(candidate, control)
    low, high = 1.0, 2.0
    while half_width(variance / high) >= target:
        low, high = high, high * 2
        if high > 1e9:
            return None
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if half_width(variance / middle) >= target else (low, middle)
    return math.ceil((high - 1) * (candidate.count + control.count))
