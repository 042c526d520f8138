"""The overview page's numbers, read from the hourly rollups (or, for the benchmark, raw events).

One grouped query turns the chosen days into a "cube": one row per team day, provider, model
and task type, with every sum the page needs, histograms included. Every KPI and chart is then
derived from that cube in Python, so the page reads a fixed handful of queries whatever the
data size, and the figures from rollups and from raw events can be compared exactly.

Days and months are the team's (its time zone); a rollup hour belongs to the day its start
falls on. Money stays unrounded Decimal until display.
"""

import calendar
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import BigIntegerField, Count, F, Q, Sum
from django.db.models.functions import Cast, TruncDate

from billing.costing import cost_of
from billing.histogram import LATENCY_FIELDS, TTFT_FIELDS, percentile
from billing.ingest.events import TOKEN_FIELDS
from billing.models import (
    Budget,
    CostSource,
    ModelPrice,
    Status,
    TaoPrice,
    UsageDailyRollup,
    UsageEvent,
    UsageRollup,
)
from billing.rollups import _bucket_filter

HUNDRED = Decimal(100)
# Below this many scored calls a quality figure is shown but marked as too thin to act on.
MIN_QUALITY_SAMPLES = 30
# TAO price moves marked on the chart (the alert defaults): 10% within 1 h, 20% within 24 h.
SPIKE_WINDOWS = [(timedelta(hours=1), Decimal(10)), (timedelta(hours=24), Decimal(20))]
ROLLUPS, RAW = "rollups", "raw"
# Beyond two weeks the TAO chart draws one price an hour (spikes always kept).
HOURLY_TAO_AFTER = timedelta(days=14)


@dataclass(frozen=True)
class Filters:
    """What the page shows: team days first_day..last_day (inclusive), optionally narrowed."""

    first_day: date
    last_day: date
    provider: str = ""
    model: str = ""
    task_type: str = ""

    @property
    def narrowed(self) -> bool:
        return bool(self.provider or self.model or self.task_type)


@dataclass
class CubeRow:
    """Usage of one team day, provider, model and task type."""

    day: date
    provider: str
    model: str
    task_type: str
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


def load_cube(team, first_day: date, last_day: date, *, source: str = ROLLUPS) -> list[CubeRow]:
    """All the team's usage of those days, one row per day, provider, model and task type."""
    if source == ROLLUPS:
        rows = _rollup_cube(team, first_day, last_day)
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
    cube.sort(key=lambda r: (r.day, r.provider, r.model, r.task_type))
    return cube


def narrow(cube: list[CubeRow], filters: Filters) -> list[CubeRow]:
    """The rows of the filtered days, provider, model and task type."""
    return [
        row
        for row in cube
        if filters.first_day <= row.day <= filters.last_day
        and (not filters.provider or row.provider == filters.provider)
        and (not filters.model or row.model == filters.model)
        and (not filters.task_type or row.task_type == filters.task_type)
    ]


def options_of(cube: list[CubeRow]) -> dict[str, list[str]]:
    """The providers, models and task types present, for the filter menus."""
    return {
        "provider": sorted({row.provider for row in cube}),
        "model": sorted({row.model for row in cube}),
        "task_type": sorted({row.task_type for row in cube if row.task_type}),
    }


def _rollup_cube(team, first_day, last_day):
    counts = ["requests", "unpriced_requests", "quality_count", *TOKEN_FIELDS]
    amounts = ["cost_usd", "tao_amount", "quality_sum"]
    return (
        UsageDailyRollup.objects.filter(team=team, day__gte=first_day, day__lte=last_day)
        .values("day", "provider_name", "model_name", "task_type")
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
        .annotate(day=_raw_day(team))
        .values("day", "provider_name", "model_name", "task_type")
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


def _raw_day(team):
    # Rollups put a call in the day its hour starts on; for zones a whole number of hours
    # from UTC that is the day of the call itself.
    return TruncDate("occurred_at", tzinfo=team.zone)


# --- Latency and time to first token, from the histograms ------------------------------------


@dataclass(frozen=True)
class Histogram:
    latency: list[int]
    ttft: list[int]

    @property
    def timed(self) -> int:
        return sum(self.latency)

    @property
    def ttft_timed(self) -> int:
        return sum(self.ttft)

    def latency_ms(self, fraction: float) -> float | None:
        return percentile(self.latency, fraction)

    def ttft_ms(self, fraction: float) -> float | None:
        return percentile(self.ttft, fraction)


GROUP_COLUMNS = {
    "provider": ["provider_name"],
    "model": ["provider_name", "model_name"],
    "task_type": ["task_type"],
}


def load_histograms(
    team, filters: Filters, by: str, *, source: str = ROLLUPS
) -> dict[tuple[date, str], Histogram]:
    """Merged latency and TTFT histograms per day and provider, model or task type."""
    narrowing = {
        name: value
        for name, value in [
            ("provider_name", filters.provider),
            ("model_name", filters.model),
            ("task_type", filters.task_type),
        ]
        if value
    }
    columns = GROUP_COLUMNS[by]
    if source == ROLLUPS:
        rows = (
            UsageDailyRollup.objects.filter(
                team=team, day__gte=filters.first_day, day__lte=filters.last_day, **narrowing
            )
            .values("day", *columns)
            .annotate(**{f"s_{name}": whole(Sum(name)) for name in LATENCY_FIELDS + TTFT_FIELDS})
        )
    else:
        start = day_start(team, filters.first_day)
        end = day_start(team, filters.last_day + timedelta(1))
        histogram = {
            f"s_{name}": Count("id", filter=_bucket_filter("latency_ms", index))
            for index, name in enumerate(LATENCY_FIELDS)
        } | {
            f"s_{name}": Count("id", filter=_bucket_filter("ttft_ms", index))
            for index, name in enumerate(TTFT_FIELDS)
        }
        rows = (
            UsageEvent.objects.filter(
                team=team, occurred_at__gte=start, occurred_at__lt=end, **narrowing
            )
            .annotate(day=_raw_day(team))
            .values("day", *columns)
            .annotate(**histogram)
        )
    result = {}
    for row in rows.order_by():
        label = "/".join(row[name] for name in columns) or "(none)"
        result[(row["day"], label)] = Histogram(
            [int(row[f"s_{name}"] or 0) for name in LATENCY_FIELDS],
            [int(row[f"s_{name}"] or 0) for name in TTFT_FIELDS],
        )
    return dict(sorted(result.items()))


def merged(histograms) -> Histogram:
    latency, ttft = [0] * len(LATENCY_FIELDS), [0] * len(TTFT_FIELDS)
    for histogram in histograms:
        for index, count in enumerate(histogram.latency):
            latency[index] += count
        for index, count in enumerate(histogram.ttft):
            ttft[index] += count
    return Histogram(latency, ttft)


# --- The month panel: spend and TAO against the budget -------------------------------------


@dataclass(frozen=True)
class MonthPoint:
    day: date
    cost_usd: Decimal
    cumulative_usd: Decimal
    tao: Decimal
    cumulative_tao: Decimal
    tao_cost_usd: Decimal
    cumulative_tao_cost_usd: Decimal


@dataclass(frozen=True)
class MonthPanel:
    """One team month: spend so far day by day, its forecast, and the budget it is held to."""

    first_day: date
    last_day: date
    today: date | None  # the last day with a full count so far, None once the month is over
    points: list[MonthPoint]
    spend_usd: Decimal
    forecast_usd: Decimal
    budget_usd: Decimal | None
    tao_used: Decimal
    budget_tao: Decimal | None
    crossing_day: date | None
    tao_cost_usd: Decimal  # what the month's TAO cost in USD when it was used

    @property
    def used_pct(self) -> Decimal | None:
        return self.spend_usd * HUNDRED / self.budget_usd if self.budget_usd else None

    @property
    def tao_used_pct(self) -> Decimal | None:
        return self.tao_used * HUNDRED / self.budget_tao if self.budget_tao else None

    @property
    def daily_pace(self) -> Decimal:
        elapsed = (self.today or self.last_day).day
        return self.spend_usd / elapsed

    def forecast_points(self) -> list[tuple[date, Decimal]]:
        """The dashed line: from today's total at today's pace to the month's last day."""
        if self.today is None:
            return []
        pace = self.daily_pace
        return [
            (self.today + timedelta(n), self.spend_usd + pace * n)
            for n in range((self.last_day - self.today).days + 1)
        ]


def focus_month(filters: Filters) -> tuple[date, date]:
    """The month the month panel shows: the one the chosen range ends in."""
    first = filters.last_day.replace(day=1)
    return first, first.replace(day=calendar.monthrange(first.year, first.month)[1])


def month_filters(filters: Filters, today: date) -> Filters:
    first, last = focus_month(filters)
    return Filters(first, min(last, today), filters.provider, filters.model, filters.task_type)


def cube_covers(filters: Filters, wanted: Filters) -> bool:
    return filters.first_day <= wanted.first_day and wanted.last_day <= filters.last_day


def month_panel(
    team,
    cube: list[CubeRow],
    filters: Filters,
    budget: Budget | None,
    today: date,
    budget_tao: Decimal | None = None,
):
    """Spend and TAO per day of the focus month, cumulative, with forecast and budget.

    `cube` must cover the month's days up to today (see month_filters).
    """
    first, last = focus_month(filters)
    daily_cost: dict[date, Decimal] = defaultdict(Decimal)
    daily_tao: dict[date, Decimal] = defaultdict(Decimal)
    daily_tao_usd: dict[date, Decimal] = defaultdict(Decimal)
    for row in cube:
        if first <= row.day <= last:
            daily_cost[row.day] += row.cost_usd
            daily_tao[row.day] += row.tao_amount
            daily_tao_usd[row.day] += row.tao_cost_usd
    current = today if first <= today <= last else None
    shown_last = current if current else min(last, today)
    points, total, tao, tao_usd = [], Decimal(0), Decimal(0), Decimal(0)
    day = first
    while day <= shown_last:
        total += daily_cost[day]
        tao += daily_tao[day]
        tao_usd += daily_tao_usd[day]
        points.append(
            MonthPoint(
                day, daily_cost[day], total, daily_tao[day], tao, daily_tao_usd[day], tao_usd
            )
        )
        day += timedelta(1)
    budget_usd = budget.amount_usd if budget else None
    if budget_tao is None and budget is not None:
        budget_tao = budget.amount_tao
    panel = MonthPanel(
        first_day=first,
        last_day=last,
        today=current,
        points=points,
        spend_usd=total,
        forecast_usd=total,
        budget_usd=budget_usd,
        tao_used=tao,
        budget_tao=budget_tao,
        crossing_day=None,
        tao_cost_usd=tao_usd,
    )
    if current is None:
        crossing = next(
            (p.day for p in points if budget_usd and p.cumulative_usd > budget_usd), None
        )
        return replace(panel, crossing_day=crossing)
    forecast = panel.forecast_points()
    crossing = next(
        (p.day for p in points if budget_usd and p.cumulative_usd > budget_usd), None
    ) or next((day for day, usd in forecast if budget_usd and usd > budget_usd), None)
    return replace(panel, forecast_usd=forecast[-1][1], crossing_day=crossing)


def budget_for(team, month: date, filters: Filters) -> Budget | None:
    """The budget that applies to what is shown: that month's own row, else the recurring one.

    A provider or task type filter compares against that provider's or task type's budget;
    a model filter has none.
    """
    if filters.model:
        return None
    provider = Q(provider__slug=filters.provider) if filters.provider else Q(provider=None)
    candidates = (
        Budget.objects.filter(provider, team=team, task_type=filters.task_type)
        .filter(Q(month=month) | Q(month=None))
        .order_by(F("month").desc(nulls_last=True))
    )
    return candidates.first()


# --- KPIs over the chosen range -----------------------------------------------------------


@dataclass(frozen=True)
class TaoQuote:
    usd: Decimal
    at: datetime
    change_24h_pct: Decimal | None


@dataclass(frozen=True)
class Totals:
    requests: int
    errors: int
    cost_usd: Decimal
    tao_amount: Decimal
    quality_sum: Decimal
    quality_count: int

    @property
    def error_rate_pct(self) -> Decimal | None:
        return Decimal(self.errors) * HUNDRED / self.requests if self.requests else None

    @property
    def avg_quality(self) -> Decimal | None:
        return self.quality_sum / self.quality_count if self.quality_count else None

    @property
    def cost_per_success(self) -> Decimal | None:
        successes = self.requests - self.errors
        return self.cost_usd / successes if successes else None


def totals_of(rows) -> Totals:
    requests = errors = quality_count = 0
    cost = tao = quality = Decimal(0)
    for row in rows:
        requests += row.requests
        errors += row.errors
        cost += row.cost_usd
        tao += row.tao_amount
        quality += row.quality_sum
        quality_count += row.quality_count
    return Totals(requests, errors, cost, tao, quality, quality_count)


# --- Savings against the baseline model ---------------------------------------------------


@dataclass(frozen=True)
class SavingsPoint:
    day: date
    actual_usd: Decimal
    baseline_usd: Decimal
    cumulative_actual_usd: Decimal
    cumulative_baseline_usd: Decimal

    @property
    def cumulative_savings_usd(self) -> Decimal:
        return self.cumulative_baseline_usd - self.cumulative_actual_usd

    @property
    def cumulative_savings_pct(self) -> Decimal | None:
        if not self.cumulative_baseline_usd:
            return None
        return self.cumulative_savings_usd * HUNDRED / self.cumulative_baseline_usd


def baseline_price(team, today: date) -> ModelPrice | None:
    if team.baseline_model_id is None:
        return None
    return ModelPrice.objects.in_force_on(today).filter(model_id=team.baseline_model_id).first()


def savings_by_day(cube: list[CubeRow], price: ModelPrice | None) -> list[SavingsPoint]:
    """Actual cost vs the same tokens at the baseline model's price, day by day, cumulative.

    Rows with unpriced calls are left out of both sides: their actual cost is unknown.
    """
    if price is None:
        return []
    actual: dict[date, Decimal] = defaultdict(Decimal)
    tokens: dict[date, list[int]] = defaultdict(lambda: [0] * len(TOKEN_FIELDS))
    for row in cube:
        if row.unpriced_requests:
            continue
        actual[row.day] += row.cost_usd
        day_tokens = tokens[row.day]
        for index, name in enumerate(TOKEN_FIELDS):
            day_tokens[index] += getattr(row, name)
    # Cost is linear in tokens and exact at 12 decimals: one cost_of per day is the same sum.
    baseline = {
        day: cost_of(price=price, **dict(zip(TOKEN_FIELDS, counts, strict=True)))
        for day, counts in tokens.items()
    }
    points, spent, would = [], Decimal(0), Decimal(0)
    for day in sorted(actual):
        spent += actual[day]
        would += baseline[day]
        points.append(SavingsPoint(day, actual[day], baseline[day], spent, would))
    return points


# --- Per-day series by a dimension ---------------------------------------------------------


def label_of(row: CubeRow, dimension: str) -> str:
    if dimension == "model":
        return f"{row.provider}/{row.model}"
    if dimension == "task_type":
        return row.task_type or "(none)"
    return row.provider


def daily_groups(cube: list[CubeRow], dimension: str) -> dict[tuple[date, str], list[CubeRow]]:
    groups: dict[tuple[date, str], list[CubeRow]] = defaultdict(list)
    for row in cube:
        groups[(row.day, label_of(row, dimension))].append(row)
    return dict(sorted(groups.items()))


def window_groups(cube: list[CubeRow], key) -> dict[tuple, list[CubeRow]]:
    groups: dict[tuple, list[CubeRow]] = defaultdict(list)
    for row in cube:
        groups[key(row)].append(row)
    return dict(sorted(groups.items()))


# --- TAO price -----------------------------------------------------------------------------


def tao_quote(now: datetime) -> TaoQuote | None:
    """The latest TAO/USD, when it was seen, and its change from 24 hours before it."""
    latest = TaoPrice.objects.filter(at__lte=now).order_by("-at").first()
    if latest is None:
        return None
    before = (
        TaoPrice.objects.filter(at__lte=latest.at - timedelta(hours=24))
        .order_by("-at")
        .values_list("usd", flat=True)
        .first()
    )
    change = (latest.usd - before) * HUNDRED / before if before else None
    return TaoQuote(latest.usd, latest.at, change)


@dataclass(frozen=True)
class TaoPoint:
    at: datetime
    usd: Decimal
    spike_pct: Decimal | None = None  # set where a move of a spike's size began to show


def tao_series(start: datetime, end: datetime) -> list[TaoPoint]:
    """TAO/USD between start and end, a day's look-back earlier for spike detection, marked."""
    prices = list(
        TaoPrice.objects.filter(at__gte=start - SPIKE_WINDOWS[-1][0], at__lt=end)
        .order_by("at")
        .values_list("at", "usd")
    )
    points = [point for point in mark_spikes(prices) if point.at >= start]
    if end - start > HOURLY_TAO_AFTER:
        points = hourly(points)
    return points


def hourly(points: list[TaoPoint]) -> list[TaoPoint]:
    """The last price of each hour, and every spike marker, for charts of many days."""
    kept = []
    for index, point in enumerate(points):
        following = points[index + 1] if index + 1 < len(points) else None
        last_of_hour = following is None or following.at.replace(
            minute=0, second=0, microsecond=0
        ) != point.at.replace(minute=0, second=0, microsecond=0)
        if last_of_hour or point.spike_pct is not None:
            kept.append(point)
    return kept


def mark_spikes(prices: list[tuple[datetime, Decimal]]) -> list[TaoPoint]:
    """Points with the move since the start of each window; a spike is marked where it begins.

    A price counts as a spike when it is at least the window's percentage away from the
    price the window's length earlier (the last one seen at or before then); only the first
    point of a run of spiking points is marked, so one move shows one marker.
    """
    points, spiking = [], False
    cursors = [0] * len(SPIKE_WINDOWS)
    for at, usd in prices:
        move = None
        for index, (window, threshold) in enumerate(SPIKE_WINDOWS):
            while cursors[index] + 1 < len(prices) and prices[cursors[index] + 1][0] <= at - window:
                cursors[index] += 1
            then_at, then_usd = prices[cursors[index]]
            if then_at > at - window or not then_usd:
                continue
            change = (usd - then_usd) * HUNDRED / then_usd
            if abs(change) >= threshold and (move is None or abs(change) > abs(move)):
                move = change
        points.append(TaoPoint(at, usd, move if move is not None and not spiking else None))
        spiking = move is not None
    return points


# --- All teams -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TeamMonth:
    team: object
    spend_usd: Decimal
    budget_usd: Decimal | None
    savings_pct: Decimal | None

    @property
    def used_pct(self) -> Decimal | None:
        return self.spend_usd * HUNDRED / self.budget_usd if self.budget_usd else None


def all_teams_month(teams, now: datetime) -> list[TeamMonth]:
    """Month-to-date spend, budget use and savings per team, each in its own month and zone.

    Three queries whatever the number of teams: rollups by team and model, budgets, prices.
    """
    teams = list(teams)
    if not teams:
        return []
    windows = {}
    for team in teams:
        today = now.astimezone(team.zone).date()
        windows[team.id] = (today.replace(day=1), today)
    condition = Q()
    for team in teams:
        first, _ = windows[team.id]
        condition |= Q(team_id=team.id, day__gte=first)
    rows = (
        UsageDailyRollup.objects.filter(condition)
        .values("team_id", "model_name", "provider_name")
        .annotate(
            cost=Sum("cost_usd"),
            unpriced=Sum("unpriced_requests"),
            **{name: Sum(name) for name in TOKEN_FIELDS},
        )
        .order_by()
    )
    in_force = Budget.objects.whole_team_in_force(
        {team_id: first for team_id, (first, _) in windows.items()}
    )
    budgets = {team_id: budget.amount_usd for team_id, budget in in_force.items()}
    prices = {
        price.model_id: price
        for price in ModelPrice.objects.in_force_on(now.date()).filter(
            model_id__in=[t.baseline_model_id for t in teams if t.baseline_model_id]
        )
    }
    spend: dict[int, Decimal] = defaultdict(Decimal)
    priced: dict[int, Decimal] = defaultdict(Decimal)
    baseline: dict[int, Decimal] = defaultdict(Decimal)
    by_id = {team.id: team for team in teams}
    for row in rows:
        team_id = row["team_id"]
        spend[team_id] += row["cost"] or 0
        price = prices.get(by_id[team_id].baseline_model_id)
        if price is None or row["unpriced"]:
            continue
        priced[team_id] += row["cost"] or 0
        baseline[team_id] += cost_of(price=price, **{n: row[n] or 0 for n in TOKEN_FIELDS})
    result = []
    for team in teams:
        would = baseline[team.id]
        savings = (would - priced[team.id]) * HUNDRED / would if would else None
        result.append(TeamMonth(team, spend[team.id], budgets.get(team.id), savings))
    return result


def team_has_usage(team) -> bool:
    return UsageRollup.objects.filter(team=team).exists()


def range_of_days(team, *, days: int, now: datetime) -> Filters:
    """The last `days` team days, today included."""
    today = now.astimezone(team.zone).date()
    return Filters(today - timedelta(days=days - 1), today)


# --- Everything the page shows, in one bundle ----------------------------------------------


@dataclass(frozen=True)
class Overview:
    team: object
    filters: Filters
    now: datetime
    today: date
    cube: list[CubeRow]
    totals: Totals
    by: str
    histograms: dict[tuple[date, str], Histogram]
    month: MonthPanel
    savings: list[SavingsPoint]
    tao_prices: list[TaoPoint]
    tao_quote: TaoQuote | None

    @property
    def timings(self) -> Histogram:
        return merged(self.histograms.values())

    @property
    def latency_p95(self) -> float | None:
        return self.timings.latency_ms(0.95)

    @property
    def savings_usd(self) -> Decimal | None:
        return self.savings[-1].cumulative_savings_usd if self.savings else None

    @property
    def savings_pct(self) -> Decimal | None:
        return self.savings[-1].cumulative_savings_pct if self.savings else None

    @property
    def tao_stale(self) -> bool:
        """No TAO price within TAO_PRICE_MAX_AGE_MINUTES: new TAO amounts go unset meanwhile."""
        if self.tao_quote is None:
            return True
        max_age = timedelta(minutes=settings.TAO_PRICE_MAX_AGE_MINUTES)
        return self.now - self.tao_quote.at > max_age

    @property
    def tao_at_today_usd(self) -> Decimal | None:
        """The focus month's TAO at the latest price, against what it cost when used."""
        if self.tao_quote is None:
            return None
        return self.month.tao_used * self.tao_quote.usd


def build_overview(
    team,
    filters: Filters,
    *,
    now: datetime,
    by: str = "provider",
    source: str = ROLLUPS,
    full: list[CubeRow] | None = None,
) -> Overview:
    """Every figure of the overview page for the filtered days, as of now.

    `full` is the unfiltered cube of the filters' days when the caller already has it.
    """
    today = now.astimezone(team.zone).date()
    if full is None:
        full = load_cube(team, filters.first_day, filters.last_day, source=source)
    month_wanted = month_filters(filters, today)
    if cube_covers(filters, month_wanted):
        month_full = full
    else:
        month_full = load_cube(team, month_wanted.first_day, month_wanted.last_day, source=source)
    cube = narrow(full, filters)
    budget = budget_for(team, month_wanted.first_day, filters)
    budget_tao = budget.amount_tao if budget else None
    if budget_tao is None and filters.provider and not filters.model:
        # TAO is only spent at TAO-billed providers: the team's TAO budget holds for them.
        team_wide = budget_for(team, month_wanted.first_day, replace(filters, provider=""))
        budget_tao = team_wide.amount_tao if team_wide else None
    end = min(now, day_start(team, filters.last_day + timedelta(1)))
    return Overview(
        team=team,
        filters=filters,
        now=now,
        today=today,
        cube=cube,
        totals=totals_of(cube),
        by=by,
        histograms=load_histograms(team, filters, by, source=source),
        month=month_panel(
            team, narrow(month_full, month_wanted), filters, budget, today, budget_tao
        ),
        savings=savings_by_day(cube, baseline_price(team, today)),
        tao_prices=tao_series(day_start(team, filters.first_day), end),
        tao_quote=tao_quote(now),
    )
