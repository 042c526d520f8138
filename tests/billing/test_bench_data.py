import random
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

import pytest

from billing.bench.data import BENCH_SOURCE, fill_usage, tao_amount
from billing.costing import TAO_QUANTUM, PriceBook, TaoBook, price_event, priced_columns
from billing.models import TaoPrice, UsageEvent, UsageRollup
from billing.rollups import KEY, SUMS, rollups_rebuild

END = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
START = END - timedelta(days=3)


@pytest.fixture
def calls():
    return []


@pytest.fixture
def filled(team, catalog, calls):
    result = fill_usage(team, events=2_000, days=3, end=END, progress=lambda *a: calls.append(a))
    return result, UsageEvent.objects.filter(team=team)


def _rollups(team) -> list[dict]:
    return list(UsageRollup.objects.filter(team=team).order_by(*KEY).values(*KEY, *SUMS))


def test_it_writes_exactly_that_many_events_strictly_inside_the_range(filled, calls):
    result, events = filled
    assert result.events == events.count() == 2_000
    assert not events.filter(occurred_at__lte=START).exists()
    assert not events.filter(occurred_at__gte=END).exists()
    assert calls[-1] == (2_000, 2_000)


def test_it_gives_every_event_its_own_bench_id(filled):
    _, events = filled
    ids = set(events.values_list("event_id", flat=True))
    assert len(ids) == 2_000
    assert all(event_id.startswith("bench-") for event_id in ids)


def test_its_rollups_equal_what_rebuild_rollups_writes(team, filled):
    result, _ = filled
    written = _rollups(team)
    assert result.rollups == len(written) == rollups_rebuild(team=team)
    assert written == _rollups(team)


def test_its_costs_and_tao_are_what_costing_computes(filled):
    _, events = filled
    book, tao = PriceBook(), TaoBook(START, END)
    for event in events:
        resolved = book.resolve(event.provider_name, event.model_name)
        expected = priced_columns(
            resolved, price_event(event, resolved, book, tao, team_id=event.team_id)
        )
        assert {name: getattr(event, name) for name in expected} == expected


def test_chutes_calls_are_converted_to_tao_at_the_bench_price(filled):
    _, events = filled
    chutes = events.filter(provider_name="chutes")
    assert not chutes.filter(tao_amount__isnull=True).exists()
    assert not events.filter(tao_missing=True).exists()
    assert not events.exclude(provider_name="chutes").filter(tao_amount__isnull=False).exists()
    assert TaoPrice.objects.filter(source=BENCH_SOURCE, at__lte=START).exists()


def test_the_mix_is_mostly_chutes_with_some_errors_and_scores(filled):
    _, events = filled
    assert 0.55 <= events.filter(provider_name="chutes").count() / 2_000 <= 0.65
    assert 0.005 <= events.filter(status="error").exclude(error_type="").count() / 2_000 <= 0.04
    assert 0.2 <= events.filter(quality_score__isnull=False).count() / 2_000 <= 0.4
    assert set(events.values_list("task_type", flat=True)) == {
        "chat",
        "code",
        "summarize",
        "extract",
        "classify",
    }
    assert events.values("model_name").distinct().count() == 7


def test_afternoons_are_busier_than_nights(team, filled):
    _, events = filled
    hours = [
        moment.astimezone(team.zone).hour for moment in events.values_list("occurred_at", flat=True)
    ]
    assert sum(10 <= hour < 18 for hour in hours) > 3 * sum(hour < 6 for hour in hours)


def test_filling_again_replaces_the_teams_usage(team, filled):
    result = fill_usage(team, events=500, days=1, end=END)
    assert UsageEvent.objects.filter(team=team).count() == result.events == 500
    assert sum(row["requests"] for row in _rollups(team)) == 500


def test_it_needs_the_catalog(team, db):
    with pytest.raises(ValueError, match="load it first"):
        fill_usage(team, events=10, days=1, end=END)


@pytest.mark.parametrize("cost_units", [1, 3, 5, 10**8, 123_456_789_012, 7 * 10**12])
def test_tao_amount_rounds_half_even_like_decimal(cost_units):
    # At $2 a TAO, 1e-12 USD is half of 1e-12 TAO: every odd cost is a tie.
    usd = Decimal("2.00000000")
    expected = (Decimal(cost_units).scaleb(-12) / usd).quantize(TAO_QUANTUM, ROUND_HALF_EVEN)
    assert Decimal(tao_amount(cost_units, usd, 2 * 10**8)) == expected


def test_tao_amount_matches_decimal_division_on_random_costs():
    rng = random.Random(7)
    for _ in range(20_000):
        units, usd_units = rng.randrange(10**13), rng.randrange(10**9, 10**11)
        usd = Decimal(usd_units).scaleb(-8)
        expected = (Decimal(units).scaleb(-12) / usd).quantize(TAO_QUANTUM, ROUND_HALF_EVEN)
        assert Decimal(tao_amount(units, usd, usd_units)) == expected
