"""All teams at a glance: each team's month so far, for people who belong to several.

`all_teams_month` gives every team its month-to-date spend, the share of its whole-team budget
used and its savings against its baseline model, each in the team's own month and time zone,
with three queries whatever the number of teams.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.db.models import Q, Sum

from billing.costing import cost_of
from billing.ingest.events import TOKEN_FIELDS
from billing.models import Budget, ModelPrice, UsageDailyRollup
from billing.overview.cube import HUNDRED


@dataclass(frozen=True)
class TeamMonth:
    team: object
    spend_usd: Decimal
    budget_usd: Decimal | None
    savings_pct: Decimal | None

    @property
    def used_pct(self) -> Decimal | None:
        return self.spend_usd * HUNDRED / self.budget_usd if self.budget_usd else None


def all_teams_month(teams, now: datetime) -> list[TeamMonth]:
    """Month-to-date spend, budget use and savings per team, each in its own month and zone.

    Three queries whatever the number of teams: rollups by team and model, budgets, prices.
    """
    teams = list(teams)
    if not teams:
        return []
    firsts = {team.id: now.astimezone(team.zone).date().replace(day=1) for team in teams}
    rows = _month_rollups(firsts)
    in_force = Budget.objects.whole_team_in_force(firsts)
    budgets = {team_id: budget.amount_usd for team_id, budget in in_force.items()}
    prices = _baseline_prices(teams, now.date())
    spend: dict[int, Decimal] = defaultdict(Decimal)
    priced: dict[int, Decimal] = defaultdict(Decimal)
    baseline: dict[int, Decimal] = defaultdict(Decimal)
    by_id = {team.id: team for team in teams}
    for row in rows:
        team_id = row["team_id"]
        spend[team_id] += row["cost"] or 0
        price = prices.get(by_id[team_id].baseline_model_id)
        if price is None or row["unpriced"]:
            continue
        priced[team_id] += row["cost"] or 0
        baseline[team_id] += cost_of(price=price, **{n: row[n] or 0 for n in TOKEN_FIELDS})
    result = []
    for team in teams:
        would = baseline[team.id]
        savings = (would - priced[team.id]) * HUNDRED / would if would else None
        result.append(TeamMonth(team, spend[team.id], budgets.get(team.id), savings))
    return result


def _month_rollups(firsts: dict[int, date]):
    """Cost, unpriced calls and tokens per team and model since each team's first day."""
    condition = Q()
    for team_id, first in firsts.items():
        condition |= Q(team_id=team_id, day__gte=first)
    return (
        UsageDailyRollup.objects.filter(condition)
        .values("team_id", "model_name", "provider_name")
        .annotate(
            cost=Sum("cost_usd"),
            unpriced=Sum("unpriced_requests"),
            **{name: Sum(name) for name in TOKEN_FIELDS},
        )
        .order_by()
    )


def _baseline_prices(teams, day: date) -> dict[int, ModelPrice]:
    """The price in force that day of each team's baseline model, by model id."""
    return {
        price.model_id: price
        for price in ModelPrice.objects.in_force_on(day).filter(
            model_id__in=[t.baseline_model_id for t in teams if t.baseline_model_id]
        )
    }
