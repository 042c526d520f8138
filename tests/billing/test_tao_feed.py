"""The TAO/USD poll with CoinGecko alone: its answer shapes, the guards on a quote, the task and
its record. Several sources at once: test_tao_sources.py."""

import logging
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import respx

from billing import tasks
from billing.models import TaoPrice, TaoQuote
from billing.tao_feed import median, tao_price_poll
from billing.tao_sources import FeedError, json_of, parse_coingecko
from dashboard.models import JobRun
from tests.factories import TaoPriceFactory

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "prices"
SIMPLE_URL = (
    "https://api.coingecko.com/api/v3/simple/price"
    "?ids=bittensor&vs_currencies=usd&include_last_updated_at=true"
)
NOW = datetime(2026, 11, 25, 2, 35, tzinfo=UTC)
SIMPLE_AT = datetime(2026, 11, 25, 2, 30, tzinfo=UTC)  # the sample's last_updated_at
CHART_AT = datetime(2026, 11, 25, 0, 10, tzinfo=UTC)  # the market chart sample's latest point


def _sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def _parsed(body: bytes):
    return parse_coingecko(json_of(body))


def _simple(usd, at: int = 1795573800) -> dict:
    return {"bittensor": {"usd": usd, "usd_24h_change": -3.4, "last_updated_at": at}}


@pytest.fixture(autouse=True)
def coingecko_alone(settings):
    settings.TAO_PRICE_SOURCES = ["coingecko"]
    settings.TAO_PRICE_URL = SIMPLE_URL
    settings.TAO_PRICE_TIMEOUT_SECONDS = 10
    settings.TAO_PRICE_QUOTE_MAX_AGE_MINUTES = 15


@pytest.fixture
def feed():
    with respx.mock(assert_all_called=False) as mock:
        yield mock


def test_it_stores_the_price_at_the_poll_with_the_source_that_gave_it(db, feed):
    feed.get(SIMPLE_URL).respond(200, content=_sample("coingecko_simple_price_bittensor.json"))
    result = tao_price_poll(now=NOW)
    point = TaoPrice.objects.get()
    assert (point.usd, point.at, point.source) == (Decimal("146.21"), NOW, "coingecko")
    assert result.stored == point and result.created


def test_it_stores_the_quote_with_the_time_the_source_gives(db, feed):
    feed.get(SIMPLE_URL).respond(200, content=_sample("coingecko_simple_price_bittensor.json"))
    tao_price_poll(now=NOW)
    quote = TaoQuote.objects.get()
    assert (quote.source, quote.usd, quote.at, quote.polled_at) == (
        "coingecko",
        Decimal("146.21"),
        SIMPLE_AT,
        NOW,
    )
    assert quote.used and quote.price == TaoPrice.objects.get()


def test_a_price_from_one_source_alone_is_degraded(db, feed):
    feed.get(SIMPLE_URL).respond(200, json=_simple(146.21))
    assert tao_price_poll(now=NOW).stored.degraded


def test_it_reads_the_simple_price_sample():
    quote = _parsed(_sample("coingecko_simple_price_bittensor.json"))
    assert (quote.usd, quote.at) == (Decimal("146.21"), SIMPLE_AT)


def test_it_reads_the_latest_point_of_the_market_chart_sample():
    quote = _parsed(_sample("coingecko_market_chart_bittensor.json"))
    assert (quote.usd, quote.at) == (Decimal("146.21"), CHART_AT)


def test_it_takes_the_latest_point_even_when_the_chart_is_not_in_order():
    quote = _parsed(b'{"prices": [[1795565400000, 146.2], [1795540200000, 151.0]]}')
    assert (quote.usd, quote.at) == (Decimal("146.2"), CHART_AT)


@pytest.mark.parametrize("body", [b'{"usd": 146.21}', b'{"price": 146.21}', b'{"price": "146.21"}'])
def test_it_reads_a_plain_price_from_a_provider_standing_in_for_coingecko(body):
    quote = _parsed(body)
    assert (quote.usd, quote.at) == (Decimal("146.21"), None)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"bittensor": {}}', "no price"),
        (b"[146.21]", "not a JSON object"),
        (b'{"usd": "cheap"}', "not a number"),
        (b'{"usd": true}', "not a number"),
        (b'{"usd": NaN}', "not a finite number"),
        (b'{"usd": Infinity}', "not a finite number"),
        (b'{"usd": 0}', "not positive"),
        (b'{"usd": -146.21}', "not positive"),
        (b'{"usd": -1e40}', "not positive"),
        (b'{"usd": 1e-9}', "too small"),
        (b'{"usd": 1e40}', "too large"),
        (b'{"prices": []}', "holds no points"),
        (b'{"prices": [[1795565400000]]}', "not [time, price]"),
        (b'{"usd": 146.21, "last_updated_at": "yesterday"}', "last_updated_at is not a number"),
    ],
)
def test_it_refuses_an_answer_that_is_no_price(body, reason):
    with pytest.raises(FeedError, match=re.escape(reason)):
        _parsed(body)


def test_it_notes_an_answer_that_is_not_json(db, feed):
    feed.get(SIMPLE_URL).respond(200, content=b"<html>rate limited</html>")
    tao_price_poll(now=NOW)
    assert TaoQuote.objects.get().note == "the answer is not JSON"


def test_it_never_dates_a_quote_in_the_future(db, feed):
    feed.get(SIMPLE_URL).respond(200, json=_simple(146.21, at=int(NOW.timestamp()) + 3600))
    tao_price_poll(now=NOW)
    assert TaoQuote.objects.get().at == NOW


def test_it_keeps_a_quote_without_a_time_undated_and_fresh(db, feed):
    feed.get(SIMPLE_URL).respond(200, json={"usd": 146.21})
    tao_price_poll(now=NOW)
    quote = TaoQuote.objects.get()
    assert quote.at is None and quote.used


def test_it_keeps_a_quote_older_than_the_freshness_limit_but_does_not_use_it(db, feed):
    old = int((NOW - timedelta(minutes=16)).timestamp())
    feed.get(SIMPLE_URL).respond(200, json=_simple(146.21, at=old))
    result = tao_price_poll(now=NOW)
    quote = TaoQuote.objects.get()
    assert (quote.usd, quote.used) == (Decimal("146.21"), False)
    assert quote.note == "quoted at 2026-11-25 02:19 UTC, over 15 min old"
    assert result.stored is None and not TaoPrice.objects.exists()


def test_it_waits_as_long_as_the_timeout_setting(db, feed, settings):
    settings.TAO_PRICE_TIMEOUT_SECONDS = 3
    route = feed.get(SIMPLE_URL).respond(200, json=_simple(146.21))
    tao_price_poll(now=NOW)
    assert route.calls.last.request.extensions["timeout"]["read"] == 3


@pytest.mark.parametrize(
    ("failure", "note"),
    [
        (httpx.ConnectError("refused"), "unreachable (ConnectError: refused)"),
        (httpx.ReadTimeout("slow"), "no answer within 10 s"),
        (httpx.Response(503), "HTTP 503"),
    ],
    ids=["connect-error", "timeout", "http-503"],
)
def test_it_stores_a_failed_quote_saying_why(db, feed, failure, note):
    feed.get(SIMPLE_URL).mock(side_effect=[failure])
    tao_price_poll(now=NOW)
    quote = TaoQuote.objects.get()
    assert (quote.usd, quote.used, quote.note, quote.price) == (None, False, note, None)


def test_it_logs_a_bad_answer_with_its_source(db, feed, caplog):
    feed.get(SIMPLE_URL).respond(200, json=_simple(0))
    with caplog.at_level(logging.WARNING, logger="billing.tao_feed"):
        tao_price_poll(now=NOW)
    assert "coingecko" in caplog.text and "usd is not positive" in caplog.text


@pytest.mark.parametrize("usd", [121, 3.9], ids=["6x-up", "below-a-fifth"])
def test_it_does_not_use_a_jump_of_more_than_five_times_the_last_price(db, feed, usd):
    TaoPriceFactory(at=NOW - timedelta(hours=1), usd=Decimal(20), source="median")
    feed.get(SIMPLE_URL).respond(200, json=_simple(usd))
    tao_price_poll(now=NOW)
    quote = TaoQuote.objects.get()
    assert "more than 5x away from the last stored price $20" in quote.note
    assert TaoPrice.objects.count() == 1


def test_it_accepts_exactly_five_times_the_last_price(db, feed):
    TaoPriceFactory(at=NOW - timedelta(hours=1), usd=Decimal(20), source="median")
    feed.get(SIMPLE_URL).respond(200, json=_simple(100))
    assert tao_price_poll(now=NOW).created


def test_it_compares_only_with_a_price_from_the_last_week(db, feed):
    TaoPriceFactory(at=NOW - timedelta(days=8), usd=Decimal(20), source="import")
    feed.get(SIMPLE_URL).respond(200, json=_simple(146.21))
    assert tao_price_poll(now=NOW).created


def test_polling_the_same_moment_twice_stores_nothing_new(db, feed):
    route = feed.get(SIMPLE_URL).respond(200, json=_simple(146.21))
    tao_price_poll(now=NOW)
    second = tao_price_poll(now=NOW)
    assert (TaoPrice.objects.count(), TaoQuote.objects.count(), route.call_count) == (1, 1, 1)
    assert not second.created
    assert second.summary().startswith("already had TAO $146.21")


def test_a_later_poll_stores_a_price_of_its_own(db, feed):
    feed.get(SIMPLE_URL).respond(200, json=_simple(146.21))
    tao_price_poll(now=NOW)
    tao_price_poll(now=NOW + timedelta(minutes=5))
    assert list(TaoPrice.objects.order_by("at").values_list("at", flat=True)) == [
        NOW,
        NOW + timedelta(minutes=5),
    ]


def test_it_stores_no_price_and_says_so_when_no_source_is_enabled(db, settings):
    settings.TAO_PRICE_SOURCES = ["coinmarketcap"]
    settings.COINMARKETCAP_API_KEY = ""
    result = tao_price_poll(now=NOW)
    assert result.summary() == "no TAO price stored: no source is enabled"


@pytest.mark.parametrize(
    ("values", "middle"),
    [
        ([Decimal(3), Decimal(1), Decimal(2)], Decimal(2)),
        ([Decimal(4), Decimal(1), Decimal(2), Decimal(3)], Decimal("2.5")),
        ([Decimal("0.00000001"), Decimal("0.00000002")], Decimal("0.00000002")),
    ],
    ids=["odd", "even", "even-rounded-to-the-stored-precision"],
)
def test_the_median_of_an_even_count_is_the_mean_of_the_two_middle_ones(values, middle):
    assert median(values) == middle


def test_the_task_records_a_degraded_run_when_one_source_alone_gave_the_price(db, feed, clock):
    feed.get(SIMPLE_URL).respond(200, json=_simple(146.21))
    tasks.poll_tao_price.apply()
    run = JobRun.objects.get(name="poll_tao_price")
    assert run.outcome == JobRun.Outcome.DEGRADED
    assert run.detail == "stored TAO $146.21 at 2026-11-25 02:35:00 UTC from coingecko, degraded"


def test_the_task_records_why_nothing_was_stored_as_degraded_without_raising(db, feed):
    feed.get(SIMPLE_URL).mock(side_effect=httpx.ConnectTimeout("slow"))
    tasks.poll_tao_price()
    run = JobRun.objects.get(name="poll_tao_price")
    assert run.outcome == JobRun.Outcome.DEGRADED
    assert run.detail == "no TAO price stored: coingecko: no answer within 10 s"


def test_the_beat_schedule_polls_the_tao_price_every_five_minutes():
    from dashboard.celery import app

    entry = app.conf.beat_schedule["poll-tao-price"]
    assert (entry["task"], entry["schedule"]) == ("billing.tasks.poll_tao_price", 300.0)
    assert entry["options"]["expires"] < entry["schedule"]
