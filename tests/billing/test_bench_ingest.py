from datetime import UTC, datetime, timedelta

from billing.bench.ingest import canonical_events, moments

START = datetime(2026, 10, 1, tzinfo=UTC)


def test_live_moments_are_a_second_apart_from_the_start():
    assert moments(3, START) == [START + timedelta(seconds=n) for n in range(3)]


def test_spread_moments_cover_the_days_evenly():
    spread = moments(1_000, START, days=30)
    assert sorted(spread) == [START + timedelta(days=30) / 1_000 * n for n in range(1_000)]


def test_every_batch_of_spread_events_spans_most_of_the_days():
    events = canonical_events(1_000, START, days=30)
    for first in range(0, 1_000, 100):
        stamps = [datetime.fromisoformat(e["timestamp"]) for e in events[first : first + 100]]
        assert max(stamps) - min(stamps) > timedelta(days=25)
