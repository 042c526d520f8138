"""TaoBook: the TAO price of each event's moment, the same whichever way it is fetched."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from billing.costing import TaoBook
from tests.factories import TaoPriceFactory

START = datetime(2026, 10, 1, tzinfo=UTC)


@pytest.fixture
def quotes(db):
    """A quote every 5 minutes for three days, a 3-hour outage on day 2, two sources at once."""
    for number in range(3 * 288):
        at = START + timedelta(minutes=5 * number)
        if timedelta(days=1, hours=2) <= at - START < timedelta(days=1, hours=5):
            continue
        TaoPriceFactory(at=at, usd=Decimal(300) + number, source="one")
    TaoPriceFactory(at=START + timedelta(days=2), usd=Decimal("999.5"), source="two")


def _moments() -> list[datetime]:
    """Moments over the three days: between quotes, on a quote, in the outage, before any."""
    return [
        START - timedelta(minutes=1),
        *(START + timedelta(minutes=17 * n + 3, seconds=n % 60) for n in range(250)),
        START + timedelta(days=1, hours=4),
        START + timedelta(days=2),
        START + timedelta(days=2, minutes=4),
    ]


def test_a_long_span_gives_each_moment_the_price_a_range_read_gives(quotes):
    moments = _moments()
    assert max(moments) - min(moments) > timedelta(hours=6)  # the looked-up way on PostgreSQL
    around, ranged = TaoBook.around(moments), TaoBook(min(moments), max(moments))
    assert [around.usd_at(m) for m in moments] == [ranged.usd_at(m) for m in moments]


def test_a_moment_takes_the_latest_quote_within_the_hour(quotes):
    book = TaoBook.around(_moments())
    assert book.usd_at(START - timedelta(minutes=1)) is None  # before any quote
    assert book.usd_at(START + timedelta(minutes=3)) == Decimal(300)
    assert book.usd_at(START + timedelta(days=1, hours=4)) is None  # an hour into the outage
    # Two sources quoted at the same moment: the last recorded.
    assert book.usd_at(START + timedelta(days=2, minutes=4)) == Decimal("999.5")


def test_a_looked_up_moment_keeps_its_microseconds_and_zone(quotes):
    just_before = START + timedelta(minutes=10, microseconds=-1)
    in_tokyo = (START + timedelta(minutes=10)).astimezone(ZoneInfo("Asia/Tokyo"))
    book = TaoBook.around([*_moments(), just_before, in_tokyo])
    assert book.usd_at(just_before) == Decimal(301)  # the quote 1 us later is not used
    assert book.usd_at(in_tokyo) == Decimal(302)
