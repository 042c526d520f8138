from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.models import Sum

from billing.bench.prefill import usage_prefill, usage_prefill_clear, usage_settle
from billing.costing import cost_of
from billing.ingest.store import usage_ingest
from billing.models import ModelPrice, UsageDailyRollup, UsageEvent, UsageEventKey, UsageRollup
from billing.rollups import KEY, SUMS, rollups_rebuild
from tests.factories import canonical_event

END = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="usage_prefill writes with generate_series"
)


def _rollups(team) -> list[dict]:
    return list(UsageRollup.objects.filter(team=team).order_by(*KEY).values(*KEY, *SUMS))


@postgresql_only
def test_it_inserts_that_many_events_with_distinct_ids_inside_the_range(team, catalog):
    result = usage_prefill(team, events=700, end=END, days=30)
    events = UsageEvent.objects.filter(team=team)
    assert result.events == events.count() == 700
    assert events.values("event_id").distinct().count() == 700
    assert not events.filter(occurred_at__lt=END - timedelta(days=30)).exists()
    assert not events.filter(occurred_at__gte=END).exists()


@postgresql_only
def test_its_rollups_equal_what_rollups_rebuild_writes(team, catalog):
    result = usage_prefill(team, events=700, end=END, days=30)
    written = _rollups(team)
    assert result.rollups == len(written) == rollups_rebuild(team=team)
    assert written == _rollups(team)
    assert UsageDailyRollup.objects.filter(team=team).aggregate(Sum("requests")) == {
        "requests__sum": 700
    }


@postgresql_only
def test_it_prices_events_at_the_list_price_as_costing_does(team, catalog):
    usage_prefill(team, events=100, end=END, days=2)
    event = UsageEvent.objects.filter(team=team, status="success").first()
    price = ModelPrice.objects.get(pk=event.price_id)
    expected = cost_of(
        input_tokens=event.input_tokens,
        output_tokens=event.output_tokens,
        cached_input_tokens=0,
        cache_write_tokens=0,
        price=price,
    )
    assert event.cost_usd == event.catalog_cost_usd == expected


@postgresql_only
def test_clear_removes_the_teams_events_and_rollups(team, catalog):
    usage_prefill(team, events=50, end=END, days=2)
    usage_prefill_clear(team)
    assert not UsageEvent.objects.filter(team=team).exists()
    assert not UsageRollup.objects.filter(team=team).exists()
    assert not UsageDailyRollup.objects.filter(team=team).exists()
    assert not UsageEventKey.objects.filter(team=team).exists()


@postgresql_only
def test_prefilled_ids_are_duplicates_when_sent_again(team, catalog):
    usage_prefill(team, events=10, end=END, days=2)
    event = UsageEvent.objects.filter(team=team).first()
    again = canonical_event(id=event.event_id, timestamp=event.occurred_at.isoformat())
    assert usage_ingest(team, [again]).duplicates == 1


@pytest.mark.skipif(connection.vendor == "postgresql", reason="checks the SQLite refusal")
def test_it_refuses_a_database_other_than_postgresql(team, catalog):
    with pytest.raises(RuntimeError, match="PostgreSQL"):
        usage_prefill(team, events=10, end=END)


@postgresql_only
def test_settling_analyzes_the_usage_tables_outside_a_transaction(transactional_db, team, catalog):
    usage_prefill(team, events=20, end=END, days=2)
    assert usage_settle() > 0
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname = %s",
            [UsageEventKey._meta.db_table],
        )
        assert cursor.fetchone() == (True,)


def test_settling_does_nothing_inside_a_transaction(db):
    assert usage_settle() == 0.0
