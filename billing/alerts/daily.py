"""Team days for the anomaly checks: the last complete day in the team's time zone, and the
team's daily spend per series (the team, a provider, a task type) and per model, read from the
daily rollups."""

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import Sum

from billing.models import UsageDailyRollup
from billing.overview.cube import whole

DAY = timedelta(days=1)
SCOPES = ("team", "provider", "task_type", "api_key_alias")
# What a rule of scope "all" judges: each key alias is watched only when a rule asks for them.
ALL_SCOPES = ("team", "provider", "task_type")


def last_complete_day(team, now: datetime) -> date:
    """Yesterday in the team's time zone: today so far is never judged."""
    return now.astimezone(team.zone).date() - DAY


@dataclass(frozen=True)
class SpendRow:
    """One team day of one provider, model, task type and API key alias."""

    day: date
    provider: str
    model: str
    task_type: str
    calls: int
    cost: Decimal
    tao: Decimal
    api_key_alias: str = ""


def spend_rows(team, first_day: date, last_day: date) -> list[SpendRow]:
    """The team's spend and calls per day, provider, model, task type and API key alias. One
    query."""
    group = ["day", "provider_name", "model_name", "task_type", "api_key_alias"]
    rows = (
        UsageDailyRollup.objects.filter(team=team, day__gte=first_day, day__lte=last_day)
        .values(*group)
        .annotate(s_calls=whole(Sum("requests")), s_cost=Sum("cost_usd"), s_tao=Sum("tao_amount"))
        .order_by(*group)
    )
    return [
        SpendRow(
            day=row["day"],
            provider=row["provider_name"],
            model=row["model_name"],
            task_type=row["task_type"],
            api_key_alias=row["api_key_alias"],
            calls=row["s_calls"] or 0,
            cost=row["s_cost"] or Decimal(0),
            tao=row["s_tao"] or Decimal(0),
        )
        for row in rows
    ]


@dataclass(frozen=True)
class Series:
    """What one spend anomaly is about: the whole team, one provider, one task type or one API
    key alias."""

    scope: str  # one of SCOPES
    name: str = ""

    def holds(self, row) -> bool:
        """Whether a row (a SpendRow or a report DayRow) belongs to the series."""
        if self.scope == "provider":
            return row.provider == self.name
        if self.scope == "task_type":
            return row.task_type == self.name
        if self.scope == "api_key_alias":
            return row.api_key_alias == self.name
        return True

    @property
    def key(self) -> str:
        return self.scope if self.scope == "team" else f"{self.scope}:{self.name}"


def series_in(rows: Iterable[SpendRow], scope: str) -> list[Series]:
    """The series a rule of `scope` (one of SCOPES, or "all") judges in these rows."""
    rows = list(rows)
    found = []
    for each in SCOPES:
        if scope != each and not (scope == "all" and each in ALL_SCOPES):
            continue
        if each == "team":
            found.append(Series("team"))
        else:
            names = sorted({getattr(row, each) for row in rows})
            if each == "api_key_alias":
                names = [name for name in names if name]  # calls sent without one: no key
            found += [Series(each, name) for name in names]
    return found


def daily(
    rows: Iterable[SpendRow],
    *,
    first_day: date,
    last_day: date,
    value: Callable[[SpendRow], Decimal | int] = lambda row: row.cost,
) -> dict[date, Decimal]:
    """`value` of the rows summed per day from first_day to last_day, zero on days without
    rows: from the team's first day with usage, a day without calls spent nothing."""
    sums: dict[date, Decimal] = defaultdict(Decimal)
    for row in rows:
        sums[row.day] += value(row)
    days = (last_day - first_day).days + 1
    return {day: sums[day] for day in (first_day + DAY * n for n in range(days))}
