"""The ECB's reference rates: fetching and parsing them (and refusing what is not them), storing
them once, converting USD with them exactly, days without rates, the daily task, the demo rates,
and the {% money %} tag that shows amounts with them."""

from datetime import UTC, date, datetime
from decimal import Decimal

import httpx
import pytest
import respx
from django.template import Context, Template

from billing import fx, fx_tasks
from billing.models import FxRate
from dashboard.models import JobRun

NOW = datetime(2026, 12, 7, 17, 0, tzinfo=UTC)  # Monday
DAILY_URL = "https://www.ecb.europa.eu/stats/eurofxref/eurofxref-daily.xml"
HISTORY_URL = "https://www.ecb.europa.eu/stats/eurofxref/eurofxref-hist-90d.xml"
HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" '
    'xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">\n'
    "\t<gesmes:subject>Reference rates</gesmes:subject>\n"
    "\t<gesmes:Sender>\n\t\t<gesmes:name>European Central Bank</gesmes:name>\n\t</gesmes:Sender>\n"
    "\t<Cube>\n"
)
TAIL = "\t</Cube>\n</gesmes:Envelope>\n"


def _day(day: str, **rates: str) -> str:
    cubes = "".join(
        f"\t\t\t<Cube currency='{code}' rate='{rate}'/>\n" for code, rate in rates.items()
    )
    return f"\t\t<Cube time='{day}'>\n{cubes}\t\t</Cube>\n"


DAILY = HEAD + _day("2026-12-07", USD="1.0543", JPY="158.12", GBP="0.8581", CHF="0.9377") + TAIL
HISTORY = (
    HEAD
    + _day("2026-12-04", USD="1.0520", JPY="157.90", GBP="0.8570", CHF="0.9360")
    + _day("2026-12-03", USD="1.0500", JPY="157.00", GBP="0.8560", CHF="0.9350")
    + _day("2026-12-02", USD="1.0480", JPY="156.50", GBP="0.8550", CHF="0.9340")
    + TAIL
).encode()


@pytest.fixture(autouse=True)
def ecb_urls(settings):
    settings.FX_RATES_URL = HISTORY_URL
    settings.FX_RATES_DAILY_URL = DAILY_URL
    settings.FX_RATES_TIMEOUT_SECONDS = 5


def _store(day: date, source: str = "ECB", **rates: str) -> None:
    for code, per_eur in rates.items():
        FxRate.objects.create(day=day, currency=code, per_eur=Decimal(per_eur), source=source)


# --- Parsing ------------------------------------------------------------------------------


def test_it_reads_each_day_of_the_90_day_file_as_units_per_euro():
    days = fx.parse_ecb_xml(HISTORY)
    assert sorted(days) == [date(2026, 12, 2), date(2026, 12, 3), date(2026, 12, 4)]
    assert days[date(2026, 12, 4)]["USD"] == Decimal("1.0520")
    assert days[date(2026, 12, 2)]["JPY"] == Decimal("156.50")


def test_it_reads_the_daily_file():
    assert fx.parse_ecb_xml(DAILY.encode()) == {
        date(2026, 12, 7): {
            "USD": Decimal("1.0543"),
            "JPY": Decimal("158.12"),
            "GBP": Decimal("0.8581"),
            "CHF": Decimal("0.9377"),
        }
    }


def test_it_refuses_an_entity_expansion():
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        b"<lolz>&lol2;</lolz>"
    )
    with pytest.raises(fx.FxError, match="unsafe XML"):
        fx.parse_ecb_xml(bomb)


@pytest.mark.parametrize(
    "body, reason",
    [
        (b"<html>Service unavailable", "not XML"),
        (b"{}", "not XML"),
        ((HEAD + TAIL).encode(), "no reference rates"),
        ((HEAD + _day("2026-12-07", USD="abc") + TAIL).encode(), "USD rate is not a number"),
        ((HEAD + _day("2026-12-07", USD="-1.05") + TAIL).encode(), "not a positive number"),
        ((HEAD + _day("2026-12-07", USD="NaN") + TAIL).encode(), "not a positive number"),
        ((HEAD + _day("07.12.2026", USD="1.05") + TAIL).encode(), "not YYYY-MM-DD"),
        ((HEAD + _day("2026-12-07", usd="1.05") + TAIL).encode(), "three capital letters"),
    ],
)
def test_it_refuses_an_answer_that_is_not_reference_rates(body, reason):
    with pytest.raises(fx.FxError, match=reason):
        fx.parse_ecb_xml(body)


# --- Fetching and storing -------------------------------------------------------------------


@respx.mock
def test_it_fills_an_empty_table_from_the_90_day_file(db):
    respx.get(HISTORY_URL).mock(return_value=httpx.Response(200, content=HISTORY))
    result = fx.fx_rates_fetch(now=NOW)
    assert result.error == ""
    assert result.written == 12
    assert FxRate.objects.get(day=date(2026, 12, 3), currency="GBP").per_eur == Decimal("0.856")
    assert set(FxRate.objects.values_list("source", flat=True)) == {"ECB"}


@respx.mock
def test_it_takes_the_daily_file_once_no_weekday_is_missing(db):
    _store(date(2026, 12, 4), USD="1.0520", GBP="0.8570")
    route = respx.get(DAILY_URL).mock(return_value=httpx.Response(200, content=DAILY.encode()))
    fx.fx_rates_fetch(now=NOW)
    assert route.called
    assert FxRate.objects.get(day=date(2026, 12, 7), currency="USD").per_eur == Decimal("1.0543")


@respx.mock
def test_it_backfills_from_the_90_day_file_when_a_weekday_is_missing(db):
    _store(date(2026, 12, 2), USD="1.0480")
    route = respx.get(HISTORY_URL).mock(return_value=httpx.Response(200, content=HISTORY))
    fx.fx_rates_fetch(now=NOW)
    assert route.called
    assert FxRate.objects.filter(day=date(2026, 12, 4)).count() == 4


@respx.mock
def test_fetching_twice_stores_each_rate_once(db):
    respx.get(HISTORY_URL).mock(return_value=httpx.Response(200, content=HISTORY))
    fx.fx_rates_fetch(now=NOW)
    respx.get(DAILY_URL).mock(return_value=httpx.Response(200, content=HISTORY))
    again = fx.fx_rates_fetch(now=NOW)
    assert again.written == 0
    assert FxRate.objects.count() == 12


@respx.mock
def test_an_ecb_rate_replaces_a_demo_rate_of_the_same_day(db):
    _store(date(2026, 12, 2), source="demo", USD="1.0800")
    respx.get(HISTORY_URL).mock(return_value=httpx.Response(200, content=HISTORY))
    fx.fx_rates_fetch(now=NOW)
    rate = FxRate.objects.get(day=date(2026, 12, 2), currency="USD")
    assert (rate.per_eur, rate.source) == (Decimal("1.048"), "ECB")


@respx.mock
@pytest.mark.parametrize(
    "answer, reason",
    [
        (httpx.Response(500), "HTTP 500"),
        (httpx.Response(200, content=b"<html>maintenance</html>"), "no reference rates"),
        (httpx.ConnectError("offline"), "unreachable"),
        (httpx.ReadTimeout("slow"), "no answer within 5 s"),
    ],
)
def test_a_failed_fetch_stores_nothing_and_says_why(db, answer, reason):
    respx.get(HISTORY_URL).mock(side_effect=[answer])
    result = fx.fx_rates_fetch(now=NOW)
    assert reason in result.error
    assert not FxRate.objects.exists()


@respx.mock
def test_the_task_records_its_run(db):
    respx.get(HISTORY_URL).mock(return_value=httpx.Response(200, content=HISTORY))
    fx_tasks.fetch_fx_rates()
    run = JobRun.objects.get(name="fetch_fx_rates")
    assert run.outcome == JobRun.Outcome.OK
    assert "12 rates written for 2026-12-02 to 2026-12-04" in run.detail


@respx.mock
def test_the_task_records_a_source_that_is_down_as_degraded(db):
    respx.get(HISTORY_URL).mock(side_effect=httpx.ConnectError("offline"))
    fx_tasks.fetch_fx_rates()
    run = JobRun.objects.get(name="fetch_fx_rates")
    assert run.outcome == JobRun.Outcome.DEGRADED
    assert "unreachable" in run.detail


# --- Converting ----------------------------------------------------------------------------


def test_usd_to_gbp_is_the_cross_rate_through_the_euro_exactly(db):
    _store(date(2026, 12, 4), USD="1.0543", GBP="0.8581")
    converted = fx.convert(Decimal("1234.56"), "GBP", date(2026, 12, 4))
    assert converted == Decimal("1234.56") * Decimal("0.8581") / Decimal("1.0543")


def test_usd_to_eur_divides_by_the_dollars_per_euro(db):
    _store(date(2026, 12, 4), USD="1.2500")
    assert fx.convert(Decimal("100"), "EUR", date(2026, 12, 4)) == Decimal(80)


def test_usd_stays_as_it_is_without_any_rate(db):
    assert fx.convert(Decimal("0.0105"), "USD", date(2026, 12, 4)) == Decimal("0.0105")


def test_a_weekend_day_uses_fridays_rate_and_is_flagged(db):
    _store(date(2026, 12, 4), USD="1.0543", JPY="158.12")
    quote = fx.rate_on("JPY", date(2026, 12, 6))
    assert (quote.day, quote.asked, quote.stale) == (date(2026, 12, 4), date(2026, 12, 6), True)
    assert quote.convert(Decimal(10)) == Decimal(10) * Decimal("158.12") / Decimal("1.0543")


def test_a_day_with_its_own_rate_is_not_flagged(db):
    _store(date(2026, 12, 4), USD="1.0543")
    assert fx.rate_on("EUR", date(2026, 12, 4)).stale is False


def test_a_day_before_any_rate_has_no_quote(db):
    _store(date(2026, 12, 4), USD="1.0543")
    assert fx.rate_on("EUR", date(2026, 12, 3)) is None
    with pytest.raises(fx.FxError, match="no EUR rate"):
        fx.convert(Decimal(1), "EUR", date(2026, 12, 3))


def test_the_range_loader_reads_every_day_in_one_query(db, django_assert_num_queries):
    _store(date(2026, 11, 27), USD="1.05", GBP="0.85")
    _store(date(2026, 12, 1), USD="1.06", GBP="0.86")
    _store(date(2026, 12, 2), USD="1.07", GBP="0.87")
    with django_assert_num_queries(1):
        rates = fx.fx_rates("GBP", date(2026, 11, 30), date(2026, 12, 3))
    assert rates.on(date(2026, 11, 30)).day == date(2026, 11, 27)
    assert rates.on(date(2026, 12, 2)).rate == Decimal("0.87") / Decimal("1.07")
    assert rates.on(date(2026, 12, 3)).stale


def test_a_day_missing_the_currency_itself_uses_the_last_day_with_both(db):
    _store(date(2026, 12, 3), USD="1.05", GBP="0.85")
    _store(date(2026, 12, 4), USD="1.06")
    assert fx.rate_on("GBP", date(2026, 12, 4)).day == date(2026, 12, 3)


def test_it_refuses_a_currency_without_reference_rates():
    with pytest.raises(ValueError, match="“XYZ” is not a currency with a daily reference rate"):
        fx.currency_checked("xyz")
    assert fx.currency_checked(" eur ") == "EUR"


# --- Demo rates ----------------------------------------------------------------------------


def test_the_demo_rates_cover_business_days_once(db):
    assert fx.fx_demo_seed(date(2026, 12, 4), date(2026, 12, 7)) == 8
    assert fx.fx_demo_seed(date(2026, 12, 4), date(2026, 12, 7)) == 0
    days = set(FxRate.objects.values_list("day", flat=True))
    assert days == {date(2026, 12, 4), date(2026, 12, 7)}
    assert set(FxRate.objects.values_list("source", flat=True)) == {"demo"}


def test_the_demo_rates_move_the_cross_rate_from_day_to_day(db):
    fx.fx_demo_seed(date(2026, 12, 1), date(2026, 12, 2))
    first, second = (fx.rate_on("GBP", date(2026, 12, day)).rate for day in (1, 2))
    assert first != second


# --- The money tag -------------------------------------------------------------------------


def _render(text: str, **context) -> str:
    return Template("{% load money %}" + text).render(Context(context))


def _view(currency: str, today=date(2026, 12, 6)):
    return fx.MoneyView(currency, today)


def test_the_tag_writes_usd_as_pages_always_did(db):
    assert _render("{% money amount %}", amount=Decimal("1234.5")) == "$1,234.50"
    usd = _view("USD")
    assert _render("{% money amount %}", amount=Decimal("1234.5"), money_view=usd) == "$1,234.50"


def test_the_tag_converts_with_the_symbol_and_says_the_rate_on_hover(db):
    _store(date(2026, 12, 4), USD="1.0543")
    html = _render("{% money amount %}", amount=Decimal("1234.56"), money_view=_view("EUR"))
    assert html == (
        '<span class="money" title="$1,234.56 at 0.9485 EUR per USD, ECB reference rate of '
        '2026-12-04 (the last before 2026-12-06)">€1,170.98</span>'
    )


def test_the_tag_writes_a_currency_without_a_symbol_by_its_code(db):
    _store(date(2026, 12, 6), USD="1.0000", CHF="0.9377")
    html = _render("{% money amount %}", amount=Decimal(10), money_view=_view("CHF"))
    assert ">CHF\u00a09.38</span>" in html
    assert "(the last before" not in html


def test_the_tag_writes_yen_without_decimals(db):
    _store(date(2026, 12, 6), USD="1.0000", JPY="158.12")
    html = _render("{% money amount %}", amount=Decimal("10.49"), money_view=_view("JPY"))
    assert ">JPY\u00a01,659</span>" in html


def test_the_tag_writes_a_signed_change_with_a_true_minus(db):
    _store(date(2026, 12, 6), USD="1.0000", GBP="0.5000")
    html = _render("{% money amount signed=True %}", amount=Decimal(-3), money_view=_view("GBP"))
    assert ">\N{MINUS SIGN}£1.50</span>" in html


def test_without_any_rate_the_tag_shows_usd_and_says_why(db):
    html = _render("{% money amount %}", amount=Decimal(5), money_view=_view("EUR"))
    assert html == (
        '<span class="money no-rate" title="No EUR rate is stored yet: shown in USD">$5.00</span>'
    )


def test_the_tag_converts_at_the_day_the_page_names(db):
    _store(date(2026, 11, 30), USD="2.0000")
    _store(date(2026, 12, 4), USD="1.0000")
    html = _render(
        "{% money amount %}",
        amount=Decimal(10),
        money_view=_view("EUR"),
        money_day=date(2026, 11, 30),
    )
    assert ">€5.00</span>" in html


def test_the_tag_escapes_what_it_is_given(db):
    view = _view("EUR")
    _store(date(2026, 12, 6), source='<b>"x"</b>', USD="1.0000")
    html = _render("{% money amount %}", amount=Decimal(1), money_view=view)
    assert "&lt;b&gt;&quot;x&quot;&lt;/b&gt; reference rate" in html
    assert "<b>" not in html


def test_the_page_note_names_the_currency_and_rate(db):
    _store(date(2026, 12, 4), USD="1.0543")
    html = _render("{% money_note %}", money_view=_view("EUR"))
    assert "Amounts in EUR at the ECB reference rate of 2026-12-04" in html
    assert "0.9485 EUR per USD, the last before 2026-12-06" in html


def test_the_page_note_is_empty_for_usd(db):
    assert _render("{% money_note %}", money_view=_view("USD")) == ""
