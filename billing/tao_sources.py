"""The public TAO/USD price sources that billing.tao_feed polls: each one's address, the header
its key goes in (for the keyed ones), and a reader of its own answer shape.

A source's answer is a Quote or a FeedError that says why not, in words short enough for the
Scheduled jobs page and an alert. Neither ever holds a key: keys travel in headers only.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import httpx
from django.conf import settings

from billing.ingest.files import NUMBER
from billing.models import TAO_PRICE_DIGITS

USD_QUANTUM = Decimal(1).scaleb(-TAO_PRICE_DIGITS["decimal_places"])
USD_LIMIT = Decimal(10) ** (TAO_PRICE_DIGITS["max_digits"] - TAO_PRICE_DIGITS["decimal_places"])
# Epoch values from here on are milliseconds: as seconds they would be after the year 5000.
EPOCH_MS_FROM = 10**11
ERROR_TEXT_LENGTH = 120


EPOCH = datetime.fromtimestamp(0, tz=UTC)


class FeedError(Exception):
    """No usable TAO price: the source is unreachable or its answer is not a price."""


@dataclass(frozen=True)
class Quote:
    usd: Decimal
    at: datetime | None  # when the source saw the price, if it says


@dataclass(frozen=True)
class Source:
    name: str
    url_setting: str
    parse: Callable[[object], Quote]  # the decoded JSON answer -> its quote
    key_setting: str = ""
    key_header: str = ""

    @property
    def url(self) -> str:
        return getattr(settings, self.url_setting)

    @property
    def key(self) -> str:
        return getattr(settings, self.key_setting, "") if self.key_setting else ""

    def off_because(self) -> str:
        """Why the source is not asked, or "" when it is."""
        if self.key_setting and not self.key:
            return f"{self.key_setting} is not set"
        if self.name not in settings.TAO_PRICE_SOURCES:
            return "not in TAO_PRICE_SOURCES"
        return ""


# --- Numbers and times in answers ---------------------------------------------------------


def usd_of(value, name: str) -> Decimal:
    """A positive price at the stored precision; numbers as JSON numbers or plain strings."""
    if isinstance(value, str) and NUMBER.fullmatch(value.strip()):
        value = Decimal(value.strip())
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise FeedError(f"{name} is not a number: {short(value)}")
    usd = Decimal(value)
    if not usd.is_finite():
        raise FeedError(f"{name} is not a finite number: {usd}")
    if usd <= 0:
        raise FeedError(f"{name} is not positive: {usd}")
    if usd >= USD_LIMIT:
        raise FeedError(f"{name} is too large to be a TAO price: {usd}")
    if usd.quantize(USD_QUANTUM) == 0:
        raise FeedError(f"{name} is too small to be a TAO price: {usd}")
    return usd.quantize(USD_QUANTUM)


def epoch_of(value, name: str = "last_updated_at") -> datetime | None:
    """Epoch seconds, or milliseconds when that large, as a UTC time; None stays None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise FeedError(f"{name} is not a number: {short(value)}")
    seconds = Decimal(value)
    if not seconds.is_finite() or seconds <= 0:
        raise FeedError(f"{name} is not a valid time: {seconds}")
    if seconds >= EPOCH_MS_FROM:
        seconds /= 1000
    try:
        return datetime.fromtimestamp(float(seconds), tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise FeedError(f"{name} is not a valid time: {value}") from None


def iso_time_of(value, name: str = "last_updated") -> datetime | None:
    """An ISO 8601 time with an offset (2026-12-05T10:00:00.000Z) as UTC; None stays None."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise FeedError(f"{name} is not an ISO time with an offset: {short(value)}")
    return moment.astimezone(UTC)


def short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def _object(data, what: str = "the answer") -> dict:
    if not isinstance(data, dict):
        raise FeedError(f"{what} is not a JSON object")
    return data


# --- Each source's answer -----------------------------------------------------------------


def parse_coingecko(data) -> Quote:
    """CoinGecko's simple price ({"bittensor": {"usd": n, "last_updated_at": s}}), its market
    chart ({"prices": [[ms, n], ...]}, the latest point), or a plain {"usd": n} / {"price": n}
    with an optional last_updated_at, from a provider standing in at TAO_PRICE_URL."""
    if isinstance(data, dict) and "prices" in data:
        return _latest_point(data["prices"])
    if isinstance(data, dict) and len(data) == 1:
        (inner,) = data.values()
        if isinstance(inner, dict):
            data = inner
    data = _object(data)
    for name in ("usd", "price"):
        if name in data:
            return Quote(usd_of(data[name], name), epoch_of(data.get("last_updated_at")))
    raise FeedError("the answer has no price ('usd' or 'price')")


def _latest_point(points) -> Quote:
    if not isinstance(points, list) or not points:
        raise FeedError("'prices' holds no points")
    timed = []
    for point in points:
        if not isinstance(point, list) or len(point) != 2:
            raise FeedError(f"a 'prices' point is not [time, price]: {short(point)}")
        timed.append((epoch_of(point[0], "time of a 'prices' point"), point[1]))
    moment, usd = max(timed, key=lambda pair: pair[0] or EPOCH)
    return Quote(usd_of(usd, "price of the latest point"), moment)


def parse_kraken(data) -> Quote:
    """Kraken's ticker: {"error": [], "result": {"TAOUSD": {"c": [last, lot], ...}}}; the
    result's one entry may be named otherwise than the pair asked. No time: Kraken gives none."""
    data = _object(data)
    if data.get("error"):
        raise FeedError(f"Kraken says {_words(data['error'])}")
    result = data.get("result")
    if not isinstance(result, dict) or len(result) != 1:
        raise FeedError("the answer has no price (not one ticker in 'result')")
    (ticker,) = result.values()
    last = _object(ticker, "the ticker").get("c")
    if not isinstance(last, list) or not last:
        raise FeedError("the answer has no price (no last trade 'c')")
    return Quote(usd_of(last[0], "last trade price"), None)


def parse_coinbase(data) -> Quote:
    """Coinbase's spot price: {"data": {"amount": "412.15", "base": "TAO", "currency": "USD"}}."""
    data = _object(data)
    spot = _object(data["data"], "'data'") if "data" in data else None
    if spot is None or "amount" not in spot:
        raise FeedError("the answer has no price ('data.amount')")
    if spot.get("currency", "USD") != "USD":
        raise FeedError(f"the price is in {short(spot.get('currency'))}, not USD")
    return Quote(usd_of(spot["amount"], "amount"), None)


# CoinMarketCap lists every coin with the symbol TAO; Bittensor is the one with this slug.
CMC_SLUG = "bittensor"


def parse_coinmarketcap(data) -> Quote:
    """CoinMarketCap's quotes (v2): {"data": {"TAO": [{"slug": ..., "quote": {"USD": {"price":
    n, "last_updated": iso}}}, ...]}}, Bittensor's entry, else the first."""
    data = _object(data)
    coins = _object(data.get("data"), "'data'").get("TAO") if "data" in data else None
    if isinstance(coins, dict):
        coins = [coins]
    if not isinstance(coins, list) or not coins:
        raise FeedError("the answer has no price (no TAO in 'data')")
    coin = next((each for each in coins if _slug(each) == CMC_SLUG), coins[0])
    usd = _object(_object(_object(coin, "the coin").get("quote"), "'quote'").get("USD"), "USD")
    if "price" not in usd:
        raise FeedError("the answer has no price ('quote.USD.price')")
    return Quote(usd_of(usd["price"], "price"), iso_time_of(usd.get("last_updated")))


def _slug(coin) -> str:
    return coin.get("slug", "") if isinstance(coin, dict) else ""


def parse_taostats(data) -> Quote:
    """taostats' latest price: {"data": [{"price": "412.2", "last_updated": iso, ...}]}."""
    data = _object(data)
    rows = data.get("data")
    if not isinstance(rows, list) or not rows or not isinstance(rows[0], dict):
        raise FeedError("the answer has no price (no row in 'data')")
    if "price" not in rows[0]:
        raise FeedError("the answer has no price ('data[0].price')")
    return Quote(usd_of(rows[0]["price"], "price"), iso_time_of(rows[0].get("last_updated")))


SOURCES: dict[str, Source] = {
    source.name: source
    for source in [
        Source("coingecko", "TAO_PRICE_URL", parse_coingecko),
        Source("kraken", "TAO_PRICE_KRAKEN_URL", parse_kraken),
        Source("coinbase", "TAO_PRICE_COINBASE_URL", parse_coinbase),
        Source(
            "coinmarketcap",
            "TAO_PRICE_COINMARKETCAP_URL",
            parse_coinmarketcap,
            key_setting="COINMARKETCAP_API_KEY",
            key_header="X-CMC_PRO_API_KEY",
        ),
        Source(
            "taostats",
            "TAO_PRICE_TAOSTATS_URL",
            parse_taostats,
            key_setting="TAOSTATS_API_KEY",
            key_header="Authorization",
        ),
    ]
}


def sources_enabled() -> list[Source]:
    """The sources to ask, in TAO_PRICE_SOURCES order; a keyed one only when its key is set."""
    return [
        SOURCES[name]
        for name in dict.fromkeys(settings.TAO_PRICE_SOURCES)
        if name in SOURCES and not SOURCES[name].off_because()
    ]


# --- Asking -------------------------------------------------------------------------------


def source_quote(source: Source) -> Quote:
    """The source's quote now, or a FeedError saying why there is none (never naming a key)."""
    timeout = settings.TAO_PRICE_TIMEOUT_SECONDS
    headers = {"Accept": "application/json"}
    if source.key_header:
        headers[source.key_header] = source.key
    try:
        response = httpx.get(source.url, timeout=timeout, headers=headers)
    except httpx.TimeoutException:
        raise FeedError(f"no answer within {timeout} s") from None
    except httpx.HTTPError as error:
        raise FeedError(f"unreachable ({type(error).__name__}: {_words(str(error))})") from None
    data = json_of(response.content)
    if not response.is_success:
        said = _error_said(data)
        raise FeedError(f"HTTP {response.status_code}" + (f" ({said})" if said else ""))
    if data is None:
        raise FeedError("the answer is not JSON")
    return source.parse(data)


def json_of(body: bytes):
    try:
        return json.loads(body, parse_float=Decimal, parse_constant=Decimal)
    except (ValueError, RecursionError):
        return None


def _error_said(data) -> str:
    """What an error answer says, in the shapes the sources use: Coinbase's errors list,
    Kraken's error list, CoinMarketCap's status, or a plain message."""
    if not isinstance(data, dict):
        return ""
    if isinstance(data.get("errors"), list):
        return _words(
            [
                ": ".join(str(each[part]) for part in ("id", "message") if each.get(part))
                if isinstance(each, dict)
                else each
                for each in data["errors"]
            ]
        )
    if isinstance(data.get("error"), list | str):
        return _words(data["error"])
    status = data.get("status")
    if isinstance(status, dict) and status.get("error_message"):
        return _words(status["error_message"])
    return _words(data["message"]) if isinstance(data.get("message"), str) else ""


def _words(said) -> str:
    """A source's own error words on one short line."""
    text = "; ".join(map(str, said)) if isinstance(said, list) else str(said)
    text = " ".join(text.split())
    return text if len(text) <= ERROR_TEXT_LENGTH else f"{text[: ERROR_TEXT_LENGTH - 3]}..."
