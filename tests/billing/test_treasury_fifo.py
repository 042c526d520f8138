from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from billing.ingest.store import usage_ingest
from billing.models import TaoLot, TaoTransfer
from billing.reports.month_close import month_close
from billing.treasury.fifo import (
    AccountBalance,
    DayBurn,
    Lot,
    LotLeft,
    Transfer,
    account_balance,
    fifo_run,
    held_in_wallet,
    runway_of,
)
from billing.treasury.ledger import daily_burn, treasury_of
from billing.treasury.records import tao_lot_save
from tests.factories import TaoPriceFactory, canonical_event

# Mid-December in New York: October and November are over, December is open.
NOW = datetime(2026, 12, 15, 17, 0, tzinfo=UTC)
OCTOBER, NOVEMBER, DECEMBER = date(2026, 10, 1), date(2026, 11, 1), date(2026, 12, 1)
D = Decimal


def chutes_call(team, id, at, cost_usd, tao_usd=400):
    """A Chutes call of `cost_usd` at `at`, TAO at `tao_usd` just before: cost / tao_usd TAO."""
    TaoPriceFactory(at=at - timedelta(minutes=1), usd=Decimal(tao_usd), source=f"test-{id}")
    event = canonical_event(
        id=id,
        timestamp=at.isoformat(),
        provider="chutes",
        model="unsloth/Llama-3.3-70B-Instruct",
        cost_usd=str(cost_usd),
    )
    usage_ingest(team, [event], now=max(at, NOW))


def _lot(id, day, tao, usd):
    return Lot(id, day, D(tao), D(usd))


def _burn(day, tao, usd):
    return DayBurn(day, D(tao), D(usd))


# --- FIFO on plain values -----------------------------------------------------------------

LOTS = [_lot(1, date(2026, 10, 1), "10", "1000"), _lot(2, date(2026, 10, 20), "10", "2000")]
BURNS = [
    _burn(date(2026, 10, 5), "4", "1600"),
    _burn(date(2026, 10, 25), "8", "3200"),
    _burn(date(2026, 11, 3), "5", "2000"),
]


def test_consumption_draws_from_the_oldest_lot_first_across_months():
    result = fifo_run(LOTS, BURNS)
    october, november = result.months[OCTOBER], result.months[NOVEMBER]
    # October: 4 + 6 TAO of lot 1 at $100, 2 of lot 2 at $200; November: 5 of lot 2.
    assert (october.tao, october.cost_usd, october.spot_usd) == (D(12), D(1400), D(4800))
    assert (november.tao, november.cost_usd, november.spot_usd) == (D(5), D(1000), D(2000))
    assert october.lot_ids == [1, 2]
    assert october.difference == D(3400)


def test_what_is_left_of_each_lot_conserves_tao_and_usd_exactly():
    result = fifo_run(LOTS, BURNS)
    used = sum(row.tao for row in result.months.values())
    cost = sum(row.cost_usd for row in result.months.values())
    assert [(left.tao, left.basis) for left in result.left] == [(D(0), D(0)), (D(3), D(600))]
    assert used + sum(left.tao for left in result.left) == D(20)
    assert cost + sum(left.basis for left in result.left) == D(3000)


def test_a_lot_split_in_thirds_costs_exactly_what_was_paid():
    lot = _lot(1, date(2026, 10, 1), "3", "1000")
    burns = [_burn(date(2026, 10, day), "1", "400") for day in (2, 3, 4)]
    result = fifo_run([lot], burns)
    assert result.months[OCTOBER].cost_usd == D(1000)
    assert result.left[0].tao == 0 and result.left[0].basis == 0


def test_odd_splits_keep_the_tao_sum_to_the_last_digit():
    lots = [_lot(n, date(2026, 10, 1), f"0.{n}33333333337", f"{n}1.17") for n in range(1, 4)]
    burns = [_burn(date(2026, 10, 2 + n), "0.123456789012", "49.38") for n in range(5)]
    result = fifo_run(lots, burns)
    bought = sum(lot.tao for lot in lots)
    assert result.months[OCTOBER].tao + sum(left.tao for left in result.left) == bought
    assert result.months[OCTOBER].unfunded_tao == 0


def test_a_lot_bought_after_a_day_does_not_fund_it():
    lot = _lot(1, date(2026, 10, 10), "10", "1000")
    result = fifo_run([lot], [_burn(date(2026, 10, 5), "2", "800")])
    row = result.months[OCTOBER]
    assert (row.unfunded_tao, row.cost_usd, row.difference) == (D(2), D(800), D(0))
    assert result.left[0].tao == D(10)


def test_consumption_beyond_the_lots_bought_is_unfunded_and_valued_at_spot():
    lot = _lot(1, date(2026, 10, 1), "1", "100")
    result = fifo_run([lot], [_burn(date(2026, 10, 5), "4", "1600")])
    row = result.months[OCTOBER]
    # 1 TAO from the lot at $100, 3 unfunded at the day's $400.
    assert (row.funded_tao, row.unfunded_tao, row.cost_usd) == (D(1), D(3), D(1300))


def test_a_closed_month_s_remainders_start_the_next_months():
    start = {1: (D(2), D(200)), 2: (D(10), D(2000))}
    result = fifo_run(LOTS, [_burn(date(2026, 11, 3), "5", "2000")], start=start)
    # 2 TAO of lot 1 at $100, then 3 of lot 2 at $200.
    assert result.months[NOVEMBER].cost_usd == D(800)
    assert [left.tao for left in result.left] == [D(0), D(7)]


def test_unrealised_gain_and_loss_of_what_is_left_at_a_new_price():
    left = LotLeft(LOTS[1], D(3), D(600))
    assert left.gain_at(D(250)) == D(150)
    assert left.gain_at(D(150)) == D(-150)


# --- Balances -----------------------------------------------------------------------------

T1 = datetime(2026, 11, 1, 12, tzinfo=UTC)
T2 = datetime(2026, 11, 10, 12, tzinfo=UTC)
T3 = datetime(2026, 11, 20, 12, tzinfo=UTC)


def _used(amounts: dict):
    return lambda moment: D(amounts[moment])


def test_held_is_what_was_bought_less_what_was_sent():
    assert held_in_wallet(LOTS, [Transfer(1, T1, D("12.5"))]) == D("7.5")


def test_the_account_is_the_transfers_less_what_was_used_since_the_first():
    transfers = [Transfer(1, T1, D(10)), Transfer(2, T2, D(5))]
    balance = account_balance(transfers, _used({T1: "3.25"}))
    assert balance == AccountBalance(D("11.75"), None, T1, D(15), D("3.25"))


def test_the_latest_stated_balance_wins_plus_transfers_after_it():
    transfers = [
        Transfer(1, T1, D(10), balance_after=D(10)),
        Transfer(2, T2, D(5), balance_after=D(12)),
        Transfer(3, T3, D(4)),
    ]
    balance = account_balance(transfers, _used({T2: "2"}))
    assert (balance.tao, balance.reading.id, balance.sent) == (D(14), 2, D(4))


def test_no_transfer_means_no_account_balance():
    assert account_balance([], _used({})) is None


# --- Runway -------------------------------------------------------------------------------


def test_the_runway_is_the_balance_over_the_burn_and_the_day_it_runs_out():
    runway = runway_of(D(10), D(28), 7, date(2026, 12, 15))
    assert (runway.days_left, runway.runs_out) == (D("2.5"), date(2026, 12, 17))


def test_no_burn_means_no_run_out_day():
    runway = runway_of(D(10), D(0), 7, date(2026, 12, 15))
    assert not runway.burning and runway.runs_out is None


def test_a_balance_gone_runs_out_today():
    assert runway_of(D(-1), D(1), 7, date(2026, 12, 15)).runs_out == date(2026, 12, 15)


# --- From the database --------------------------------------------------------------------


@pytest.fixture
def usage(team, catalog, frozen_now):
    # 22:30 on October 31st in New York is October; 2 TAO, then 1 TAO on November 10th.
    chutes_call(team, "oct", datetime(2026, 11, 1, 2, 30, tzinfo=UTC), 800)
    chutes_call(team, "nov", datetime(2026, 11, 10, 15, tzinfo=UTC), 400)
    return team


def _lot_row(team, at, tao, usd, **fields):
    return TaoLot.objects.create(team=team, bought_at=at, tao=D(tao), usd_paid=D(usd), **fields)


def test_the_daily_burn_is_counted_in_the_team_s_days(usage):
    assert [(burn.day, burn.tao) for burn in daily_burn(usage)] == [
        (date(2026, 10, 31), D(2)),
        (date(2026, 11, 10), D(1)),
    ]


def test_the_page_s_months_come_from_the_usage_and_the_lots(usage):
    _lot_row(usage, datetime(2026, 10, 1, tzinfo=UTC), "10", "1500")
    treasury = treasury_of(usage)
    assert [(row.month, row.cost_usd, row.spot_usd) for row in treasury.months] == [
        (NOVEMBER, D(150), D(400)),
        (OCTOBER, D(300), D(800)),
    ]
    assert treasury.lots[0].left.tao == D(7)


def test_the_account_balance_counts_usage_after_the_stated_balance(usage):
    TaoTransfer.objects.create(
        team=usage, sent_at=datetime(2026, 11, 5, tzinfo=UTC), tao=D(8), balance_after=D(9)
    )
    assert treasury_of(usage).account.tao == D(8)


def _close(team, user, month):
    return month_close(team=team, month=month, user=user, report={}, now=NOW)


def test_a_closed_month_s_figures_do_not_move_after_its_lot_is_changed(usage, finance_user):
    lot = _lot_row(usage, datetime(2026, 10, 1, tzinfo=UTC), "10", "1000")
    _close(usage, finance_user, OCTOBER)
    # As the Django admin could, past the treasury's own refusal.
    TaoLot.objects.filter(pk=lot.pk).update(usd_paid=D(3000))
    october = next(row for row in treasury_of(usage).months if row.month == OCTOBER)
    assert (october.closed, october.cost_usd) == (True, D(200))


def test_a_later_lot_corrected_leaves_the_closed_month_as_frozen(usage, finance_user):
    _lot_row(usage, datetime(2026, 10, 1, tzinfo=UTC), "1", "150")
    later = _lot_row(usage, datetime(2026, 11, 2, tzinfo=UTC), "10", "1000")
    _close(usage, finance_user, OCTOBER)
    data = {"bought_at": later.bought_at, "tao": D(10), "usd_paid": D(2000)}
    tao_lot_save(team=usage, user=finance_user, data=data, lot=later)
    treasury = treasury_of(usage)
    october, november = treasury.months[1], treasury.months[0]
    # October: 1 TAO of the first lot at $150, 1 unfunded at $400; November: at $200.
    assert (october.cost_usd, october.unfunded_tao) == (D(550), D(1))
    assert november.cost_usd == D(200)


def test_a_closed_month_s_figures_do_not_move_after_late_usage(usage, finance_user):
    _lot_row(usage, datetime(2026, 10, 1, tzinfo=UTC), "10", "1000")
    _close(usage, finance_user, OCTOBER)
    chutes_call(usage, "late", datetime(2026, 10, 20, 15, tzinfo=UTC), 4000)
    treasury = treasury_of(usage)
    october = next(row for row in treasury.months if row.month == OCTOBER)
    assert (october.tao, october.cost_usd) == (D(2), D(200))
    # November starts from October's remainders: 8 TAO left, 1 used in November.
    assert treasury.lots[0].left.tao == D(7)


def test_a_close_freezes_the_treasury_row_and_the_lots_left(usage, finance_user):
    lot = _lot_row(usage, datetime(2026, 10, 1, tzinfo=UTC), "10", "1000")
    close = _close(usage, finance_user, OCTOBER)
    [left] = close.snapshot["treasury"]["lots"]
    assert (left["id"], D(left["tao"]), D(left["basis"])) == (lot.pk, D(8), D(800))
    assert D(close.snapshot["treasury"]["row"]["tao"]) == D(2)


def test_a_close_made_before_the_treasury_is_computed_live(usage, finance_user):
    _lot_row(usage, datetime(2026, 10, 1, tzinfo=UTC), "10", "1000")
    close = _close(usage, finance_user, OCTOBER)
    del close.snapshot["treasury"]
    close.save()
    october = next(row for row in treasury_of(usage).months if row.month == OCTOBER)
    assert (october.closed, october.cost_usd) == (False, D(200))
