"""The migrations that move dedupe to UsageEventKey and partition usage events, run over a
database that already holds events (PostgreSQL: the table is rebuilt partitioned)."""

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from billing.ingest.store import usage_ingest
from billing.partitions import partitions_forget
from tests.factories import canonical_event

BEFORE = [("billing", "0013_alert_preference")]
AFTER = None  # every migration, those after the partitioning too


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets if targets is not None else executor.loader.graph.leaf_nodes())
    partitions_forget()  # the table was rebuilt, with partitions only for the months in use


def _rows(sql):
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall()


@pytest.fixture
def events_before_the_migration(transactional_db, team, catalog):
    _migrate(BEFORE)
    with connection.cursor() as cursor:
        for n, month in enumerate([3, 3, 7]):
            cursor.execute(
                "INSERT INTO billing_usageevent (team_id, event_id, occurred_at, received_at, "
                "provider_name, model_name, task_type, status, error_type, input_tokens, "
                "output_tokens, cached_input_tokens, cache_write_tokens, cost_source, "
                "cost_disagreement, tao_missing, quality_evaluator, quality_comment, metadata) "
                "VALUES (%s, %s, %s, %s, 'openai', 'gpt', '', 'success', '', 1, 1, 0, 0, "
                "'unpriced', false, false, '', '', '{}')",
                [team.pk, f"old-{n}", datetime(2025, month, 2, tzinfo=UTC), datetime.now(UTC)],
            )
    yield
    _migrate(AFTER)


def test_every_event_stored_before_is_kept_with_its_id_as_sent(team, events_before_the_migration):
    _migrate(AFTER)
    assert _rows("SELECT event_id FROM billing_usageevent ORDER BY event_id") == [
        ("old-0",),
        ("old-1",),
        ("old-2",),
    ]
    assert len(_rows("SELECT event_id FROM billing_usageeventkey")) == 3


def test_an_event_stored_before_the_migration_is_a_duplicate_after_it(
    team, events_before_the_migration
):
    (highest,) = _rows("SELECT max(id) FROM billing_usageevent")[0]
    _migrate(AFTER)
    again = canonical_event(id="old-0", timestamp="2025-03-02T00:00:00Z")
    fresh = canonical_event(id="new", timestamp="2025-03-02T00:00:00Z")
    result = usage_ingest(team, [again, fresh])
    assert (result.accepted, result.duplicates) == (1, 1)
    # The id sequence goes on from the rows that were there.
    assert _rows("SELECT id FROM billing_usageevent WHERE event_id = 'new'")[0][0] > highest


@pytest.mark.skipif(connection.vendor != "postgresql", reason="partitions are PostgreSQL's")
def test_on_postgresql_the_events_land_in_their_months_partitions(
    team, events_before_the_migration
):
    _migrate(AFTER)
    assert _rows(
        "SELECT tableoid::regclass::text, count(*) FROM billing_usageevent GROUP BY 1 ORDER BY 1"
    ) == [("billing_usageevent_y2025m03", 2), ("billing_usageevent_y2025m07", 1)]
