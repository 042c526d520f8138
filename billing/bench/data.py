"""Benchmark data: months of believable usage for one team, written fast.

Events are generated in plain Python from a seeded random source and land through COPY on
PostgreSQL (bulk_create elsewhere, for tests). Their priced columns are computed in integer
units of 1e-12 USD and TAO, which is exact for catalog rates with six decimals: the stored
values are the ones ingest and reprice would compute for the same tokens (tests hold them to
that). Rollups are then rebuilt from the raw events.
"""

import math
import random
import time
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from itertools import accumulate, islice

from django.conf import settings
from django.db import connection, transaction

from billing.costing import TAO_QUANTUM, PriceBook, TaoBook
from billing.histogram import LATENCY_FIELDS, TTFT_FIELDS, UPPER_BOUNDS
from billing.ingest.store import COLUMNS, usage_forget, usage_keys_backfill
from billing.models import CostSource, Status, TaoPrice, UsageEvent, UsageRollup
from billing.partitions import month_of, months_between, usage_partitions_ensure
from billing.rollups import KEY, SUMS, daily_rollups_refresh, hour_of, rollups_rebuild
from routing.models import Currency, Model

BENCH_SOURCE = "bench"
CHUNK = 200_000
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
# Calls carry no routing version in the first week (the proxies' plugin came later), then a new
# version every week.
VERSION_EVERY = timedelta(days=7)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_US = timedelta(microseconds=1)
PICO = 10**12
# Plain strings: COPY adapts them faster than the enum members.
SUCCESS, ERROR = Status.SUCCESS.value, Status.ERROR.value
CATALOG, REPORTED, UNPRICED = (
    CostSource.CATALOG.value,
    CostSource.REPORTED.value,
    CostSource.UNPRICED.value,
)

# provider, model, share of requests (%): 60% to Chutes, the rest to Claude and GPT.
ROUTES = [
    ("chutes", "deepseek-ai/DeepSeek-V3", 28),
    ("chutes", "unsloth/Llama-3.3-70B-Instruct", 20),
    ("chutes", "deepseek-ai/DeepSeek-R1-Distill-Llama-70B", 12),
    ("anthropic", "claude-sonnet-4-5", 13),
    ("anthropic", "claude-opus-4-5", 4),
    ("openai", "gpt-5.2", 8),
    ("openai", "gpt-5-mini", 15),
]
# task type, share of requests (%), median input and output tokens
TASKS = [
    ("chat", 35, 2_500, 1_100),
    ("code", 20, 5_000, 2_200),
    ("summarize", 20, 7_000, 600),
    ("extract", 15, 3_500, 700),
    ("classify", 10, 1_200, 40),
]
# provider -> median ms to first token, ms per output token, error rate,
# share of calls with cached prompt tokens, share of calls whose cost the proxy reports
BEHAVIOUR = {
    "chutes": (900, 3.0, 0.025, 0.0, 0.0),
    "anthropic": (1_300, 4.5, 0.012, 0.45, 0.7),
    "openai": (800, 3.5, 0.015, 0.3, 0.7),
}
QUALITY = {
    "deepseek-ai/DeepSeek-V3": 820,
    "unsloth/Llama-3.3-70B-Instruct": 740,
    "deepseek-ai/DeepSeek-R1-Distill-Llama-70B": 770,
    "claude-sonnet-4-5": 900,
    "claude-opus-4-5": 930,
    "gpt-5.2": 890,
    "gpt-5-mini": 800,
}
ERRORS = ["RateLimitError (429)", "APIConnectionError", "Timeout (504)", "InternalServerError"]


@dataclass(frozen=True)
class FillResult:
    events: int
    rollups: int
    events_seconds: float
    rollups_seconds: float


@dataclass(frozen=True)
class Route:
    provider_name: str
    model_name: str
    provider_id: int
    model: Model
    tao: bool
    behaviour: tuple
    quality: int


def fill_usage(
    team,
    *,
    events: int,
    days: int,
    end: datetime,
    progress: Callable[[int, int], None] | None = None,
) -> FillResult:
    """Replace the team's usage with `events` calls over the `days` days before `end`.

    Also adds an hourly "bench" TAO price series over the range (existing rows are kept),
    then rebuilds the team's rollups. Deterministic for a team slug and arguments.
    """
    end = end.astimezone(UTC)
    start = end - timedelta(days=days)
    started = time.perf_counter()
    with transaction.atomic():
        UsageRollup.objects.filter(team=team).delete()
        usage_forget(team)
        bench_tao_prices(start, end)
        usage_partitions_ensure(months_between(month_of(start), month_of(end)))
    rows = usage_rows(team, events=events, start=start, end=end)
    written = 0
    for _ in range(0, events, CHUNK):
        with transaction.atomic():
            written += store_rows(islice(rows, CHUNK))
        if progress:
            progress(written, events)
    usage_keys_backfill(team)
    events_seconds = time.perf_counter() - started
    started = time.perf_counter()
    if connection.vendor == "postgresql":
        rollups = build_rollups(team, start=start, end=end)
        daily_rollups_refresh(team)
    else:
        rollups = rollups_rebuild(team=team)
    return FillResult(written, rollups, events_seconds, time.perf_counter() - started)


def bench_tao_prices(
    start: datetime, end: datetime, *, step: timedelta | None = None, source: str = BENCH_SOURCE
) -> int:
    """TAO/USD on every step (by default an hour, or the freshness limit if shorter) from
    before `start` to `end`, the same price for the same moment."""
    step = step or min(HOUR, timedelta(minutes=settings.TAO_PRICE_MAX_AGE_MINUTES))
    moment = hour_of(start) - HOUR
    rows = []
    while moment <= end:
        rows.append(TaoPrice(at=moment, usd=_tao_usd(moment), source=source))
        moment += step
    TaoPrice.objects.bulk_create(rows, batch_size=2_000, ignore_conflicts=True)
    return len(rows)


def _tao_usd(moment: datetime) -> Decimal:
    hours = (moment - EPOCH) / HOUR
    wave = 0.12 * math.sin(hours / 115) + 0.04 * math.sin(hours / 9.5) + 0.01 * math.sin(hours)
    return Decimal(f"{420 * (1 + wave):.2f}")


def usage_rows(team, *, events: int, start: datetime, end: datetime) -> Iterator[tuple]:
    """The events as tuples in ingest's COLUMNS order, oldest first, ids bench-000000000 on.

    Reads the catalog and the TAO prices before it returns, so that the rows can be consumed
    while a COPY holds the connection.
    """
    routes, book, tao = _routes(), PriceBook(), _TaoSeries(start, end)
    return _generate(team, _slots(team, events, start, end), routes, book, tao, start)


def _generate(team, slots, routes: list[Route], book: PriceBook, tao: "_TaoSeries", start):
    rng = random.Random(f"bench-{team.slug}")  # noqa: S311 - made-up data, not secrets
    # Every (task, route) pair, picked by one random number against cumulative shares.
    lanes = [(task, index) for task in TASKS for index in range(len(routes))]
    weights = [task[1] * ROUTES[index][2] for task, index in lanes]
    cumulative = [share / sum(weights) for share in accumulate(weights)]
    cumulative[-1] = 1.0  # a random() just under 1 must still pick the last lane
    rates: dict[int, tuple] = {}
    number = 0
    for slot, low_us, high_us, count in slots:
        prices = [_price_of(book, route.model, slot, rates) for route in routes]
        prefix = f"{slot:%Y-%m-%d %H}:"
        slot_us = (slot - EPOCH) // ONE_US
        version = (slot - hour_of(start)) // VERSION_EVERY or None
        for offset in sorted(rng.randrange(low_us, high_us) for _ in range(count)):
            minute, micro = divmod(offset, 60_000_000)
            second, micro = divmod(micro, 1_000_000)
            # As Django writes datetimes: microseconds only when there are some.
            stamp = f"{prefix}{minute:02d}:{second:02d}"
            stamp = f"{stamp}.{micro:06d}+00:00" if micro else f"{stamp}+00:00"
            task, index = lanes[bisect_right(cumulative, rng.random())]
            event_id = f"bench-{number:09d}"
            at_us = slot_us + offset
            route, price = routes[index], prices[index]
            yield _event_row(rng, team.pk, event_id, stamp, at_us, task, route, price, tao, version)
            number += 1


def _event_row(
    rng, team_id, event_id, stamp, at_us, task, route, price, tao_prices, version
) -> tuple:
    first_ms, ms_per_token, error_rate, cache_share, report_share = route.behaviour
    input_tokens = max(1, int(task[2] * math.exp(0.8 * rng.gauss(0, 1))))
    output_tokens = max(1, int(task[3] * math.exp(0.7 * rng.gauss(0, 1))))
    cached = write = 0
    ttft = first_ms * math.exp(0.5 * rng.gauss(0, 1))
    if route.tao and rng.random() < 0.04:
        ttft += rng.uniform(8_000, 25_000)  # a cold start
    latency = int(ttft + output_tokens * ms_per_token * rng.uniform(0.7, 1.3))
    ttft_ms: int | None = int(ttft)
    quality = error_type = None
    status = SUCCESS
    if rng.random() < error_rate:
        status, error_type = ERROR, rng.choice(ERRORS)
        output_tokens, ttft_ms, latency = 0, None, rng.randrange(200, 30_000)
    else:
        if rng.random() < cache_share:
            cached = int(input_tokens * rng.uniform(0.3, 0.8))
            if route.provider_name == "anthropic":
                write = (input_tokens - cached) // 3
        if rng.random() < 0.3:
            quality = min(1000, max(0, route.quality + int(rng.gauss(0, 80))))
    reported = catalog = cost = price_id = tao = tao_usd = None
    source, disagreement, tao_missing = UNPRICED, False, False
    if price is not None:
        price_id, input_rate, cached_rate, write_rate, output_rate = price
        units = (
            (input_tokens - cached - write) * input_rate
            + cached * cached_rate
            + write * write_rate
            + output_tokens * output_rate
        )
        catalog = cost = _pico(units)
        source = CATALOG
        if rng.random() < report_share:
            # What the proxy reports: the list price to 1e-9, now and then a cost that is off.
            told = units * rng.randrange(110, 141) // 100 if rng.random() < 0.02 else units
            told = (told + 500) // 1000 * 1000
            reported = cost = _pico(told)
            source = REPORTED
            disagreement = 20 * abs(told - units) > units if units else told > 0
            units = told
    if route.tao:
        tao_price = tao_prices.at(at_us)
        if cost is not None and tao_price is not None:
            usd, usd_units, tao_usd = tao_price
            tao = tao_amount(units, usd, usd_units)
        else:
            tao_missing = True
    return (
        team_id,
        event_id,
        stamp,
        stamp,
        route.provider_name,
        route.model_name,
        route.provider_id,
        route.model.pk,
        task[0],
        "",  # end_user
        "",  # api_key_alias
        version,
        status,
        error_type or "",
        input_tokens,
        output_tokens,
        cached,
        write,
        latency,
        ttft_ms,
        reported,
        catalog,
        cost,
        source,
        price_id,
        None,  # team_price_id: bench teams pay list prices
        disagreement,
        tao,
        tao_usd,
        tao_missing,
        None if quality is None else f"{quality // 1000}.{quality % 1000:03d}",
        "",
        "",
        "{}",
    )


def _pico(units: int) -> str:
    """1e-12 units (USD or TAO) as a decimal string with 12 places, as cost_of quantizes."""
    whole, fraction = divmod(units, PICO)
    return f"{whole}.{fraction:012d}"


class _TaoSeries:
    """TaoBook's prices with times in epoch microseconds, for a bisect per event."""

    def __init__(self, start: datetime, end: datetime):
        book = TaoBook(start, end)
        self.max_age_us = book.max_age // ONE_US
        self.times = [(moment - EPOCH) // ONE_US for moment in book.times]
        self.prices = [(usd, int(usd.scaleb(8)), str(usd)) for usd in book.prices]

    def at(self, at_us: int) -> tuple | None:
        index = bisect_right(self.times, at_us) - 1
        if index < 0 or at_us - self.times[index] > self.max_age_us:
            return None
        return self.prices[index]


def tao_amount(cost_units: int, usd: Decimal, usd_units: int) -> str:
    """TAO for a cost of cost_units * 1e-12 USD at usd (= usd_units * 1e-8) per TAO.

    The same digits as costing's (cost / usd).quantize(TAO_QUANTUM, ROUND_HALF_EVEN).
    """
    quotient, remainder = divmod(cost_units * 10**8, usd_units)
    # Decimal first rounds to 28 digits: only right next to a half can that change the result.
    if abs(2 * remainder - usd_units) * 10**13 <= usd_units or quotient >= 10**15:
        exact = Decimal(_pico(cost_units)) / usd
        return str(exact.quantize(TAO_QUANTUM, rounding=ROUND_HALF_EVEN))
    if 2 * remainder > usd_units or (2 * remainder == usd_units and quotient % 2):
        quotient += 1
    return _pico(quotient)


def _routes() -> list[Route]:
    models = {
        (model.provider.slug, model.name): model
        for model in Model.objects.select_related("provider").filter(provider__slug__in=BEHAVIOUR)
    }
    routes = []
    for provider_name, model_name, _ in ROUTES:
        model = models.get((provider_name, model_name))
        if model is None:
            raise ValueError(f"{provider_name}/{model_name} is not in the catalog: load it first")
        routes.append(
            Route(
                provider_name=provider_name,
                model_name=model_name,
                provider_id=model.provider_id,
                model=model,
                tao=model.provider.billing_currency == Currency.TAO,
                behaviour=BEHAVIOUR[provider_name],
                quality=QUALITY[model_name],
            )
        )
    return routes


def _price_of(book: PriceBook, model: Model, slot: datetime, rates: dict) -> tuple | None:
    """The price in force in the slot's UTC day, as integer USD per 1e12 tokens."""
    price = book.price_on(model, slot)
    if price is None:
        return None
    if price.pk not in rates:
        input_rate = price.input_per_mtok
        cached_rate = price.cached_input_per_mtok
        write_rate = price.cache_write_per_mtok
        rates[price.pk] = (
            price.pk,
            _micro(input_rate),
            _micro(input_rate if cached_rate is None else cached_rate),
            _micro(input_rate if write_rate is None else write_rate),
            _micro(price.output_per_mtok),
        )
    return rates[price.pk]


def _micro(rate: Decimal) -> int:
    units = rate.scaleb(6)
    if units != units.to_integral_value():
        raise ValueError(f"rate {rate} has more than six decimals")
    return int(units)


def _slots(team, events: int, start: datetime, end: datetime):
    """(UTC hour, first and past-last microsecond in it, events) for the hours of the range.

    Busy in the team's working hours, quieter on weekends, growing slowly, a little noise per
    day; the counts add up to `events` exactly and every moment is strictly inside the range.
    """
    slots, weights = [], []
    hour = hour_of(start)
    noise: dict = {}
    while hour < end:
        low, high = max(hour, start), min(hour + HOUR, end)
        low_us = (low - hour) // ONE_US + (1 if low == start else 0)
        high_us = (high - hour) // ONE_US
        local = hour.astimezone(team.zone)
        day = local.date()
        if day not in noise:
            day_rng = random.Random(f"bench-{team.slug}-{day}")  # noqa: S311
            noise[day] = day_rng.uniform(0.85, 1.15)
        busy = 0.12 + math.exp(-(((local.hour + 0.5 - 14) / 3.8) ** 2) / 2)
        weekly = 0.35 if day.weekday() >= 5 else 1.0
        growth = 1 + 0.004 * (hour - start) / DAY
        width = max(0, high_us - low_us) / (HOUR // ONE_US)
        slots.append((hour, low_us, high_us))
        weights.append(busy * weekly * growth * noise[day] * width)
        hour += HOUR
    for (hour, low_us, high_us), count in zip(slots, _apportion(events, weights), strict=True):
        if count:
            yield hour, low_us, high_us, count


def _apportion(total: int, weights: list[float]) -> list[int]:
    """Whole counts proportional to the weights that add up to total (largest remainders)."""
    scale = sum(weights)
    if not scale:
        raise ValueError("the range has no room for events")
    shares = [total * weight / scale for weight in weights]
    counts = [int(share) for share in shares]
    by_remainder = sorted(
        range(len(shares)), key=lambda i: counts[i] - shares[i] if weights[i] else 1
    )
    for index in by_remainder[: total - sum(counts)]:
        counts[index] += 1
    return counts


def store_rows(rows: Iterable[tuple]) -> int:
    """Insert event rows (in COLUMNS order); returns how many. COPY on PostgreSQL."""
    if connection.vendor != "postgresql":
        return _create_rows(rows)
    table = UsageEvent._meta.db_table
    statement = f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN"
    count = 0
    with connection.cursor() as cursor:
        unchecked = _is_superuser(cursor)
        if unchecked:
            # Checking four foreign keys per row costs more than the rest of the insert,
            # and every id here was just read from the catalog.
            cursor.execute("SET LOCAL session_replication_role = replica")
        # Rows are generated while COPY sends the previous ones: both cores stay busy.
        with cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
                count += 1
        if unchecked:
            cursor.execute("SET LOCAL session_replication_role = DEFAULT")
    return count


def _is_superuser(cursor) -> bool:
    cursor.execute("SELECT current_setting('is_superuser') = 'on'")
    return cursor.fetchone()[0]


def _create_rows(rows: Iterable[tuple]) -> int:
    """Anywhere but PostgreSQL (tests): through the ORM, for correctness not speed."""
    events = []
    for row in rows:
        values = dict(zip(COLUMNS, row, strict=True))
        values["metadata"] = {}
        events.append(UsageEvent(**values))
    UsageEvent.objects.bulk_create(events, batch_size=500)
    return len(events)


def build_rollups(team, *, start: datetime, end: datetime) -> int:
    """PostgreSQL: the rows rollups_rebuild would write, by one INSERT ... SELECT per UTC day.

    Histogram buckets come from width_bucket over the floors of UPPER_BOUNDS: for whole
    milliseconds, "above a bound" and "above its floor" are the same test.
    """
    table = UsageRollup._meta.db_table
    columns = ", ".join(KEY + SUMS)
    select = ", ".join(ROLLUP_KEY_SQL + [f"COALESCE({ROLLUP_SUM_SQL[name]}, 0)" for name in SUMS])
    bounds = [math.floor(bound) for bound in UPPER_BOUNDS]
    statement = (
        f"INSERT INTO {table} ({columns}) SELECT {select} FROM ("  # noqa: S608
        f"SELECT *, width_bucket(latency_ms - 1, %(bounds)s) AS latency_bucket, "
        f"width_bucket(ttft_ms - 1, %(bounds)s) AS ttft_bucket "
        f"FROM {UsageEvent._meta.db_table} WHERE team_id = %(team)s "
        f"AND occurred_at >= %(start)s AND occurred_at < %(end)s) AS event "
        f"GROUP BY {', '.join(str(n) for n in range(1, len(KEY) + 1))}"
    )
    day = hour_of(start).replace(hour=0)
    written = 0
    with transaction.atomic(), connection.cursor() as cursor:
        UsageRollup.objects.filter(team=team).delete()
        while day <= end:
            params = {"bounds": bounds, "team": team.pk, "start": day, "end": day + DAY}
            cursor.execute(statement, params)
            written += cursor.rowcount
            day += DAY
        cursor.execute(f"ANALYZE {UsageEvent._meta.db_table}")
        cursor.execute(f"ANALYZE {table}")
    return written


ROLLUP_KEY_SQL = [
    "team_id",
    "date_trunc('hour', occurred_at, 'UTC')",
    "provider_name",
    "model_name",
    "task_type",
    "COALESCE(route_version, 0)",
    "status",
    "end_user",
    "api_key_alias",
]
_UNPRICED = f"cost_source = '{UNPRICED}'"
# Each rollup column as raw_aggregates computes it (a new column without one here fails loudly).
ROLLUP_SUM_SQL = {
    "requests": "count(*)",
    "input_tokens": "sum(input_tokens)",
    "output_tokens": "sum(output_tokens)",
    "cached_input_tokens": "sum(cached_input_tokens)",
    "cache_write_tokens": "sum(cache_write_tokens)",
    "cost_usd": "sum(cost_usd)",
    "reported_cost_usd": "sum(reported_cost_usd)",
    "catalog_cost_usd": "sum(catalog_cost_usd)",
    "unpriced_requests": f"count(*) FILTER (WHERE {_UNPRICED})",
    "unpriced_tokens": f"sum(input_tokens + output_tokens) FILTER (WHERE {_UNPRICED})",
    "disagreement_requests": "count(*) FILTER (WHERE cost_disagreement)",
    "tao_amount": "sum(tao_amount)",
    "tao_missing_requests": "count(*) FILTER (WHERE tao_missing)",
    "latency_sum_ms": "sum(latency_ms)",
    "latency_count": "count(latency_ms)",
    "quality_sum": "sum(quality_score)",
    "quality_sumsq": "sum(quality_score * quality_score)",
    "quality_count": "count(quality_score)",
    **{
        name: f"count(*) FILTER (WHERE latency_bucket = {i})"
        for i, name in enumerate(LATENCY_FIELDS)
    },
    **{name: f"count(*) FILTER (WHERE ttft_bucket = {i})" for i, name in enumerate(TTFT_FIELDS)},
}
