"""The report's CSV and FOCUS CSV: one row per team day, provider, model and task type, adding
up to the page to the last digit."""

import csv
import io
import json
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Sum
from django.http import StreamingHttpResponse
from django.urls import reverse

from billing.demo import DemoProfile, demo_tao_prices, demo_usage_seed
from billing.ingest.store import usage_ingest
from billing.models import UsageEvent
from billing.reports.exports import CSV_COLUMNS, FOCUS_COLUMNS, focus_rows, plain
from billing.reports.month_report import month_report
from dashboard.models import Role
from tests.factories import MembershipFactory, TeamFactory, event_at

NOW = datetime(2026, 12, 10, 17, 0, tzinfo=UTC)
NOVEMBER = date(2026, 11, 1)
LLAMA = {"provider": "chutes", "model": "unsloth/Llama-3.3-70B-Instruct"}


pytestmark = pytest.mark.usefixtures("frozen_now")


def _url(team, name="report_csv", month="2026-11", query=""):
    return reverse(name, kwargs={"team": team.slug, "month": month}) + query


def _download(client, url) -> list[dict]:
    response = client.get(url)
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture
def usage(team, catalog):
    events = [
        event_at("a", datetime(2026, 11, 10, 15, tzinfo=UTC), cost_usd=Decimal("0.0000001")),
        event_at("b", datetime(2026, 11, 10, 16, tzinfo=UTC), cost_usd=Decimal("2.5")),
        event_at("c", datetime(2026, 11, 10, 17, tzinfo=UTC), status="error", task_type="qa"),
        event_at("d", datetime(2026, 11, 11, 15, tzinfo=UTC), **LLAMA),
        # October in New York (23:00 on the 31st): not in the November file.
        event_at("e", datetime(2026, 11, 1, 3, tzinfo=UTC), cost_usd=Decimal(7)),
    ]
    assert usage_ingest(team, events, now=NOW).rejected == []


# --- Our CSV ---------------------------------------------------------------------------------


def test_it_streams_a_csv_named_for_the_team_and_month(client, viewer_user, team, usage):
    client.force_login(viewer_user)
    response = client.get(_url(team))
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="maven-2026-11.csv"'


def test_it_writes_a_header_then_a_row_per_team_day_provider_model_and_task_type(
    client, viewer_user, team, usage
):
    client.force_login(viewer_user)
    rows = _download(client, _url(team))
    assert list(rows[0]) == CSV_COLUMNS
    keys = [(r["day"], r["provider"], r["model"], r["task_type"]) for r in rows]
    assert keys == [
        ("2026-11-10", "anthropic", "claude-sonnet-4-5", "qa"),
        ("2026-11-10", "anthropic", "claude-sonnet-4-5", "summarization"),
        ("2026-11-11", "chutes", "unsloth/Llama-3.3-70B-Instruct", "summarization"),
    ]
    assert {r["team"] for r in rows} == {"maven"}


def test_it_counts_errors_within_a_row(client, viewer_user, team, usage):
    client.force_login(viewer_user)
    qa = next(r for r in _download(client, _url(team)) if r["task_type"] == "qa")
    assert (qa["requests"], qa["errors"]) == ("1", "1")


def test_it_writes_exact_decimals_as_plain_text(client, viewer_user, team, usage):
    client.force_login(viewer_user)
    row = next(r for r in _download(client, _url(team)) if r["task_type"] == "summarization")
    # 0.0000001 + 2.5, neither rounded nor written with an exponent.
    assert row["cost_usd"] == "2.5000001"
    assert plain(Decimal("0E-12")) == "0"
    assert plain(Decimal("100.000")) == "100"


def test_its_total_equals_the_page_total(client, viewer_user, team, usage):
    client.force_login(viewer_user)
    rows = _download(client, _url(team))
    page = client.get(_url(team, "report")).context["report"]
    total = sum((Decimal(r["cost_usd"]) for r in rows), Decimal(0))
    assert total == page.totals.figures.cost_usd
    assert sum(int(r["requests"]) for r in rows) == page.totals.figures.requests
    tao = sum((Decimal(r["tao_amount"]) for r in rows), Decimal(0))
    assert tao == page.totals.figures.tao_amount


def test_it_exports_every_team_the_user_may_read_with_all_teams(client, finance_user, team, usage):
    tokyo = TeamFactory(slug="tokyo", name="Tokyo", time_zone="Asia/Tokyo")
    MembershipFactory(team=tokyo, user=finance_user, role=Role.VIEWER)
    usage_ingest(tokyo, [event_at("t", datetime(2026, 11, 10, 15, tzinfo=UTC))], now=NOW)
    client.force_login(finance_user)
    response = client.get(_url(team, query="?teams=all"))
    assert response["Content-Disposition"] == 'attachment; filename="all-teams-2026-11.csv"'
    rows = _download(client, _url(team, query="?teams=all"))
    assert {r["team"] for r in rows} == {"maven", "tokyo"}


# --- FOCUS -----------------------------------------------------------------------------------


def test_it_names_the_focus_file_for_the_team_and_month(client, viewer_user, team, usage):
    client.force_login(viewer_user)
    response = client.get(_url(team, "report_focus_csv"))
    assert response["Content-Disposition"] == 'attachment; filename="maven-2026-11.focus.csv"'


def test_it_writes_the_focus_columns(client, viewer_user, team, usage):
    client.force_login(viewer_user)
    rows = _download(client, _url(team, "report_focus_csv"))
    assert list(rows[0]) == FOCUS_COLUMNS
    llama = next(r for r in rows if r["ResourceId"] == LLAMA["model"])
    assert (llama["BillingAccountId"], llama["BillingAccountName"]) == ("maven", "Maven")
    assert (llama["ChargeCategory"], llama["ChargeClass"]) == ("Usage", "")
    assert llama["ChargeFrequency"] == "Usage-Based"
    assert llama["BillingCurrency"] == "USD"
    assert {llama[name] for name in ["ProviderName", "PublisherName", "InvoiceIssuerName"]} == {
        "Chutes (Bittensor SN64)"
    }
    assert (llama["ServiceCategory"], llama["ServiceSubcategory"]) == (
        "AI and Machine Learning",
        "Generative AI",
    )
    assert llama["ServiceName"] == "LLM inference"
    assert json.loads(llama["Tags"]) == {"team": "maven", "task_type": "summarization"}
    assert llama["BilledCost"] == llama["EffectiveCost"]


def test_it_writes_a_focus_charge_per_token_meter(client, viewer_user, team, usage):
    client.force_login(viewer_user)
    rows = _download(client, _url(team, "report_focus_csv"))
    llama = [r for r in rows if r["ResourceId"] == LLAMA["model"]]
    # 1,000 input tokens at $0.10 and 500 output tokens at $0.40 per million.
    assert [
        (r["SkuMeter"], r["ConsumedQuantity"], r["PricingQuantity"], r["BilledCost"]) for r in llama
    ] == [
        ("Input Tokens", "1000.0", "0.001", "0.0001"),
        ("Output Tokens", "500.0", "0.0005", "0.0002"),
    ]
    assert {(r["ConsumedUnit"], r["PricingUnit"]) for r in llama} == {("Tokens", "1000000 Tokens")}


def test_it_gives_charge_and_billing_periods_in_the_team_zone_across_daylight_saving(
    client, viewer_user, team, catalog
):
    # New York leaves daylight saving at 02:00 on November 1st.
    usage_ingest(team, [event_at("a", datetime(2026, 11, 1, 12, tzinfo=UTC))], now=NOW)
    client.force_login(viewer_user)
    row = _download(client, _url(team, "report_focus_csv"))[0]
    # The team's local midnights (New York, across the end of daylight saving) in UTC.
    assert row["ChargePeriodStart"] == "2026-11-01T04:00:00Z"
    assert row["ChargePeriodEnd"] == "2026-11-02T05:00:00Z"
    assert row["BillingPeriodStart"] == "2026-11-01T04:00:00Z"
    assert row["BillingPeriodEnd"] == "2026-12-01T05:00:00Z"


def test_its_total_equals_the_page_total_too(client, viewer_user, team, usage):
    client.force_login(viewer_user)
    rows = _download(client, _url(team, "report_focus_csv"))
    page = client.get(_url(team, "report")).context["report"].totals.figures
    assert sum((Decimal(r["BilledCost"]) for r in rows), Decimal(0)) == page.cost_usd
    assert sum(Decimal(r["ConsumedQuantity"]) for r in rows) == page.tokens
    assert sum(int(r["x_Requests"] or 0) for r in rows) == page.requests
    assert sum((Decimal(r["x_TaoAmount"]) for r in rows), Decimal(0)) == page.tao_amount


# --- On demo data, against the raw events ----------------------------------------------------


@pytest.fixture
def demo(team, catalog):
    demo_tao_prices(NOW - timedelta(days=45), NOW)
    demo_usage_seed(team, DemoProfile(40), days=40, now=NOW)
    return team


def _raw_cost(team) -> Decimal:
    start = datetime.combine(NOVEMBER, time(), tzinfo=team.zone)
    end = datetime.combine(date(2026, 12, 1), time(), tzinfo=team.zone)
    events = UsageEvent.objects.filter(team=team, occurred_at__gte=start, occurred_at__lt=end)
    return events.aggregate(total=Sum("cost_usd"))["total"]


def test_both_files_add_up_to_the_page_on_demo_data(client, viewer_user, demo):
    client.force_login(viewer_user)
    page = month_report(demo, NOVEMBER).totals.figures.cost_usd
    ours = _download(client, _url(demo))
    focus = _download(client, _url(demo, "report_focus_csv"))
    # A FOCUS charge per token meter of each of our rows.
    assert len(focus) >= len(ours) > 100
    assert sum((Decimal(r["cost_usd"]) for r in ours), Decimal(0)) == page
    assert sum((Decimal(r["BilledCost"]) for r in focus), Decimal(0)) == page
    assert page.quantize(Decimal("1e-9")) == _raw_cost(demo).quantize(Decimal("1e-9"))


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite keeps NUMERIC as 15-digit floats; exact sums need PostgreSQL",
)
def test_the_csv_adds_up_to_the_raw_events_exactly(client, viewer_user, demo):
    client.force_login(viewer_user)
    rows = _download(client, _url(demo))
    assert sum((Decimal(r["cost_usd"]) for r in rows), Decimal(0)) == _raw_cost(demo)


def test_the_focus_rows_read_a_fixed_number_of_queries_whatever_the_usage(
    demo, django_assert_num_queries
):
    # The providers' names, the invoices, the catalog (providers, models, list and team
    # prices), and the month's rows.
    with django_assert_num_queries(7):
        rows = list(focus_rows([demo], NOVEMBER))
    assert len(rows) > 100


# --- Who may download ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["report_csv", "report_focus_csv"])
@pytest.mark.parametrize("role", ["admin", "ops", "finance", "viewer"])
def test_it_lets_every_role_download(client, users_by_role, team, name, role):
    client.force_login(users_by_role[role])
    assert client.get(_url(team, name)).status_code == 200


@pytest.mark.parametrize("name", ["report_csv", "report_focus_csv"])
def test_it_hides_downloads_from_outsiders(client, outsider, team, name):
    client.force_login(outsider)
    assert client.get(_url(team, name)).status_code == 404


@pytest.mark.parametrize("month", ["2026-13", "2027-01"])
def test_it_answers_404_for_a_month_it_cannot_show(client, viewer_user, team, month):
    client.force_login(viewer_user)
    assert client.get(_url(team, month=month)).status_code == 404
