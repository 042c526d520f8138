"""The TAO price: the latest quote, and the price series with its spikes marked.

TAO-billed providers charge in TAO, so the page shows TAO/USD: `tao_quote` is the latest price
and its 24-hour change, `tao_series` the prices over the chosen days (one an hour beyond two
weeks), with `mark_spikes` flagging where a move of the price alert's default size began.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from billing.models import TaoPrice
from billing.overview.cube import HUNDRED

# TAO price moves marked on the chart (the alert defaults): 10% within 1 h, 20% within 24 h.
SPIKE_WINDOWS = [(timedelta(hours=1), Decimal(10)), (timedelta(hours=24), Decimal(20))]
# Beyond two weeks the TAO chart draws one price an hour (spikes always kept).
HOURLY_TAO_AFTER = timedelta(days=14)


@dataclass(frozen=True)
class TaoQuote:
    usd: Decimal
    at: datetime
    change_24h_pct: Decimal | None


@dataclass(frozen=True)
class TaoPoint:
    at: datetime
    usd: Decimal
    spike_pct: Decimal | None = None  # set where a move of a spike's size began to show


def tao_quote(now: datetime) -> TaoQuote | None:
    """The latest TAO/USD, when it was seen, and its change from 24 hours before it."""
    latest = TaoPrice.objects.latest_at(now)
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
