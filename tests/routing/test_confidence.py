"""The experiments' intervals: honest when looked at after every batch (simulated)."""

import random

import pytest

from routing.confidence import (
    MIN_OBSERVATIONS,
    Interval,
    Moments,
    Verdict,
    difference_interval,
    observations_needed,
    verdict,
)

SIMULATIONS = 1_000
# A pilot: 10 scored calls on the candidate and 40 on the control between two looks.
CANDIDATE_BATCH, CONTROL_BATCH, LOOKS = 10, 40, 60
# Scores as graders give them: a few levels, skewed to the top.
LEVELS = [0.0, 0.25, 0.5, 0.75, 1.0]
WEIGHTS = [1, 1, 2, 4, 6]


class _Arm:
    def __init__(self):
        self.count, self.total, self.total_sq = 0, 0.0, 0.0

    def add(self, values):
        for value in values:
            self.count += 1
            self.total += value
            self.total_sq += value * value

    @property
    def moments(self) -> Moments:
        return Moments(self.count, self.total, self.total_sq)


def _shifted(rng, shift: float, count: int) -> list[float]:
    return [min(1.0, value + shift) for value in rng.choices(LEVELS, WEIGHTS, k=count)]


def _run(rng, draw_candidate, draw_control, check) -> bool:
    """One experiment looked at after every batch: whether `check` held at every look."""
    candidate, control = _Arm(), _Arm()
    for _ in range(LOOKS):
        candidate.add(draw_candidate(rng, CANDIDATE_BATCH))
        control.add(draw_control(rng, CONTROL_BATCH))
        interval = difference_interval(candidate.moments, control.moments)
        if interval is not None and not check(interval):
            return False
    return True


def _share_failing(draw_candidate, draw_control, check) -> float:
    rng = random.Random(20261206)
    held = sum(_run(rng, draw_candidate, draw_control, check) for _ in range(SIMULATIONS))
    return 1 - held / SIMULATIONS


def test_with_no_true_difference_at_most_5_percent_are_ever_declared_different():
    def same(rng, count):
        return rng.choices(LEVELS, WEIGHTS, k=count)

    share = _share_failing(same, same, lambda interval: interval.low <= 0 <= interval.high)
    assert share <= 0.05


def test_the_interval_covers_the_true_difference_at_every_look_95_percent_of_the_time():
    rng = random.Random(1)
    sample = [min(1.0, value + 0.1) for value in rng.choices(LEVELS, WEIGHTS, k=200_000)]
    base = rng.choices(LEVELS, WEIGHTS, k=200_000)
    true_difference = sum(sample) / len(sample) - sum(base) / len(base)

    def candidate(rng, count):
        return _shifted(rng, 0.1, count)

    def control(rng, count):
        return rng.choices(LEVELS, WEIGHTS, k=count)

    share = _share_failing(
        candidate,
        control,
        lambda interval: interval.low - 0.005 <= true_difference <= interval.high + 0.005,
    )
    assert share <= 0.05


def test_error_rates_with_no_true_difference_are_declared_different_at_most_5_percent():
    def errors(rng, count):
        return [1.0 if rng.random() < 0.05 else 0.0 for _ in range(count)]

    share = _share_failing(errors, errors, lambda interval: interval.low <= 0 <= interval.high)
    assert share <= 0.05


def test_a_real_difference_is_found():
    rng = random.Random(7)
    better, control = _Arm(), _Arm()
    better.add(_shifted(rng, 0.25, 2_000))
    control.add(rng.choices(LEVELS, WEIGHTS, k=2_000))
    assert verdict(difference_interval(better.moments, control.moments), 0.02) is Verdict.BETTER


def test_no_interval_before_each_arm_has_enough_observations():
    few = Moments(MIN_OBSERVATIONS - 1, 20.0, 15.0)
    many = Moments(500, 350.0, 260.0)
    assert difference_interval(few, many) is None
    assert verdict(None, 0.02) is Verdict.NOT_ENOUGH_DATA
    assert observations_needed(few, many, 0.02) == 1


def test_identical_scores_do_not_make_an_interval_of_zero_width():
    perfect = Moments(40, 40.0, 40.0)
    interval = difference_interval(perfect, perfect)
    assert interval.low < 0 < interval.high


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (0.01, 0.05, Verdict.BETTER),
        (-0.015, 0.03, Verdict.NOT_WORSE),
        (-0.08, -0.01, Verdict.WORSE),
        (-0.05, 0.04, Verdict.NOT_ENOUGH_DATA),
        (-0.019, -0.001, Verdict.NOT_WORSE),  # worse, but surely within the margin
    ],
)
def test_the_verdict_reads_the_interval_against_the_margin(low, high, expected):
    assert verdict(Interval((low + high) / 2, low, high), 0.02) is expected


def test_the_observations_needed_are_enough_to_decide():
    candidate, control = Moments(100, 74.0, 60.0), Moments(400, 300.0, 245.0)
    needed = observations_needed(candidate, control, 0.02)
    assert needed > 0
    scale = 1 + needed / 500
    grown = [
        Moments(round(a.count * scale), a.total * scale, a.total_sq * scale)
        for a in (candidate, control)
    ]
    assert verdict(difference_interval(*grown), 0.02) is not Verdict.NOT_ENOUGH_DATA
    less = scale * 0.9
    shrunk = [
        Moments(round(a.count * less), a.total * less, a.total_sq * less)
        for a in (candidate, control)
    ]
    assert verdict(difference_interval(*shrunk), 0.02) is Verdict.NOT_ENOUGH_DATA
