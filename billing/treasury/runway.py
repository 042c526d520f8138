"""How long the team's TAO lasts: days of Chutes usage the balance covers at the last 7 and
30 complete days' burn, the day it runs out, and how the routing draft would move that day.

The draft's effect is the simulator's (billing.simulate): the same recent traffic projected
through the draft and through the published version; the ratio of their TAO is applied to
the burn, as if the draft were live from today.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import Sum
from django.utils import timezone

from billing.costing import PriceBook, cost_of
from billing.models import UsageDailyRollup
from billing.simulate import TaskMix, task_mix
from billing.simulate import _rule_for as rule_for
from billing.treasury.fifo import ZERO, Runway, runway_of
from billing.treasury.ledger import Treasury, tao_provider_slugs
from routing.publish import draft_snapshot, latest_version, unpublished_changes

BURN_WINDOWS = (7, 30)
ACCOUNT, TOTAL = "account", "total"
BALANCES = {ACCOUNT: "the Chutes account", TOTAL: "the Chutes account and the wallet"}
# The traffic the draft is compared on, as the publish page's cost comparison.
DRAFT_WINDOW_DAYS = 30


def team_today(team, now: datetime | None = None) -> date:
    return (now or timezone.now()).astimezone(team.zone).date()


def tao_burnt(team, *, days: int, today: date) -> Decimal:
    """TAO burnt over the `days` complete days before `today` (the team's days)."""
    burnt = UsageDailyRollup.objects.filter(
        team=team,
        provider_name__in=tao_provider_slugs(),
        day__gte=today - timedelta(days=days),
        day__lt=today,
    ).aggregate(tao=Sum("tao_amount"))["tao"]
    return burnt or ZERO


def balance_of(treasury: Treasury, which: str) -> Decimal | None:
    """The account's TAO (None before any transfer), or the account's and the wallet's."""
    if which == ACCOUNT:
        return treasury.account.tao if treasury.account else None
    if not (treasury.account or treasury.lots or treasury.transfers):
        return None
    return treasury.total


@dataclass(frozen=True)
class RunwayLine:
    """One balance's runway at each burn window."""

    which: str
    balance: Decimal
    runways: dict[int, Runway]

    @property
    def label(self) -> str:
        return BALANCES[self.which]


def runway_lines(treasury: Treasury, team, *, now: datetime | None = None) -> list[RunwayLine]:
    today = team_today(team, now)
    burns = {days: tao_burnt(team, days=days, today=today) for days in BURN_WINDOWS}
    lines = []
    for which in (ACCOUNT, TOTAL):
        balance = balance_of(treasury, which)
        if balance is not None:
            runways = {
                days: runway_of(balance, burnt, days, today) for days, burnt in burns.items()
            }
            lines.append(RunwayLine(which, balance, runways))
    return lines


def team_runway(team, treasury: Treasury, *, which: str, burn_days: int, now: datetime):
    """The runway an alert watches; None when the balance is not known."""
    balance = balance_of(treasury, which)
    if balance is None:
        return None
    today = team_today(team, now)
    burnt = tao_burnt(team, days=burn_days, today=today)
    return runway_of(balance, burnt, burn_days, today)


@dataclass(frozen=True)
class DraftShift:
    """The run-out day now and under the draft (None: it would not run out)."""

    line: RunwayLine
    days: int
    ratio: Decimal
    now: Runway
    draft: Runway

    @property
    def percent(self) -> Decimal:
        return self.ratio * 100


def draft_ratio(team, *, now: datetime | None = None) -> Decimal | None:
    """The draft's projected spend at TAO-billed providers over the published version's, on
    the same recent traffic; None when the draft is the published version, nothing is
    published, or the published version sends nothing to TAO-billed providers."""
    published = latest_version(team)
    if published is None or not unpublished_changes(team):
        return None
    now = now or timezone.now()
    mix = task_mix(team, days=DRAFT_WINDOW_DAYS, now=now)
    book = PriceBook.current()
    before = tao_billed_usd(mix, published.snapshot, book=book, today=now)
    if not before:
        return None
    return tao_billed_usd(mix, draft_snapshot(team), book=book, today=now) / before


def tao_billed_usd(mix: TaskMix, rules: list[dict], *, book: PriceBook, today) -> Decimal:
    """What the mix costs at TAO-billed providers through `rules`, as billing.simulate.project
    prices it but unrounded: a small team's projection would round to nothing."""
    usd = ZERO
    for task_type in mix.requests:
        rule = rule_for(rules, task_type)
        for target in rule["targets"] if rule else []:
            resolved = book.resolve(target["provider"], target["model"])
            price = book.price_on(resolved.model, today)
            if price is None or not resolved.in_tao:
                continue
            share = Decimal(target["weight"]) / 100
            tokens = {name: int(count * share) for name, count in mix.tokens[task_type].items()}
            usd += cost_of(price=price, **tokens)
    return usd


def draft_shifts(
    lines: list[RunwayLine], ratio: Decimal | None, team, *, now: datetime | None = None
) -> list[DraftShift]:
    """How the draft moves each balance's run-out day at the 30 days' burn."""
    if ratio is None or ratio == 1:
        return []
    today, days = team_today(team, now), BURN_WINDOWS[-1]
    shifts = []
    for line in lines:
        current = line.runways[days]
        if not current.burning:
            continue
        draft = runway_of(line.balance, current.burnt * ratio, days, today)
        shifts.append(DraftShift(line, days, ratio, current, draft))
    return shifts
