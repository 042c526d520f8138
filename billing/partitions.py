"""Usage events on PostgreSQL: one partition per UTC month of occurred_at, made on demand.

A valid event can be from any month since 2000, so partitions are not made ahead of time: every
writer asks for the months of its rows first (usage_partitions_ensure). Months known to exist
are cached per process once the transaction that found or made them has committed, so the live
path costs nothing; a missing month is made under an advisory lock, so two senders racing for
a new month make it once. A partition is created on its own and then attached, which locks the
parent table only against other DDL, not against the inserts running meanwhile.

SQLite keeps one plain table: every function here does nothing there.
"""

from collections.abc import Iterable
from datetime import UTC, date, datetime

from django.db import connection, transaction

from billing.models import UsageEvent

TABLE = UsageEvent._meta.db_table
# pg_advisory_xact_lock key: "usage partitions", arbitrary but fixed.
LOCK_KEY = 0x75736167_6570
_known: set[date] = set()


def month_of(moment: datetime) -> date:
    """The first day of the UTC month a moment falls in."""
    moment = moment.astimezone(UTC)
    return date(moment.year, moment.month, 1)


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def months_between(first: date, last: date) -> list[date]:
    """Every month from `first`'s to `last`'s, both included."""
    months, month = [], date(first.year, first.month, 1)
    while month <= last:
        months.append(month)
        month = next_month(month)
    return months


def partition_name(month: date) -> str:
    return f"{TABLE}_y{month.year}m{month.month:02d}"


def is_partitioned() -> bool:
    return connection.vendor == "postgresql"


def usage_partitions_ensure(months: Iterable[date]) -> None:
    """Make sure every month given has its partition (PostgreSQL); a no-op on SQLite."""
    if not is_partitioned():
        return
    missing = set(months) - _known
    if not missing:
        return
    with connection.cursor() as cursor:
        absent = missing - set(partition_months(cursor))
    if absent:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
            for month in sorted(absent - set(partition_months(cursor))):
                _partition_create(cursor, month)
    # Only once committed: a partition made in a transaction that rolls back is gone again.
    transaction.on_commit(lambda: _known.update(missing))


def partition_months(cursor) -> list[date]:
    """The months that have a partition now, oldest first."""
    cursor.execute(
        "SELECT child.relname FROM pg_inherits "
        "JOIN pg_class AS child ON child.oid = pg_inherits.inhrelid "
        "WHERE pg_inherits.inhparent = %s::regclass",
        [TABLE],
    )
    prefix = f"{TABLE}_y"
    months = []
    for (name,) in cursor.fetchall():
        if name.startswith(prefix):
            year, month = name.removeprefix(prefix).split("m")
            months.append(date(int(year), int(month), 1))
    return sorted(months)


def _partition_create(cursor, month: date) -> None:
    name = partition_name(month)
    start = datetime(month.year, month.month, 1, tzinfo=UTC)
    end = datetime.combine(next_month(month), datetime.min.time(), tzinfo=UTC)
    cursor.execute(f"CREATE TABLE {name} (LIKE {TABLE} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    cursor.execute(
        f"ALTER TABLE {TABLE} ATTACH PARTITION {name} FOR VALUES FROM (%s) TO (%s)",
        [start, end],
    )


def usage_partition_drop(month: date) -> None:
    """Drop a month's partition, events and all (PostgreSQL; the caller holds a transaction)."""
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {partition_name(month)}")
    transaction.on_commit(lambda: _known.discard(month))
