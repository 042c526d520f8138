"""TAO/USD: polling the price sources (billing.tao_sources) into one price, the median of
their fresh quotes, what the Scheduled jobs page shows of them, and backfilling history from CSV.
"""

import csv
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from billing.ingest.files import NUMBER, ImportFileError
from billing.models import TaoPrice, TaoQuote
from billing.tao_sources import (
    SOURCES,
    USD_QUANTUM,
    FeedError,
    Source,
    epoch_of,
    source_quote,
    sources_enabled,
    usd_of,
)

logger = logging.getLogger(__name__)

# A price this many times above (or below 1/this of) the last one is a broken answer.
MAX_JUMP = Decimal(5)
# Only a recent price is compared: after a long gap the market may really have moved that far,
# and one bad stored price must not lock the feed out for good.
JUMP_LOOKBACK = timedelta(days=7)
HUNDRED = Decimal(100)
# The source of a price that is the median of two or more quotes.
MEDIAN_SOURCE = "median"
NOTE_LENGTH = TaoQuote._meta.get_field("note").max_length
TIME_COLUMNS = ("at", "timestamp", "time", "date", "snapped_at")
USD_COLUMNS = ("usd", "price", "close")
IMPORT_BATCH_SIZE = 400
MAX_REPORTED_ROWS = 100


@dataclass
class PollResult:
    stored: TaoPrice | None = None
    created: bool = False
    reasons: list[str] = field(default_factory=list)  # "source: note" of each quote not used

    def summary(self) -> str:
        failures = "; ".join(self.reasons)
        if self.stored is None:
            return f"no TAO price stored: {failures or 'no source is enabled'}"
        point = self.stored
        usd = format(Decimal(point.usd).normalize(), "f")
        seen = f"TAO ${usd} at {point.at:%Y-%m-%d %H:%M:%S} UTC from {point.source}"
        if point.degraded:
            seen += ", degraded"
        text = f"stored {seen}" if self.created else f"already had {seen}"
        return f"{text} (after {failures})" if failures else text


def tao_price_poll(*, now: datetime | None = None) -> PollResult:
    """Ask every enabled source, store each answer as a TaoQuote, and their median as the
    TaoPrice at `now`.

    A quote is fresh when the source dates it within TAO_PRICE_QUOTE_MAX_AGE_MINUTES and it is
    within MAX_JUMP of a price stored within JUMP_LOOKBACK. The price is the median of the
    fresh quotes less those further than TAO_PRICE_MAX_DEVIATION_PCT from it (kept, not used,
    with a note); it is degraded when fewer than two quotes are used, or when every fresh quote
    is that far from the median (the sources disagree). With no fresh quote the quotes are
    stored and no price. Polling the same moment twice stores nothing new. Never raises for a
    source that is down or answers nonsense: its quote's note says what happened.
    """
    now = now or timezone.now()
    done = list(TaoQuote.objects.filter(polled_at=now).select_related("price"))
    if done:
        return _result(done, created=False)
    last = _last_price(now)
    quotes = [_asked(source, now=now, last=last) for source in sources_enabled()]
    usd, degraded = _consolidated(quotes)
    price, created = None, False
    with transaction.atomic():
        if usd is not None:
            used = [quote.source for quote in quotes if quote.used]
            price, created = TaoPrice.objects.get_or_create(
                at=now,
                source=used[0] if len(used) == 1 else MEDIAN_SOURCE,
                defaults={"usd": usd, "degraded": degraded},
            )
        for quote in quotes:
            quote.price = price
        TaoQuote.objects.bulk_create(quotes, ignore_conflicts=True)
    return _result(quotes, created=created)


def _result(quotes: list[TaoQuote], *, created: bool) -> PollResult:
    price = next((quote.price for quote in quotes if quote.price is not None), None)
    reasons = [f"{quote.source}: {quote.note}" for quote in quotes if quote.note]
    return PollResult(price, created, reasons)


def _last_price(now: datetime) -> Decimal | None:
    return (
        TaoPrice.objects.filter(at__lte=now, at__gte=now - JUMP_LOOKBACK)
        .order_by("-at")
        .values_list("usd", flat=True)
        .first()
    )


def _asked(source: Source, *, now: datetime, last: Decimal | None) -> TaoQuote:
    """The source's quote at this poll: a price, or a note saying why there is none or why it
    is not fresh. A time the source gives is never later than now."""
    quote = TaoQuote(polled_at=now, source=source.name)
    try:
        answer = source_quote(source)
    except FeedError as error:
        return _noted(quote, str(error))
    quote.usd = answer.usd
    quote.at = min(answer.at, now) if answer.at else None
    max_age = settings.TAO_PRICE_QUOTE_MAX_AGE_MINUTES
    if quote.at is not None and now - quote.at > timedelta(minutes=max_age):
        return _noted(quote, f"quoted at {quote.at:%Y-%m-%d %H:%M} UTC, over {max_age} min old")
    if last is not None and not last / MAX_JUMP <= quote.usd <= last * MAX_JUMP:
        return _noted(
            quote, f"${quote.usd} is more than {MAX_JUMP}x away from the last stored price ${last}"
        )
    return quote


def _noted(quote: TaoQuote, why: str) -> TaoQuote:
    logger.warning("TAO price from %s not used: %s", quote.source, why)
    quote.note = why[:NOTE_LENGTH]
    return quote


def _consolidated(quotes: list[TaoQuote]) -> tuple[Decimal | None, bool]:
    """The price of the poll and whether it is degraded; marks the quotes used, and notes the
    ones too far from the median of the fresh ones."""
    fresh = [quote for quote in quotes if quote.usd is not None and not quote.note]
    if not fresh:
        return None, False
    middle = median(quote.usd for quote in fresh)
    limit = settings.TAO_PRICE_MAX_DEVIATION_PCT
    far = [_off(quote.usd, middle) > limit for quote in fresh]
    # When every fresh quote is that far (two, or an even count spread wide), none can be told
    # wrong: all are used and the price is degraded.
    agree = not all(far)
    for quote, is_far in zip(fresh, far, strict=True):
        quote.used = not (is_far and agree)
        if is_far:
            quote.note = far_note(quote.usd, middle, used=quote.used)
            logger.warning("TAO price from %s: %s", quote.source, quote.note)
    used = [quote.usd for quote in fresh if quote.used]
    return median(used), len(used) < 2 or not agree


def _off(usd: Decimal, middle: Decimal) -> Decimal:
    return abs(usd - middle) * HUNDRED / middle


def far_note(usd: Decimal, middle: Decimal, *, used: bool) -> str:
    """2.6% from the median $412.10: not used."""
    off = _off(usd, middle).quantize(Decimal("0.1"), ROUND_HALF_UP)
    verdict = "the sources disagree" if used else "not used"
    return f"{off}% from the median ${middle.quantize(Decimal('0.01'))}: {verdict}"


def median(values) -> Decimal:
    """The middle value; of an even count the mean of the two middle ones, at price precision."""
    ordered = sorted(values)
    half = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[half]
    return ((ordered[half - 1] + ordered[half]) / 2).quantize(USD_QUANTUM, ROUND_HALF_UP)


# --- What the Scheduled jobs page shows ---------------------------------------------------


@dataclass
class SourceStatus:
    name: str
    off_because: str  # "" when the source is asked
    last: TaoQuote | None  # its quote at its last poll
    last_priced: TaoQuote | None  # its last quote with a price, when the last one has none


@dataclass
class SourcesStatus:
    sources: list[SourceStatus]
    price: TaoPrice | None  # the latest price at or before now
    polled_at: datetime | None  # the latest poll
    failing: list[TaoQuote]  # the latest poll's quotes that are not used, or disagree


def tao_sources_status(now: datetime) -> SourcesStatus:
    """Each known source with its last quote, the current price, and what failed at the last
    poll: two indexed queries a source, three more."""
    sources = []
    for source in SOURCES.values():
        quotes = TaoQuote.objects.filter(source=source.name, polled_at__lte=now)
        last = quotes.order_by("-polled_at").first()
        priced = None
        if last is not None and last.usd is None:
            priced = quotes.filter(usd__isnull=False).order_by("-polled_at").first()
        sources.append(SourceStatus(source.name, source.off_because(), last, priced))
    price = TaoPrice.objects.latest_at(now)
    polled_at = (
        TaoQuote.objects.filter(polled_at__lte=now)
        .order_by("-polled_at")
        .values_list("polled_at", flat=True)
        .first()
    )
    failing = []
    if polled_at is not None:
        failing = list(TaoQuote.objects.filter(polled_at=polled_at).exclude(note=""))
    return SourcesStatus(sources, price, polled_at, failing)


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
    return at, usd_of(cells[usd_index].strip(), "price")


def parse_time(text: str) -> datetime:
    """ISO 8601 with an offset, epoch seconds or milliseconds, or a date alone (midnight UTC)."""
    cell = text.strip()
    if NUMBER.fullmatch(cell):
        return epoch_of(Decimal(cell), "time")
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
