"""The TAO treasury's arithmetic, on plain values (no database): consumption drawn from lots
first in, first out, what each month's TAO cost against its value at spot, what is left of each
lot, and the balances held in the wallet and on the Chutes account.

Days are the team's calendar days. A lot funds consumption from the day it was bought on; what
a day burns beyond the TAO bought by then is unfunded, valued at spot (what it cost in USD when
used) and shown as such. Everything is Decimal: splitting a lot conserves TAO exactly, and the
cost basis of a lot is what its draws cost plus what is left of it, to the last digit.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal, localcontext

from billing.months import month_start

ZERO = Decimal(0)
# Enough digits that a lot's remaining basis never rounds: 24-digit amounts times 24-digit ones.
PRECISION = 60


@dataclass(frozen=True)
class Lot:
    """TAO bought: on which of the team's days, how much, for how many USD."""

    id: int
    day: date
    tao: Decimal
    usd_paid: Decimal

    @property
    def price(self) -> Decimal:
        return self.usd_paid / self.tao


@dataclass(frozen=True)
class DayBurn:
    """A day's consumption at TAO-billed providers: TAO, and its USD value at spot when used."""

    day: date
    tao: Decimal
    usd: Decimal


@dataclass(frozen=True)
class LotLeft:
    """What is left of a lot, and what that part cost (its cost basis)."""

    lot: Lot
    tao: Decimal
    basis: Decimal

    def value_at(self, price: Decimal) -> Decimal:
        return self.tao * price

    def gain_at(self, price: Decimal) -> Decimal:
        """Unrealised gain (negative: loss) of what is left at `price`."""
        return self.value_at(price) - self.basis

    def to_json(self) -> dict:
        return {"id": self.lot.id, "tao": str(self.tao), "basis": str(self.basis)}


@dataclass
class MonthRow:
    """A month's TAO consumption: what it cost at the lots' purchase prices (unfunded TAO at
    spot), against its value at spot when used."""

    month: date
    tao: Decimal = ZERO
    unfunded_tao: Decimal = ZERO
    cost_usd: Decimal = ZERO
    spot_usd: Decimal = ZERO
    lot_ids: list[int] = field(default_factory=list)  # the lots drawn from, in order
    closed: bool = False

    @property
    def funded_tao(self) -> Decimal:
        return self.tao - self.unfunded_tao

    @property
    def difference(self) -> Decimal:
        """What buying ahead saved (negative: what it cost extra) against paying spot."""
        return self.spot_usd - self.cost_usd

    def to_json(self) -> dict:
        return {
            "month": self.month.isoformat(),
            "tao": str(self.tao),
            "unfunded_tao": str(self.unfunded_tao),
            "cost_usd": str(self.cost_usd),
            "spot_usd": str(self.spot_usd),
            "lot_ids": list(self.lot_ids),
        }

    @classmethod
    def from_json(cls, data: dict, *, closed: bool = False) -> "MonthRow":
        return cls(
            month=date.fromisoformat(data["month"]),
            tao=Decimal(data["tao"]),
            unfunded_tao=Decimal(data["unfunded_tao"]),
            cost_usd=Decimal(data["cost_usd"]),
            spot_usd=Decimal(data["spot_usd"]),
            lot_ids=[int(lot_id) for lot_id in data.get("lot_ids", [])],
            closed=closed,
        )


@dataclass
class FifoResult:
    months: dict[date, MonthRow] = field(default_factory=dict)
    left: list[LotLeft] = field(default_factory=list)


def fifo_run(
    lots: Iterable[Lot],
    days: Iterable[DayBurn],
    *,
    start: dict[int, tuple[Decimal, Decimal]] | None = None,
) -> FifoResult:
    """Draw each day's burn from the lots bought by then, oldest first.

    `start` carries on from a closed month: lot id -> (TAO left, basis left) at its end. Lots
    it does not name start whole.
    """
    ordered = sorted(lots, key=lambda lot: (lot.day, lot.id))
    start = start or {}
    tao_left = [start[lot.id][0] if lot.id in start else lot.tao for lot in ordered]
    basis_left = [start[lot.id][1] if lot.id in start else lot.usd_paid for lot in ordered]
    result = FifoResult()
    first = 0  # lots before it are used up
    with localcontext() as context:
        context.prec = PRECISION
        for burn in sorted(days, key=lambda burn: burn.day):
            row = result.months.setdefault(month_start(burn.day), MonthRow(month_start(burn.day)))
            row.spot_usd += burn.usd
            if burn.tao <= 0:
                # USD without a TAO amount (no TAO price then): at spot, whatever we hold.
                row.cost_usd += burn.usd
                continue
            row.tao += burn.tao
            need, index = burn.tao, first
            while need > 0 and index < len(ordered) and ordered[index].day <= burn.day:
                if tao_left[index] > 0:
                    take = min(need, tao_left[index])
                    # The last draw takes the whole remaining basis, so nothing is lost to division.
                    cost = (
                        basis_left[index]
                        if take == tao_left[index]
                        else basis_left[index] * take / tao_left[index]
                    )
                    tao_left[index] -= take
                    basis_left[index] -= cost
                    row.cost_usd += cost
                    need -= take
                    if ordered[index].id not in row.lot_ids:
                        row.lot_ids.append(ordered[index].id)
                if tao_left[index] == 0 and index == first:
                    first += 1
                index += 1
            if need > 0:
                row.unfunded_tao += need
                row.cost_usd += burn.usd * need / burn.tao
    result.left = [
        LotLeft(lot, tao, basis)
        for lot, tao, basis in zip(ordered, tao_left, basis_left, strict=True)
    ]
    return result


def start_from_json(lots: list[dict]) -> dict[int, tuple[Decimal, Decimal]]:
    """A closed month's remainders (LotLeft.to_json each) as fifo_run's `start`."""
    return {int(item["id"]): (Decimal(item["tao"]), Decimal(item["basis"])) for item in lots}


def closed_row(row: MonthRow) -> MonthRow:
    return replace(row, closed=True)


# --- Balances -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Transfer:
    """TAO sent to the Chutes account, with the account's balance after it when known."""

    id: int
    at: datetime
    tao: Decimal
    balance_after: Decimal | None = None


@dataclass(frozen=True)
class AccountBalance:
    """The Chutes account's TAO, and where the figure comes from: the balance stated on
    `reading` (a transfer), or the sum of the transfers when none states one, plus what was
    sent after it, less what was used since."""

    tao: Decimal
    reading: Transfer | None
    since: datetime
    sent: Decimal
    used: Decimal


def held_in_wallet(lots: Iterable[Lot], transfers: Iterable[Transfer]) -> Decimal:
    """TAO bought and not sent to Chutes yet."""
    return sum((lot.tao for lot in lots), ZERO) - sum((t.tao for t in transfers), ZERO)


def account_balance(
    transfers: Iterable[Transfer], used_since: Callable[[datetime], Decimal]
) -> AccountBalance | None:
    """The account's balance now: the latest stated balance (or nothing, when no transfer
    states one) plus the transfers after it, less consumption since. None before any transfer.

    `used_since(moment)` is the TAO consumed from that moment on.
    """
    ordered = sorted(transfers, key=lambda transfer: (transfer.at, transfer.id))
    if not ordered:
        return None
    readings = [transfer for transfer in ordered if transfer.balance_after is not None]
    if readings:
        reading = readings[-1]
        after = ordered[ordered.index(reading) + 1 :]
        base, since = reading.balance_after or ZERO, reading.at
    else:
        reading, after, base, since = None, ordered, ZERO, ordered[0].at
    sent = sum((transfer.tao for transfer in after), ZERO)
    used = used_since(since)
    return AccountBalance(base + sent - used, reading, since, sent, used)


# --- Runway -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Runway:
    """How long a balance lasts at the TAO burnt over the last `days` days; days_left is None
    when nothing burns."""

    balance: Decimal
    burnt: Decimal
    days: int
    days_left: Decimal | None
    runs_out: date | None

    @property
    def burning(self) -> bool:
        return self.days_left is not None

    @property
    def burn_per_day(self) -> Decimal:
        return self.burnt / self.days


def runway_of(balance: Decimal, burnt: Decimal, days: int, today: date) -> Runway:
    """Days the balance covers at the burn, and the day it runs out (today when it is gone)."""
    if burnt <= 0:
        return Runway(balance, burnt, days, None, None)
    if balance <= 0:
        return Runway(balance, burnt, days, ZERO, today)
    # Multiplied before dividing, so 15 TAO at 5 TAO in 30 days is 90 days, not 89.99...
    days_left = balance * days / burnt
    return Runway(balance, burnt, days, days_left, today + timedelta(days=int(days_left)))
