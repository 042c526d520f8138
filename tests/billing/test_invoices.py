from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db.models import Sum
from django.urls import reverse

from billing.audit_actions import BillingAuditAction
from billing.ingest.store import usage_ingest
from billing.models import ProviderInvoice, UsageEvent
from billing.reports.invoices import (
    NO_USAGE,
    NOT_INVOICED,
    OVER,
    WITHIN,
    ComputedCost,
    computed_by_provider,
    invoice_lines,
)
from dashboard.models import AuditEvent
from routing.models import Provider
from tests.factories import ProviderFactory, TaoPriceFactory, canonical_event

# Thursday Dec 10, noon in New York: November is over, December is under way.
NOW = datetime(2026, 12, 10, 17, 0, tzinfo=UTC)
NOVEMBER = date(2026, 11, 1)
NEW_YORK = ZoneInfo("America/New_York")
READERS = ["admin", "ops", "finance", "viewer"]
EDITORS = ["admin", "finance"]
NOT_EDITORS = ["ops", "viewer"]
# Session, user, membership, the month's computed cost, its invoices, the providers not
# invoiced yet, the navigation's teams, the session saved (3).
QUERIES = 10


pytestmark = pytest.mark.usefixtures("frozen_now")


@pytest.fixture
def chutes(db):
    return ProviderFactory(slug="chutes", name="Chutes", billing_currency="TAO")


@pytest.fixture
def anthropic(db):
    return ProviderFactory(slug="anthropic", name="Anthropic")


def _url(name, team, month="2026-11", **kwargs):
    return reverse(name, kwargs={"team": team.slug, "month": month, **kwargs})


def _invoice(team, provider, amount, currency="USD", month=NOVEMBER, **fields):
    return ProviderInvoice.objects.create(
        team=team,
        month=month,
        provider=provider,
        amount=Decimal(amount),
        currency=currency,
        **fields,
    )


def _page(client, user, team, month="2026-11") -> str:
    client.force_login(user)
    response = client.get(_url("report_invoices", team, month))
    assert response.status_code == 200
    return response.content.decode()


def _post_new(client, user, team, provider_row, month="2026-11", **fields):
    client.force_login(user)
    data = {"provider": provider_row.pk, "amount": "100", "currency": "", "reference": "INV-7"}
    return client.post(_url("report_invoice_new", team, month), {**data, **fields})


def _line(team, computed, slug):
    return next(
        line for line in invoice_lines(team, NOVEMBER, computed) if line.provider_slug == slug
    )


def _usd(amount):
    return ComputedCost(usd=Decimal(amount), tao=Decimal(0))


# --- Who may do what -----------------------------------------------------------------------


@pytest.mark.parametrize("role", READERS)
def test_it_shows_the_reconciliation_to_report_readers(client, users_by_role, team, role):
    assert "Invoices vs computed" in _page(client, users_by_role[role], team)


def test_it_shows_ops_the_reconciliation_without_recording(client, ops_user, team):
    client.force_login(ops_user)
    response = client.get(_url("report_invoices", team))
    assert response.status_code == 200
    assert response.context["may_edit"] is False


def test_it_hides_the_page_from_outsiders(client, outsider, team):
    client.force_login(outsider)
    assert client.get(_url("report_invoices", team)).status_code == 404


def test_it_sends_anonymous_visitors_to_sign_in(client, team):
    response = client.get(_url("report_invoices", team))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


@pytest.mark.parametrize("month", ["2026-13", "9999-12", "0001-01"])
def test_it_answers_404_for_a_month_that_does_not_exist(client, viewer_user, team, month):
    client.force_login(viewer_user)
    response = client.get(_url("report_invoices", team, month))
    assert response.status_code == 404
    assert f"“{month}” is not a month we keep invoices for" in response.content.decode()


@pytest.mark.parametrize("role", EDITORS)
def test_editors_record_an_invoice(client, users_by_role, team, anthropic, role):
    response = _post_new(client, users_by_role[role], team, anthropic, amount="1234.50")
    assert response.status_code == 302
    invoice = ProviderInvoice.objects.get(team=team)
    assert (invoice.month, invoice.amount, invoice.currency) == (NOVEMBER, Decimal("1234.5"), "USD")


@pytest.mark.parametrize("role", NOT_EDITORS)
def test_others_cannot_record_an_invoice(client, users_by_role, team, anthropic, role):
    assert _post_new(client, users_by_role[role], team, anthropic).status_code == 403
    assert not ProviderInvoice.objects.exists()


@pytest.mark.parametrize("role", NOT_EDITORS)
def test_others_cannot_correct_an_invoice(client, users_by_role, team, anthropic, role):
    invoice = _invoice(team, anthropic, "100")
    client.force_login(users_by_role[role])
    url = _url("report_invoice_edit", team, invoice_id=invoice.pk)
    assert client.post(url, {"amount": "5", "currency": "USD"}).status_code == 403
    invoice.refresh_from_db()
    assert invoice.amount == Decimal(100)


@pytest.mark.parametrize("role", NOT_EDITORS)
def test_others_cannot_delete_an_invoice(client, users_by_role, team, anthropic, role):
    invoice = _invoice(team, anthropic, "100")
    client.force_login(users_by_role[role])
    assert (
        client.post(_url("report_invoice_delete", team, invoice_id=invoice.pk)).status_code == 403
    )
    assert ProviderInvoice.objects.filter(pk=invoice.pk).exists()


def test_readers_cannot_post_to_the_page(client, viewer_user, team):
    client.force_login(viewer_user)
    assert client.post(_url("report_invoices", team)).status_code == 403


def test_readers_see_no_edit_controls(client, viewer_user, team, anthropic):
    invoice = _invoice(team, anthropic, "100")
    page = _page(client, viewer_user, team)
    assert _url("report_invoice_new", team) not in page
    assert _url("report_invoice_edit", team, invoice_id=invoice.pk) not in page
    assert _url("report_invoice_delete", team, invoice_id=invoice.pk) not in page


def test_editors_see_the_edit_controls(client, finance_user, team, anthropic):
    invoice = _invoice(team, anthropic, "100")
    page = _page(client, finance_user, team)
    assert _url("report_invoice_new", team) in page
    assert _url("report_invoice_edit", team, invoice_id=invoice.pk) in page
    assert _url("report_invoice_delete", team, invoice_id=invoice.pk) in page


def test_it_hides_an_invoice_of_another_team(client, finance_user, team, other_team, anthropic):
    invoice = _invoice(other_team, anthropic, "100")
    client.force_login(finance_user)
    assert client.get(_url("report_invoice_edit", team, invoice_id=invoice.pk)).status_code == 404


def test_it_hides_an_invoice_under_another_month(client, finance_user, team, anthropic):
    invoice = _invoice(team, anthropic, "100")
    client.force_login(finance_user)
    url = _url("report_invoice_edit", team, "2026-10", invoice_id=invoice.pk)
    assert client.get(url).status_code == 404


# --- Recording, correcting, deleting -------------------------------------------------------


def test_recording_is_audited(client, finance_user, team, chutes):
    _post_new(client, finance_user, team, chutes, amount="1.25")
    event = AuditEvent.objects.get(action=BillingAuditAction.INVOICE_RECORDED)
    assert event.target == "Chutes invoice for November 2026"
    assert event.actor == finance_user
    assert event.detail == {
        "month": "2026-11",
        "provider": "chutes",
        "amount": "1.25",
        "currency": "TAO",
        "reference": "INV-7",
    }


def test_the_currency_defaults_to_the_providers_billing_currency(
    client, finance_user, team, chutes
):
    _post_new(client, finance_user, team, chutes, amount="0.12345678")
    assert ProviderInvoice.objects.get().currency == "TAO"


def test_a_tao_billed_provider_may_invoice_in_usd(client, finance_user, team, chutes):
    _post_new(client, finance_user, team, chutes, amount="450.10", currency="USD")
    assert ProviderInvoice.objects.get().currency == "USD"


def test_the_form_preselects_a_provider_and_its_currency(client, finance_user, team, chutes):
    client.force_login(finance_user)
    page = client.get(_url("report_invoice_new", team) + "?provider=chutes").content.decode()
    assert f'<option value="{chutes.pk}" selected>Chutes (bills in TAO)</option>' in page
    assert '<option value="TAO" selected>TAO</option>' in page


def test_it_refuses_a_second_invoice_for_the_provider_and_month(
    client, finance_user, team, anthropic
):
    _invoice(team, anthropic, "100")
    response = _post_new(client, finance_user, team, anthropic, amount="120")
    assert response.status_code == 400
    assert "Anthropic already has an invoice for November 2026 ($100.00)" in (
        response.content.decode()
    )
    assert ProviderInvoice.objects.get().amount == Decimal(100)


def test_it_records_the_same_provider_in_another_month(client, finance_user, team, anthropic):
    _invoice(team, anthropic, "100")
    assert _post_new(client, finance_user, team, anthropic, month="2026-10").status_code == 302
    assert ProviderInvoice.objects.count() == 2


def test_a_correction_replaces_the_amount(client, admin_user, team, anthropic):
    invoice = _invoice(team, anthropic, "100", reference="INV-7")
    client.force_login(admin_user)
    url = _url("report_invoice_edit", team, invoice_id=invoice.pk)
    data = {"amount": "120.5", "currency": "USD", "reference": "INV-7"}
    response = client.post(url, data)
    assert response.status_code == 302
    invoice.refresh_from_db()
    assert (invoice.amount, invoice.entered_by) == (Decimal("120.5"), admin_user)


def test_a_correction_audits_old_and_new(client, finance_user, team, anthropic):
    invoice = _invoice(team, anthropic, "100", reference="INV-7")
    client.force_login(finance_user)
    url = _url("report_invoice_edit", team, invoice_id=invoice.pk)
    client.post(url, {"amount": "120.5", "currency": "USD", "reference": "INV-7b"})
    event = AuditEvent.objects.get(action=BillingAuditAction.INVOICE_RECORDED)
    assert event.detail == {"amount": "100.00 → 120.50", "reference": "INV-7 → INV-7b"}


def test_a_correction_keeps_the_provider(client, finance_user, team, anthropic, chutes):
    invoice = _invoice(team, anthropic, "100")
    client.force_login(finance_user)
    url = _url("report_invoice_edit", team, invoice_id=invoice.pk)
    client.post(url, {"provider": chutes.pk, "amount": "90", "currency": "USD"})
    invoice.refresh_from_db()
    assert (invoice.provider, invoice.amount) == (anthropic, Decimal(90))


def test_a_correction_that_changes_nothing_is_not_audited(client, finance_user, team, anthropic):
    invoice = _invoice(team, anthropic, "100")
    client.force_login(finance_user)
    url = _url("report_invoice_edit", team, invoice_id=invoice.pk)
    client.post(url, {"amount": "100.00", "currency": "USD", "reference": ""})
    assert not AuditEvent.objects.exists()


def test_the_correction_form_shows_the_current_values(client, finance_user, team, chutes):
    invoice = _invoice(team, chutes, "1.50000000", currency="TAO", reference="CH-11")
    client.force_login(finance_user)
    page = client.get(_url("report_invoice_edit", team, invoice_id=invoice.pk)).content.decode()
    assert 'value="1.5"' in page
    assert 'value="CH-11"' in page
    assert "replaces 1.5 TAO" in page


def test_delete_asks_for_confirmation_first(client, finance_user, team, chutes):
    invoice = _invoice(team, chutes, "2.5", currency="TAO")
    client.force_login(finance_user)
    page = client.get(_url("report_invoice_delete", team, invoice_id=invoice.pk)).content.decode()
    assert "Delete the Chutes invoice for November 2026?" in page
    assert "2.5 TAO" in page
    assert ProviderInvoice.objects.filter(pk=invoice.pk).exists()


def test_delete_removes_the_invoice_and_audits_it(client, finance_user, team, chutes):
    invoice = _invoice(team, chutes, "2.5", currency="TAO")
    client.force_login(finance_user)
    url = _url("report_invoice_delete", team, invoice_id=invoice.pk)
    page = client.post(url, follow=True).content.decode()
    assert not ProviderInvoice.objects.exists()
    assert "Deleted the Chutes invoice for November 2026." in page
    event = AuditEvent.objects.get(action=BillingAuditAction.INVOICE_DELETED)
    assert (event.detail["amount"], event.detail["currency"]) == ("2.5", "TAO")


# --- Validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "amount"),
    [("$86.10", "86.10"), ("1,204.50", "1204.50"), ("USD 1,000,000", "1000000"), ("7.5", "7.5")],
)
def test_it_reads_an_amount_as_invoices_print_it(
    client, finance_user, team, anthropic, typed, amount
):
    assert _post_new(client, finance_user, team, anthropic, amount=typed).status_code == 302
    assert str(ProviderInvoice.objects.get().amount.normalize()) == str(Decimal(amount).normalize())


def test_it_reads_a_tao_amount_written_with_its_currency(client, finance_user, team, chutes):
    assert _post_new(client, finance_user, team, chutes, amount="2.5 TAO").status_code == 302
    assert ProviderInvoice.objects.get().amount == Decimal("2.5")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"amount": "-1"}, "The amount cannot be negative."),
        ({"amount": "12.345"}, "dollars and cents (at most 2 decimals)"),
        ({"amount": "0.123456789", "currency": "TAO"}, "at most 8 decimals"),
        ({"amount": "twelve"}, "Enter the amount as a number"),
        ({"amount": ""}, "Enter the invoiced amount."),
        ({"amount": "1e20"}, "The amount is too large."),
        ({"amount": "1.204,50"}, "“1.204,50” is ambiguous: a comma may mark thousands or decimals"),
        ({"amount": "86,10"}, "is ambiguous"),
        ({"amount": "2.5 TAO"}, "The amount is written in TAO but the invoice is in USD."),
        ({"provider": "999999"}, "Choose one of the providers in the list."),
        ({"provider": ""}, "Choose the provider that sent the invoice."),
        ({"currency": "EUR"}, "Select a valid choice."),
    ],
)
def test_it_refuses_an_invalid_invoice_and_keeps_the_input(
    client, finance_user, team, anthropic, fields, message
):
    response = _post_new(client, finance_user, team, anthropic, reference="INV-KEEP", **fields)
    page = response.content.decode()
    assert response.status_code == 400
    assert message in page
    assert 'value="INV-KEEP"' in page
    if fields.get("amount"):
        assert f'value="{fields["amount"]}"' in page
    assert not ProviderInvoice.objects.exists()


def test_it_refuses_a_month_that_has_not_begun(client, finance_user, team, anthropic):
    response = _post_new(client, finance_user, team, anthropic, month="2027-01", amount="7.50")
    assert response.status_code == 400
    assert "January 2027 has not begun yet in America/New_York" in response.content.decode()
    assert 'value="7.50"' in response.content.decode()
    assert not ProviderInvoice.objects.exists()


def test_the_month_begins_in_the_teams_time_zone(client, finance_user, team, anthropic):
    # 03:00 UTC on Jan 1 is still Dec 31 in New York.
    with time_machine.travel(datetime(2027, 1, 1, 3, 0, tzinfo=UTC), tick=False):
        response = _post_new(client, finance_user, team, anthropic, month="2027-01")
    assert response.status_code == 400


def test_it_accepts_eight_tao_decimals_and_trailing_zeros_in_usd(
    client, finance_user, team, anthropic, chutes
):
    assert _post_new(client, finance_user, team, chutes, amount="0.12345678").status_code == 302
    assert _post_new(client, finance_user, team, anthropic, amount="12.500").status_code == 302


def test_a_zero_invoice_is_allowed(client, finance_user, team, anthropic):
    assert _post_new(client, finance_user, team, anthropic, amount="0").status_code == 302


def test_a_correction_is_validated_too(client, finance_user, team, anthropic):
    invoice = _invoice(team, anthropic, "100")
    client.force_login(finance_user)
    url = _url("report_invoice_edit", team, invoice_id=invoice.pk)
    response = client.post(url, {"amount": "99.999", "currency": "USD"})
    assert response.status_code == 400
    assert 'value="99.999"' in response.content.decode()


# --- Variance ------------------------------------------------------------------------------


def test_a_usd_invoice_is_compared_with_the_computed_usd(team, anthropic):
    _invoice(team, anthropic, "105")
    line = _line(team, {"anthropic": _usd("100")}, "anthropic")
    assert (line.computed, line.variance, line.variance_pct) == (
        Decimal(100),
        Decimal(5),
        Decimal(5),
    )
    assert (line.flagged, line.status) == (True, OVER)


def test_a_tao_invoice_is_compared_with_the_computed_tao(team, chutes):
    _invoice(team, chutes, "1.5", currency="TAO")
    cost = ComputedCost(usd=Decimal("600"), tao=Decimal("1.48"))
    line = _line(team, {"chutes": cost}, "chutes")
    assert (line.currency, line.computed, line.variance) == (
        "TAO",
        Decimal("1.48"),
        Decimal("0.02"),
    )
    assert line.variance_pct == Decimal("0.02") * 100 / Decimal("1.48")
    assert (line.flagged, line.status) == (False, WITHIN)


def test_a_usd_invoice_of_a_tao_provider_is_compared_in_usd(team, chutes):
    _invoice(team, chutes, "612", currency="USD")
    cost = ComputedCost(usd=Decimal("600"), tao=Decimal("1.48"))
    line = _line(team, {"chutes": cost}, "chutes")
    assert (line.computed, line.variance, line.flagged) == (Decimal(600), Decimal(12), False)


def test_a_provider_with_cost_but_no_invoice_is_not_invoiced_yet(team, chutes):
    cost = ComputedCost(usd=Decimal("600"), tao=Decimal("1.48"))
    line = _line(team, {"chutes": cost}, "chutes")
    assert (line.status, line.currency, line.computed) == (NOT_INVOICED, "TAO", Decimal("1.48"))
    assert (line.variance, line.variance_pct, line.flagged) == (None, None, False)


def test_an_invoice_without_computed_usage_is_100_percent_off(team, anthropic):
    _invoice(team, anthropic, "50")
    line = _line(team, {}, "anthropic")
    assert (line.computed, line.variance, line.variance_pct) == (0, Decimal(50), Decimal(100))
    assert (line.flagged, line.status) == (True, NO_USAGE)


@pytest.mark.parametrize(
    ("invoiced", "flagged"),
    [("102", False), ("98", False), ("102.01", True), ("97.99", True)],
)
def test_a_variance_of_exactly_the_tolerance_is_not_flagged(team, anthropic, invoiced, flagged):
    _invoice(team, anthropic, invoiced)
    assert _line(team, {"anthropic": _usd("100")}, "anthropic").flagged is flagged


def test_the_tolerance_is_exact_where_the_percentage_is_not(team, anthropic):
    # 0.06 of 3 is exactly 2%: no rounding of 2/3-style quotients may tip it over.
    _invoice(team, anthropic, "3.06")
    assert _line(team, {"anthropic": _usd("3")}, "anthropic").flagged is False


def test_the_tolerance_comes_from_the_settings(settings, team, anthropic):
    settings.INVOICE_TOLERANCE_PCT = Decimal("5")
    _invoice(team, anthropic, "104")
    line = _line(team, {"anthropic": _usd("100")}, "anthropic")
    assert (line.flagged, line.tolerance_pct) == (False, Decimal(5))


def test_providers_without_cost_and_other_months_are_left_out(team, anthropic, chutes):
    _invoice(team, anthropic, "10", month=date(2026, 10, 1))
    computed = {"chutes": ComputedCost(usd=Decimal(0), tao=Decimal(0))}
    assert invoice_lines(team, NOVEMBER, computed) == []


def test_usage_of_a_provider_unknown_to_the_catalog_is_listed_by_its_name(team):
    line = _line(team, {"someproxy": _usd("3")}, "someproxy")
    assert (line.provider, line.provider_name, line.currency) == (None, "someproxy", "USD")


def test_invoiced_providers_come_first_then_those_not_invoiced(team, anthropic, chutes):
    _invoice(team, chutes, "1", currency="TAO")
    computed = {"anthropic": _usd("5"), "chutes": ComputedCost(usd=Decimal(1), tao=Decimal(1))}
    lines = invoice_lines(team, NOVEMBER, computed)
    assert [line.provider_slug for line in lines] == ["chutes", "anthropic"]


# --- Computed cost from usage --------------------------------------------------------------


def _local(*args) -> str:
    return datetime(*args, tzinfo=NEW_YORK).isoformat()


def _ingest_month(team, other_team, catalog):
    events = [
        # 23:30 on Oct 31 in New York is already Nov 1 in UTC: October's.
        canonical_event(
            id="oct-31", timestamp=_local(2026, 10, 31, 23, 30), cost_usd=Decimal("4.00")
        ),
        canonical_event(id="nov-1", timestamp=_local(2026, 11, 1, 0, 30), cost_usd=Decimal("1.25")),
        canonical_event(
            id="nov-15", timestamp=_local(2026, 11, 15, 9, 0), cost_usd=Decimal("0.000001")
        ),
        # 23:30 on Nov 30 in New York is Dec 1 in UTC: November's.
        canonical_event(
            id="nov-30", timestamp=_local(2026, 11, 30, 23, 30), cost_usd=Decimal("2.5")
        ),
        canonical_event(id="dec-1", timestamp=_local(2026, 12, 1, 0, 30), cost_usd=Decimal("8")),
    ]
    chutes_times = [datetime(2026, 11, 2, 12, tzinfo=UTC), datetime(2026, 11, 20, 12, tzinfo=UTC)]
    for number, moment in enumerate(chutes_times):
        TaoPriceFactory(at=moment - timedelta(minutes=1), usd=Decimal("412.5"))
        events.append(
            canonical_event(
                id=f"chutes-{number}",
                timestamp=moment.isoformat(),
                provider="chutes",
                model="deepseek-ai/DeepSeek-V3",
                cost_usd=Decimal("0.33"),
            )
        )
    usage_ingest(team, events, now=NOW)
    usage_ingest(other_team, [canonical_event(id="rival", cost_usd=Decimal("100"))], now=NOW)


def _event_sums(team, provider):
    start = datetime(2026, 11, 1, tzinfo=NEW_YORK)
    end = datetime(2026, 12, 1, tzinfo=NEW_YORK)
    events = UsageEvent.objects.filter(
        team=team, provider_name=provider, occurred_at__gte=start, occurred_at__lt=end
    )
    return events.aggregate(usd=Sum("cost_usd"), tao=Sum("tao_amount"))


def test_computed_cost_is_the_sum_of_the_months_events_in_the_teams_zone(team, other_team, catalog):
    _ingest_month(team, other_team, catalog)
    computed = computed_by_provider(team, NOVEMBER)
    assert computed["anthropic"].usd == _event_sums(team, "anthropic")["usd"]
    assert computed["anthropic"].usd == Decimal("3.750001")


def test_computed_tao_is_the_sum_of_the_months_tao_amounts(team, other_team, catalog):
    _ingest_month(team, other_team, catalog)
    computed = computed_by_provider(team, NOVEMBER)["chutes"]
    sums = _event_sums(team, "chutes")
    assert (computed.usd, computed.tao) == (sums["usd"], sums["tao"])
    assert computed.tao == 2 * (Decimal("0.33") / Decimal("412.5")).quantize(Decimal("1e-12"))


def test_computed_cost_is_read_in_one_query(team, other_team, catalog, django_assert_num_queries):
    _ingest_month(team, other_team, catalog)
    with django_assert_num_queries(1):
        assert set(computed_by_provider(team, NOVEMBER)) == {"anthropic", "chutes"}


# --- The page ------------------------------------------------------------------------------


def test_the_page_flags_a_variance_over_the_tolerance(client, viewer_user, team, anthropic):
    _invoice(team, anthropic, "50", reference="INV-50")
    page = _page(client, viewer_user, team)
    assert 'data-provider="anthropic" data-status="no_usage"' in page
    assert '<td class="num bad" data-testid="invoice-variance">+$50.00</td>' in page
    assert '<td class="num bad" data-testid="invoice-variance-pct">+100.00%</td>' in page
    assert "INV-50" in page


def test_the_page_shows_a_tao_line_with_its_usd_for_scale(
    client, viewer_user, team, other_team, catalog
):
    _ingest_month(team, other_team, catalog)
    _invoice(team, Provider.objects.get(slug="chutes"), "0.0016", currency="TAO")
    page = _page(client, viewer_user, team)
    assert "0.0016 TAO" in page
    assert "$0.66" in page


def test_the_page_says_when_no_invoice_is_recorded_and_who_records_them(client, viewer_user, team):
    page = _page(client, viewer_user, team)
    assert "No invoices recorded for this month yet" in page
    assert "Finance members and admins record the invoices." in page
    assert f'href="{_url("report_invoices", team)}"' not in page


def test_the_report_of_a_month_without_invoices_links_readers_to_the_invoices_page(
    client, viewer_user, team
):
    client.force_login(viewer_user)
    page = client.get(_url("report", team, "2026-11")).content.decode()
    assert f'href="{_url("report_invoices", team)}"' in page


def test_the_page_offers_to_record_what_is_not_invoiced_yet(
    client, finance_user, team, other_team, catalog
):
    _ingest_month(team, other_team, catalog)
    page = _page(client, finance_user, team)
    assert 'data-provider="chutes" data-status="not_invoiced"' in page
    assert _url("report_invoice_new", team) + "?provider=chutes" in page


def test_a_month_that_has_not_begun_offers_no_recording(client, finance_user, team):
    page = _page(client, finance_user, team, "2027-01")
    assert _url("report_invoice_new", team, "2027-01") not in page


def test_it_marks_reports_active_in_the_navigation(client, viewer_user, team):
    page = _page(client, viewer_user, team)
    assert 'aria-current="page">Reports' in page


def test_the_page_reads_a_fixed_number_of_queries(
    client, finance_user, team, anthropic, chutes, django_assert_num_queries
):
    for number in range(5):
        provider = ProviderFactory(slug=f"extra-{number}")
        _invoice(team, provider, "1", entered_by=finance_user)
    _invoice(team, chutes, "1", currency="TAO", entered_by=finance_user)
    for number in range(3):
        event = canonical_event(
            id=f"e-{number}", provider=f"unbilled-{number}", cost_usd=Decimal(1)
        )
        usage_ingest(team, [event], now=NOW)
    client.force_login(finance_user)
    url = _url("report_invoices", team)
    with django_assert_num_queries(QUERIES):
        page = client.get(url).content.decode()
    assert page.count('data-testid="invoice-line"') == 9
