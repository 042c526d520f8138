"""Display currencies: the ECB's daily reference rates (fetched, parsed safely, stored per day
and currency), converting USD amounts with them, and what a page shows money in.

Amounts stay stored in USD (and TAO); only pages convert. The ECB quotes units per euro, so
USD to X on a day is per_eur[X] / per_eur[USD], euro itself being 1. A day without rates (a
weekend, a holiday, a missed fetch) uses the last day before it that has them, and says so:
the quote is `stale`. dashboard/templatetags/money.py formats what this module converts.
"""

import logging
import re
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from xml.etree.ElementTree import ParseError

import httpx
from defusedxml import DefusedXmlException  # type: ignore[import-untyped]
from defusedxml.ElementTree import fromstring  # type: ignore[import-untyped]
from django.conf import settings
from django.db.models import DateField, Subquery, Value
from django.db.models.functions import Coalesce, Least
from django.utils import timezone

from billing.models import FxRate

logger = logging.getLogger(__name__)

SOURCE_ECB = "ECB"
SOURCE_DEMO = "demo"
ECB_NAMESPACE = "http://www.ecb.int/vocabulary/2002-08-01/eurofxref"
PER_EUR_QUANTUM = Decimal(1).scaleb(-FxRate._meta.get_field("per_eur").decimal_places)
PER_EUR_LIMIT = Decimal(10) ** (
    FxRate._meta.get_field("per_eur").max_digits - FxRate._meta.get_field("per_eur").decimal_places
)
CODE = re.compile(r"[A-Z]{3}")

# The currencies of the ECB's daily reference rates, with the euro itself.
CURRENCY_NAMES = {
    "USD": "US dollar",
    "EUR": "Euro",
    "GBP": "Pound sterling",
    "JPY": "Japanese yen",
    "CHF": "Swiss franc",
    "AUD": "Australian dollar",
    "BRL": "Brazilian real",
    "CAD": "Canadian dollar",
    "CNY": "Chinese yuan renminbi",
    "CZK": "Czech koruna",
    "DKK": "Danish krone",
    "HKD": "Hong Kong dollar",
    "HUF": "Hungarian forint",
    "IDR": "Indonesian rupiah",
    "ILS": "Israeli shekel",
    "INR": "Indian rupee",
    "ISK": "Icelandic krona",
    "KRW": "South Korean won",
    "MXN": "Mexican peso",
    "MYR": "Malaysian ringgit",
    "NOK": "Norwegian krone",
    "NZD": "New Zealand dollar",
    "PHP": "Philippine peso",
    "PLN": "Polish zloty",
    "RON": "Romanian leu",
    "SEK": "Swedish krona",
    "SGD": "Singapore dollar",
    "THB": "Thai baht",
    "TRY": "Turkish lira",
    "ZAR": "South African rand",
}
SUPPORTED_CURRENCIES = tuple(CURRENCY_NAMES)


class FxError(Exception):
    """No usable rates: the source is unreachable or its answer is not the ECB's XML."""


def currency_choices() -> list[tuple[str, str]]:
    return [(code, f"{code} · {name}") for code, name in CURRENCY_NAMES.items()]


def currency_checked(raw: str) -> str:
    """An ISO code we have rates for, upper-cased; ValueError saying why otherwise."""
    code = (raw or "").strip().upper()
    if code in CURRENCY_NAMES:
        return code
    shown = code[:10] or "(empty)"
    raise ValueError(
        f"“{shown}” is not a currency with a daily reference rate: use USD, EUR, GBP or another "
        "of the ECB's reference currencies (" + ", ".join(SUPPORTED_CURRENCIES[3:]) + ")."
    )


def display_currency_for(membership) -> str:
    """The member's own choice in this team, else the team's."""
    return membership.display_currency or membership.team.display_currency or "USD"


# --- Fetching and storing the ECB's rates --------------------------------------------------


def parse_ecb_xml(body: bytes) -> dict[date, dict[str, Decimal]]:
    """The rates per day in an ECB eurofxref file (the daily one or a history), as units per
    euro. Entities and DTDs are refused (defusedxml): the answer comes from the network."""
    try:
        root = fromstring(body, forbid_dtd=True)
    except DefusedXmlException as error:
        raise FxError(f"the answer is refused as unsafe XML ({type(error).__name__})") from None
    except (ParseError, ValueError):
        raise FxError("the answer is not XML") from None
    days: dict[date, dict[str, Decimal]] = {}
    for cube in root.iter(f"{{{ECB_NAMESPACE}}}Cube"):
        if cube.get("time") is None:
            continue
        day = _day(cube.get("time"))
        rates = {}
        for child in cube:
            code, rate = child.get("currency", ""), child.get("rate", "")
            if not CODE.fullmatch(code):
                raise FxError(f"a currency code is not three capital letters: {code[:20]!r}")
            rates[code] = _per_eur(rate, code)
        if rates:
            days[day] = rates
    if not days:
        raise FxError("the answer holds no reference rates")
    return days


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise FxError(f"a day is not YYYY-MM-DD: {text[:20]!r}") from None


def _per_eur(text: str, code: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise FxError(f"the {code} rate is not a number: {text[:20]!r}") from None
    if not value.is_finite() or value <= 0 or value >= PER_EUR_LIMIT:
        raise FxError(f"the {code} rate is not a positive number in range: {text[:20]!r}")
    return value.quantize(PER_EUR_QUANTUM)


def fetch_ecb(url: str) -> dict[date, dict[str, Decimal]]:
    timeout = settings.FX_RATES_TIMEOUT_SECONDS
    try:
        response = httpx.get(url, timeout=timeout, headers={"Accept": "application/xml"})
    except httpx.TimeoutException:
        raise FxError(f"no answer within {timeout} s") from None
    except httpx.HTTPError as error:
        raise FxError(f"unreachable ({type(error).__name__}: {error})") from None
    if not response.is_success:
        raise FxError(f"HTTP {response.status_code}")
    return parse_ecb_xml(response.content)


def fx_rates_store(days: dict[date, dict[str, Decimal]], *, source: str, now: datetime) -> int:
    """Store the rates, once per (day, currency): a rate already stored the same is left as it
    is, a different one (a demo rate, a correction) replaced. Returns how many were written."""
    stored = {
        (row.day, row.currency): (row.per_eur, row.source)
        for row in FxRate.objects.filter(day__in=list(days))
    }
    rows = [
        FxRate(day=day, currency=code, per_eur=per_eur, source=source, fetched_at=now)
        for day, rates in days.items()
        for code, per_eur in rates.items()
        if stored.get((day, code)) != (per_eur, source)
    ]
    FxRate.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["day", "currency"],
        update_fields=["per_eur", "source", "fetched_at"],
    )
    return len(rows)


@dataclass
class FetchResult:
    url: str
    days: list[date] = field(default_factory=list)
    written: int = 0
    error: str = ""

    def summary(self) -> str:
        if self.error:
            return f"no rates stored from {self.url}: {self.error}"
        span = (
            f"{min(self.days)}" if len(self.days) == 1 else f"{min(self.days)} to {max(self.days)}"
        )
        return f"{self.written} rates written for {span} ({len(self.days)} days) from {self.url}"


def fx_rates_fetch(*, now: datetime | None = None) -> FetchResult:
    """Fetch the ECB's rates and store them: the daily file when the table is up to date, the
    90-day history when it is empty or misses a weekday. Never raises for a bad answer or a
    source that is down: the result says what happened."""
    now = now or timezone.now()
    url = settings.FX_RATES_DAILY_URL if _up_to_date(now.astimezone(UTC).date()) else None
    result = FetchResult(url=url or settings.FX_RATES_URL)
    try:
        days = fetch_ecb(result.url)
    except FxError as error:
        logger.warning("FX rates from %s not used: %s", result.url, error)
        result.error = str(error)
        return result
    result.days = sorted(days)
    result.written = fx_rates_store(days, source=SOURCE_ECB, now=now)
    return result


def _up_to_date(today: date) -> bool:
    """Whether every weekday before today since the last stored day has its rates."""
    days = FxRate.objects.filter(currency="USD").order_by("-day").values_list("day", flat=True)
    latest = days.first()
    if latest is None:
        return False
    day = latest + timedelta(1)
    while day < today:
        if day.weekday() < 5:
            return False
        day += timedelta(1)
    return True


# --- Converting ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FxQuote:
    """USD to `currency` as used for `asked`: from the rates of `day`, the last day on or
    before it that has them; `stale` when that is not the day itself."""

    currency: str
    asked: date
    day: date
    source: str
    per_eur: Decimal  # units of the currency per euro
    usd_per_eur: Decimal

    @property
    def stale(self) -> bool:
        return self.day != self.asked

    @property
    def rate(self) -> Decimal:
        """Units of the currency per US dollar."""
        return self.per_eur / self.usd_per_eur

    @property
    def is_identity(self) -> bool:
        return self.currency == "USD"

    def convert(self, amount_usd: Decimal) -> Decimal:
        # Multiplied before dividing: one rounding, at the 28th digit, whatever the amount.
        return Decimal(amount_usd) * self.per_eur / self.usd_per_eur


def usd_quote(day: date) -> FxQuote:
    return FxQuote("USD", day, day, "", Decimal(1), Decimal(1))


class FxRates:
    """USD to one currency over a range of days, from one query (fx_rates)."""

    def __init__(self, currency: str, rows: list[tuple[date, str, Decimal, str]]):
        self.currency = currency
        by_day: dict[date, dict[str, tuple[Decimal, str]]] = {}
        for day, code, per_eur, source in rows:
            by_day.setdefault(day, {})[code] = (per_eur, source)
        needed = {currency, "USD"} - {"EUR"}
        self._days = sorted(day for day, rates in by_day.items() if needed <= rates.keys())
        self._by_day = by_day

    def on(self, day: date) -> FxQuote | None:
        """The quote for `day`, or None when no day on or before it has rates."""
        if self.currency == "USD":
            return usd_quote(day)
        found = bisect_right(self._days, day) - 1
        if found < 0:
            return None
        rates = self._by_day[self._days[found]]
        usd, source = rates["USD"]
        per_eur = rates[self.currency][0] if self.currency != "EUR" else Decimal(1)
        return FxQuote(self.currency, day, self._days[found], source, per_eur, usd)


def fx_rates(currency: str, first: date, last: date) -> FxRates:
    """The rates to convert USD to `currency` on any day from first to last: one query (none
    for USD), reaching back to the last day with rates on or before `first`."""
    if currency == "USD":
        return FxRates(currency, [])
    codes = sorted({currency, "USD"} - {"EUR"})
    # Back to the earlier of each currency's last day on or before `first`, for its quote.
    latest = [
        Subquery(
            FxRate.objects.filter(currency=code, day__lte=first).order_by("-day").values("day")[:1]
        )
        for code in codes
    ]
    start = Least(*latest) if len(latest) > 1 else latest[0]
    rows = FxRate.objects.filter(
        currency__in=codes,
        day__lte=last,
        day__gte=Coalesce(start, Value(first), output_field=DateField()),
    ).values_list("day", "currency", "per_eur", "source")
    return FxRates(currency, list(rows))


def rate_on(currency: str, day: date) -> FxQuote | None:
    return fx_rates(currency, day, day).on(day)


def convert(amount_usd: Decimal, currency: str, day: date) -> Decimal:
    """The USD amount in `currency` at the rate of `day` (or the last before it), exactly.
    Raises FxError when no rate on or before that day is stored."""
    quote = rate_on(currency, day)
    if quote is None:
        raise FxError(f"no {currency} rate is stored on or before {day}")
    return quote.convert(amount_usd)


# --- What pages show money in --------------------------------------------------------------


class MoneyView:
    """A page's display currency and its quotes, each day's read once (no query for USD).
    Money on a page is converted at the rate of `day`: today, unless the view says otherwise."""

    def __init__(self, currency: str, today: date):
        self.currency = currency
        self.today = today
        self._quotes: dict[date, FxQuote | None] = {}

    @property
    def is_usd(self) -> bool:
        return self.currency == "USD"

    def quote(self, day: date | None = None) -> FxQuote | None:
        day = day or self.today
        if day not in self._quotes:
            self._quotes[day] = rate_on(self.currency, day)
        return self._quotes[day]


def money_view_for(membership, *, currency: str | None = None) -> MoneyView:
    team = membership.team
    today = timezone.now().astimezone(team.zone).date()
    return MoneyView(currency or display_currency_for(membership), today)


def money_context(request) -> dict:
    """Context processor: the current member's money view, for the {% money %} tag."""
    membership = getattr(request, "membership", None)
    if membership is None:
        return {}
    return {"money_view": money_view_for(membership)}


# --- Demo ---------------------------------------------------------------------------------

DEMO_PER_EUR = {
    "USD": Decimal("1.0800"),
    "GBP": Decimal("0.8500"),
    "JPY": Decimal("160.00"),
    "CHF": Decimal("0.9400"),
}


def fx_demo_seed(start_day: date, end_day: date) -> int:
    """Business-day rates for EUR, USD, GBP, JPY and CHF, with source "demo" and a small
    deterministic wobble, for days that have none yet (no network). Returns rows added."""
    rows = []
    day = start_day
    now = timezone.now()
    while day <= end_day:
        if day.weekday() < 5:
            for code, base in DEMO_PER_EUR.items():
                # Up to ±1.5% around the base, each currency its own way, the same every run.
                step = (day.toordinal() * 37 + sum(map(ord, code)) * 11) % 31 - 15
                per_eur = (base * (1 + Decimal(step) / 1000)).quantize(Decimal("0.0001"))
                rows.append(
                    FxRate(
                        day=day, currency=code, per_eur=per_eur, source=SOURCE_DEMO, fetched_at=now
                    )
                )
        day += timedelta(1)
    before = FxRate.objects.filter(day__gte=start_day, day__lte=end_day).count()
    FxRate.objects.bulk_create(rows, ignore_conflicts=True)
    return FxRate.objects.filter(day__gte=start_day, day__lte=end_day).count() - before
