"""What a TAO price move does to this month: the month-end forecast and the day a budget is
crossed, in USD, with TAO at -30%, -10%, today's price, +10%, +30% or a move of one's own.

The model, said on the pages: the rest of the month burns TAO at this month's pace so far
(TAO per day), and that TAO costs the scenario's price; everything not billed in TAO keeps
this month's USD pace. Spend already made stays as it was. The "today" row is therefore the
forecast with the rest of the month's TAO priced at today's TAO price, which may differ a
little from the plain forecast (that carries this month's USD pace, at the prices TAO had).
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from billing.budgets import budget_lines, scope_label
from billing.models import TaoPrice
from billing.overview.cube import HUNDRED, Filters, load_cube
from billing.overview.month import MonthPanel, month_panel

STANDARD_MOVES = (Decimal(-30), Decimal(-10), Decimal(0), Decimal(10), Decimal(30))
# A custom move may take TAO anywhere from nearly nothing to six times its price.
LOWEST_MOVE, HIGHEST_MOVE = Decimal(-99), Decimal(500)


WHOLE_TEAM = "Whole team"  # billing.budgets.scope_label of a budget with no provider or task type


class MoveError(ValueError):
    """A custom move that is not a percentage the scenarios can use."""


@dataclass(frozen=True)
class Scenario:
    move_pct: Decimal
    tao_usd: Decimal  # the TAO price of this scenario
    forecast_usd: Decimal  # month-end spend
    crossing_day: date | None  # first day the cumulative spend passes the budget
    custom: bool = False

    @property
    def is_today(self) -> bool:
        return self.move_pct == 0 and not self.custom


@dataclass(frozen=True)
class MonthScenarios:
    """One scope's month (its panel) under each TAO move."""

    panel: MonthPanel
    scenarios: list[Scenario]

    @property
    def budget_usd(self) -> Decimal | None:
        return self.panel.budget_usd


def parse_move(text: str | None) -> Decimal | None:
    """A custom move from a query string ("-45", "+12.5", "12.5%"); None when blank."""
    cleaned = (text or "").strip().removesuffix("%").strip()
    if not cleaned:
        return None
    try:
        move = Decimal(cleaned)
    except InvalidOperation:
        raise MoveError(f"{text!r} is not a percentage: write e.g. -45 or 12.5.") from None
    if not move.is_finite() or not LOWEST_MOVE <= move <= HIGHEST_MOVE:
        raise MoveError(
            f"A move of TAO's price is between {LOWEST_MOVE}% and +{HIGHEST_MOVE}%, not {text}."
        )
    return move.quantize(Decimal("0.1"))


def moves_with(custom: Decimal | None) -> list[tuple[Decimal, bool]]:
    """The standard moves and the custom one, in order, each with whether it is the custom."""
    moves = [(move, False) for move in STANDARD_MOVES]
    if custom is not None and custom not in STANDARD_MOVES:
        moves.append((custom, True))
    return sorted(moves, key=lambda pair: pair[0])


def latest_tao_usd(now: datetime) -> Decimal | None:
    price = TaoPrice.objects.latest_at(now)
    return price.usd if price is not None else None


def panel_scenarios(
    panel: MonthPanel, tao_usd: Decimal, moves: list[tuple[Decimal, bool]]
) -> list[Scenario]:
    """The panel's month under each move; none for a month that is over."""
    if panel.today is None:
        return []
    elapsed = panel.today.day
    remaining = (panel.last_day - panel.today).days
    other_pace = (panel.spend_usd - panel.tao_cost_usd) / elapsed
    tao_pace = panel.tao_used / elapsed
    spent = [(point.day, point.cumulative_usd) for point in panel.points]
    scenarios = []
    for move, custom in moves:
        price = tao_usd * (HUNDRED + move) / HUNDRED
        pace = other_pace + tao_pace * price
        forecast = [
            (panel.today + timedelta(n), panel.spend_usd + pace * n)
            for n in range(1, remaining + 1)
        ]
        crossing = None
        if panel.budget_usd:
            crossing = next((day for day, usd in spent + forecast if usd > panel.budget_usd), None)
        month_end = forecast[-1][1] if forecast else panel.spend_usd
        scenarios.append(Scenario(move, price, month_end, crossing, custom))
    return scenarios


@dataclass(frozen=True)
class ScenarioRow:
    label: str
    month: MonthScenarios


@dataclass(frozen=True)
class ScenarioTable:
    """The pages' table: a row per budget in force this month (the whole team first, with or
    without a budget), a column per move."""

    tao_usd: Decimal | None  # today's TAO price; None: no price yet, no table
    moves: list[tuple[Decimal, bool]]
    rows: list[ScenarioRow]
    custom: Decimal | None = None

    @property
    def columns(self) -> list[Scenario]:
        """The first row's scenarios: each move with its TAO price, for the header."""
        return self.rows[0].month.scenarios if self.rows else []


def scenario_table(
    team, *, now: datetime, custom: Decimal | None = None, lines=None
) -> ScenarioTable:
    """This month under each TAO move, for the whole team and each budget in force (`lines`:
    billing.budgets.budget_lines, when the caller has them already)."""
    tao_usd = latest_tao_usd(now)
    moves = moves_with(custom)
    if tao_usd is None:
        return ScenarioTable(None, moves, [], custom)
    rows = [
        ScenarioRow(
            scope_label(line.budget),
            MonthScenarios(line.panel, panel_scenarios(line.panel, tao_usd, moves)),
        )
        for line in (budget_lines(team, now=now) if lines is None else lines)
        if line.panel is not None and line.panel.today is not None
    ]
    if not any(line_is_whole_team(row) for row in rows):
        rows.insert(0, ScenarioRow(WHOLE_TEAM, _team_month(team, now, tao_usd, moves)))
    return ScenarioTable(tao_usd, moves, rows, custom)


def line_is_whole_team(row: ScenarioRow) -> bool:
    return row.label == WHOLE_TEAM


def _team_month(team, now: datetime, tao_usd: Decimal, moves) -> MonthScenarios:
    today = now.astimezone(team.zone).date()
    filters = Filters(today.replace(day=1), today)
    panel = month_panel(team, load_cube(team, filters.first_day, today), filters, None, today)
    return MonthScenarios(panel, panel_scenarios(panel, tao_usd, moves))
