"""The team's treasury read from the database: its lots, transfers and TAO consumption, run
through billing.treasury.fifo, with closed months taken from their close snapshots.

A closed month's figures never move: when finance closes a month, its row and what is left of
each lot at its end go into the close's snapshot under "treasury" (treasury_close_snapshot).
The page then shows closed months from there, and the months after the last closed one start
from its remainders. Closes made before the treasury existed carry no such key: their months
are computed live.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import Sum
from django.utils import timezone

from billing.models import MonthClose, TaoLot, TaoPrice, TaoTransfer, UsageDailyRollup, UsageRollup
from billing.months import last_day_of
from billing.treasury.fifo import (
    ZERO,
    AccountBalance,
    DayBurn,
    Lot,
    LotLeft,
    MonthRow,
    Transfer,
    account_balance,
    closed_row,
    fifo_run,
    held_in_wallet,
    start_from_json,
)
from routing.models import Currency, Provider

SNAPSHOT_KEY = "treasury"


def tao_provider_slugs() -> list[str]:
    return list(
        Provider.objects.filter(billing_currency=Currency.TAO).values_list("slug", flat=True)
    )


def lot_of(row: TaoLot, zone) -> Lot:
    return Lot(row.pk, row.bought_at.astimezone(zone).date(), row.tao, row.usd_paid)


def transfer_of(row: TaoTransfer) -> Transfer:
    return Transfer(row.pk, row.sent_at, row.tao, row.balance_after)


def daily_burn(team, *, after: date | None = None, through: date | None = None) -> list[DayBurn]:
    """TAO-billed providers' consumption per team day (its time zone), from the daily rollups."""
    rows = UsageDailyRollup.objects.filter(team=team, provider_name__in=tao_provider_slugs())
    if after is not None:
        rows = rows.filter(day__gt=after)
    if through is not None:
        rows = rows.filter(day__lte=through)
    sums = rows.values("day").annotate(tao=Sum("tao_amount"), usd=Sum("cost_usd")).order_by("day")
    return [DayBurn(row["day"], row["tao"] or ZERO, row["usd"] or ZERO) for row in sums]


def tao_used_since(team, moment: datetime) -> Decimal:
    """TAO consumed from `moment` on, counting the hour it falls in (the hourly rollups)."""
    used = UsageRollup.objects.filter(
        team=team,
        provider_name__in=tao_provider_slugs(),
        hour__gt=moment - timedelta(hours=1),
    ).aggregate(tao=Sum("tao_amount"))["tao"]
    return used or ZERO


def latest_tao_price(now: datetime | None = None) -> TaoPrice | None:
    return TaoPrice.objects.latest_at(now or timezone.now())


# --- Closed months ------------------------------------------------------------------------


def treasury_closes(team) -> dict[date, dict]:
    """The team's standing closes that froze the treasury: month -> its snapshot part."""
    closes = MonthClose.objects.filter(team=team, reopened_at=None).only("month", "snapshot")
    return {c.month: c.snapshot[SNAPSHOT_KEY] for c in closes if SNAPSHOT_KEY in c.snapshot}


def last_closed_month(team) -> date | None:
    """The latest month the team has closed (whatever the snapshot holds)."""
    return (
        MonthClose.objects.filter(team=team, reopened_at=None)
        .order_by("-month")
        .values_list("month", flat=True)
        .first()
    )


def _fifo_through(team, lots: list[Lot], closes: dict[date, dict], through: date | None):
    """FIFO up to `through` (all days when None), from the last closed month before it."""
    anchors = [month for month in closes if through is None or last_day_of(month) < through]
    if not anchors:
        return None, fifo_run(lots, daily_burn(team, through=through))
    anchor = max(anchors)
    end = last_day_of(anchor)
    start = start_from_json(closes[anchor]["lots"])
    days = daily_burn(team, after=end, through=through)
    return anchor, fifo_run(lots, days, start=start)


def treasury_close_snapshot(team, month: date) -> dict:
    """What a close of `month` freezes: the month's row and what is left of each lot bought
    by its end."""
    end = last_day_of(month)
    lots = [lot for lot in team_lots(team) if lot.day <= end]
    closes = {m: part for m, part in treasury_closes(team).items() if m < month}
    _, result = _fifo_through(team, lots, closes, end)
    row = result.months.get(month, MonthRow(month))
    return {"row": row.to_json(), "lots": [left.to_json() for left in result.left]}


def team_lots(team) -> list[Lot]:
    return [lot_of(row, team.zone) for row in TaoLot.objects.filter(team=team)]


# --- The page's figures -------------------------------------------------------------------


@dataclass(frozen=True)
class LotLine:
    """A lot on the page: the row, and what is left of it."""

    row: TaoLot
    left: LotLeft
    gain: Decimal | None  # of what is left, at the latest TAO price


@dataclass
class Treasury:
    months: list[MonthRow]
    lots: list[LotLine]
    transfers: list[TaoTransfer]
    held: Decimal
    account: AccountBalance | None
    price: TaoPrice | None

    @property
    def empty(self) -> bool:
        return not (self.lots or self.transfers or self.months)

    @property
    def account_tao(self) -> Decimal:
        return self.account.tao if self.account else ZERO

    @property
    def total(self) -> Decimal:
        return self.held + self.account_tao

    @property
    def value_now(self) -> Decimal | None:
        return self.total * self.price.usd if self.price else None

    @property
    def left_tao(self) -> Decimal:
        return sum((line.left.tao for line in self.lots), ZERO)

    @property
    def cost_basis(self) -> Decimal:
        return sum((line.left.basis for line in self.lots), ZERO)

    @property
    def left_value(self) -> Decimal | None:
        return self.left_tao * self.price.usd if self.price else None

    @property
    def unrealised(self) -> Decimal | None:
        """Gain (negative: loss) of what is left of the lots at the latest TAO price."""
        value = self.left_value
        return None if value is None else value - self.cost_basis


def treasury_of(team) -> Treasury:
    """Everything the treasury page shows, closed months from their snapshots."""
    rows = list(TaoLot.objects.filter(team=team))
    lots = [lot_of(row, team.zone) for row in rows]
    transfer_rows = list(TaoTransfer.objects.filter(team=team))
    transfers = [transfer_of(row) for row in transfer_rows]
    closes = treasury_closes(team)
    anchor, current = _fifo_through(team, lots, closes, None)
    months = dict(current.months)
    if anchor is not None:
        # Months up to the last close that are not frozen themselves (closed before the
        # treasury kept figures, or reopened) are computed live from the start.
        live = fifo_run(lots, daily_burn(team, through=last_day_of(anchor)))
        months |= {month: row for month, row in live.months.items() if month <= anchor}
    for month, part in closes.items():
        months[month] = closed_row(MonthRow.from_json(part["row"]))
    by_id = {row.pk: row for row in rows}
    price = latest_tao_price()
    return Treasury(
        months=[months[month] for month in sorted(months, reverse=True)],
        lots=[
            LotLine(by_id[left.lot.id], left, left.gain_at(price.usd) if price else None)
            for left in current.left
        ],
        transfers=sorted(transfer_rows, key=lambda row: (row.sent_at, row.pk), reverse=True),
        held=held_in_wallet(lots, transfers),
        account=account_balance(transfers, lambda moment: tao_used_since(team, moment)),
        price=price,
    )


def lot_name(row: TaoLot | None, lot_id: int) -> str:
    """A lot in a few words: where it was bought, or its reference, or its number."""
    if row is None:
        return f"lot {lot_id} (deleted)"
    return row.venue or row.reference or f"lot {lot_id}"


def month_csv_rows(treasury: Treasury):
    """The monthly table as CSV rows, oldest month first."""
    yield [
        "month",
        "tao_consumed",
        "tao_unfunded",
        "cost_usd_at_purchase_prices",
        "value_usd_at_spot",
        "saving_usd",
        "drawn_from",
        "closed",
    ]
    by_id = {line.row.pk: line.row for line in treasury.lots}
    for row in reversed(treasury.months):
        yield [
            f"{row.month:%Y-%m}",
            row.tao,
            row.unfunded_tao,
            row.cost_usd.quantize(Decimal("0.01")),
            row.spot_usd.quantize(Decimal("0.01")),
            row.difference.quantize(Decimal("0.01")),
            "; ".join(lot_name(by_id.get(lot_id), lot_id) for lot_id in row.lot_ids),
            "yes" if row.closed else "no",
        ]
