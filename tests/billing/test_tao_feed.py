import json
import logging
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import respx

from billing import tasks
from billing.models import TaoPrice
from billing.tao_feed import FeedError, parse_quote, tao_price_poll
from dashboard.models import JobRun
from tests.factories import TaoPriceFactory

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "prices"
SIMPLE_URL = (
    "https://api.coingecko.com/api/v3/simple/price"
    "?ids=bittensor&vs_currencies=usd&include_24hr_change=true&include_last_updated_at=true"
)
CHART_URL = "https://api.coingecko.com/api/v3/coins/bittensor/market_chart?vs_currency=usd&days=1"
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
SIMPLE_AT = datetime(2026, 11, 25, 2, 30, tzinfo=UTC)  # the sample's last_updated_at
CHART_AT = datetime(2026, 11, 25, 0, 10, tzinfo=UTC)  # the sample's latest point


def _sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def _simple(usd, at: int = 1795573800) -> dict:
    return {"bittensor": {"usd": usd, "usd_24h_change": -3.4, "last_updated_at": at}}


@pytest.fixture(autouse=True)
def sources(settings):
    settings.TAO_PRICE_URL = SIMPLE_URL
    settings.TAO_PRICE_FALLBACK_URL = CHART_URL
    settings.TAO_PRICE_TIMEOUT_SECONDS = 10


@pytest.fixture
def feed():
    with respx.mock(assert_all_called=False) as mock:
        yield mock


@pytest.fixture
def chart_fallback(feed):
    return feed.get(CHART_URL).respond(
        200, content=_sample("coingecko_market_chart_bittensor.json")
    )


def test_it_stores_the_primary_price_with_its_source_and_time(db, feed):
    feed.get(SIMPLE_URL).respond(200, content=_sample("coingecko_simple_price_bittensor.json"))
    result = tao_price_poll(now=NOW)
    point = TaoPrice.objects.get()
    assert (point.usd, point.at, point.source) == (Decimal("146.21"), SIMPLE_AT, "coingecko")
    assert result.stored == point and result.created


def test_it_reads_the_simple_price_sample():
    quote = parse_quote(_sample("coingecko_simple_price_bittensor.json"))
    assert (quote.usd, quote.at) == (Decimal("146.21"), SIMPLE_AT)


def test_it_reads_the_latest_point_of_the_market_chart_sample():
    quote = parse_quote(_sample("coingecko_market_chart_bittensor.json"))
    assert (quote.usd, quote.at) == (Decimal("146.21"), CHART_AT)


def test_it_takes_the_latest_point_even_when_the_chart_is_not_in_order():
    quote = parse_quote(b'{"prices": [[1795565400000, 146.2], [1795540200000, 151.0]]}')
    assert (quote.usd, quote.at) == (Decimal("146.2"), CHART_AT)


@pytest.mark.parametrize("body", [b'{"usd": 146.21}', b'{"price": 146.21}', b'{"price": "146.21"}'])
def test_it_reads_a_plain_price_from_another_provider(body):
    quote = parse_quote(body)
    assert (quote.usd, quote.at) == (Decimal("146.21"), None)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<html>rate limited</html>", "not JSON"),
        (b'{"bittensor": {}}', "no 'usd' or 'price' field"),
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
        parse_quote(body)


def test_it_never_dates_a_point_in_the_future(db, feed):
    feed.get(SIMPLE_URL).respond(200, json=_simple(146.21, at=int(NOW.timestamp()) + 3600))
    tao_price_poll(now=NOW)
    assert TaoPrice.objects.get().at == NOW


def test_it_dates_a_point_without_a_time_now(db, feed):
    feed.get(SIMPLE_URL).respond(200, json={"usd": 146.21})
    tao_price_poll(now=NOW)
    assert TaoPrice.objects.get().at == NOW


def test_it_names_another_provider_by_its_host(db, feed, settings):
    settings.TAO_PRICE_URL = "https://prices.example.com/tao"
    feed.get("https://prices.example.com/tao").respond(200, json={"price": "146.21"})
    tao_price_poll(now=NOW)
    assert TaoPrice.objects.get().source == "prices.example.com"


def test_it_waits_as_long_as_the_timeout_setting(db, feed, settings):
    settings.TAO_PRICE_TIMEOUT_SECONDS = 3
    route = feed.get(SIMPLE_URL).respond(200, json=_simple(146.21))
    tao_price_poll(now=NOW)
    assert route.calls.last.request.extensions["timeout"]["read"] == 3


@pytest.mark.parametrize(
    "failure",
    [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.Response(500)],
    ids=["connect-error", "timeout", "http-500"],
)
def test_it_uses_the_fallback_when_the_primary_is_down(db, feed, chart_fallback, failure):
    feed.get(SIMPLE_URL).mock(side_effect=[failure])
    result = tao_price_poll(now=NOW)
    point = TaoPrice.objects.get()
    assert (point.usd, point.at, point.source) == (
        Decimal("146.21"),
        CHART_AT,
        "coingecko-market-chart",
    )
    assert result.reasons[0].startswith("coingecko: ")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "not JSON"),
        (json.dumps({"bittensor": {"last_updated_at": 1795573800}}).encode(), "no 'usd'"),
        (json.dumps(_simple(0)).encode(), "not positive"),
        (json.dumps(_simple(-146.21)).encode(), "not positive"),
    ],
    ids=["bad-json", "missing-field", "zero", "negative"],
)
def test_it_logs_a_bad_primary_answer_and_stores_nothing_from_it(db, feed, caplog, body, reason):
    feed.get(SIMPLE_URL).respond(200, content=body)
    fallback = feed.get(CHART_URL).respond(503)
    with caplog.at_level(logging.WARNING, logger="billing.tao_feed"):
        tao_price_poll(now=NOW)
    assert not TaoPrice.objects.exists()
    assert reason in caplog.text and "coingecko" in caplog.text
    assert fallback.called


@pytest.mark.parametrize("usd", [121, 3.9], ids=["6x-up", "below-a-fifth"])
def test_it_rejects_a_jump_of_more_than_five_times_the_last_price(db, feed, caplog, usd):
    TaoPriceFactory(at=NOW - timedelta(hours=1), usd=Decimal(20), source="coingecko")
    feed.get(SIMPLE_URL).respond(200, json=_simple(usd))
    feed.get(CHART_URL).respond(200, json={"prices": [[1795565400000, usd]]})
    result = tao_price_poll(now=NOW)
    assert TaoPrice.objects.count() == 1
    assert "more than 5x away from the last stored price $20" in caplog.text
    assert len(result.reasons) == 2


def test_it_accepts_exactly_five_times_the_last_price(db, feed):
    TaoPriceFactory(at=NOW - timedelta(hours=1), usd=Decimal(20), source="coingecko")
    feed.get(SIMPLE_URL).respond(200, json=_simple(100))
    assert tao_price_poll(now=NOW).created


def test_it_compares_only_with_a_price_from_the_last_week(db, feed):
    TaoPriceFactory(at=NOW - timedelta(days=8), usd=Decimal(20), source="import")
    feed.get(SIMPLE_URL).respond(200, json=_simple(146.21))
    assert tao_price_poll(now=NOW).created


def test_it_stores_the_fallback_when_the_primary_answer_is_rejected(db, feed, chart_fallback):
    feed.get(SIMPLE_URL).respond(200, json=_simple(0))
    result = tao_price_poll(now=NOW)
    assert result.stored.source == "coingecko-market-chart"
    assert "usd is not positive" in result.summary()


def test_it_stores_nothing_and_says_why_when_both_sources_fail(db, feed):
    feed.get(SIMPLE_URL).mock(side_effect=httpx.ConnectError("refused"))
    feed.get(CHART_URL).respond(502)
    result = tao_price_poll(now=NOW)
    assert result.stored is None and not TaoPrice.objects.exists()
    assert result.reasons == [
        "coingecko: unreachable (ConnectError: refused)",
        "coingecko-market-chart: HTTP 502",
    ]


def test_it_stores_the_same_answer_once(db, feed):
    feed.get(SIMPLE_URL).respond(200, json=_simple(146.21))
    tao_price_poll(now=NOW)
    second = tao_price_poll(now=NOW + timedelta(minutes=5))
    assert TaoPrice.objects.count() == 1
    assert not second.created
    assert second.summary().startswith("already had TAO $146.21")


def test_the_task_records_a_successful_poll(db, feed):
    feed.get(SIMPLE_URL).respond(200, json=_simple(146.21))
    tasks.poll_tao_price.apply()
    run = JobRun.objects.get(name="poll_tao_price")
    assert run.outcome == JobRun.Outcome.OK
    assert run.detail == "stored TAO $146.21 at 2026-11-25 02:30:00 UTC from coingecko"


def test_the_task_records_why_nothing_was_stored_as_degraded_without_raising(db, feed):
    feed.get(SIMPLE_URL).respond(200, content=b"not json")
    feed.get(CHART_URL).mock(side_effect=httpx.ConnectTimeout("slow"))
    tasks.poll_tao_price()
    run = JobRun.objects.get(name="poll_tao_price")
    assert run.outcome == JobRun.Outcome.DEGRADED
    assert run.detail == (
        "no TAO price stored: coingecko: the answer is not JSON; "
        "coingecko-market-chart: no answer within 10 s"
    )


def test_the_task_is_ok_when_the_fallback_source_answers(db, feed, chart_fallback):
    feed.get(SIMPLE_URL).respond(502)
    tasks.poll_tao_price()
    run = JobRun.objects.get(name="poll_tao_price")
    assert run.outcome == JobRun.Outcome.OK
    assert "after coingecko: HTTP 502" in run.detail


def test_the_beat_schedule_polls_the_tao_price_every_five_minutes():
    from dashboard.celery import app

    entry = app.conf.beat_schedule["poll-tao-price"]
    assert (entry["task"], entry["schedule"]) == ("billing.tasks.poll_tao_price", 300.0)
    assert entry["options"]["expires"] < entry["schedule"]
