"""Pricing events: the price in force at the event's time, and TAO at the time.

The price is the event's team's own price for the model when it has one in force (a
negotiated price), else the catalog's list price.
"""

import re
import time
from bisect import bisect_right
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from functools import lru_cache

from django.conf import settings
from django.db import connection

from billing.models import CostSource, ModelPrice, TaoPrice, TeamModelPrice
from routing.models import Currency, Model, Provider

MILLION = Decimal(1_000_000)
USD_QUANTUM = Decimal("1e-12")
TAO_QUANTUM = Decimal("1e-12")
DISAGREEMENT = Decimal("0.05")
DATED_SUFFIX = re.compile(r"(-\d{8}|-\d{4}-\d{2}-\d{2}|@\d{8})$")


def cost_of(
    *, input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, price
) -> Decimal:
    """USD for the tokens at the price; cached and cache-write tokens at their own rates.

    input_tokens counts every prompt token, so the uncached part is what remains of it.
    Rates have six decimals per million tokens, so the result is exact at 12 decimals: it is
    summed in integers of 10^-12 USD (a rate of more decimals takes the Decimal way).
    """
    input_rate, output_rate = price.input_per_mtok, price.output_per_mtok
    cached_rate = price.cached_input_per_mtok
    write_rate = price.cache_write_per_mtok
    if cached_rate is None:
        cached_rate = input_rate
    if write_rate is None:
        write_rate = input_rate
    uncached = input_tokens - cached_input_tokens - cache_write_tokens
    rates = [_micro(rate) for rate in (input_rate, cached_rate, write_rate, output_rate)]
    if None not in rates:
        total = (
            uncached * rates[0]
            + cached_input_tokens * rates[1]
            + cache_write_tokens * rates[2]
            + output_tokens * rates[3]
        )
        return Decimal(f"{total}e-12")  # exact: a Decimal from text is never rounded
    # Enough digits that a trillion tokens at any rate is still exact.
    with localcontext(prec=48):
        total = (
            uncached * input_rate
            + cached_input_tokens * cached_rate
            + cache_write_tokens * write_rate
            + output_tokens * output_rate
        )
        return (total / MILLION).quantize(USD_QUANTUM)


@lru_cache(maxsize=4096)
def _micro(rate: Decimal) -> int | None:
    """A rate per million tokens in millionths of a dollar, if it has six decimals or fewer."""
    micro = rate.scaleb(6)
    return int(micro) if micro == micro.to_integral_value() else None


def disagrees(reported: Decimal, catalog: Decimal) -> bool:
    """Whether the proxy's cost is more than 5% away from the catalog's."""
    if catalog == 0:
        return reported > 0
    return abs(reported - catalog) > DISAGREEMENT * catalog


@dataclass(slots=True)
class Resolved:
    provider: Provider | None
    model: Model | None
    provider_name: str
    model_name: str

    @property
    def in_tao(self) -> bool:
        """Whether the provider bills in TAO (Chutes): its calls get a TAO amount."""
        return self.provider is not None and self.provider.billing_currency == Currency.TAO


class PriceBook:
    """The catalog in memory: provider and model lookup, list prices and team prices by date.

    `PriceBook.current()` reuses one for CATALOG_CACHE_SECONDS, so each ingest batch does not
    reload the catalog; a price added meanwhile applies from the next reload (and `reprice`
    fixes anything priced before it).
    """

    _cached: tuple[float, "PriceBook"] | None = None

    @classmethod
    def current(cls) -> "PriceBook":
        now = time.monotonic()
        if cls._cached is None or now - cls._cached[0] > settings.CATALOG_CACHE_SECONDS:
            cls._cached = (now, cls())
        return cls._cached[1]

    @classmethod
    def forget(cls) -> None:
        cls._cached = None

    def __init__(self):
        self.providers = {provider.slug: provider for provider in Provider.objects.all()}
        models = list(Model.objects.all())
        self.models = {(model.provider_id, model.name.lower()): model for model in models}
        self.models_by_name: dict[str, list[Model]] = {}
        for model in models:
            self.models_by_name.setdefault(model.name.lower(), []).append(model)
        self.prices: dict[int, tuple[list, list[ModelPrice]]] = {}
        for price in ModelPrice.objects.order_by("model_id", "effective_from"):
            days, rows = self.prices.setdefault(price.model_id, ([], []))
            days.append(price.effective_from)
            rows.append(price)
        self.team_prices: dict[tuple[int, int], tuple[list, list[TeamModelPrice]]] = {}
        # Same-day rows in creation order, so the newest (a correction) is the one found.
        for price in TeamModelPrice.objects.order_by("team_id", "model_id", "effective_from", "id"):
            days, rows = self.team_prices.setdefault((price.team_id, price.model_id), ([], []))
            days.append(price.effective_from)
            rows.append(price)
        self._resolved: dict[tuple[str, str], Resolved] = {}

    def resolve(self, provider_name: str, model_name: str) -> Resolved:
        key = (provider_name, model_name)
        if key not in self._resolved:
            self._resolved[key] = self._resolve(provider_name, model_name)
        return self._resolved[key]

    def _resolve(self, provider_name: str, model_name: str) -> Resolved:
        provider = self.providers.get(provider_name)
        for candidate in _spellings(model_name, provider_name):
            if provider is not None:
                model = self.models.get((provider.pk, candidate.lower()))
            else:
                matches = self.models_by_name.get(candidate.lower(), [])
                model = matches[0] if len(matches) == 1 else None
            if model is not None:
                provider = provider or self.providers_by_id(model.provider_id)
                return Resolved(provider, model, provider.slug, model.name)
        return Resolved(provider, None, provider.slug if provider else provider_name, model_name)

    def providers_by_id(self, provider_id: int) -> Provider:
        return next(p for p in self.providers.values() if p.pk == provider_id)

    def price_on(
        self, model: Model | None, moment: datetime, *, team_id: int | None = None
    ) -> ModelPrice | TeamModelPrice | None:
        """The team's own price in force at the moment if it has one, else the list price."""
        if model is None:
            return None
        if team_id is not None:
            team_price = _in_force(self.team_prices.get((team_id, model.id)), moment)
            if team_price is not None:
                return team_price
        return _in_force(self.prices.get(model.id), moment)


def _in_force(history: tuple[list, list] | None, moment: datetime):
    if history is None:
        return None
    days, rows = history
    index = bisect_right(days, moment.date()) - 1
    return rows[index] if index >= 0 else None


def _spellings(model_name: str, provider_name: str):
    """The model as given, without a provider prefix, and without a date suffix."""
    yield model_name
    bare = model_name
    if provider_name and model_name.lower().startswith(provider_name + "/"):
        bare = model_name[len(provider_name) + 1 :]
        yield bare
    undated = DATED_SUFFIX.sub("", bare)
    if undated != bare:
        yield undated


class TaoBook:
    """TAO/USD prices around a batch's events: the latest at or before a moment, if fresh.

    Of several quotes at the same moment, the last recorded is used."""

    def __init__(self, start: datetime, end: datetime):
        self.max_age = timedelta(minutes=settings.TAO_PRICE_MAX_AGE_MINUTES)
        rows = list(
            TaoPrice.objects.filter(at__gte=start - self.max_age, at__lte=end)
            .order_by("at", "id")
            .values_list("at", "usd")
        )
        self.times = [at for at, _ in rows]
        self.prices = [usd for _, usd in rows]

    @staticmethod
    def around(moments: list[datetime]) -> "TaoBook":
        """The book for these moments. Over a long span (a backfill: a quote every few minutes
        for days) PostgreSQL looks up each moment's quote instead of sending them all."""
        if moments and (
            max(moments) - min(moments) <= LOOKUP_SPAN or connection.vendor != "postgresql"
        ):
            return TaoBook(min(moments), max(moments))
        return TaoQuotesAt(moments)

    def usd_at(self, moment: datetime) -> Decimal | None:
        index = bisect_right(self.times, moment) - 1
        if index < 0 or moment - self.times[index] > self.max_age:
            return None
        return self.prices[index]


class TaoQuotesAt(TaoBook):
    """TaoBook's prices for the given moments only, each looked up in PostgreSQL."""

    def __init__(self, moments: list[datetime]):
        max_age = timedelta(minutes=settings.TAO_PRICE_MAX_AGE_MINUTES)
        self.quotes = _tao_quotes_at(sorted(set(moments)), max_age) if moments else {}

    def usd_at(self, moment: datetime) -> Decimal | None:
        return self.quotes[moment]


# Past this span TaoBook.around looks up each moment's quote (288 five-minute quotes a day).
LOOKUP_SPAN = timedelta(hours=6)


def _tao_quotes_at(moments: list[datetime], max_age: timedelta) -> dict[datetime, Decimal | None]:
    """PostgreSQL: each moment's latest quote at or before it, if no older than max_age.

    The moments go as one array literal and the prices come back as one array of text, in the
    moments' order: adapting hundreds of datetimes and parsing as many rows back cost more
    than the index probes."""
    table = TaoPrice._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT array_agg(quote.usd::text ORDER BY number) "  # noqa: S608
            "FROM unnest(%s::text::timestamptz[]) WITH ORDINALITY AS given(moment, number) "
            f"LEFT JOIN LATERAL (SELECT usd FROM {table} WHERE at <= moment "
            "  AND at >= moment - %s ORDER BY at DESC, id DESC LIMIT 1) AS quote ON true",
            ["{" + ",".join(moment.isoformat() for moment in moments) + "}", max_age],
        )
        (prices,) = cursor.fetchone()
    return {
        moment: None if usd is None else Decimal(usd)
        for moment, usd in zip(moments, prices, strict=True)
    }


@dataclass(slots=True)
class Pricing:
    price: ModelPrice | TeamModelPrice | None
    catalog_cost_usd: Decimal | None
    cost_usd: Decimal | None
    cost_source: str
    cost_disagreement: bool
    tao_amount: Decimal | None
    tao_price_usd: Decimal | None
    tao_missing: bool


def price_event(
    event, resolved: Resolved, book: PriceBook, tao: TaoBook, *, team_id: int
) -> Pricing:
    price = book.price_on(resolved.model, event.occurred_at, team_id=team_id)
    catalog = (
        cost_of(
            input_tokens=event.input_tokens,
            output_tokens=event.output_tokens,
            cached_input_tokens=event.cached_input_tokens,
            cache_write_tokens=event.cache_write_tokens,
            price=price,
        )
        if price is not None
        else None
    )
    reported = event.reported_cost_usd
    if reported is not None:
        cost, source = reported, CostSource.REPORTED
    elif catalog is not None:
        cost, source = catalog, CostSource.TEAM if price.is_team_price else CostSource.CATALOG
    else:
        cost, source = None, CostSource.UNPRICED
    tao_amount = tao_price = None
    tao_missing = False
    if resolved.in_tao:
        tao_price = tao.usd_at(event.occurred_at)
        if cost is not None and tao_price is not None:
            tao_amount = (cost / tao_price).quantize(TAO_QUANTUM, rounding=ROUND_HALF_EVEN)
        else:
            tao_missing = True
    return Pricing(
        price=price,
        catalog_cost_usd=catalog,
        cost_usd=cost,
        cost_source=source,
        cost_disagreement=reported is not None
        and catalog is not None
        and disagrees(reported, catalog),
        tao_amount=tao_amount,
        tao_price_usd=tao_price,
        tao_missing=tao_missing,
    )


# The UsageEvent columns that resolving and pricing a call decide (attribute names).
PRICED_COLUMNS = (
    "provider_name",
    "model_name",
    "provider_id",
    "model_id",
    "price_id",
    "team_price_id",
    "catalog_cost_usd",
    "cost_usd",
    "cost_source",
    "cost_disagreement",
    "tao_amount",
    "tao_price_usd",
    "tao_missing",
)


def priced_columns(resolved: Resolved, pricing: Pricing) -> dict:
    """Those columns' values for one call, as ingest stores them and reprice updates them."""
    price = pricing.price
    team_price = price is not None and price.is_team_price
    # Plain attributes, not .pk: this runs for every event of every batch.
    return {
        "provider_name": resolved.provider_name,
        "model_name": resolved.model_name,
        "provider_id": resolved.provider.id if resolved.provider else None,
        "model_id": resolved.model.id if resolved.model else None,
        "price_id": price.id if price is not None and not team_price else None,
        "team_price_id": price.id if team_price else None,
        "catalog_cost_usd": pricing.catalog_cost_usd,
        "cost_usd": pricing.cost_usd,
        "cost_source": pricing.cost_source,
        "cost_disagreement": pricing.cost_disagreement,
        "tao_amount": pricing.tao_amount,
        "tao_price_usd": pricing.tao_price_usd,
        "tao_missing": pricing.tao_missing,
    }
