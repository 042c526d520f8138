"""Usage events on PostgreSQL: one partition per UTC month of occurred_at, made on demand.

A valid event can be from any month since 2000, so partitions are not made ahead of time: every
writer asks for the months of its rows first (usage_partitions_ensure). The live months (this
one, the one before and the one after) are cached per process once the transaction that found
or made them has committed, so the live path costs nothing; retention never drops them, so a
cached partition cannot vanish under a process. An older month is looked up every time, under
a shared advisory lock that retention takes exclusively before it drops a month: a batch never
finds a partition that is dropped before it inserts. A missing month is made under another
advisory lock, so two senders racing for a new month make it once. A partition is created on
its own and then attached, which locks the parent table only against other DDL, not against
the inserts running meanwhile.

SQLite keeps one plain table: every function here does nothing there.
"""

from collections.abc import Iterable
from datetime import UTC, date, datetime

from django.db import connection, transaction
from django.utils import timezone

from billing.models import UsageEvent

TABLE = UsageEvent._meta.db_table
# pg_advisory_xact_lock keys, arbitrary but fixed: making partitions, and dropping them.
CREATE_LOCK = 0x75736167_6570
DROP_LOCK = 0x75736167_6571
_known: set[date] = set()


def month_of(moment: datetime) -> date:
    """The first day of the UTC month a moment falls in."""
    moment = moment.astimezone(UTC)
    return date(moment.year, moment.month, 1)


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def previous_month(month: date) -> date:
    return date(month.year - (month.month == 1), (month.month - 2) % 12 + 1, 1)


def months_between(first: date, last: date) -> list[date]:
    """Every month from `first`'s to `last`'s, both included."""
    months, month = [], date(first.year, first.month, 1)
    while month <= last:
        months.append(month)
        month = next_month(month)
    return months


def month_start(month: date) -> datetime:
    return datetime(month.year, month.month, 1, tzinfo=UTC)


def live_months(now: datetime | None = None) -> set[date]:
    """The months a process may cache: retention never drops them (it keeps at least one
    whole month before the current one)."""
    current = month_of(now or timezone.now())
    return {previous_month(current), current, next_month(current)}


def partition_name(month: date) -> str:
    return f"{TABLE}_y{month.year}m{month.month:02d}"


def is_partitioned() -> bool:
    return connection.vendor == "postgresql"


def usage_partitions_ensure(months: Iterable[date]) -> None:
    """Make sure every month given has its partition (PostgreSQL); a no-op on SQLite.

    Call it in the transaction that then inserts the rows.
    """
    if not is_partitioned():
        return
    live = live_months()
    months = set(months)
    missing = months - (_known & live)
    if not missing:
        return
    with connection.cursor() as cursor:
        if missing - live:
            cursor.execute("SELECT pg_advisory_xact_lock_shared(%s)", [DROP_LOCK])
        absent = missing - set(partition_months(cursor))
    if absent:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CREATE_LOCK])
            for month in sorted(absent - set(partition_months(cursor))):
                _partition_create(cursor, month)
    # Only once committed: a partition made in a transaction that rolls back is gone again.
    transaction.on_commit(lambda: _known.update(missing & live))


def partitions_forget() -> None:
    """Forget the months this process knows to have a partition (after the table was rebuilt)."""
    _known.clear()


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
    cursor.execute(f"CREATE TABLE {name} (LIKE {TABLE} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    cursor.execute(
        f"ALTER TABLE {TABLE} ATTACH PARTITION {name} FOR VALUES FROM (%s) TO (%s)",
        [month_start(month), month_start(next_month(month))],
    )


def usage_partition_drop(month: date) -> None:
    """Drop a month's partition, events and all (PostgreSQL), in the caller's transaction,
    once no batch that looked the month up is still running."""
    if month in live_months():
        raise ValueError(f"{month:%Y-%m} is a live month: its partition is never dropped")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [DROP_LOCK])
        # Foreign keys are checked at commit; a table with checks pending cannot be dropped.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"DROP TABLE IF EXISTS {partition_name(month)}")
