import csv
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from billing.audit_actions import BillingAuditAction
from billing.models import TaoLot, TaoTransfer
from billing.reports.month_close import month_close
from billing.treasury.demo import treasury_demo_seed
from billing.treasury.ledger import treasury_of
from billing.treasury.runway import draft_ratio, draft_shifts, runway_lines
from dashboard.models import AuditEvent
from routing.publish import routing_publish
from tests.billing.rollout_setup import DEEPSEEK, SONNET, rule_save_targets
from tests.billing.test_treasury_fifo import chutes_call

NOW = datetime(2026, 12, 15, 17, 0, tzinfo=UTC)
D = Decimal

pytestmark = pytest.mark.usefixtures("frozen_now")


def _url(name, team, **kwargs):
    return reverse(name, kwargs={"team": team.slug, **kwargs})


def _lot(team, at=datetime(2026, 12, 2, 15, tzinfo=UTC), tao="10", usd="1500", **fields):
    return TaoLot.objects.create(team=team, bought_at=at, tao=D(tao), usd_paid=D(usd), **fields)


LOT_FORM = {"bought_at": "2026-12-03 10:00", "tao": "12.5", "usd_paid": "$1,834.20"}


# --- Reading ------------------------------------------------------------------------------


def test_a_viewer_reads_the_empty_page_and_is_told_what_to_do_first(client, viewer_user, team):
    client.force_login(viewer_user)
    page = client.get(_url("treasury", team)).content.decode()
    assert "Start with the TAO Maven bought" in page
    assert _url("treasury_lot_new", team) not in page


def test_the_page_shows_the_balances_lots_and_transfers(client, viewer_user, team):
    _lot(team, venue="Kraken")
    TaoTransfer.objects.create(team=team, sent_at=NOW, tao=D(4), balance_after=D("4.5"))
    client.force_login(viewer_user)
    page = client.get(_url("treasury", team)).content.decode()
    assert 'data-testid="held">6.0000' in page
    assert 'data-testid="account">4.5000' in page
    assert "Kraken" in page


def test_an_outsider_gets_404(client, outsider, team):
    client.force_login(outsider)
    assert client.get(_url("treasury", team)).status_code == 404
    assert client.get(_url("treasury_lot_new", team)).status_code == 404
    assert client.get(_url("treasury_csv", team)).status_code == 404


@pytest.mark.parametrize("role", ["viewer", "ops"])
def test_readers_may_not_record(client, users_by_role, team, role):
    client.force_login(users_by_role[role])
    assert client.post(_url("treasury_lot_new", team), LOT_FORM).status_code == 403
    lot = _lot(team)
    delete = _url("treasury_lot_delete", team, lot_id=lot.pk)
    assert client.post(delete).status_code == 403
    assert TaoLot.objects.count() == 1


def test_a_lot_of_another_team_is_a_404(client, finance_user, team, other_team):
    lot = _lot(other_team)
    client.force_login(finance_user)
    assert client.get(_url("treasury_lot_edit", team, lot_id=lot.pk)).status_code == 404


# --- Recording ----------------------------------------------------------------------------


def test_finance_records_a_lot_audited(client, finance_user, team):
    client.force_login(finance_user)
    response = client.post(_url("treasury_lot_new", team), LOT_FORM | {"venue": "Kraken"})
    assert response.status_code == 302
    lot = TaoLot.objects.get(team=team)
    assert (lot.tao, lot.usd_paid, lot.venue) == (D("12.5"), D("1834.20"), "Kraken")
    # Typed in New York time.
    assert lot.bought_at == datetime(2026, 12, 3, 15, tzinfo=UTC)
    event = AuditEvent.objects.get(action=BillingAuditAction.TAO_LOT_CREATED)
    assert event.detail["usd_paid"] == "1834.20"


def test_a_correction_is_audited_old_to_new(client, finance_user, team):
    lot = _lot(team)
    client.force_login(finance_user)
    form = {"bought_at": "2026-12-02 10:00", "tao": "10", "usd_paid": "1600"}
    client.post(_url("treasury_lot_edit", team, lot_id=lot.pk), form)
    event = AuditEvent.objects.get(action=BillingAuditAction.TAO_LOT_CHANGED)
    assert event.detail == {"usd_paid": "1500.00 → 1600.00"}


def test_a_transfer_correction_is_audited_old_to_new(client, admin_user, team):
    transfer = TaoTransfer.objects.create(team=team, sent_at=NOW, tao=D(4))
    client.force_login(admin_user)
    form = {"sent_at": "2026-12-15 12:00", "tao": "4", "balance_after": "6.25"}
    client.post(_url("treasury_transfer_edit", team, transfer_id=transfer.pk), form)
    event = AuditEvent.objects.get(action=BillingAuditAction.TAO_TRANSFER_CHANGED)
    assert event.detail == {"balance_after": "none → 6.25"}


def test_the_form_keeps_what_was_typed_and_says_what_is_wrong(client, finance_user, team):
    client.force_login(finance_user)
    form = LOT_FORM | {"tao": "twelve", "venue": "OTC <desk>"}
    response = client.post(_url("treasury_lot_new", team), form)
    page = response.content.decode()
    assert response.status_code == 400
    assert "Enter the TAO amount as a number" in page
    assert 'value="OTC &lt;desk&gt;"' in page
    assert not TaoLot.objects.exists()


def test_a_future_purchase_is_refused(client, finance_user, team):
    client.force_login(finance_user)
    response = client.post(_url("treasury_lot_new", team), LOT_FORM | {"bought_at": "2027-01-02"})
    assert response.status_code == 400
    assert "in the future" in response.content.decode()


def test_delete_asks_for_confirmation_first(client, finance_user, team):
    lot = _lot(team)
    client.force_login(finance_user)
    page = client.get(_url("treasury_lot_delete", team, lot_id=lot.pk)).content.decode()
    assert "Delete the lot: 10 TAO bought 2026-12-02?" in page
    assert TaoLot.objects.exists()


def test_delete_removes_the_lot_and_audits_what_it_was(client, finance_user, team):
    lot = _lot(team)
    client.force_login(finance_user)
    client.post(_url("treasury_lot_delete", team, lot_id=lot.pk))
    assert not TaoLot.objects.exists()
    event = AuditEvent.objects.get(action=BillingAuditAction.TAO_LOT_DELETED)
    assert event.detail["tao"] == "10"


# --- Closed months ------------------------------------------------------------------------


@pytest.fixture
def november_closed(team, finance_user):
    month_close(team=team, month=date(2026, 11, 1), user=finance_user, report={}, now=NOW)


def test_a_lot_dated_in_a_closed_month_is_refused(client, finance_user, team, november_closed):
    client.force_login(finance_user)
    response = client.post(_url("treasury_lot_new", team), LOT_FORM | {"bought_at": "2026-11-30"})
    assert response.status_code == 400
    assert "November 2026 is closed: reopen it on its report first." in response.content.decode()


def test_a_lot_may_not_be_moved_into_a_closed_month(client, finance_user, team, november_closed):
    lot = _lot(team)
    client.force_login(finance_user)
    form = {"bought_at": "2026-11-20", "tao": "10", "usd_paid": "1500"}
    response = client.post(_url("treasury_lot_edit", team, lot_id=lot.pk), form)
    assert response.status_code == 400
    lot.refresh_from_db()
    assert lot.bought_at == datetime(2026, 12, 2, 15, tzinfo=UTC)


def test_a_transfer_in_a_closed_month_is_not_deleted(client, finance_user, team, november_closed):
    transfer = TaoTransfer.objects.create(
        team=team, sent_at=datetime(2026, 11, 5, tzinfo=UTC), tao=D(4)
    )
    client.force_login(finance_user)
    url = _url("treasury_transfer_delete", team, transfer_id=transfer.pk)
    response = client.post(url)
    assert response.status_code == 400
    assert "November 2026 is closed" in response.content.decode()
    assert TaoTransfer.objects.exists()


# --- CSV ----------------------------------------------------------------------------------


def test_the_csv_is_safe_to_open_in_a_spreadsheet(client, viewer_user, team, catalog):
    _lot(team, at=datetime(2026, 12, 1, 15, tzinfo=UTC), venue='=HYPERLINK("http://x","y")')
    chutes_call(team, "dec", datetime(2026, 12, 10, 15, tzinfo=UTC), 400)
    client.force_login(viewer_user)
    lines = client.get(_url("treasury_csv", team)).content.decode().splitlines()
    assert lines[0].startswith("month,tao_consumed,")
    row = next(csv.reader(lines[1:]))
    assert (row[0], D(row[1]), row[3], row[4], row[5]) == (
        "2026-12",
        D(1),
        "150.00",
        "400.00",
        "250.00",
    )
    assert row[6] == '\'=HYPERLINK("http://x","y")'


# --- Runway -------------------------------------------------------------------------------


@pytest.fixture
def burning(team, catalog):
    """30 TAO bought; 20 on the account on November 1st; 3 TAO used on November 20th and 2 on
    December 10th: 15 left on the account, 10 in the wallet."""
    _lot(team, at=datetime(2026, 10, 20, tzinfo=UTC), tao="30", usd="4500")
    TaoTransfer.objects.create(
        team=team, sent_at=datetime(2026, 11, 1, tzinfo=UTC), tao=D(20), balance_after=D(20)
    )
    chutes_call(team, "nov", datetime(2026, 11, 20, 15, tzinfo=UTC), 1200)
    chutes_call(team, "dec", datetime(2026, 12, 10, 15, tzinfo=UTC), 800)
    return team


def test_the_runway_at_the_last_7_and_30_days_burn(burning):
    account, total = runway_lines(treasury_of(burning), burning)
    assert (account.balance, total.balance) == (D(15), D(25))
    # 2 TAO over 7 days; 5 TAO over 30 days.
    assert (account.runways[7].days_left, account.runways[7].runs_out) == (
        D("52.5"),
        date(2027, 2, 5),
    )
    assert (account.runways[30].days_left, account.runways[30].runs_out) == (
        D(90),
        date(2027, 3, 15),
    )


def test_no_burn_says_so(client, viewer_user, team):
    TaoTransfer.objects.create(team=team, sent_at=NOW, tao=D(4))
    client.force_login(viewer_user)
    page = client.get(_url("treasury", team)).content.decode()
    assert "no burn in the last 7 days" in page


def test_the_draft_moves_the_run_out_day(burning, ops_user):
    rule_save_targets(burning, ops_user, "*", (DEEPSEEK, 100))
    routing_publish(team=burning, user=ops_user, comment="all on Chutes")
    rule_save_targets(burning, ops_user, "*", (DEEPSEEK, 50), (SONNET, 50))
    lines = runway_lines(treasury_of(burning), burning)
    [account, _] = draft_shifts(lines, draft_ratio(burning), burning)
    assert account.now.runs_out == date(2027, 3, 15)
    assert account.draft.runs_out > date(2027, 6, 1)


def test_no_draft_change_no_shift(burning, ops_user):
    rule_save_targets(burning, ops_user, "*", (DEEPSEEK, 100))
    routing_publish(team=burning, user=ops_user, comment="all on Chutes")
    assert draft_ratio(burning) is None


def test_the_page_says_how_the_draft_moves_the_date(client, burning, ops_user, viewer_user):
    rule_save_targets(burning, ops_user, "*", (DEEPSEEK, 100))
    routing_publish(team=burning, user=ops_user, comment="all on Chutes")
    rule_save_targets(burning, ops_user, "*", (SONNET, 100))
    client.force_login(viewer_user)
    page = client.get(_url("treasury", burning)).content.decode()
    assert "the routing draft moves it from Mon 15 Mar 2027 to never" in page


# --- Demo ---------------------------------------------------------------------------------


def test_the_demo_seed_adds_three_lots_and_two_transfers_once(team):
    assert treasury_demo_seed(team, NOW) == 5
    assert treasury_demo_seed(team, NOW) == 0
    assert TaoLot.objects.filter(team=team).count() == 3
    stated = TaoTransfer.objects.filter(team=team, balance_after__isnull=False)
    assert stated.count() == 1
