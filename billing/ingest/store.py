"""Landing usage events: validate, drop duplicates, price, store, roll up. One transaction."""

import logging
import operator
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from billing.costing import PriceBook, TaoBook, price_event, priced_columns
from billing.ingest.events import EventIn, compact_json, event_from_json
from billing.ingest.payload import LineError
from billing.models import UsageEvent, UsageEventKey
from billing.partitions import month_of, usage_partitions_ensure
from billing.rollups import rollups_add
from dashboard.prepared import execute_prepared

logger = logging.getLogger(__name__)
# PostgreSQL: the temporary table a batch is copied into, which then feeds the rollups too.
STAGING_TABLE = "usage_batch"
# The error of an item whose reading failed in a way validation did not foresee.
UNREADABLE = "could not be read; nothing was stored"

COLUMNS = [
    "team_id",
    "event_id",
    "occurred_at",
    "received_at",
    "provider_name",
    "model_name",
    "provider_id",
    "model_id",
    "task_type",
    "end_user",
    "api_key_alias",
    "route_version",
    "status",
    "error_type",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "latency_ms",
    "ttft_ms",
    "reported_cost_usd",
    "catalog_cost_usd",
    "cost_usd",
    "cost_source",
    "price_id",
    "team_price_id",
    "cost_disagreement",
    "tao_amount",
    "tao_price_usd",
    "tao_missing",
    "quality_score",
    "quality_evaluator",
    "quality_comment",
    "metadata",
]


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict] = field(default_factory=list)

    def as_json(self) -> dict:
        return {"accepted": self.accepted, "duplicates": self.duplicates, "rejected": self.rejected}


def usage_ingest(team, items: list, *, now: datetime | None = None) -> IngestResult:
    """Store the valid events of a batch and roll them up; report the rest per index.

    An event id seen before for the team, or earlier in the same batch, is a duplicate and
    changes nothing. Either every valid event of the batch lands, or (on error) none does.
    """
    now = now or timezone.now()
    result = IngestResult()
    events: list[EventIn] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        if isinstance(item, LineError):
            result.rejected.append({"index": index, "id": None, "errors": {"line": item.message}})
            continue
        event, errors = _read_event(index, item, now)
        if errors:
            result.rejected.append({"index": index, "id": id_of_item(item), "errors": errors})
        elif event.event_id in seen:
            result.duplicates += 1
        else:
            seen.add(event.event_id)
            events.append(event)
    if not events:
        return result
    rows = event_rows(team, events, now=now)
    with transaction.atomic():
        inserted = usage_store(rows)
        new_rows = [row for row in rows if row["event_id"] in inserted]
        only_these = len(new_rows) == len(rows)  # no duplicate in the staging table
        rollups_add(new_rows, team.zone, staged=STAGING_TABLE, only_these=only_these)
    result.accepted = len(new_rows)
    result.duplicates += len(rows) - len(new_rows)
    return result


def _read_event(index: int, item, now: datetime) -> tuple[EventIn | None, dict[str, str]]:
    """event_from_json, with anything it did not foresee as this event's error, not a 500."""
    try:
        return event_from_json(item, now=now)
    except Exception:
        logger.exception("Could not read event %d of a batch", index)
        return None, {"event": UNREADABLE}


def event_rows(team, events: list[EventIn], *, now: datetime) -> list[dict]:
    book = PriceBook.current()
    pairs = [(event, book.resolve(event.provider, event.model)) for event in events]
    # Only calls billed in TAO need its price.
    tao = TaoBook.around([event.occurred_at for event, resolved in pairs if resolved.in_tao])
    team_id = team.pk
    rows = []
    for event, resolved in pairs:
        row = priced_columns(resolved, price_event(event, resolved, book, tao, team_id=team_id))
        metadata = event.metadata
        if resolved.model_name != event.model:
            metadata = {**metadata, "reported_model": event.model}
        row.update(
            team_id=team_id,
            event_id=event.event_id,
            occurred_at=event.occurred_at,
            received_at=now,
            task_type=event.task_type,
            end_user=event.end_user,
            api_key_alias=event.api_key_alias,
            route_version=event.route_version,
            status=event.status,
            error_type=event.error_type,
            input_tokens=event.input_tokens,
            output_tokens=event.output_tokens,
            cached_input_tokens=event.cached_input_tokens,
            cache_write_tokens=event.cache_write_tokens,
            latency_ms=event.latency_ms,
            ttft_ms=event.ttft_ms,
            reported_cost_usd=event.reported_cost_usd,
            quality_score=event.quality_score,
            quality_evaluator="",
            quality_comment="",
            metadata=metadata,
        )
        rows.append(row)
    return rows


def usage_store(rows: list[dict]) -> set[str]:
    """Insert the rows whose ids are new to their team; returns the ids inserted.

    The ids go to UsageEventKey first (ON CONFLICT DO NOTHING, in the caller's transaction):
    only the events whose key was new are inserted, so dedupe is exact across months,
    partitions and retention. A concurrent batch with the same id waits on the key's row lock
    and then counts it as a duplicate (or inserts it, if the first batch rolled back). Keys go
    in id order, so two batches sharing ids lock them in the same order (no deadlock).
    """
    usage_partitions_ensure({month_of(row["occurred_at"]) for row in rows})
    unique, taken = [], set()
    for row in rows:  # the first row of an id repeated within `rows` is the one stored
        if row["event_id"] not in taken:
            taken.add(row["event_id"])
            unique.append(row)
    if connection.vendor == "postgresql":
        return _staged_insert(unique)
    inserted = _keys_insert(unique)
    new_rows = [row for row in unique if row["event_id"] in inserted]
    if new_rows:
        _values_insert(new_rows)
    return inserted


def _staged_insert(rows: list[dict]) -> set[str]:
    """PostgreSQL: COPY the rows into a temporary table, then one statement inserts their new
    keys and the events of those keys. The table keeps the rows for rollups_add."""
    table, keys = UsageEvent._meta.db_table, UsageEventKey._meta.db_table
    columns = ", ".join(COLUMNS)
    with connection.cursor() as cursor:
        # Emptied at each commit, and here for a second batch in the same transaction: not by
        # TRUNCATE, whose new file would make PostgreSQL plan the batch's statements again.
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {STAGING_TABLE} ON COMMIT DELETE ROWS AS "  # noqa: S608
            f"SELECT {columns} FROM {table} WITH NO DATA"
        )
        cursor.execute(f"DELETE FROM {STAGING_TABLE}")  # noqa: S608
        with cursor.copy(f"COPY {STAGING_TABLE} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row((*_plain_values(row), compact_json(row["metadata"]).decode()))
        execute_prepared(
            cursor,
            f"usage_insert_{STAGING_TABLE}",
            "",
            f"WITH new AS (INSERT INTO {keys} (team_id, event_id) "  # noqa: S608
            f"  SELECT team_id, event_id FROM {STAGING_TABLE} ORDER BY event_id, team_id "
            "  ON CONFLICT (team_id, event_id) DO NOTHING RETURNING team_id, event_id) "
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {STAGING_TABLE} "
            "WHERE (team_id, event_id) IN (SELECT team_id, event_id FROM new) "
            "RETURNING event_id",
            [],
        )
        return {event_id for (event_id,) in cursor.fetchall()}


# Every column but the last, metadata, which COPY takes as JSON text.
_plain_values = operator.itemgetter(*COLUMNS[:-1])
assert COLUMNS[-1] == "metadata"


def _keys_insert(rows: list[dict]) -> set[str]:
    """Insert the rows' (team, event id) keys that are new; returns the ids of those."""
    table = UsageEventKey._meta.db_table
    keys = sorted({(row["team_id"], row["event_id"]) for row in rows}, key=lambda k: k[::-1])
    inserted: set[str] = set()
    chunk = 10_000
    with connection.cursor() as cursor:
        for start in range(0, len(keys), chunk):
            batch = keys[start : start + chunk]
            placeholders = ", ".join(["(%s, %s)"] * len(batch))
            cursor.execute(
                f"INSERT INTO {table} (team_id, event_id) VALUES {placeholders} "  # noqa: S608
                "ON CONFLICT (team_id, event_id) DO NOTHING RETURNING event_id",
                [value for key in batch for value in key],
            )
            inserted.update(event_id for (event_id,) in cursor.fetchall())
    return inserted


def _values_insert(rows: list[dict]) -> None:
    """SQLite (or any other database): multi-row INSERTs."""
    table = UsageEvent._meta.db_table
    fields = [UsageEvent._meta.get_field(name) for name in COLUMNS]
    chunk = max(1, 30_000 // len(COLUMNS))
    with connection.cursor() as cursor:
        for start in range(0, len(rows), chunk):
            batch = rows[start : start + chunk]
            values = [
                field.get_db_prep_save(row[field.attname], connection)
                for row in batch
                for field in fields
            ]
            placeholders = ", ".join(["(" + ", ".join(["%s"] * len(COLUMNS)) + ")"] * len(batch))
            cursor.execute(
                f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES {placeholders}",  # noqa: S608
                values,
            )


def usage_forget(team) -> None:
    """Delete the team's raw events and the ids it sent, so the same ids land again.

    For benchmark and demo resets only: retention keeps the ids (see UsageEventKey).
    """
    UsageEvent.objects.filter(team=team).delete()
    UsageEventKey.objects.filter(team=team).delete()


def usage_keys_backfill(team) -> int:
    """Record as sent every id of the team's raw events that lacks its key (after a bulk fill
    written straight into the events table); returns how many keys were added."""
    events, keys = UsageEvent._meta.db_table, UsageEventKey._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {keys} (team_id, event_id) "  # noqa: S608
            f"SELECT team_id, event_id FROM {events} WHERE team_id = %s "
            "ON CONFLICT (team_id, event_id) DO NOTHING",
            [team.pk],
        )
        return cursor.rowcount


def id_of_item(item) -> str | None:
    """The id of a rejected item, if it has a printable one, to help the sender find it."""
    if not isinstance(item, dict):
        return None
    value = item.get("id") or item.get("litellm_call_id")
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    # An integer of thousands of digits is no id, and str() would refuse it.
    if isinstance(value, int) and not -(10**255) < value < 10**255:
        return None
    text = str(value)
    if "\x00" in text or len(text) > 255:
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return text
