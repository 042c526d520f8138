"""The overview page's numbers: KPIs and daily cost, read from the hourly rollups only.

Days and months are the team's (its time zone); money stays unrounded Decimal until display.
"""

import calendar
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import Q, Sum

from billing.costing import cost_of
from billing.histogram import LATENCY_FIELDS, percentile
from billing.models import ModelPrice, Status, TaoPrice, UsageRollup
from billing.simulate import TOKEN_FIELDS

RANGE_DAYS = [7, 30, 90]
DEFAULT_RANGE_DAYS = 30
HUNDRED = Decimal(100)
WINDOW_SUMS = ["requests", "cost_usd", "tao_amount", "quality_sum", "quality_count"]


@dataclass(frozen=True)
class OverviewKpis:
    mtd_usd: Decimal
    forecast_usd: Decimal | None
    requests: int
    error_rate_pct: Decimal | None
    p95_latency_ms: float | None
    avg_quality: Decimal | None
    tao_used: Decimal
    baseline_usd: Decimal | None
    savings_usd: Decimal | None
    savings_pct: Decimal | None
    tao_usd: Decimal | None
    tao_at: datetime | None
    tao_change_pct: Decimal | None


@dataclass(frozen=True)
class DailyCost:
    day: date
    provider: str
    cost_usd: Decimal


@dataclass(frozen=True)
class DailyLatency:
    day: date
    provider: str
    p95_ms: float | None


@dataclass(frozen=True)
class DailyErrors:
    day: date
    provider: str
    requests: int
    errors: int


def overview_window(team, *, days: int, now: datetime) -> tuple[datetime, datetime]:
    """The last `days` team days, today included: from local midnight up to now."""
    zone = team.zone
    first_day = now.astimezone(zone).date() - timedelta(days=days - 1)
    return datetime.combine(first_day, time(), tzinfo=zone), now


def overview_kpis(team, start: datetime, end: datetime, now: datetime) -> OverviewKpis:
    """KPIs of the hours begun in [start, end], plus month-to-date spend and TAO price as of now."""
    groups = _window_by_model(team, start, end)
    totals = {name: sum((g[name] for g in groups), 0) for name in WINDOW_SUMS}
    errors = sum(g["errors"] for g in groups)
    latency = [sum(g[name] for g in groups) for name in LATENCY_FIELDS]
    mtd, forecast = _month_to_date(team, now)
    baseline = _baseline_usd(team, groups, now)
    priced_cost = sum((g["cost_usd"] for g in groups if not g["unpriced_requests"]), Decimal(0))
    savings = baseline - priced_cost if baseline else None
    tao_usd, tao_at, tao_change = _tao_price(now)
    return OverviewKpis(
        mtd_usd=mtd,
        forecast_usd=forecast,
        requests=totals["requests"],
        error_rate_pct=Decimal(errors) * HUNDRED / totals["requests"]
        if totals["requests"]
        else None,
        p95_latency_ms=percentile(latency, 0.95),
        avg_quality=(
            Decimal(totals["quality_sum"]) / totals["quality_count"]
            if totals["quality_count"]
            else None
        ),
        tao_used=Decimal(totals["tao_amount"]),
        baseline_usd=baseline,
        savings_usd=savings,
        savings_pct=savings * HUNDRED / baseline if savings is not None else None,
        tao_usd=tao_usd,
        tao_at=tao_at,
        tao_change_pct=tao_change,
    )


def daily_cost_by_provider(team, start: datetime, end: datetime) -> list[DailyCost]:
    """Cost per team day and provider of the hours begun in [start, end], by day then provider."""
    rows = (
        UsageRollup.objects.filter(team=team, hour__gte=start, hour__lte=end)
        .values("hour", "provider_name")
        .annotate(cost=Sum("cost_usd"))
        .order_by()
    )
    zone = team.zone
    totals: dict[tuple[date, str], Decimal] = defaultdict(Decimal)
    for row in rows:
        totals[(row["hour"].astimezone(zone).date(), row["provider_name"])] += row["cost"]
    return [DailyCost(day, provider, cost) for (day, provider), cost in sorted(totals.items())]


def daily_latency_p95_by_provider(team, start: datetime, end: datetime) -> list[DailyLatency]:
    """p95 latency per team day and provider, from the merged latency histograms of its hours."""
    rows = (
        UsageRollup.objects.filter(team=team, hour__gte=start, hour__lte=end)
        .values("hour", "provider_name")
        .annotate(**{f"{name}__sum": Sum(name) for name in LATENCY_FIELDS})
        .order_by()
    )
    zone = team.zone
    counts: dict[tuple[date, str], list[int]] = defaultdict(lambda: [0] * len(LATENCY_FIELDS))
    for row in rows:
        merged = counts[(row["hour"].astimezone(zone).date(), row["provider_name"])]
        for index, name in enumerate(LATENCY_FIELDS):
            merged[index] += row[f"{name}__sum"] or 0
    return [
        DailyLatency(day, provider, percentile(merged, 0.95))
        for (day, provider), merged in sorted(counts.items())
    ]


def daily_error_rate_by_provider(team, start: datetime, end: datetime) -> list[DailyErrors]:
    """All and errored requests per team day and provider of the hours begun in [start, end]."""
    rows = (
        UsageRollup.objects.filter(team=team, hour__gte=start, hour__lte=end)
        .values("hour", "provider_name")
        .annotate(total=Sum("requests"), errors=Sum("requests", filter=Q(status=Status.ERROR)))
        .order_by()
    )
    zone = team.zone
    totals: dict[tuple[date, str], list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        pair = totals[(row["hour"].astimezone(zone).date(), row["provider_name"])]
        pair[0] += row["total"] or 0
        pair[1] += row["errors"] or 0
    return [
        DailyErrors(day, provider, requests, errors)
        for (day, provider), (requests, errors) in sorted(totals.items())
    ]


def team_has_usage(team) -> bool:
    return UsageRollup.objects.filter(team=team).exists()


def _window_by_model(team, start, end) -> list[dict]:
    sums = {name: Sum(name) for name in WINDOW_SUMS + TOKEN_FIELDS + LATENCY_FIELDS}
    rows = (
        UsageRollup.objects.filter(team=team, hour__gte=start, hour__lte=end)
        .values("provider_name", "model_name")
        .annotate(
            errors=Sum("requests", filter=Q(status=Status.ERROR)),
            unpriced_requests=Sum("unpriced_requests"),
            **{f"{name}__sum": aggregate for name, aggregate in sums.items()},
        )
        .order_by()
    )
    groups = []
    for row in rows:
        group = {name: row[f"{name}__sum"] or 0 for name in sums}
        group["errors"] = row["errors"] or 0
        group["unpriced_requests"] = row["unpriced_requests"] or 0
        groups.append(group)
    return groups


def _month_to_date(team, now) -> tuple[Decimal, Decimal | None]:
    """Spend since the 1st of the team's month, and that pace kept to the month's end."""
    local = now.astimezone(team.zone)
    month_start = datetime.combine(local.date().replace(day=1), time(), tzinfo=team.zone)
    mtd = UsageRollup.objects.filter(team=team, hour__gte=month_start, hour__lte=now).aggregate(
        total=Sum("cost_usd")
    )["total"] or Decimal(0)
    days_in_month = calendar.monthrange(local.year, local.month)[1]
    # Today counts as a day elapsed, so the 1st does not divide by zero.
    return mtd, mtd * days_in_month / local.day


def _baseline_usd(team, groups: list[dict], now) -> Decimal | None:
    """The window's tokens, model by model, at the baseline model's price in force today.

    Models with unpriced calls are left out here and of the actual cost compared against it.
    """
    if team.baseline_model_id is None:
        return None
    today = now.astimezone(team.zone).date()
    price = ModelPrice.objects.in_force_on(today).filter(model_id=team.baseline_model_id).first()
    if price is None:
        return None
    return sum(
        (
            cost_of(price=price, **{name: g[name] for name in TOKEN_FIELDS})
            for g in groups
            if not g["unpriced_requests"]
        ),
        Decimal(0),
    )


def _tao_price(now) -> tuple[Decimal | None, datetime | None, Decimal | None]:
    """The latest TAO/USD, when it was seen, and its change from 24 hours before it."""
    latest = TaoPrice.objects.filter(at__lte=now).order_by("-at").first()
    if latest is None:
        return None, None, None
    before = (
        TaoPrice.objects.filter(at__lte=latest.at - timedelta(hours=24))
        .order_by("-at")
        .values_list("usd", flat=True)
        .first()
    )
    change = (latest.usd - before) * HUNDRED / before if before else None
    return latest.usd, latest.at, change
