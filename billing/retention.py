"""Raw usage retention: whole months of raw events dropped once they are old and closed.

USAGE_RAW_RETENTION_MONTHS = N keeps the raw events of the current UTC month and of the N months
before it; empty (the default) keeps them all. An older month goes once every team with usage
in it has closed each of its own calendar months that overlap it (a team's months are in its
time zone, so one UTC month can touch two of them). Months go oldest first: a month that some
team has not closed holds itself and every later one, and the run says which teams hold it.

What stays exact: rollups (charts, reports, exports and month closes read them, never raw
events), the closes' frozen snapshots, and dedupe (the ids stay in UsageEventKey, so a re-sent
event of a dropped month is still a duplicate). Rollups of a dropped month are never recomputed
from raw events again: rollups_rebuild and rollups_for_hours skip everything before
raw_usage_since().
"""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone

from billing.models import MonthClose, RawUsageRemoval, UsageEvent, UsageRollup
from billing.partitions import (
    is_partitioned,
    month_of,
    month_start,
    months_between,
    next_month,
    partition_months,
    previous_month,
    usage_partition_drop,
)
from dashboard.models import Team


@dataclass
class Holding:
    """A team whose calendar months, overlapping a UTC month, are not all closed."""

    team: str
    months: list[date]

    def __str__(self) -> str:
        return f"{self.team} (not closed: {', '.join(f'{m:%Y-%m}' for m in self.months)})"


@dataclass
class RetentionResult:
    keep_from: date | None = None  # the first month kept; None: retention is off
    removed: list[tuple[date, int]] = field(default_factory=list)  # (month, raw events)
    held: date | None = None  # the oldest month due that some team has not closed
    holding: list[Holding] = field(default_factory=list)

    def summary(self, *, dry_run: bool = False) -> str:
        if self.keep_from is None:
            return "USAGE_RAW_RETENTION_MONTHS is not set: raw usage events are kept."
        verb = "would remove" if dry_run else "removed"
        parts = [
            f"Raw events from {self.keep_from:%Y-%m} on are kept; {verb} "
            + (
                ", ".join(f"{month:%Y-%m} ({count:,} events)" for month, count in self.removed)
                if self.removed
                else "nothing"
            )
            + "."
        ]
        if self.held is not None:
            parts.append(
                f"{self.held:%Y-%m} and later months are held until every team closes them: "
                + "; ".join(str(each) for each in self.holding)
                + "."
            )
        return " ".join(parts)


def retention_start(now: datetime, months: int) -> date:
    """The first month whose raw events are kept: the current UTC month less `months`."""
    month = month_of(now)
    for _ in range(months):
        month = previous_month(month)
    return month


def usage_raw_drop(
    *, now: datetime | None = None, months: int | None = None, dry_run: bool = False
) -> RetentionResult:
    """Drop the raw events of every month older than the retention, oldest first, while each
    is closed by every team that has usage in it; record each month dropped."""
    months = settings.USAGE_RAW_RETENTION_MONTHS if months is None else months
    if months is None:
        return RetentionResult()
    if months < 1:
        raise ValueError("the retention is at least one month")
    keep_from = retention_start(now or timezone.now(), months)
    result = RetentionResult(keep_from=keep_from)
    for month in _months_with_raw_events(before=keep_from):
        holding = holding_teams(month)
        if holding:
            result.held, result.holding = month, holding
            break
        if dry_run:
            result.removed.append((month, _raw_events_in(month)))
            continue
        with transaction.atomic():
            count = _raw_month_remove(month)
            if count:  # an empty partition goes too, but no calls were removed
                _removal_record(month, count)
        result.removed.append((month, count))
    return result


def _removal_record(month: date, count: int) -> None:
    """Record the month as removed; a month removed again (late events had landed in it since)
    adds to its count."""
    removal, _ = RawUsageRemoval.objects.select_for_update().get_or_create(
        month=month, defaults={"events": 0}
    )
    removal.events += count
    removal.removed_at = timezone.now()
    removal.save()


def _months_with_raw_events(*, before: date) -> list[date]:
    if is_partitioned():
        with connection.cursor() as cursor:
            return [month for month in partition_months(cursor) if month < before]
    first = UsageEvent.objects.order_by("occurred_at").values_list("occurred_at", flat=True)[:1]
    if not first:
        return []
    return [
        month
        for month in months_between(month_of(first[0]), previous_month(before))
        if _month_events(month).exists()
    ]


def _month_events(month: date):
    return UsageEvent.objects.filter(
        occurred_at__gte=month_start(month), occurred_at__lt=month_start(next_month(month))
    )


def _raw_events_in(month: date) -> int:
    """How many raw events the month holds, from its rollups (always equal, and far cheaper
    than counting a partition of millions of rows)."""
    hours = UsageRollup.objects.filter(
        hour__gte=month_start(month), hour__lt=month_start(next_month(month))
    )
    return hours.aggregate(total=Sum("requests"))["total"] or 0


def _raw_month_remove(month: date) -> int:
    if is_partitioned():
        count = _raw_events_in(month)
        usage_partition_drop(month)
        return count
    deleted, _ = _month_events(month).delete()
    return deleted


def holding_teams(month: date) -> list[Holding]:
    """The teams with usage in the UTC month that have not closed every calendar month of
    theirs that overlaps it, with those months."""
    start, end = month_start(month), month_start(next_month(month))
    team_ids = (
        UsageRollup.objects.filter(hour__gte=start, hour__lt=end)
        .order_by()
        .values_list("team_id", flat=True)
        .distinct()
    )
    holding = []
    for team in Team.objects.filter(pk__in=team_ids).order_by("slug"):
        first = start.astimezone(team.zone).date()
        last = (end - timedelta(microseconds=1)).astimezone(team.zone).date()
        local = set(months_between(first, last))
        closed = set(
            MonthClose.objects.filter(team=team, month__in=local, reopened_at=None).values_list(
                "month", flat=True
            )
        )
        if local - closed:
            holding.append(Holding(team.slug, sorted(local - closed)))
    return holding


def raw_usage_since() -> datetime | None:
    """The moment from which raw events were never removed (the end of the latest month
    retention dropped); None when no month was."""
    latest = RawUsageRemoval.objects.order_by("-month").values_list("month", flat=True).first()
    return month_start(next_month(latest)) if latest is not None else None


def raw_removals_between(start: datetime | None, end: datetime | None) -> list[RawUsageRemoval]:
    """The months whose raw events retention removed that overlap [start, end)."""
    return [
        removal
        for removal in RawUsageRemoval.objects.order_by("month")
        if (start is None or month_start(next_month(removal.month)) > start)
        and (end is None or month_start(removal.month) < end)
    ]


def raw_removal_notices(start: datetime | None, end: datetime | None) -> list[str]:
    """What the usage explorer and its CSV say of each month in [start, end) whose raw calls
    retention removed."""
    return [
        f"Raw calls of {removal.month:%B %Y} were removed on {removal.removed_at:%Y-%m-%d} "
        "under the retention setting (USAGE_RAW_RETENTION_MONTHS), so they are not listed; "
        "their totals stay in the overview, reports and exports, which read the rollups."
        for removal in raw_removals_between(start, end)
    ]
