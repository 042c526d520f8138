"""Millions of stored events for one team, written by PostgreSQL itself, for the ingest bench.

`INSERT ... SELECT` over generate_series: no row crosses the wire, so ten million events take
minutes, not an hour. The events cycle through the bench routes and tasks with varied tokens,
latencies and a 2 % error rate, spread evenly over the days before `end`, priced at each
route's current list price. Then the team's rollups are built from them by SQL aggregates.
"""

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction

from billing.bench.data import ROUTES, TASKS, build_rollups
from billing.costing import PriceBook
from billing.ingest.store import COLUMNS
from billing.models import CostSource, UsageDailyRollup, UsageEvent, UsageEventKey, UsageRollup
from billing.partitions import month_of, months_between, usage_partitions_ensure
from billing.rollups import daily_rollups_refresh
from routing.models import Currency, Model

CHUNK = 1_000_000
ERROR_EVERY = 50

# Each column of COLUMNS as an expression of n (the event's number), the route r (1-based index
# into the route arrays) and t (the task's index); %(name)s are the statement's parameters.
EXPRESSIONS = {
    "team_id": "%(team)s",
    "event_id": "md5(%(seed)s || n)::uuid::text",
    "occurred_at": "%(start)s + %(step)s * (n + 0.5)::float8",
    "received_at": "%(start)s + %(step)s * (n + 0.5)::float8",
    "provider_name": "(%(provider_names)s::text[])[r]",
    "model_name": "(%(model_names)s::text[])[r]",
    "provider_id": "(%(provider_ids)s::bigint[])[r]",
    "model_id": "(%(model_ids)s::bigint[])[r]",
    "task_type": "(%(tasks)s::text[])[t]",
    "end_user": "''",
    "api_key_alias": "''",
    "route_version": "NULL",
    "status": f"CASE WHEN mod(n, {ERROR_EVERY}) = 0 THEN 'error' ELSE 'success' END",
    "error_type": f"CASE WHEN mod(n, {ERROR_EVERY}) = 0 THEN 'RateLimitError (429)' ELSE '' END",
    "input_tokens": "tokens_in",
    "output_tokens": "tokens_out",
    "cached_input_tokens": "0",
    "cache_write_tokens": "0",
    "latency_ms": "300 + mod(n * 13, 9000)",
    "ttft_ms": f"CASE WHEN mod(n, {ERROR_EVERY}) = 0 THEN NULL ELSE 100 + mod(n * 7, 2000) END",
    "reported_cost_usd": "NULL",
    "catalog_cost_usd": "cost",
    "cost_usd": "cost",
    "cost_source": f"CASE WHEN cost IS NULL THEN '{CostSource.UNPRICED.value}' "
    f"ELSE '{CostSource.CATALOG.value}' END",
    "price_id": "(%(price_ids)s::bigint[])[r]",
    "team_price_id": "NULL",
    "cost_disagreement": "false",
    "tao_amount": "NULL",
    "tao_price_usd": "NULL",
    "tao_missing": "(%(tao)s::boolean[])[r]",
    "quality_score": "NULL",
    "quality_evaluator": "''",
    "quality_comment": "''",
    "metadata": "'{}'::jsonb",
}


@dataclass(frozen=True)
class PrefillResult:
    events: int
    rollups: int
    events_seconds: float
    rollups_seconds: float


def usage_prefill(team, *, events: int, end: datetime, days: int = 365) -> PrefillResult:
    """Add `events` events to the team over the `days` days before `end`, and its rollups.

    PostgreSQL only. Event ids are uuid-shaped digests of the team and the event's number, so
    a second prefill of the same team collides; clear it first (usage_prefill_clear).
    """
    if connection.vendor != "postgresql":
        raise RuntimeError("usage_prefill writes with PostgreSQL's generate_series.")
    start = end - timedelta(days=days)
    params = {
        **_route_arrays(end),
        "team": team.pk,
        "seed": f"prefill-{team.pk}-",
        "start": start,
        "step": (end - start) / events,
        "tasks": [task[0] for task in TASKS],
    }
    statement = _insert_statement(len(ROUTES), len(TASKS))
    started = time.perf_counter()
    written = 0
    usage_partitions_ensure(months_between(month_of(start), month_of(end)))
    for low in range(0, events, CHUNK):
        high = min(events, low + CHUNK) - 1
        with transaction.atomic(), connection.cursor() as cursor:
            if _is_superuser(cursor):
                # Checking the foreign keys of every row costs more than the rest of the insert,
                # and every id here was just read from the catalog.
                cursor.execute("SET LOCAL session_replication_role = replica")
            cursor.execute(statement, {**params, "low": low, "high": high})
            written += cursor.rowcount
    events_seconds = time.perf_counter() - started
    started = time.perf_counter()
    rollups = build_rollups(team, start=start, end=end)
    daily_rollups_refresh(team)
    return PrefillResult(written, rollups, events_seconds, time.perf_counter() - started)


def _insert_statement(routes: int, tasks: int) -> str:
    # Every route with every task, in turn, all along the range; each id recorded as sent.
    return (
        f"WITH stored AS (INSERT INTO {UsageEvent._meta.db_table} ({', '.join(COLUMNS)}) "  # noqa: S608
        f"SELECT {', '.join(EXPRESSIONS[name] for name in COLUMNS)} FROM ("
        "SELECT n, r, t, tokens_in, tokens_out, "
        "round((tokens_in * (%(input_rates)s::numeric[])[r] "
        "+ tokens_out * (%(output_rates)s::numeric[])[r]) / 1000000, 12) AS cost "
        "FROM (SELECT n, "
        f"1 + mod(n, {routes}) AS r, 1 + mod(n / {routes}, {tasks}) AS t, "
        "500 + mod(n * 37, 6000) AS tokens_in, "
        f"CASE WHEN mod(n, {ERROR_EVERY}) = 0 THEN 0 ELSE 50 + mod(n * 11, 2000) END AS tokens_out "
        "FROM generate_series(%(low)s::bigint, %(high)s::bigint) AS n) AS numbered"
        ") AS event RETURNING team_id, event_id) "
        f"INSERT INTO {UsageEventKey._meta.db_table} (team_id, event_id) "
        "SELECT team_id, event_id FROM stored"
    )


def _route_arrays(end: datetime) -> dict[str, list]:
    """The bench routes as parallel arrays, each with its list price in force at `end`."""
    book = PriceBook()
    models = {
        (model.provider.slug, model.name): model
        for model in Model.objects.select_related("provider").filter(
            name__in=[name for _, name, _ in ROUTES]
        )
    }
    arrays: dict[str, list] = {
        name: []
        for name in (
            "provider_names",
            "model_names",
            "provider_ids",
            "model_ids",
            "price_ids",
            "input_rates",
            "output_rates",
            "tao",
        )
    }
    for provider_name, model_name, _ in ROUTES:
        model = models.get((provider_name, model_name))
        if model is None:
            raise ValueError(f"{provider_name}/{model_name} is not in the catalog: load it first")
        price = book.price_on(model, end)
        arrays["provider_names"].append(provider_name)
        arrays["model_names"].append(model_name)
        arrays["provider_ids"].append(model.provider_id)
        arrays["model_ids"].append(model.pk)
        arrays["price_ids"].append(price.pk if price else None)
        arrays["input_rates"].append(price.input_per_mtok if price else None)
        arrays["output_rates"].append(price.output_per_mtok if price else None)
        arrays["tao"].append(model.provider.billing_currency == Currency.TAO)
    return arrays


def usage_prefill_clear(team) -> None:
    """Remove the team's events, their ids and rollups with plain DELETEs (nothing loaded)."""
    with transaction.atomic(), connection.cursor() as cursor:
        for model in (UsageDailyRollup, UsageRollup, UsageEvent, UsageEventKey):
            cursor.execute(
                f"DELETE FROM {model._meta.db_table} WHERE team_id = %s",  # noqa: S608
                [team.pk],
            )


def _is_superuser(cursor) -> bool:
    cursor.execute("SELECT current_setting('is_superuser') = 'on'")
    return cursor.fetchone()[0]


def usage_settle() -> float:
    """Let PostgreSQL finish what a bulk fill left it: flush the dirty pages (CHECKPOINT, as a
    superuser) and vacuum and analyze the usage tables, as autovacuum would in the minutes
    after, so that a rate measured next is the steady state's. Returns the seconds it took;
    does nothing inside a transaction, where VACUUM cannot run."""
    if connection.in_atomic_block:
        return 0.0
    started = time.perf_counter()
    with connection.cursor() as cursor:
        if _is_superuser(cursor):
            cursor.execute("CHECKPOINT")
        tables = (UsageEvent, UsageEventKey, UsageRollup, UsageDailyRollup)
        names = ", ".join(model._meta.db_table for model in tables)
        cursor.execute(f"VACUUM (ANALYZE) {names}")
    return time.perf_counter() - started
