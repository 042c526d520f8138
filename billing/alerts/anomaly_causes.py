"""Why a day's spend is out of the ordinary, from what we hold: the changes in the anomalous
team day and the day before (routing publishes and rollbacks, price changes of the models the
series used: billing.overview.changes), the model whose spend moved most against its own usual
for that weekday, and a TAO/USD move over the day. Ranked in that order: a change someone made
explains a jump better than a model that merely grew, and a TAO move only moves TAO-billed spend.

With it, the bridge of the day (billing.reports.bridge): from a reference day (the same weekday
whose spend was closest to the usual) to the anomalous day, split into volume, mix, token
intensity, unit price and TAO rate.
"""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from statistics import median

from billing.alerts import messages as words
from billing.alerts.anomaly import same_weekdays
from billing.alerts.daily import DAY, Series, SpendRow, daily
from billing.models import TaoPrice
from billing.overview.changes import change_markers
from billing.overview.cube import day_start
from billing.reports.bridge import Bridge, month_bridge
from billing.reports.day_rows import day_rows
from billing.reports.month_report import list_price_weights

HUNDRED = Decimal(100)
# A TAO/USD move over the day of at least this much (%) may explain TAO-billed spend.
TAO_MOVE_PCT = Decimal(10)
# The change markers that can move spend, the changes people make first.
MARKER_RANK = {"publish": 0, "rollback": 0, "team_price": 1, "price": 1}
TOP_MODELS = 3


@dataclass(frozen=True)
class Cause:
    """A likely cause: its kind, a few words for a subject line, and a sentence."""

    kind: str
    headline: str
    text: str


@dataclass(frozen=True)
class ModelMove:
    """One model's spend and calls on the day against its usual for that weekday."""

    provider: str
    model: str
    cost: Decimal
    usual_cost: Decimal
    calls: int
    usual_calls: Decimal

    @property
    def label(self) -> str:
        return f"{self.provider}/{self.model}"

    @property
    def change(self) -> Decimal:
        return self.cost - self.usual_cost

    @property
    def text(self) -> str:
        return words.model_move_text(
            label=self.label,
            cost=self.cost,
            usual_cost=self.usual_cost,
            calls=self.calls,
            usual_calls=self.usual_calls,
        )


def model_moves(rows: list[SpendRow], *, day: date, first_day: date, weeks: int) -> list[ModelMove]:
    """Each model of the rows on `day` against the median of its same weekdays (zero where it
    had no calls), the biggest rise in spend first."""
    by_model: dict[tuple[str, str], list[SpendRow]] = {}
    for row in rows:
        by_model.setdefault((row.provider, row.model), []).append(row)
    history = [when for when in same_weekdays(day, weeks) if when >= first_day]
    moves = []
    for (provider, model), own in by_model.items():
        cost = daily(own, first_day=first_day, last_day=day)
        calls = daily(own, first_day=first_day, last_day=day, value=lambda row: row.calls)
        moves.append(
            ModelMove(
                provider=provider,
                model=model,
                cost=cost[day],
                usual_cost=median([cost[when] for when in history] or [Decimal(0)]),
                calls=int(calls[day]),
                usual_calls=median([calls[when] for when in history] or [Decimal(0)]),
            )
        )
    return sorted(moves, key=lambda move: (-move.change, move.label))


def likely_causes(team, rows: list[SpendRow], *, day: date, moves: list[ModelMove]) -> list[Cause]:
    """The series' likely causes of its spend on `day`, the likeliest first (see the module).
    `rows`: the series' rows of `day` and the day before at least."""
    window = [row for row in rows if day - DAY <= row.day <= day]
    causes = change_causes(team, day, models_used={(row.provider, row.model) for row in window})
    rising = [move for move in moves if move.change > 0]
    if rising:
        top = rising[0]
        headline = f"{top.label} {words.signed_usd(top.change)}"
        causes.append(Cause("model", headline, top.text))
    if any(row.tao for row in window if row.day == day):
        move = tao_move(team, day)
        if move is not None and abs(move[0]) >= TAO_MOVE_PCT:
            pct, before, after = move
            headline = f"TAO {'up' if pct > 0 else 'down'} {words.pct(abs(pct))}"
            text = words.tao_move_text(move=pct, day=day, from_usd=before, to_usd=after)
            causes.append(Cause("tao", headline, text))
    return causes


def change_causes(team, day: date, *, models_used: set[tuple[str, str]]) -> list[Cause]:
    """The routing publishes and rollbacks of the team day and the day before, then the price
    changes of `models_used` in them, each kind the earliest first."""
    markers = [
        marker
        for marker in change_markers(
            team,
            start=day_start(team, day - DAY),
            end=day_start(team, day + DAY),
            models_used=models_used,
            tao_points=[],
        )
        if marker.kind in MARKER_RANK
    ]
    markers.sort(key=lambda marker: (MARKER_RANK[marker.kind], marker.at))
    return [
        Cause(marker.kind, marker.title, words.marker_text(marker, day=day, zone=team.zone))
        for marker in markers
    ]


def routing_causes(team, day: date) -> list[Cause]:
    """The routing publishes and rollbacks of the team day and the day before: what can move a
    provider's error rate or latency (prices cannot)."""
    return change_causes(team, day, models_used=set())


def tao_move(team, day: date) -> tuple[Decimal, Decimal, Decimal] | None:
    """TAO/USD over the team day: the move in %, the price at its start and at its end."""
    prices = TaoPrice.objects.order_by("-at", "-id").values_list("usd", flat=True)
    before = prices.filter(at__lte=day_start(team, day)).first()
    after = prices.filter(at__lte=day_start(team, day + DAY)).first()
    if before is None or after is None:
        return None
    return (after - before) * HUNDRED / before, before, after


def reference_day(spend: dict[date, Decimal], day: date, weeks: int, usual: Decimal) -> date:
    """The same weekday before `day` whose spend was closest to the usual, the latest on a tie:
    a real day to bridge from."""
    known = [when for when in same_weekdays(day, weeks) if when in spend]
    return min(known, key=lambda when: (abs(spend[when] - usual), day - when))


def day_bridge(team, series: Series, *, reference: date, day: date) -> Bridge:
    """The bridge of the series' spend from `reference` to `day`, tokens weighed at the list
    prices in force on the reference day. Two queries for the days, one for the prices."""
    by_who = series.scope == "api_key_alias"
    before = [r for r in day_rows([team], reference, reference, by_who=by_who) if series.holds(r)]
    after = [r for r in day_rows([team], day, day, by_who=by_who) if series.holds(r)]
    prices = list_price_weights([*before, *after], reference)
    return month_bridge(before, after, reference_prices=prices)
