"""Several TAO/USD sources at once: each one's real answer shape, outages, outliers, a degraded
price, the keyed sources, the Scheduled jobs page's panel and the degraded-price alert."""

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import respx
from django.urls import reverse

from billing.alerts.evaluation import alerts_evaluate
from billing.demo import demo_tao_prices
from billing.models import Alert, AlertKind, AlertState, TaoPrice, TaoQuote
from billing.tao_feed import median, tao_price_poll
from billing.tao_sources import (
    SOURCES,
    FeedError,
    json_of,
    parse_coinbase,
    parse_coinmarketcap,
    parse_kraken,
    parse_taostats,
    sources_enabled,
)
from tests.factories import AlertRuleFactory

ROOT = Path(__file__).resolve().parents[2]

NOW = datetime(2026, 12, 5, 10, 2, tzinfo=UTC)
COINGECKO_URL = (
    "https://api.coingecko.com/api/v3/simple/price"
    "?ids=bittensor&vs_currencies=usd&include_last_updated_at=true"
)
KRAKEN_URL = "https://api.kraken.com/0/public/Ticker?pair=TAOUSD"
COINBASE_URL = "https://api.coinbase.com/v2/prices/TAO-USD/spot"
CMC_URL = "https://pro-api.coinmarketcap.com/v2/cryptocurrency/quotes/latest?symbol=TAO&convert=USD"
TAOSTATS_URL = "https://api.taostats.io/api/price/latest/v1?asset=tao"
CMC_KEY = "cmc-secret-0f3a9b"
TAOSTATS_KEY = "tstats-secret-77c1"


def coingecko(usd: str) -> dict:
    seen = int((NOW - timedelta(minutes=2)).timestamp())
    return {"bittensor": {"usd": Decimal(usd), "last_updated_at": seen}}


def kraken(usd: str, pair: str = "TAOUSD") -> dict:
    ticker = {
        "a": ["412.10000", "1", "1.000"],
        "b": ["411.90000", "3", "3.000"],
        "c": [usd, "0.50000000"],
        "v": ["1520.11", "8431.77"],
        "p": ["410.43", "409.87"],
        "t": [312, 2104],
        "l": ["401.20000", "399.00000"],
        "h": ["415.00000", "418.30000"],
        "o": "405.10000",
    }
    return {"error": [], "result": {pair: ticker}}


def coinbase(usd: str) -> dict:
    return {"data": {"amount": usd, "base": "TAO", "currency": "USD"}}


def coinmarketcap(usd: str) -> dict:
    status = {"timestamp": "2026-12-05T10:01:30.000Z", "error_code": 0, "error_message": None}
    coin = {
        "id": 22974,
        "name": "Bittensor",
        "symbol": "TAO",
        "slug": "bittensor",
        "quote": {"USD": {"price": Decimal(usd), "last_updated": "2026-12-05T10:00:00.000Z"}},
    }
    return {"status": status, "data": {"TAO": [coin]}}


def taostats(usd: str) -> dict:
    row = {
        "name": "Bittensor",
        "symbol": "TAO",
        "slug": "bittensor",
        "price": usd,
        "last_updated": "2026-12-05T10:00:00Z",
        "market_cap": "3520000000.0",
        "volume_24h": "91000000.0",
    }
    return {"pagination": {"current_page": 1, "total_items": 1}, "data": [row]}


def _body(data: dict) -> bytes:
    return json.dumps(data, default=str).encode()


def _parsed(parse, data: dict):
    return parse(json_of(_body(data)))


@pytest.fixture(autouse=True)
def sources(settings):
    settings.TAO_PRICE_SOURCES = ["coingecko", "kraken", "coinbase"]
    settings.TAO_PRICE_URL = COINGECKO_URL
    settings.COINMARKETCAP_API_KEY = ""
    settings.TAOSTATS_API_KEY = ""
    settings.TAO_PRICE_TIMEOUT_SECONDS = 10
    settings.TAO_PRICE_MAX_DEVIATION_PCT = Decimal(2)
    settings.TAO_PRICE_QUOTE_MAX_AGE_MINUTES = 15


@pytest.fixture
def feed():
    with respx.mock(assert_all_called=False) as mock:
        yield mock


def _answer(feed, url, data=None, *, status=200, failure=None):
    route = feed.get(url)
    if failure is not None:
        return route.mock(side_effect=failure)
    return route.respond(status, content=_body(data))


def _all_answer(feed, gecko="412.10", krak="412.30", base="412.20"):
    _answer(feed, COINGECKO_URL, coingecko(gecko))
    _answer(feed, KRAKEN_URL, kraken(krak))
    _answer(feed, COINBASE_URL, coinbase(base))


def _quote(source: str) -> TaoQuote:
    return TaoQuote.objects.get(source=source)


# --- Each source's answer -----------------------------------------------------------------


def test_it_reads_kraken_s_last_trade_price():
    quote = _parsed(parse_kraken, kraken("412.20000"))
    assert (quote.usd, quote.at) == (Decimal("412.2"), None)


def test_it_reads_kraken_s_one_ticker_under_another_name_than_the_pair_asked():
    assert _parsed(parse_kraken, kraken("412.2", pair="XTAOZUSD")).usd == Decimal("412.2")


def test_it_refuses_kraken_s_answer_with_an_error_list():
    data = {"error": ["EQuery:Unknown asset pair"], "result": {}}
    with pytest.raises(FeedError, match="Kraken says EQuery:Unknown asset pair"):
        _parsed(parse_kraken, data)


def test_it_reads_coinbase_s_spot_amount():
    assert _parsed(parse_coinbase, coinbase("412.15")).usd == Decimal("412.15")


def test_it_refuses_a_coinbase_price_in_another_currency():
    data = {"data": {"amount": "380.00", "base": "TAO", "currency": "EUR"}}
    with pytest.raises(FeedError, match="not USD"):
        _parsed(parse_coinbase, data)


def test_it_reads_coinmarketcap_s_price_and_its_time():
    quote = _parsed(parse_coinmarketcap, coinmarketcap("412.2"))
    assert (quote.usd, quote.at) == (Decimal("412.2"), datetime(2026, 12, 5, 10, 0, tzinfo=UTC))


def test_it_takes_bittensor_among_coinmarketcap_s_coins_with_the_symbol_tao():
    data = coinmarketcap("412.2")
    other = {"slug": "tao-other", "quote": {"USD": {"price": "0.01"}}}
    data["data"]["TAO"].insert(0, other)
    assert _parsed(parse_coinmarketcap, data).usd == Decimal("412.2")


def test_it_reads_taostats_price_and_its_time():
    quote = _parsed(parse_taostats, taostats("412.2"))
    assert (quote.usd, quote.at) == (Decimal("412.2"), datetime(2026, 12, 5, 10, 0, tzinfo=UTC))


@pytest.mark.parametrize(
    ("parse", "data"),
    [
        (parse_kraken, {"error": [], "result": {}}),
        (parse_coinbase, {"data": {"base": "TAO", "currency": "USD"}}),
        (parse_coinmarketcap, {"status": {}, "data": {}}),
        (parse_taostats, {"data": []}),
    ],
    ids=["kraken", "coinbase", "coinmarketcap", "taostats"],
)
def test_it_says_an_answer_without_a_price_has_none(parse, data):
    with pytest.raises(FeedError, match="the answer has no price"):
        _parsed(parse, data)


# --- The poll -----------------------------------------------------------------------------


def test_it_stores_every_source_s_quote_and_their_median(db, feed):
    _all_answer(feed)
    result = tao_price_poll(now=NOW)
    price = TaoPrice.objects.get()
    assert (price.usd, price.at, price.source, price.degraded) == (
        Decimal("412.2"),
        NOW,
        "median",
        False,
    )
    assert result.created and result.summary() == (
        "stored TAO $412.2 at 2026-12-05 10:02:00 UTC from median"
    )
    quotes = TaoQuote.objects.order_by("source")
    assert [(q.source, q.usd, q.used, q.price) for q in quotes] == [
        ("coinbase", Decimal("412.2"), True, price),
        ("coingecko", Decimal("412.1"), True, price),
        ("kraken", Decimal("412.3"), True, price),
    ]


def test_it_notes_kraken_s_error_list_as_its_failure(db, feed):
    _all_answer(feed)
    _answer(feed, KRAKEN_URL, {"error": ["EQuery:Unknown asset pair"]})
    tao_price_poll(now=NOW)
    assert _quote("kraken").note == "Kraken says EQuery:Unknown asset pair"


def test_it_notes_coinbase_s_404_with_what_its_errors_say(db, feed):
    _all_answer(feed)
    errors = {"errors": [{"id": "not_found", "message": "Invalid base currency"}]}
    _answer(feed, COINBASE_URL, errors, status=404)
    tao_price_poll(now=NOW)
    assert _quote("coinbase").note == "HTTP 404 (not_found: Invalid base currency)"


@pytest.mark.parametrize(
    ("failure", "note"),
    [
        (httpx.ReadTimeout("slow"), "no answer within 10 s"),
        (httpx.ConnectError("refused"), "unreachable (ConnectError: refused)"),
        (httpx.Response(503, text="<html>upstream down</html>"), "HTTP 503"),
    ],
    ids=["timeout", "connect-error", "http-503"],
)
def test_one_source_down_still_gives_the_median_of_the_others(db, feed, failure, note):
    _all_answer(feed)
    _answer(feed, KRAKEN_URL, failure=[failure])
    result = tao_price_poll(now=NOW)
    assert (result.stored.usd, result.stored.degraded) == (Decimal("412.15"), False)
    failed = _quote("kraken")
    assert (failed.usd, failed.used, failed.note) == (None, False, note)
    assert result.reasons == [f"kraken: {note}"]


def test_a_quote_3_percent_off_is_kept_but_not_used_and_says_why(db, feed):
    _all_answer(feed, gecko="412.10", krak="412.30", base="424.67")
    result = tao_price_poll(now=NOW)
    outlier = _quote("coinbase")
    assert (outlier.usd, outlier.used) == (Decimal("424.67"), False)
    assert outlier.note == "3.0% from the median $412.30: not used"
    assert (result.stored.usd, result.stored.degraded) == (Decimal("412.2"), False)


def test_a_quote_exactly_at_the_deviation_limit_is_used(db, feed):
    _all_answer(feed, gecko="400", krak="408", base="416")
    tao_price_poll(now=NOW)
    assert TaoQuote.objects.filter(used=True).count() == 3


def test_two_sources_down_give_a_degraded_price_from_the_third(db, feed):
    _answer(feed, COINGECKO_URL, coingecko("412.10"))
    _answer(feed, KRAKEN_URL, status=502, data={"error": []})
    _answer(feed, COINBASE_URL, failure=httpx.ConnectTimeout("slow"))
    result = tao_price_poll(now=NOW)
    price = TaoPrice.objects.get()
    assert (price.usd, price.source, price.degraded) == (Decimal("412.1"), "coingecko", True)
    assert result.summary() == (
        "stored TAO $412.1 at 2026-12-05 10:02:00 UTC from coingecko, degraded "
        "(after kraken: HTTP 502; coinbase: no answer within 10 s)"
    )


def test_two_sources_that_disagree_are_both_used_and_the_price_is_degraded(db, feed):
    _answer(feed, COINGECKO_URL, coingecko("400"))
    _answer(feed, KRAKEN_URL, kraken("420"))
    _answer(feed, COINBASE_URL, status=503, data={})
    result = tao_price_poll(now=NOW)
    assert (result.stored.usd, result.stored.degraded) == (Decimal(410), True)
    assert _quote("kraken").note == "2.4% from the median $410.00: the sources disagree"
    assert _quote("kraken").used


def test_all_sources_down_store_their_failures_and_no_price(db, feed):
    for url in (COINGECKO_URL, KRAKEN_URL, COINBASE_URL):
        _answer(feed, url, failure=httpx.ConnectError("refused"))
    result = tao_price_poll(now=NOW)
    assert result.stored is None and not TaoPrice.objects.exists()
    assert TaoQuote.objects.filter(usd__isnull=True, price__isnull=True).count() == 3
    assert result.summary().startswith("no TAO price stored: coingecko: unreachable")


# --- The keyed sources --------------------------------------------------------------------


def test_the_keyed_sources_are_off_without_their_keys(settings):
    settings.TAO_PRICE_SOURCES = [*SOURCES]
    assert [source.name for source in sources_enabled()] == ["coingecko", "kraken", "coinbase"]


def test_the_keyed_sources_are_on_with_their_keys(settings):
    settings.TAO_PRICE_SOURCES = [*SOURCES]
    settings.COINMARKETCAP_API_KEY = CMC_KEY
    settings.TAOSTATS_API_KEY = TAOSTATS_KEY
    assert [source.name for source in sources_enabled()] == [*SOURCES]


def _settings_with(**env) -> subprocess.CompletedProcess:
    names = ("TAO_PRICE_SOURCES", "COINMARKETCAP_API_KEY", "TAOSTATS_API_KEY")
    clean = {name: value for name, value in os.environ.items() if name not in names}
    code = "from django.conf import settings; print(','.join(settings.TAO_PRICE_SOURCES))"
    return subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_default_sources_take_in_a_keyed_one_once_its_key_is_set():
    run = _settings_with(TAOSTATS_API_KEY=TAOSTATS_KEY)
    assert run.stdout.strip().splitlines()[-1] == "coingecko,kraken,coinbase,taostats"


def test_it_refuses_to_start_with_an_unknown_source():
    run = _settings_with(TAO_PRICE_SOURCES="coingecko,binance")
    assert run.returncode != 0
    assert "TAO_PRICE_SOURCES='coingecko,binance' names an unknown source" in run.stderr


@pytest.fixture
def keyed(settings, feed):
    settings.TAO_PRICE_SOURCES = ["coinmarketcap", "taostats"]
    settings.COINMARKETCAP_API_KEY = CMC_KEY
    settings.TAOSTATS_API_KEY = TAOSTATS_KEY
    return feed


def test_it_sends_each_key_in_its_source_s_header(db, keyed):
    cmc = _answer(keyed, CMC_URL, coinmarketcap("412.2"))
    stats = _answer(keyed, TAOSTATS_URL, taostats("412.4"))
    result = tao_price_poll(now=NOW)
    assert cmc.calls.last.request.headers["X-CMC_PRO_API_KEY"] == CMC_KEY
    assert stats.calls.last.request.headers["Authorization"] == TAOSTATS_KEY
    assert (result.stored.usd, result.stored.degraded) == (Decimal("412.3"), False)


def test_it_never_stores_a_key_even_when_the_source_refuses_it(db, keyed):
    refusal = {"status": {"error_code": 1001, "error_message": "This API Key is invalid."}}
    _answer(keyed, CMC_URL, refusal, status=401)
    _answer(keyed, TAOSTATS_URL, failure=httpx.ConnectError("refused"))
    result = tao_price_poll(now=NOW)
    assert _quote("coinmarketcap").note == "HTTP 401 (This API Key is invalid.)"
    stored = json.dumps(list(TaoQuote.objects.values()), default=str) + result.summary()
    assert CMC_KEY not in stored and TAOSTATS_KEY not in stored


# --- The Scheduled jobs page --------------------------------------------------------------


def _jobs_page(client, user, team) -> str:
    client.force_login(user)
    return client.get(reverse("alert_jobs", kwargs={"team": team.slug})).content.decode()


def test_the_jobs_page_shows_each_source_s_last_quote(db, feed, client, admin_user, team):
    _all_answer(feed, base="424.67")
    tao_price_poll(now=NOW)
    page = _jobs_page(client, admin_user, team)
    assert "TAO price sources" in page
    assert "$412.10" in page and ">used<" in page
    assert "3.0% from the median $412.30: not used" in page
    assert "off: COINMARKETCAP_API_KEY is not set" in page


def test_the_jobs_page_shows_a_source_s_failure_with_its_last_price(
    db, feed, client, admin_user, team
):
    _all_answer(feed)
    tao_price_poll(now=NOW)
    _answer(feed, KRAKEN_URL, failure=httpx.ReadTimeout("slow"))
    tao_price_poll(now=NOW + timedelta(minutes=5))
    row = _jobs_page(client, admin_user, team).split('data-testid="tao-source-kraken"')[1]
    row = row.split("</tr>")[0]
    assert "no answer within 10 s" in row and ">failed<" in row
    assert "last price $412.30 at" in row


def test_the_jobs_page_says_the_current_price_is_degraded_and_which_sources_fail(
    db, feed, client, admin_user, team
):
    _answer(feed, COINGECKO_URL, coingecko("412.10"))
    _answer(feed, KRAKEN_URL, status=503, data={})
    _answer(feed, COINBASE_URL, failure=httpx.ConnectError("refused"))
    tao_price_poll(now=NOW)
    page = _jobs_page(client, admin_user, team)
    assert 'data-testid="tao-price-degraded"' in page
    assert "<code>kraken</code> (HTTP 503)" in page
    assert "<code>coinbase</code> (unreachable (ConnectError: refused))" in page


def test_the_jobs_page_escapes_what_a_source_says(db, feed, client, admin_user, team):
    _all_answer(feed)
    _answer(feed, KRAKEN_URL, {"error": ["<script>alert(1)</script>"]})
    tao_price_poll(now=NOW)
    page = _jobs_page(client, admin_user, team)
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page


# --- The degraded-price alert -------------------------------------------------------------


def _poll_degraded(feed, at):
    with respx.mock(assert_all_called=False) as mock:
        _answer(mock, COINGECKO_URL, coingecko("412.10"))
        _answer(mock, KRAKEN_URL, status=503, data={})
        _answer(mock, COINBASE_URL, failure=httpx.ConnectTimeout("slow"))
        tao_price_poll(now=at)


def _poll_healthy(at):
    with respx.mock(assert_all_called=False) as mock:
        _all_answer(mock)
        tao_price_poll(now=at)


@pytest.fixture
def degraded_rule(team):
    return AlertRuleFactory(kind=AlertKind.TAO_PRICE_DEGRADED, team=team, params={"minutes": 15})


def test_the_degraded_alert_fires_after_its_minutes_naming_the_failing_sources(db, degraded_rule):
    for minutes in (20, 15, 10, 5, 0):
        _poll_degraded(None, NOW - timedelta(minutes=minutes))
    alerts_evaluate(now=NOW)
    alert = Alert.objects.get(rule=degraded_rule)
    assert alert.state == AlertState.FIRING
    assert alert.subject == "TAO price degraded for 20 min: coinbase, kraken not used"
    assert "coinbase: no answer within 10 s; kraken: HTTP 503" in alert.summary
    assert "stored $412.10 from coingecko, marked degraded" in alert.summary


def test_the_degraded_alert_waits_for_its_minutes(db, degraded_rule):
    _poll_healthy(NOW - timedelta(minutes=20))
    _poll_degraded(None, NOW - timedelta(minutes=10))
    _poll_degraded(None, NOW)
    alerts_evaluate(now=NOW)
    assert not Alert.objects.exists()


def test_the_degraded_alert_resolves_once_a_poll_is_healthy(db, degraded_rule):
    for minutes in (20, 0):
        _poll_degraded(None, NOW - timedelta(minutes=minutes))
    alerts_evaluate(now=NOW)
    _poll_healthy(NOW + timedelta(minutes=5))
    alerts_evaluate(now=NOW + timedelta(minutes=5))
    assert Alert.objects.get(rule=degraded_rule).state == AlertState.RESOLVED


def test_the_degraded_alert_fires_when_no_source_has_answered_for_its_minutes(db, degraded_rule):
    for at in (NOW - timedelta(minutes=15), NOW):
        with respx.mock() as mock:
            for url in (COINGECKO_URL, KRAKEN_URL, COINBASE_URL):
                _answer(mock, url, status=500, data={})
            tao_price_poll(now=at)
    alerts_evaluate(now=NOW)
    alert = Alert.objects.get(rule=degraded_rule)
    assert "stored no price" in alert.summary


# --- The demo -----------------------------------------------------------------------------


def test_each_demo_price_is_the_median_of_three_sources_used_quotes(db):
    demo_tao_prices(NOW - timedelta(days=3), NOW)
    price = TaoPrice.objects.filter(source="demo").order_by("at").last()
    quotes = list(price.quotes.all())
    assert sorted(quote.source for quote in quotes) == ["coinbase", "coingecko", "kraken"]
    assert median(quote.usd for quote in quotes if quote.used) == price.usd


def test_the_demo_keeps_a_rare_outlier_unused_with_its_note(db):
    demo_tao_prices(NOW - timedelta(days=20), NOW)
    outliers = TaoQuote.objects.filter(used=False)
    assert 0 < outliers.count() < TaoPrice.objects.count() / 50
    assert all(quote.note.endswith(": not used") for quote in outliers)
