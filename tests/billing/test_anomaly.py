"""The anomaly judgement on generated seasonal series: busy weekdays, quiet weekends, noise."""

import random
from datetime import date, timedelta
from decimal import Decimal

import pytest

from billing.alerts.anomaly import anomaly_judge

# Monday to Sunday, in USD a day.
LEVELS = [300, 320, 310, 330, 280, 90, 70]
START = date(2026, 1, 5)  # a Monday
WEDNESDAY = START + timedelta(days=7 * 8 + 2)


def seasonal(seed: int, *, days: int = 84, noise: float = 0.1, scale: float = 1) -> dict:
    """`days` days of the weekly rhythm from START, each off its weekday's level by Gaussian
    noise of `noise` (a fraction of the level)."""
    rng = random.Random(seed)
    series = {}
    for n in range(days):
        day = START + timedelta(days=n)
        amount = LEVELS[day.weekday()] * scale * (1 + rng.gauss(0, noise))
        series[day] = Decimal(str(round(max(amount, 0), 2)))
    return series


def flat(value, *, days: int = 63) -> dict:
    return {START + timedelta(days=n): Decimal(value) for n in range(days)}


def test_it_reads_the_median_and_mad_of_the_same_weekday():
    series = flat(0)
    for back, value in enumerate([100, 110, 90, 130, 95, 105], start=1):
        series[WEDNESDAY - timedelta(days=7 * back)] = Decimal(value)
    series[WEDNESDAY] = Decimal(120)
    verdict = anomaly_judge(series, WEDNESDAY, min_abs=20)
    assert verdict.baseline == Decimal("102.5")
    assert verdict.mad == Decimal("7.5") * Decimal("1.4826")
    assert verdict.history == 6
    assert verdict.change == Decimal("17.5")


@pytest.mark.parametrize("seed", range(20))
def test_it_finds_a_spike_that_doubles_a_day(seed):
    series = seasonal(seed)
    series[WEDNESDAY] += LEVELS[WEDNESDAY.weekday()]
    verdict = anomaly_judge(series, WEDNESDAY, min_abs=20)
    assert verdict.anomaly
    assert verdict.deviations >= 4


@pytest.mark.parametrize("seed", range(20))
def test_a_sunday_at_a_weekday_s_level_is_an_anomaly(seed):
    series = seasonal(seed)
    sunday = WEDNESDAY + timedelta(days=4)
    series[sunday] = Decimal(250)
    assert anomaly_judge(series, sunday, min_abs=20).anomaly


def test_the_weekly_rhythm_alone_never_fires():
    judged = 0
    for seed in range(60):
        series = seasonal(seed)
        # Every day after eight weeks: Mondays after quiet weekends included.
        for day in sorted(series)[56:]:
            verdict = anomaly_judge(series, day, weeks=8, min_abs=20)
            assert not verdict.anomaly, (seed, day, verdict)
            judged += 1
    assert judged == 60 * 28


@pytest.mark.parametrize("weeks", [4, 6, 8])
def test_a_noise_free_rhythm_is_judged_usual(weeks):
    series = seasonal(0, noise=0)
    verdict = anomaly_judge(series, WEDNESDAY, weeks=weeks, min_abs=20)
    assert (verdict.deviations, verdict.anomaly) == (0, False)


def test_a_big_relative_jump_of_cents_does_not_fire():
    series = seasonal(3, scale=0.001)
    series[WEDNESDAY] *= 5
    verdict = anomaly_judge(series, WEDNESDAY, min_abs=20)
    assert verdict.change < 2
    assert not verdict.anomaly


def test_the_same_jump_fires_with_a_smaller_minimum():
    series = seasonal(3, scale=0.001)
    series[WEDNESDAY] *= 5
    assert anomaly_judge(series, WEDNESDAY, min_abs=Decimal("0.5")).anomaly


def test_a_flat_history_with_a_jump_above_the_minimum_fires():
    series = flat(100)
    series[WEDNESDAY] = Decimal(125)
    verdict = anomaly_judge(series, WEDNESDAY, min_abs=20)
    assert verdict.mad == 0
    assert verdict.anomaly


def test_a_flat_history_with_a_jump_below_the_minimum_does_not_fire():
    series = flat(100)
    series[WEDNESDAY] = Decimal(119)
    assert not anomaly_judge(series, WEDNESDAY, min_abs=20).anomaly


def test_a_flat_history_and_the_same_day_is_usual():
    verdict = anomaly_judge(flat(100), WEDNESDAY, min_abs=20)
    assert (verdict.deviations, verdict.anomaly) == (0, False)


def test_a_drop_is_never_an_anomaly():
    series = seasonal(1)
    series[WEDNESDAY] = Decimal(0)
    verdict = anomaly_judge(series, WEDNESDAY, min_abs=20)
    assert verdict.deviations < -4
    assert not verdict.anomaly


def test_it_gives_no_verdict_on_fewer_than_three_same_weekdays():
    series = {WEDNESDAY - timedelta(days=7 * back): Decimal(100) for back in (1, 2)}
    series[WEDNESDAY] = Decimal(500)
    assert anomaly_judge(series, WEDNESDAY, min_abs=20) is None
    series[WEDNESDAY - timedelta(days=21)] = Decimal(100)
    assert anomaly_judge(series, WEDNESDAY, min_abs=20).anomaly


def test_it_gives_no_verdict_on_a_day_without_data():
    series = flat(100)
    del series[WEDNESDAY]
    assert anomaly_judge(series, WEDNESDAY, min_abs=20) is None


def test_it_reads_only_the_weeks_asked_for():
    series = flat(100)
    for back in (5, 6, 7, 8):
        series[WEDNESDAY - timedelta(days=7 * back)] = Decimal(1000)
    assert anomaly_judge(series, WEDNESDAY, weeks=4, min_abs=20).baseline == 100
    assert anomaly_judge(series, WEDNESDAY, weeks=8, min_abs=20).baseline == 550


def test_it_takes_floats():
    series = {day: float(value) for day, value in flat(1.5).items()}
    series[WEDNESDAY] = 4.5
    verdict = anomaly_judge(series, WEDNESDAY, min_abs=2)
    assert verdict.baseline == Decimal("1.5")
    assert verdict.anomaly


@pytest.mark.parametrize(
    "options",
    [{"weeks": 3}, {"weeks": 9}, {"min_abs": 0}, {"threshold": 0}],
)
def test_it_refuses_settings_out_of_range(options):
    with pytest.raises(ValueError):
        anomaly_judge(flat(100), WEDNESDAY, **{"min_abs": 20, **options})
