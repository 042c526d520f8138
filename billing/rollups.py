"""Hourly rollups of usage: added to as events arrive, rebuilt from raw events when needed.

Both ways give the same numbers: tests compare every rollup total with the raw aggregate.
"""

import logging
import math
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import cache
from zoneinfo import ZoneInfo

from django.db import connection, models, transaction
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Coalesce, TruncDate, TruncHour

from billing.histogram import (
    BUCKETS,
    LATENCY_FIELDS,
    TTFT_FIELDS,
    UPPER_BOUNDS,
    bucket_of,
)
from billing.models import (
    ROLLUP_KEY_NAMES,
    CostSource,
    UsageDailyRollup,
    UsageEvent,
    UsageRollup,
)
from billing.retention import raw_usage_since
from dashboard.models import Team
from dashboard.prepared import execute_prepared

logger = logging.getLogger(__name__)

# Events without a route version are rolled up under version 0 (NO_VERSION).
NAMES = ROLLUP_KEY_NAMES
KEY = ["team_id", "hour", *NAMES]
DAY_KEY = ["team_id", "day", *NAMES]
NO_VERSION = 0
MONEY_SUMS = [
    "cost_usd",
    "reported_cost_usd",
    "catalog_cost_usd",
    "tao_amount",
    "quality_sum",
    "quality_sumsq",
]
COUNT_SUMS = [
    "requests",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "unpriced_requests",
    "unpriced_tokens",
    "disagreement_requests",
    "tao_missing_requests",
    "latency_sum_ms",
    "latency_count",
    "quality_count",
]
SUMS = COUNT_SUMS + MONEY_SUMS + LATENCY_FIELDS + TTFT_FIELDS


def hour_of(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _zero() -> dict:
    return {name: (Decimal(0) if name in MONEY_SUMS else 0) for name in SUMS}


def increments_for(rows: list[dict]) -> dict[tuple, dict]:
    """What a set of new events adds to each rollup row, keyed by rollup key."""
    totals: dict[tuple, dict] = defaultdict(_zero)
    for row in rows:
        key = (
            row["team_id"],
            hour_of(row["occurred_at"]),
            row["provider_name"],
            row["model_name"],
            row["task_type"],
            row["route_version"] or NO_VERSION,
            row["status"],
            row["end_user"],
            row["api_key_alias"],
        )
        total = totals[key]
        total["requests"] += 1
        for name in ("input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens"):
            total[name] += row[name]
        for name in ("cost_usd", "reported_cost_usd", "catalog_cost_usd", "tao_amount"):
            if row[name] is not None:
                total[name] += row[name]
        if row["cost_source"] == CostSource.UNPRICED:
            total["unpriced_requests"] += 1
            total["unpriced_tokens"] += row["input_tokens"] + row["output_tokens"]
        total["disagreement_requests"] += row["cost_disagreement"]
        total["tao_missing_requests"] += row["tao_missing"]
        if row["latency_ms"] is not None:
            total["latency_sum_ms"] += row["latency_ms"]
            total["latency_count"] += 1
            total[LATENCY_FIELDS[bucket_of(row["latency_ms"])]] += 1
        if row["ttft_ms"] is not None:
            total[TTFT_FIELDS[bucket_of(row["ttft_ms"])]] += 1
        if row["quality_score"] is not None:
            total["quality_sum"] += row["quality_score"]
            total["quality_sumsq"] += row["quality_score"] * row["quality_score"]
            total["quality_count"] += 1
    return totals


def rollups_add(
    rows: list[dict], zone: ZoneInfo, *, staged: str | None = None, only_these: bool = False
) -> None:
    """Add new events (dicts of usage columns) to the hourly rows and to the team-day rows
    (days in `zone`), creating missing ones.

    `staged` names a temporary table that holds these events, and others unless `only_these`:
    the ingest's COPY staging table on PostgreSQL. The database then sums them itself, so a
    batch spread over a month costs what a batch of one hour costs. Otherwise the sums are
    made here and upserted. Either way keys go in sorted order, so concurrent batches lock rows
    in the same order.
    """
    if not rows:
        return
    if staged is not None and connection.vendor == "postgresql":
        event_ids = None if only_these else [row["event_id"] for row in rows]
        _add_staged(staged, event_ids, zone, dense=_is_dense(rows))
        return
    increments = increments_for(rows)
    _upsert(UsageRollup, KEY, increments, add=True)
    _upsert(UsageDailyRollup, DAY_KEY, daily_increments(increments, zone), add=True)


# For whole milliseconds, bisect_left(UPPER_BOUNDS, ms), the number of bounds below ms, is the
# number of these integers at or under ms: what PostgreSQL's width_bucket counts.
_WHOLE_MS_BOUNDS = [math.floor(bound) + 1 for bound in UPPER_BOUNDS]


def _staged_sums(*, dense: bool) -> tuple[dict[str, str], dict[str, str]]:
    """Each rollup sum as SQL aggregates, raw_aggregates in SQL. Dense (many events an hour):
    the first over the events of one key and one pair of latency and TTFT buckets, the second
    over those partial sums, so a histogram column is a filter over a few dozen partial rows,
    not over every event. Otherwise (about an event a row, as in a backfill) in one aggregate."""
    unpriced = f"cost_source = '{CostSource.UNPRICED.value}'"
    counts = {
        "requests": "count(*)",
        "unpriced_requests": f"count(*) FILTER (WHERE {unpriced})",
        "disagreement_requests": "count(*) FILTER (WHERE cost_disagreement)",
        "tao_missing_requests": "count(*) FILTER (WHERE tao_missing)",
        "latency_count": "count(latency_ms)",
        "quality_count": "count(quality_score)",
    }
    # A batch's counts fit an integer, whose sums PostgreSQL adds in machine integers (a
    # bigint's in numerics): the day rows add up the hour rows' sums fast.
    partial = {name: f"{sql}::integer" for name, sql in counts.items()} | {
        "unpriced_tokens": f"sum(input_tokens + output_tokens) FILTER (WHERE {unpriced})",
        "latency_sum_ms": "sum(latency_ms)",
        "quality_sum": "sum(quality_score)",
        "quality_sumsq": "sum(quality_score * quality_score)",
    }
    partial |= {name: f"sum({name})" for name in SUMS if name not in partial}
    # The events in a bucket: the partial rows' counts added up, or the events counted.
    counted = "sum(requests)" if dense else "count(*)"
    histogram = {
        name: f"{counted} FILTER (WHERE bucket_{column} = {index})"
        for column, fields in (("latency", LATENCY_FIELDS), ("ttft", TTFT_FIELDS))
        for index, name in enumerate(fields)
    }
    partial = {name: sql for name, sql in partial.items() if name not in histogram}
    if dense:
        total = {name: f"sum({name})" for name in partial} | histogram
    else:
        total, partial = partial | histogram, {}
    integers = counts.keys() | histogram.keys()
    return partial, {
        name: f"coalesce({total[name]}, 0)" + ("::integer" if name in integers else "")
        for name in SUMS
    }


# The staged columns the sums read (route_version is read as its rollup key).
_EVENT_COLUMNS = ", ".join(
    [
        "team_id",
        "occurred_at",
        "provider_name",
        "model_name",
        "task_type",
        "status",
        "end_user",
        "api_key_alias",
        "input_tokens",
        "output_tokens",
        "cached_input_tokens",
        "cache_write_tokens",
        "cost_usd",
        "reported_cost_usd",
        "catalog_cost_usd",
        "cost_source",
        "cost_disagreement",
        "tao_amount",
        "tao_missing",
        "latency_ms",
        "ttft_ms",
        "quality_score",
    ]
)


@cache
def _staged_upsert_sql(table: str, *, filtered: bool, dense: bool) -> str:
    """PostgreSQL: the staged events (if `filtered`, those whose ids are $2) summed per hour and
    added to the hourly rows, then those sums per day (in the zone $1) added to the day rows.
    One statement; rows are locked in code-point key order, the order Python sorts keys in."""
    hourly, daily = UsageRollup._meta.db_table, UsageDailyRollup._meta.db_table
    names = NAMES
    group = f"team_id, hour, {', '.join(names)}"
    text_order = ", ".join(
        name if name == "route_version" else f'{name} COLLATE "C"' for name in names
    )
    bounds = f"ARRAY{_WHOLE_MS_BOUNDS}::bigint[]"
    partial, sums = _staged_sums(dense=dense)
    # Ids as one array, joined by hash, whatever the batch's size.
    where = "WHERE event_id IN (SELECT unnest($2::text[]))" if filtered else ""

    partial_sums = (
        f"partial AS (SELECT {group}, bucket_latency, bucket_ttft, "  # noqa: S608
        f"  {', '.join(f'{sql} AS {name}' for name, sql in partial.items())} "
        f"  FROM events GROUP BY {group}, bucket_latency, bucket_ttft), "
        if dense
        else ""
    )

    def added(rollup: str) -> str:
        return ", ".join(f"{name} = {rollup}.{name} + excluded.{name}" for name in SUMS)

    return (
        "WITH events AS ("  # noqa: S608
        f"  SELECT {_EVENT_COLUMNS}, coalesce(route_version, {NO_VERSION}) AS route_version, "
        f"  date_trunc('hour', occurred_at, 'UTC') AS hour, "
        f"  width_bucket(latency_ms, {bounds}) AS bucket_latency, "
        f"  width_bucket(ttft_ms, {bounds}) AS bucket_ttft "
        f"  FROM {table} {where}), "
        f"{partial_sums}"
        f"sums AS (SELECT {group}, "
        f"  {', '.join(f'{sql} AS {name}' for name, sql in sums.items())} "
        f"  FROM {'partial' if dense else 'events'} GROUP BY {group}), "
        f"hourly AS (INSERT INTO {hourly} ({', '.join(KEY + SUMS)}) "
        f"  SELECT {', '.join(KEY + SUMS)} FROM sums "
        f"  ORDER BY team_id, hour, {text_order} "
        f"  ON CONFLICT ({', '.join(KEY)}) DO UPDATE SET {added(hourly)}) "
        f"INSERT INTO {daily} ({', '.join(DAY_KEY + SUMS)}) "
        f"SELECT team_id, (hour AT TIME ZONE $1)::date AS day, {', '.join(names)}, "
        f"  {', '.join(f'sum({name})' for name in SUMS)} "
        f"FROM sums GROUP BY team_id, day, {', '.join(names)} "
        f"ORDER BY team_id, day, {text_order} "
        f"ON CONFLICT ({', '.join(DAY_KEY)}) DO UPDATE SET {added(daily)}"
    )


def _is_dense(rows: list[dict]) -> bool:
    """Whether the events come at least 8 an hour over the hours they span: a live batch, or a
    backlog of a short outage, not a backfill spread over days."""
    moments = [row["occurred_at"] for row in rows]
    hours = (max(moments) - min(moments)) / timedelta(hours=1) + 1
    return len(rows) >= 8 * hours


def _add_staged(table: str, event_ids: list[str] | None, zone: ZoneInfo, *, dense: bool) -> None:
    filtered = event_ids is not None
    with connection.cursor() as cursor:
        execute_prepared(
            cursor,
            f"rollups_add_{table}_{'some' if filtered else 'all'}_{'dense' if dense else 'sparse'}",
            "text, text[]" if filtered else "text",
            _staged_upsert_sql(table, filtered=filtered, dense=dense),
            [zone.key, event_ids] if filtered else [zone.key],
        )


def daily_increments(increments: dict[tuple, dict], zone: ZoneInfo) -> dict[tuple, dict]:
    """The hourly increments summed per team day: an hour belongs to the day it starts on."""
    daily: dict[tuple, dict] = defaultdict(_zero)
    for (team_id, hour, *rest), sums in increments.items():
        total = daily[(team_id, hour.astimezone(zone).date(), *rest)]
        for name, value in sums.items():
            total[name] += value
    return daily


def _upsert(model, key: list[str], rows: dict[tuple, dict], *, add: bool) -> None:
    """INSERT ... ON CONFLICT DO UPDATE: adding the sums to the row's, or replacing them."""
    if not rows:
        return
    table = model._meta.db_table
    columns = key + SUMS
    fields = [model._meta.get_field(name) for name in columns]
    if add:
        updates = ", ".join(f"{name} = {table}.{name} + excluded.{name}" for name in SUMS)
    else:
        updates = ", ".join(f"{name} = excluded.{name}" for name in SUMS)
    keys = sorted(rows)
    if connection.vendor == "postgresql":
        _upsert_arrays(table, key, columns, fields, keys, rows, updates)
        return
    chunk = max(1, 30_000 // len(columns))
    with connection.cursor() as cursor:
        for start in range(0, len(keys), chunk):
            batch = keys[start : start + chunk]
            values: list = []
            for row_key in batch:
                row = dict(zip(key, row_key, strict=True)) | rows[row_key]
                values.extend(
                    field.get_db_prep_save(row[name], connection)
                    for field, name in zip(fields, columns, strict=True)
                )
            placeholders = ", ".join(["(" + ", ".join(["%s"] * len(columns)) + ")"] * len(batch))
            cursor.execute(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES {placeholders} "  # noqa: S608
                f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}",
                values,
            )


def _upsert_arrays(table, key, columns, fields, keys, rows, updates) -> None:
    """PostgreSQL: the same upsert with one array parameter a column (unnest), whatever the
    number of rows: a batch spread over many hours no longer passes ~100 parameters a row
    through Django's field preparation and psycopg's query splitting."""
    prepare = [
        (lambda value, field=field: field.get_db_prep_save(value, connection))
        if isinstance(field, models.DecimalField)
        else None
        for field in fields
    ]
    arrays: list[list] = [[] for _ in columns]
    for row_key in keys:
        row = dict(zip(key, row_key, strict=True)) | rows[row_key]
        for values, name, convert in zip(arrays, columns, prepare, strict=True):
            values.append(row[name] if convert is None else convert(row[name]))
    types = [field.db_type(connection) for field in fields]
    unnest = ", ".join(f"%s::{kind}[]" for kind in types)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608
            f"SELECT * FROM unnest({unnest}) "
            f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}",
            arrays,
        )


def daily_rollups_refresh(
    team, days: set[date] | None = None, *, from_day: date | None = None
) -> int:
    """Recompute the team's day rows from its hourly rows: those days, from a day on, or all.

    Rows are replaced by an upsert (not only deleted and inserted) so that a batch ingested
    concurrently, and committed in between, is never counted twice nor refused.
    """
    zone = team.zone
    daily = UsageDailyRollup.objects.filter(team=team)
    hourly = UsageRollup.objects.filter(team=team)
    if days is not None:
        if not days:
            return 0
        daily = daily.filter(day__in=days)
        first, last = min(days), max(days)
        hourly = hourly.filter(
            hour__gte=datetime.combine(first, time(), tzinfo=zone),
            hour__lt=datetime.combine(last + timedelta(days=1), time(), tzinfo=zone),
        )
    if from_day is not None:
        daily = daily.filter(day__gte=from_day)
        hourly = hourly.filter(hour__gte=datetime.combine(from_day, time(), tzinfo=zone))
    sums = (
        hourly.annotate(day=TruncDate("hour", tzinfo=zone))
        .values(*DAY_KEY)
        .annotate(**{f"sum_{name}": Sum(name) for name in SUMS})
        .order_by()
    )
    rows = {}
    for row in sums:
        if days is not None and row["day"] not in days:
            continue
        rows[tuple(row[name] for name in DAY_KEY)] = {name: row[f"sum_{name}"] for name in SUMS}
    with transaction.atomic():
        daily.delete()
        _upsert(UsageDailyRollup, DAY_KEY, rows, add=False)
    return len(rows)


def _bucket_filter(field: str, index: int) -> Q:
    condition = Q(**{f"{field}__isnull": False})
    if index > 0:
        condition &= Q(**{f"{field}__gt": UPPER_BOUNDS[index - 1]})
    if index < BUCKETS - 1:
        condition &= Q(**{f"{field}__lte": UPPER_BOUNDS[index]})
    return condition


def raw_aggregates(events) -> Iterator[dict]:
    """The rollup rows computed straight from raw events, as dicts, in the database."""
    for row in _raw_aggregates(events):
        row["route_version"] = row.pop("version")
        yield row


def _raw_aggregates(events):
    unpriced = Q(cost_source=CostSource.UNPRICED)
    histogram = {
        name: Count("id", filter=_bucket_filter("latency_ms", index))
        for index, name in enumerate(LATENCY_FIELDS)
    } | {
        name: Count("id", filter=_bucket_filter("ttft_ms", index))
        for index, name in enumerate(TTFT_FIELDS)
    }
    return (
        events.annotate(
            hour=TruncHour("occurred_at", tzinfo=UTC),
            version=Coalesce("route_version", NO_VERSION),
        )
        .values(
            "team_id",
            "hour",
            "provider_name",
            "model_name",
            "task_type",
            "version",
            "status",
            "end_user",
            "api_key_alias",
        )
        .annotate(
            requests=Count("id"),
            sum_input_tokens=Sum("input_tokens"),
            sum_output_tokens=Sum("output_tokens"),
            sum_cached_input_tokens=Sum("cached_input_tokens"),
            sum_cache_write_tokens=Sum("cache_write_tokens"),
            sum_cost_usd=Sum("cost_usd"),
            sum_reported_cost_usd=Sum("reported_cost_usd"),
            sum_catalog_cost_usd=Sum("catalog_cost_usd"),
            unpriced_requests=Count("id", filter=unpriced),
            unpriced_tokens=Sum(F("input_tokens") + F("output_tokens"), filter=unpriced),
            disagreement_requests=Count("id", filter=Q(cost_disagreement=True)),
            sum_tao_amount=Sum("tao_amount"),
            tao_missing_requests=Count("id", filter=Q(tao_missing=True)),
            latency_sum_ms=Sum("latency_ms"),
            latency_count=Count("latency_ms"),
            quality_sum=Sum("quality_score"),
            quality_sumsq=Sum(F("quality_score") * F("quality_score")),
            quality_count=Count("quality_score"),
            **histogram,
        )
        .order_by()
    )


def _rollup_from_aggregate(row: dict) -> UsageRollup:
    values = {name: row[name] for name in KEY}
    for name in SUMS:
        value = row.get(f"sum_{name}", row.get(name))
        values[name] = value if value is not None else (Decimal(0) if name in MONEY_SUMS else 0)
    return UsageRollup(**values)


def rollups_rebuild(*, team=None, since: datetime | None = None, progress=None) -> int:
    """Recompute rollups from raw events, a day at a time; returns how many rows were written.

    Rollups from before raw_usage_since() are kept as they are: retention removed the raw
    events they would be recomputed from.
    """
    events = UsageEvent.objects.all()
    rollups = UsageRollup.objects.all()
    if team is not None:
        events, rollups = events.filter(team=team), rollups.filter(team=team)
    raw_since = raw_usage_since()
    if raw_since is not None and (since is None or since < raw_since):
        logger.warning(
            "Rollups before %s are kept: retention removed their raw events.", f"{raw_since:%Y-%m}"
        )
        since = raw_since
    if since is not None:
        since = hour_of(since)
        events, rollups = events.filter(occurred_at__gte=since), rollups.filter(hour__gte=since)
    bounds = events.order_by().values_list("occurred_at", flat=True)
    first, last = bounds.order_by("occurred_at").first(), bounds.order_by("-occurred_at").first()
    written = 0
    with transaction.atomic():
        rollups.delete()
        day = hour_of(first).replace(hour=0) if first is not None else None
        days = (last - day).days + 1 if first is not None else 0
        for step in range(days):
            start = day + timedelta(days=step)
            chunk = events.filter(occurred_at__gte=start, occurred_at__lt=start + timedelta(days=1))
            rows = [_rollup_from_aggregate(row) for row in raw_aggregates(chunk)]
            UsageRollup.objects.bulk_create(rows, batch_size=300)
            written += len(rows)
            if progress:
                progress(step + 1, days)
        for each in [team] if team is not None else Team.objects.all():
            local_since = since.astimezone(each.zone).date() if since is not None else None
            daily_rollups_refresh(each, from_day=local_since)
    return written


def rollups_for_hours(team, hours: set[datetime]) -> None:
    """Recompute the rollups of some hours of a team from raw events (after scores, repricing).

    Hours before raw_usage_since() are skipped: retention removed their raw events.
    """
    raw_since = raw_usage_since()
    if raw_since is not None and any(hour < raw_since for hour in hours):
        logger.warning(
            "Rollups before %s are kept: retention removed their raw events.", f"{raw_since:%Y-%m}"
        )
        hours = {hour for hour in hours if hour >= raw_since}
    for hour in sorted(hours):
        with transaction.atomic():
            UsageRollup.objects.filter(team=team, hour=hour).delete()
            events = UsageEvent.objects.filter(
                team=team, occurred_at__gte=hour, occurred_at__lt=hour + timedelta(hours=1)
            )
            UsageRollup.objects.bulk_create(
                [_rollup_from_aggregate(row) for row in raw_aggregates(events)]
            )
    daily_rollups_refresh(team, {hour.astimezone(team.zone).date() for hour in hours})
