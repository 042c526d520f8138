"""Display currencies on the pages: the team's choice (admins) and each member's own, money
shown in it with the rate on hover, and the exports' display-currency columns."""

import csv
import io
import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from billing.ingest.store import usage_ingest
from billing.models import FxRate
from billing.reports.exports import FOCUS_COLUMNS, FOCUS_DISPLAY_COLUMNS
from dashboard.display_money import DISPLAY_COLUMNS
from dashboard.models import Membership
from tests.factories import event_at

NOW = datetime(2026, 12, 10, 17, 0, tzinfo=UTC)
READERS = ["admin", "ops", "finance", "viewer"]

pytestmark = pytest.mark.usefixtures("frozen_now")


def _url(name, team, **kwargs):
    return reverse(name, kwargs={"team": team.slug, **kwargs})


def _rate(day: date, **per_eur: str) -> None:
    for code, value in per_eur.items():
        FxRate.objects.create(day=day, currency=code, per_eur=Decimal(value))


def _choose(user, team, currency: str) -> None:
    Membership.objects.filter(user=user, team=team).update(display_currency=currency)


@pytest.fixture
def usage(team, catalog):
    """$2.50 on Nov 10 and $4.00 on Nov 11 (New York days)."""
    events = [
        event_at("a", datetime(2026, 11, 10, 16, tzinfo=UTC), cost_usd=Decimal("2.5")),
        event_at("b", datetime(2026, 11, 11, 16, tzinfo=UTC), cost_usd=Decimal(4)),
    ]
    assert usage_ingest(team, events, now=NOW).rejected == []


@pytest.fixture
def rates(db):
    """A dollar is 0.8 EUR on Nov 10, 0.5 EUR from Nov 11 (and so on Nov 30), 0.4 on Dec 10."""
    _rate(date(2026, 11, 10), USD="1.25", GBP="1.00")
    _rate(date(2026, 11, 11), USD="2.00", GBP="1.00")
    _rate(date(2026, 12, 10), USD="2.50", GBP="1.00")


def _rows(response) -> list[dict]:
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


# --- The team's currency ------------------------------------------------------------------


def test_an_admin_sets_the_teams_currency(admin_client, team):
    response = admin_client.post(
        _url("team_settings", team),
        {"name": team.name, "time_zone": team.time_zone, "display_currency": "EUR"},
    )
    assert response.status_code == 302
    team.refresh_from_db()
    assert team.display_currency == "EUR"


def test_the_team_settings_refuse_a_currency_without_rates(admin_client, team):
    response = admin_client.post(
        _url("team_settings", team),
        {"name": team.name, "time_zone": team.time_zone, "display_currency": "XYZ"},
    )
    assert response.status_code == 400
    assert "is not a currency with a daily reference rate" in response.content.decode()
    team.refresh_from_db()
    assert team.display_currency == "USD"


def test_only_admins_set_the_teams_currency(client, finance_user, team):
    client.force_login(finance_user)
    response = client.post(
        _url("team_settings", team), {"name": team.name, "display_currency": "EUR"}
    )
    assert response.status_code == 403


# --- A member's own currency ----------------------------------------------------------------


@pytest.mark.parametrize("role", READERS)
def test_every_member_chooses_their_own_currency(client, users_by_role, team, role):
    user = users_by_role[role]
    client.force_login(user)
    response = client.post(_url("display_currency", team), {"currency": "GBP"})
    assert response.status_code == 302
    assert Membership.objects.get(user=user, team=team).display_currency == "GBP"


def test_the_choice_offers_the_team_default_by_its_currency(client, viewer_user, team):
    team.display_currency = "EUR"
    team.save()
    client.force_login(viewer_user)
    page = client.get(_url("display_currency", team)).content.decode()
    assert '<option value="" selected>Team default (EUR)</option>' in page


def test_choosing_the_team_default_clears_the_override(client, viewer_user, team):
    _choose(viewer_user, team, "GBP")
    client.force_login(viewer_user)
    client.post(_url("display_currency", team), {"currency": ""})
    assert Membership.objects.get(user=viewer_user, team=team).display_currency == ""


def test_a_member_cannot_choose_a_currency_without_rates(client, viewer_user, team):
    client.force_login(viewer_user)
    response = client.post(_url("display_currency", team), {"currency": "XYZ"})
    assert response.status_code == 400
    assert "Choose the team default or one of the currencies" in response.content.decode()


def test_outsiders_cannot_see_the_currency_choice(client, outsider, team):
    client.force_login(outsider)
    assert client.get(_url("display_currency", team)).status_code == 404


def test_the_header_links_to_the_choice_with_the_current_currency(client, viewer_user, team):
    _choose(viewer_user, team, "GBP")
    client.force_login(viewer_user)
    page = client.get(_url("overview", team)).content.decode()
    assert f'href="{_url("display_currency", team)}"' in page
    assert "Currency (GBP)" in page


# --- Money on the pages -------------------------------------------------------------------


def test_the_overview_shows_the_members_currency_over_the_teams(
    client, viewer_user, team, usage, rates
):
    team.display_currency = "GBP"
    team.save()
    _choose(viewer_user, team, "EUR")
    client.force_login(viewer_user)
    page = client.get(_url("overview", team)).content.decode()
    assert "Amounts in EUR at the ECB reference rate of 2026-12-10" in page


def test_the_overview_shows_the_teams_currency_without_an_override(
    client, viewer_user, team, usage, rates
):
    team.display_currency = "GBP"
    team.save()
    client.force_login(viewer_user)
    page = client.get(_url("overview", team)).content.decode()
    assert "Amounts in GBP" in page


def test_a_usd_reader_sees_the_overview_as_before(client, viewer_user, team, usage, rates):
    client.force_login(viewer_user)
    page = client.get(_url("overview", team)).content.decode()
    assert "money-note" not in page
    assert 'class="money"' not in page


def test_a_months_report_converts_at_its_last_days_rate(client, viewer_user, team, usage, rates):
    _choose(viewer_user, team, "EUR")
    client.force_login(viewer_user)
    page = client.get(_url("report", team, month="2026-11")).content.decode()
    # $6.50 at 0.5 EUR per USD (Nov 30 has no rate of its own: Nov 11's).
    assert (
        '<span class="money" title="$6.50 at 0.5000 EUR per USD, ECB reference rate of '
        '2026-11-11 (the last before 2026-11-30)">€3.25</span>'
    ) in page


def test_a_months_report_draws_its_bridge_at_the_same_rate(client, viewer_user, team, usage, rates):
    _choose(viewer_user, team, "EUR")
    client.force_login(viewer_user)
    response = client.get(_url("report", team, month="2026-11"))
    trace = json.loads(response.context["bridge_figure_json"])["data"][0]
    # From nothing in October to $6.50 in November, at Nov 30's rate: 0.5 EUR per USD.
    assert trace["y"][-1] == 3.25
    assert trace["text"][-1] == "€3.25"


def test_a_usd_readers_report_bridge_stays_in_usd(client, viewer_user, team, usage, rates):
    client.force_login(viewer_user)
    response = client.get(_url("report", team, month="2026-11"))
    trace = json.loads(response.context["bridge_figure_json"])["data"][0]
    assert trace["y"][-1] == 6.5


def test_without_a_rate_the_page_shows_usd_and_says_so(client, viewer_user, team, usage):
    _choose(viewer_user, team, "EUR")
    client.force_login(viewer_user)
    page = client.get(_url("report", team, month="2026-11")).content.decode()
    assert "Amounts are in USD: no EUR reference rate is stored yet." in page
    assert 'title="No EUR rate is stored yet: shown in USD">$6.50</span>' in page


# --- Exports ------------------------------------------------------------------------------


def test_the_report_offers_exports_with_the_readers_currency(client, viewer_user, team, usage):
    _choose(viewer_user, team, "EUR")
    client.force_login(viewer_user)
    page = client.get(_url("report", team, month="2026-11")).content.decode()
    assert f'href="{_url("report_csv", team, month="2026-11")}?currency=EUR"' in page
    assert "CSV with EUR columns" in page


def test_a_usd_reader_gets_no_extra_export_links(client, viewer_user, team, usage):
    client.force_login(viewer_user)
    page = client.get(_url("report", team, month="2026-11")).content.decode()
    assert "report-csv-display" not in page


def test_the_csv_stays_as_it_was_without_a_currency(client, viewer_user, team, usage, rates):
    client.force_login(viewer_user)
    rows = _rows(client.get(_url("report_csv", team, month="2026-11")))
    assert "display_currency" not in rows[0]


def test_the_csv_adds_each_rows_cost_at_its_days_rate(client, viewer_user, team, usage, rates):
    client.force_login(viewer_user)
    rows = _rows(client.get(_url("report_csv", team, month="2026-11") + "?currency=EUR"))
    assert list(rows[0])[-4:] == DISPLAY_COLUMNS
    by_day = {row["day"]: row for row in rows}
    assert [by_day["2026-11-10"][name] for name in DISPLAY_COLUMNS] == [
        "EUR",
        "0.8",
        "2026-11-10",
        "2",
    ]
    assert [by_day["2026-11-11"][name] for name in DISPLAY_COLUMNS] == [
        "EUR",
        "0.5",
        "2026-11-11",
        "2",
    ]
    assert by_day["2026-11-10"]["cost_usd"] == "2.5"


def test_the_focus_csv_keeps_usd_billing_and_adds_x_columns(
    client, viewer_user, team, usage, rates
):
    client.force_login(viewer_user)
    rows = _rows(client.get(_url("report_focus_csv", team, month="2026-11") + "?currency=GBP"))
    assert list(rows[0]) == FOCUS_COLUMNS + FOCUS_DISPLAY_COLUMNS
    assert {row["BillingCurrency"] for row in rows} == {"USD"}
    # The $4.00 of Nov 11, shared among its token meters' charges, each at that day's rate.
    charges = [row for row in rows if row["x_DisplayRateDate"] == "2026-11-11"]
    assert {(row["x_DisplayCurrency"], row["x_DisplayRate"]) for row in charges} == {("GBP", "0.5")}
    assert sum(Decimal(row["BilledCost"]) for row in charges) == 4
    assert sum(Decimal(row["x_BilledCostInDisplayCurrency"]) for row in charges) == 2


def test_an_export_refuses_an_unknown_currency_with_400(client, viewer_user, team, usage):
    client.force_login(viewer_user)
    response = client.get(_url("report_csv", team, month="2026-11") + "?currency=<b>")
    assert response.status_code == 400
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert "is not a currency with a daily reference rate" in response.content.decode()


def test_a_day_without_a_rate_leaves_the_display_cells_empty(client, viewer_user, team, usage):
    _rate(date(2026, 11, 11), USD="2.00")
    client.force_login(viewer_user)
    rows = _rows(client.get(_url("report_csv", team, month="2026-11") + "?currency=EUR"))
    by_day = {row["day"]: row for row in rows}
    assert [by_day["2026-11-10"][name] for name in DISPLAY_COLUMNS] == ["EUR", "", "", ""]


def test_the_usage_csv_adds_each_calls_cost_at_its_days_rate(
    client, viewer_user, team, usage, rates
):
    client.force_login(viewer_user)
    url = _url("usage_csv", team) + "?range=custom&start=2026-11-01&end=2026-11-30&currency=EUR"
    rows = _rows(client.get(url))
    costs = {row["event_id"]: row["cost_in_display_currency"] for row in rows}
    assert costs == {"a": "2", "b": "2"}


def test_the_usage_csv_refuses_an_unknown_currency_with_400(client, viewer_user, team):
    client.force_login(viewer_user)
    response = client.get(_url("usage_csv", team) + "?currency=ZZZ")
    assert response.status_code == 400


def test_outsiders_get_no_export_in_a_currency(client, outsider, team, usage, rates):
    client.force_login(outsider)
    response = client.get(_url("report_csv", team, month="2026-11") + "?currency=EUR")
    assert response.status_code == 404
