"""TAO/USD: polling a price source, with a fallback, and backfilling history from CSV."""

import csv
import io
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.utils import timezone

from billing.ingest.files import NUMBER, ImportFileError
from billing.models import TAO_PRICE_DIGITS, TaoPrice

logger = logging.getLogger(__name__)

# A price this many times above (or below 1/this of) the last one is a broken answer.
MAX_JUMP = Decimal(5)
# Only a recent price is compared: after a long gap the market may really have moved that far,
# and one bad stored price must not lock the feed out for good.
JUMP_LOOKBACK = timedelta(days=7)
USD_QUANTUM = Decimal(1).scaleb(-TAO_PRICE_DIGITS["decimal_places"])
USD_LIMIT = Decimal(10) ** (TAO_PRICE_DIGITS["max_digits"] - TAO_PRICE_DIGITS["decimal_places"])
# Epoch values from here on are milliseconds: as seconds they would be after the year 5000.
EPOCH_MS_FROM = 10**11
TIME_COLUMNS = ("at", "timestamp", "time", "date", "snapped_at")
USD_COLUMNS = ("usd", "price", "close")
IMPORT_BATCH_SIZE = 400
MAX_REPORTED_ROWS = 100


class FeedError(Exception):
    """No usable TAO price: the source is unreachable or its answer is not a price."""


@dataclass(frozen=True)
class Quote:
    usd: Decimal
    at: datetime | None  # when the source saw the price, if it says


@dataclass
class PollResult:
    stored: TaoPrice | None = None
    created: bool = False
    reasons: list[str] = field(default_factory=list)  # why each source tried was not used

    def summary(self) -> str:
        failures = "; ".join(self.reasons)
        if self.stored is None:
            return f"no TAO price stored: {failures}"
        point = self.stored
        usd = format(Decimal(point.usd).normalize(), "f")
        seen = f"TAO ${usd} at {point.at:%Y-%m-%d %H:%M:%S} UTC from {point.source}"
        text = f"stored {seen}" if self.created else f"already had {seen}"
        return f"{text} (after {failures})" if failures else text


def tao_price_poll(*, now: datetime | None = None) -> PollResult:
    """Store TAO/USD from TAO_PRICE_URL, or from TAO_PRICE_FALLBACK_URL when that fails.

    An answer that is no price (not JSON, no price field, not a positive finite number, or
    more than MAX_JUMP times away from a price stored within JUMP_LOOKBACK) is logged and never
    stored. A point is stored once per (time, source). Never raises for a bad answer or a source
    that is down: the result says what happened.
    """
    now = now or timezone.now()
    result = PollResult()
    for url in dict.fromkeys([settings.TAO_PRICE_URL, settings.TAO_PRICE_FALLBACK_URL]):
        source = source_name(url)
        try:
            quote = _checked(fetch_quote(url), now=now)
        except FeedError as error:
            logger.warning("TAO price from %s not used: %s", source, error)
            result.reasons.append(f"{source}: {error}")
            continue
        result.stored, result.created = TaoPrice.objects.get_or_create(
            at=quote.at, source=source, defaults={"usd": quote.usd}
        )
        return result
    return result


def source_name(url: str) -> str:
    """The short name stored with each point: CoinGecko's endpoints by name, others by host."""
    parts = urlsplit(url)
    host = parts.hostname or url
    if host == "coingecko.com" or host.endswith(".coingecko.com"):
        return "coingecko-market-chart" if "/market_chart" in parts.path else "coingecko"
    return host[: TaoPrice._meta.get_field("source").max_length]


def fetch_quote(url: str) -> Quote:
    timeout = settings.TAO_PRICE_TIMEOUT_SECONDS
    try:
        response = httpx.get(url, timeout=timeout, headers={"Accept": "application/json"})
    except httpx.TimeoutException:
        raise FeedError(f"no answer within {timeout} s") from None
    except httpx.HTTPError as error:
        raise FeedError(f"unreachable ({type(error).__name__}: {error})") from None
    if not response.is_success:
        raise FeedError(f"HTTP {response.status_code}")
    return parse_quote(response.content)


def parse_quote(body: bytes) -> Quote:
    """The price in an answer, told apart by its shape.

    CoinGecko's simple price ({"bittensor": {"usd": n, "last_updated_at": s}}), its market
    chart ({"prices": [[ms, n], ...]}, the latest point), or a plain {"usd": n} / {"price": n}
    with an optional last_updated_at, for another provider.
    """
    try:
        data = json.loads(body, parse_float=Decimal, parse_constant=Decimal)
    except (ValueError, RecursionError):
        raise FeedError("the answer is not JSON") from None
    if isinstance(data, dict) and "prices" in data:
        return _latest_point(data["prices"])
    if isinstance(data, dict) and len(data) == 1:
        (inner,) = data.values()
        if isinstance(inner, dict):
            data = inner
    if not isinstance(data, dict):
        raise FeedError("the answer is not a JSON object")
    for name in ("usd", "price"):
        if name in data:
            return Quote(_usd(data[name], name), _epoch(data.get("last_updated_at")))
    raise FeedError("the answer has no 'usd' or 'price' field")


def _latest_point(points) -> Quote:
    if not isinstance(points, list) or not points:
        raise FeedError("'prices' holds no points")
    timed = []
    for point in points:
        if not isinstance(point, list) or len(point) != 2:
            raise FeedError(f"a 'prices' point is not [time, price]: {_short(point)}")
        timed.append((_epoch(point[0], "time of a 'prices' point"), point[1]))
    moment, usd = max(timed, key=lambda pair: pair[0])
    return Quote(_usd(usd, "price of the latest point"), moment)


def _usd(value, name: str) -> Decimal:
    # Some providers send prices as strings; plain decimal notation only.
    if isinstance(value, str) and NUMBER.fullmatch(value.strip()):
        value = Decimal(value.strip())
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise FeedError(f"{name} is not a number: {_short(value)}")
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


def _epoch(value, name: str = "last_updated_at") -> datetime | None:
    """Epoch seconds, or milliseconds when that large, as a UTC time; None stays None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise FeedError(f"{name} is not a number: {_short(value)}")
    seconds = Decimal(value)
    if not seconds.is_finite() or seconds <= 0:
        raise FeedError(f"{name} is not a valid time: {seconds}")
    if seconds >= EPOCH_MS_FROM:
        seconds /= 1000
    try:
        return datetime.fromtimestamp(float(seconds), tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise FeedError(f"{name} is not a valid time: {value}") from None


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def _checked(quote: Quote, *, now: datetime) -> Quote:
    """The quote timed (never later than now), if it is within MAX_JUMP of the last price."""
    last = (
        TaoPrice.objects.filter(at__lte=now, at__gte=now - JUMP_LOOKBACK)
        .order_by("-at")
        .values_list("usd", flat=True)
        .first()
    )
    if last is not None and not last / MAX_JUMP <= quote.usd <= last * MAX_JUMP:
        raise FeedError(
            f"${quote.usd} is more than {MAX_JUMP}x away from the last stored price ${last}"
        )
    return Quote(quote.usd, min(quote.at or now, now))


# --- Backfill from CSV ---------------------------------------------------------------------


@dataclass
class ImportSummary:
    added: int = 0
    existing: int = 0
    rejected: int = 0
    # (line, reason) of the first MAX_REPORTED_ROWS rejected rows
    rejections: list[tuple[int, str]] = field(default_factory=list)


def tao_prices_import(
    path,
    *,
    source: str = "import",
    now: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ImportSummary:
    """Store the TAO/USD points of a CSV file with a header, streamed in batches.

    The time column is the first of TIME_COLUMNS in the header, the price the first of
    USD_COLUMNS; other columns are ignored. A point already stored for (time, source) is left
    as it is. Bad rows are counted and skipped; no jump check, history may move a lot.
    `progress(done, total)` counts bytes. Raises ImportFileError when the file is unusable.
    """
    now = now or timezone.now()
    path = Path(path)
    if not path.is_file():
        raise ImportFileError(
            f"No file at {path}." if not path.exists() else f"{path} is not a file."
        )
    size = path.stat().st_size
    summary = ImportSummary()
    batch: dict[datetime, Decimal] = {}
    with path.open("rb") as raw:
        # Bytes that are not UTF-8 become U+FFFD, and the row is rejected as not a time or price.
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="")
        reader = csv.reader(text)
        columns = _columns(_header(reader, path), path)
        for rows, (line, cells, error) in enumerate(_numbered(reader), start=1):
            try:
                if error:
                    raise FeedError(error)
                at, usd = _csv_point(cells, columns, now=now)
            except FeedError as reason:
                summary.rejected += 1
                if len(summary.rejections) < MAX_REPORTED_ROWS:
                    summary.rejections.append((line, str(reason)))
                continue
            if at in batch:
                summary.existing += 1
            batch.setdefault(at, usd)
            if len(batch) >= IMPORT_BATCH_SIZE:
                _store(batch, source, summary)
                batch = {}
            if progress and rows % 1_000 == 0:
                progress(min(raw.tell(), size - 1), size)
        _store(batch, source, summary)
    if progress:
        progress(size, size)
    return summary


def _header(reader, path: Path) -> list[str]:
    for _, cells, error in _numbered(reader):
        if error:
            raise ImportFileError(f"The header of {path} is not valid CSV: {error}.")
        return [cell.strip().lower() for cell in cells]
    raise ImportFileError(f"{path} is empty: it needs a header, e.g. at,usd.")


def _columns(header: list[str], path: Path) -> tuple[int, int]:
    found = []
    for kind, names in (("time", TIME_COLUMNS), ("price", USD_COLUMNS)):
        name = next((name for name in names if name in header), None)
        if name is None:
            raise ImportFileError(
                f"{path} has no {kind} column: name one {', '.join(names)} "
                f"(its header is {','.join(header)})."
            )
        found.append(header.index(name))
    return found[0], found[1]


def _numbered(reader):
    """(line, cells, error) for each row that is not blank; line is where the row starts."""
    while True:
        line = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            yield line, [], f"is not valid CSV: {error}"
            continue
        if any(cell.strip() for cell in cells):
            yield line, cells, None


def _csv_point(cells: list[str], columns: tuple[int, int], *, now: datetime):
    time_index, usd_index = columns
    if len(cells) <= max(columns):
        raise FeedError(f"has {len(cells)} cells, too few to reach the time and price columns")
    at = parse_time(cells[time_index])
    if at > now:
        raise FeedError(f"time {cells[time_index].strip()!r} is in the future")
    return at, _usd(cells[usd_index].strip(), "price")


def parse_time(text: str) -> datetime:
    """ISO 8601 with an offset, epoch seconds or milliseconds, or a date alone (midnight UTC)."""
    cell = text.strip()
    if NUMBER.fullmatch(cell):
        return _epoch(Decimal(cell), "time")
    try:
        if len(cell) == 10:
            return datetime.combine(date.fromisoformat(cell), time.min, tzinfo=UTC)
        # CoinGecko's CSV export writes "2025-01-31 00:00:00 UTC".
        iso = cell.removesuffix(" UTC") + "+00:00" if cell.endswith(" UTC") else cell
        moment = datetime.fromisoformat(iso)
    except ValueError:
        raise FeedError(
            f"time {cell!r} is not ISO 8601, epoch seconds or milliseconds, or a date"
        ) from None
    if moment.tzinfo is None:
        raise FeedError(f"time {cell!r} has no UTC offset: add one, e.g. Z or +00:00")
    return moment.astimezone(UTC)


def _store(batch: dict[datetime, Decimal], source: str, summary: ImportSummary) -> None:
    if not batch:
        return
    there = set(
        TaoPrice.objects.filter(source=source, at__in=list(batch)).values_list("at", flat=True)
    )
    rows = [TaoPrice(at=at, usd=usd, source=source) for at, usd in batch.items() if at not in there]
    # Conflicts only from a poll landing meanwhile: that point stays as it is.
    TaoPrice.objects.bulk_create(rows, ignore_conflicts=True)
    summary.added += len(rows)
    summary.existing += len(batch) - len(rows)
