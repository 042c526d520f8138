"""The cube: a team's usage of a range of days, one row per day, provider, model, task type and
routing version.

`load_cube` reads it with one grouped query, from the daily rollups or (for the benchmark,
which checks that both agree) from raw events; `narrow` applies the page's filters to it and
`options_of` lists what the filter menus offer. `Filters` is what the page was asked to show.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import BigIntegerField, Count, F, Q, Sum
from django.db.models.functions import Cast, TruncDate

from billing.ingest.events import TOKEN_FIELDS
from billing.models import CostSource, Status, UsageDailyRollup, UsageEvent, UsageRollup
from billing.rollups import NO_VERSION
from routing.models import RoutingVersion

# Percentages of the page's Decimal sums.
HUNDRED = Decimal(100)
ROLLUPS, RAW = "rollups", "raw"


@dataclass(frozen=True)
class Filters:
    """What the page shows: team days first_day..last_day (inclusive), optionally narrowed."""

    first_day: date
    last_day: date
    provider: str = ""
    model: str = ""
    task_type: str = ""
    # One routing version's calls (NO_VERSION: those sent without one); None: every call.
    route_version: int | None = None

    @property
    def narrowed(self) -> bool:
        return bool(self.provider or self.model or self.task_type) or self.route_version is not None


@dataclass
class CubeRow:
    """Usage of one team day, provider, model, task type and routing version."""

    day: date
    provider: str
    model: str
    task_type: str
    route_version: int = NO_VERSION
    requests: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    tao_amount: Decimal = Decimal(0)
    tao_cost_usd: Decimal = Decimal(0)
    unpriced_requests: int = 0
    quality_sum: Decimal = Decimal(0)
    quality_count: int = 0

    @property
    def successes(self) -> int:
        return self.requests - self.errors


def day_start(team, day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=team.zone)


def range_of_days(team, *, days: int, now: datetime) -> Filters:
    """The last `days` team days, today included."""
    today = now.astimezone(team.zone).date()
    return Filters(today - timedelta(days=days - 1), today)


def team_has_usage(team) -> bool:
    return UsageRollup.objects.filter(team=team).exists()


def load_cube(
    team, first_day: date, last_day: date, *, source: str = ROLLUPS, api_key_alias: str = ""
) -> list[CubeRow]:
    """All the team's usage of those days, one row per day, provider, model, task type and
    routing version; only the calls made with one API key alias when it is given (rollups)."""
    if source == ROLLUPS:
        rows = _rollup_cube(team, first_day, last_day, api_key_alias)
    else:
        start, end = day_start(team, first_day), day_start(team, last_day + timedelta(1))
        rows = _raw_cube(team, start, end)
    cube = []
    for row in rows:
        cube.append(
            CubeRow(
                day=row["day"],
                provider=row["provider_name"],
                model=row["model_name"],
                task_type=row["task_type"],
                # Raw events keep None for a call sent without a version, rollups NO_VERSION.
                route_version=row["route_version"] or NO_VERSION,
                requests=row["s_requests"] or 0,
                errors=row["s_errors"] or 0,
                input_tokens=row["s_input_tokens"] or 0,
                output_tokens=row["s_output_tokens"] or 0,
                cached_input_tokens=row["s_cached_input_tokens"] or 0,
                cache_write_tokens=row["s_cache_write_tokens"] or 0,
                cost_usd=row["s_cost_usd"] or Decimal(0),
                tao_amount=row["s_tao_amount"] or Decimal(0),
                tao_cost_usd=row["s_tao_cost_usd"] or Decimal(0),
                unpriced_requests=row["s_unpriced_requests"] or 0,
                quality_sum=Decimal(row["s_quality_sum"] or 0),
                quality_count=row["s_quality_count"] or 0,
            )
        )
    cube.sort(key=lambda r: (r.day, r.provider, r.model, r.task_type, r.route_version))
    return cube


def narrow(cube: list[CubeRow], filters: Filters) -> list[CubeRow]:
    """The rows of the filtered days, provider, model, task type and routing version."""
    return [
        row
        for row in cube
        if filters.first_day <= row.day <= filters.last_day
        and (not filters.provider or row.provider == filters.provider)
        and (not filters.model or row.model == filters.model)
        and (not filters.task_type or row.task_type == filters.task_type)
        and (filters.route_version is None or row.route_version == filters.route_version)
    ]


def options_of(cube: list[CubeRow]) -> dict[str, list]:
    """The providers, models, task types and routing versions (newest first) present, for the
    filter menus."""
    return {
        "provider": sorted({row.provider for row in cube}),
        "model": sorted({row.model for row in cube}),
        "task_type": sorted({row.task_type for row in cube if row.task_type}),
        "route_version": sorted({row.route_version for row in cube}, reverse=True),
    }


def published_days(team, numbers) -> dict[int, date]:
    """The team day each of those routing versions was published on, for the filter menu."""
    numbers = [number for number in numbers if number != NO_VERSION]
    if not numbers:
        return {}
    versions = RoutingVersion.objects.filter(team=team, number__in=numbers)
    return {
        number: published_at.astimezone(team.zone).date()
        for number, published_at in versions.values_list("number", "published_at")
    }


def _rollup_cube(team, first_day, last_day, api_key_alias: str = ""):
    counts = ["requests", "unpriced_requests", "quality_count", *TOKEN_FIELDS]
    amounts = ["cost_usd", "tao_amount", "quality_sum"]
    rollups = UsageDailyRollup.objects.filter(team=team, day__gte=first_day, day__lte=last_day)
    if api_key_alias:
        rollups = rollups.filter(api_key_alias=api_key_alias)
    return (
        rollups.values("day", "provider_name", "model_name", "task_type", "route_version")
        .annotate(
            s_errors=whole(Sum("requests", filter=Q(status=Status.ERROR))),
            s_tao_cost_usd=Sum("cost_usd", filter=Q(tao_amount__gt=0)),
            **{f"s_{name}": whole(Sum(name)) for name in counts},
            **{f"s_{name}": Sum(name) for name in amounts},
        )
        .order_by()
    )


def whole(total):
    # PostgreSQL sums bigints as numeric, which arrives as a (slow to read) Decimal.
    return Cast(total, BigIntegerField())


def _raw_cube(team, start, end):
    """The same sums straight from raw events: what the rollups save the page from doing."""
    return (
        UsageEvent.objects.filter(team=team, occurred_at__gte=start, occurred_at__lt=end)
        .annotate(day=raw_day(team))
        .values("day", "provider_name", "model_name", "task_type", "route_version")
        .annotate(
            s_requests=Count("id"),
            s_errors=Count("id", filter=Q(status=Status.ERROR)),
            s_cost_usd=Sum("cost_usd"),
            s_tao_amount=Sum("tao_amount"),
            s_tao_cost_usd=Sum("cost_usd", filter=Q(tao_amount__gt=0)),
            s_unpriced_requests=Count("id", filter=Q(cost_source=CostSource.UNPRICED)),
            s_quality_sum=Sum("quality_score"),
            s_quality_count=Count("quality_score"),
            **{f"s_{name}": Sum(F(name)) for name in TOKEN_FIELDS},
        )
        .order_by()
    )


def raw_day(team):
    """The team day of a raw event, as a query expression."""
    # Rollups put a call in the day its hour starts on; for zones a whole number of hours
    # from UTC that is the day of the call itself.
    return TruncDate("occurred_at", tzinfo=team.zone)
