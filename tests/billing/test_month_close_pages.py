"""Closing a month from its report: who may, what freezes, where late usage goes."""

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from billing.ingest.store import usage_ingest
from billing.models import MonthClose, ProviderInvoice
from routing.models import Provider
from tests.factories import canonical_event

# Mid-December in New York: November is over, December is open.
NOW = datetime(2026, 12, 10, 17, 0, tzinfo=UTC)


pytestmark = pytest.mark.usefixtures("frozen_now")


def _url(team, name="report", month="2026-11"):
    return reverse(name, kwargs={"team": team.slug, "month": month})


def _call(team, id, at, usd):
    event = canonical_event(id=id, timestamp=at.isoformat(), cost_usd=Decimal(usd))
    assert usage_ingest(team, [event], now=NOW).rejected == []


@pytest.fixture
def november(team, catalog):
    _call(team, "nov-1", datetime(2026, 11, 10, 15, tzinfo=UTC), "2.50")
    _call(team, "nov-2", datetime(2026, 11, 20, 15, tzinfo=UTC), "1.25")


def _close(client, user, team, month="2026-11"):
    client.force_login(user)
    return client.post(_url(team, "report_close", month))


def _csv_total(client, team, month="2026-11"):
    body = b"".join(client.get(_url(team, "report_csv", month)).streaming_content).decode()
    return sum(Decimal(row["cost_usd"]) for row in csv.DictReader(io.StringIO(body)))


def test_finance_is_offered_the_close_of_a_month_that_is_over(client, finance_user, team, november):
    client.force_login(finance_user)
    assert "Close November 2026…" in client.get(_url(team)).content.decode()
    assert "is not over yet" in client.get(_url(team, month="2026-12")).content.decode()


def test_a_viewer_reads_but_may_not_close(client, viewer_user, team, november):
    client.force_login(viewer_user)
    assert "Close November 2026" not in client.get(_url(team)).content.decode()
    assert client.get(_url(team, "report_close")).status_code == 403
    assert _close(client, viewer_user, team).status_code == 403


def test_the_confirmation_names_the_total_being_frozen(client, finance_user, team, november):
    client.force_login(finance_user)
    page = client.get(_url(team, "report_close")).content.decode()
    assert "total $3.75" in page


def test_the_confirmation_warns_of_providers_not_invoiced_and_disagreements(
    client, finance_user, team, november
):
    client.force_login(finance_user)
    page = client.get(_url(team, "report_close")).content.decode()
    assert 'data-testid="close-warnings"' in page
    # The calls reported $3.75 where the catalog says about two cents.
    assert "Not invoiced yet: Anthropic ($3.75 computed)" in page
    assert "anthropic/claude-sonnet-4-5 (2 calls, +" in page


def test_the_confirmation_warns_of_nothing_once_invoiced_and_agreed(
    client, finance_user, team, catalog
):
    _call(team, "agreed", datetime(2026, 11, 10, 15, tzinfo=UTC), "0.045")
    ProviderInvoice.objects.create(
        team=team,
        month=datetime(2026, 11, 1).date(),
        provider=Provider.objects.get(slug="anthropic"),
        amount=Decimal("0.01"),
        currency="USD",
    )
    client.force_login(finance_user)
    page = client.get(_url(team, "report_close")).content.decode()
    assert 'data-testid="close-warnings"' not in page


def test_ops_reads_the_report_but_may_not_close(client, ops_user, team, november):
    client.force_login(ops_user)
    assert "Close November 2026" not in client.get(_url(team)).content.decode()
    assert client.get(_url(team, "report_close")).status_code == 403
    assert _close(client, ops_user, team).status_code == 403


def test_closing_freezes_the_page_and_its_csv(client, finance_user, team, november):
    _close(client, finance_user, team)
    _call(team, "late", datetime(2026, 11, 25, 15, tzinfo=UTC), "10")
    page = client.get(_url(team)).content.decode()
    assert 'data-testid="month-closed"' in page
    assert 'data-exact="3.75"' in page
    assert _csv_total(client, team) == Decimal("3.75")


def test_late_usage_for_a_closed_month_shows_on_the_next_open_month(
    client, finance_user, team, november
):
    _close(client, finance_user, team)
    _call(team, "late", datetime(2026, 11, 25, 15, tzinfo=UTC), "10")
    page = client.get(_url(team, month="2026-12")).content.decode()
    assert 'data-testid="report-adjustments"' in page
    assert "November 2026" in page and "$10" in page


def test_closing_the_current_month_is_refused_with_a_reason(client, finance_user, team, november):
    response = _close(client, finance_user, team, month="2026-12")
    assert response.status_code == 302
    follow = client.get(response["Location"]).content.decode()
    assert "December 2026 is not over yet" in follow
    assert not MonthClose.objects.exists()


def test_only_an_admin_reopens_and_only_with_a_reason(
    client, finance_user, admin_user, team, november
):
    _close(client, finance_user, team)
    assert client.get(_url(team, "report_reopen")).status_code == 403
    client.force_login(admin_user)
    missing = client.post(_url(team, "report_reopen"), {"reason": ""})
    assert missing.status_code == 400
    client.post(_url(team, "report_reopen"), {"reason": "Provider credit note"})
    assert MonthClose.objects.get().reopen_reason == "Provider credit note"
    assert 'data-testid="month-closed"' not in client.get(_url(team)).content.decode()


def test_invoices_are_compared_with_the_month_s_figures(client, finance_user, team, november):
    ProviderInvoice.objects.create(
        team=team,
        month=datetime(2026, 11, 1).date(),
        provider=Provider.objects.get(slug="anthropic"),
        amount=Decimal("4.00"),
        currency="USD",
    )
    client.force_login(finance_user)
    page = client.get(_url(team)).content.decode()
    assert "Invoices vs computed" in page
    assert "+$0.25" in page
