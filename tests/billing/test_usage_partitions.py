"""Usage events on PostgreSQL: a partition per UTC month, made when a month's first event comes;
and dedupe that holds across months and between two senders at once."""

import threading
from datetime import UTC, date, datetime

import pytest
from django.db import connection, connections, transaction

from billing.ingest.events import event_from_json
from billing.ingest.store import event_rows, usage_ingest, usage_store
from billing.models import UsageEvent, UsageEventKey
from billing.partitions import partition_months, usage_partitions_ensure
from tests.factories import canonical_event

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="partitions are PostgreSQL's; SQLite has one table"
)


def _months() -> list[date]:
    with connection.cursor() as cursor:
        return partition_months(cursor)


def _send(team, *ids_and_times):
    items = [canonical_event(id=id, timestamp=at.isoformat()) for id, at in ids_and_times]
    return usage_ingest(team, items, now=NOW)


@postgresql_only
def test_an_event_of_a_month_long_past_gets_its_month_s_partition(team, catalog):
    _send(team, ("old", datetime(2003, 2, 28, 23, 59, tzinfo=UTC)))
    assert date(2003, 2, 1) in _months()
    assert date(2003, 3, 1) not in _months()
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableoid::regclass::text FROM billing_usageevent")
        assert cursor.fetchall() == [("billing_usageevent_y2003m02",)]


def test_an_id_sent_again_with_a_time_in_another_month_is_a_duplicate(team, catalog):
    _send(team, ("once", datetime(2026, 3, 10, tzinfo=UTC)))
    result = _send(team, ("once", datetime(2025, 9, 10, tzinfo=UTC)))
    assert (result.accepted, result.duplicates) == (0, 1)
    assert UsageEvent.objects.filter(team=team).count() == 1


def test_each_event_stored_leaves_its_id_as_sent_by_its_team(team, other_team, catalog):
    _send(team, ("a", datetime(2026, 3, 10, tzinfo=UTC)))
    _send(other_team, ("a", datetime(2026, 3, 10, tzinfo=UTC)))
    assert sorted(UsageEventKey.objects.values_list("team__slug", "event_id")) == [
        ("maven", "a"),
        ("rival", "a"),
    ]


@postgresql_only
def test_a_batch_over_several_months_lands_whole(team, catalog):
    result = _send(
        team,
        ("a", datetime(2024, 1, 31, 23, tzinfo=UTC)),
        ("b", datetime(2024, 2, 1, 1, tzinfo=UTC)),
        ("c", datetime(2025, 6, 1, tzinfo=UTC)),
    )
    assert result.accepted == 3
    assert {date(2024, 1, 1), date(2024, 2, 1), date(2025, 6, 1)} <= set(_months())


def _at_once(*calls):
    """Run the calls in threads (each with its own connection), started together."""
    barrier = threading.Barrier(len(calls))
    results, errors = [None] * len(calls), []

    def run(index, call):
        try:
            barrier.wait()
            results[index] = call()
        except Exception as error:  # the test reports it below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(n, call)) for n, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return results


@postgresql_only
def test_two_senders_making_the_same_new_month_make_it_once(transactional_db):
    month = date(2011, 5, 1)
    _at_once(*[lambda: usage_partitions_ensure({month})] * 2)
    assert _months().count(month) == 1


@postgresql_only
def test_two_senders_with_overlapping_ids_store_each_event_once(transactional_db, team, catalog):
    at = datetime(2026, 11, 26, 11, tzinfo=UTC)
    first = [canonical_event(id=f"e{n}", timestamp=at.isoformat()) for n in range(0, 300)]
    second = [canonical_event(id=f"e{n}", timestamp=at.isoformat()) for n in range(200, 500)]
    results = _at_once(
        lambda: usage_ingest(team, first, now=NOW), lambda: usage_ingest(team, second, now=NOW)
    )
    assert sum(result.accepted for result in results) == 500
    assert sum(result.duplicates for result in results) == 100
    assert UsageEvent.objects.filter(team=team).count() == 500
    assert UsageEventKey.objects.filter(team=team).count() == 500


def test_a_deleted_team_takes_its_sent_ids_along(team, other_team, catalog):
    _send(team, ("a", datetime(2026, 3, 10, tzinfo=UTC)))
    _send(other_team, ("a", datetime(2026, 3, 10, tzinfo=UTC)))
    team.delete()
    assert list(UsageEventKey.objects.values_list("team__slug", flat=True)) == ["rival"]


def test_rows_repeating_an_id_store_it_once(team, catalog):
    now = datetime(2026, 11, 26, 11, tzinfo=UTC)
    event, _ = event_from_json(canonical_event(id="twice", timestamp=now.isoformat()), now=NOW)
    rows = event_rows(team, [event, event], now=NOW)
    with transaction.atomic():
        assert usage_store(rows) == {"twice"}
    assert UsageEvent.objects.filter(team=team).count() == 1
