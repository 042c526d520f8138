"""The monthly finance report: one team's month, or several teams' months side by side.

Read from the team-day rollups, whose days are already each team's own: a team's month is its
days from the 1st to the last, so month boundaries follow its time zone (daylight saving
included) with no hour arithmetic. A fixed number of queries whatever the data size: the days
of the month and the month before, the budgets, the baseline prices, the hourly rows that
hold cost disagreements, and the teams' own prices. Money stays unrounded Decimal. A
MonthReport turns into a JSON snapshot and back, so a closed month is shown from what was
frozen, with the same template.
"""

from collections import defaultdict
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from decimal import Decimal

from django.db.models import Q, Sum
from django.utils import timezone

from billing.ingest.events import TOKEN_FIELDS
from billing.models import (
    Budget,
    ModelPrice,
    Status,
    TeamModelPrice,
    UsageDailyRollup,
    UsageRollup,
)
from billing.months import current_month, last_day_of, next_month, previous_month
from billing.overview.cube import CubeRow, day_start, whole
from billing.overview.savings import savings_by_day
from billing.queries import CostDisagreement
from dashboard.models import Team

HUNDRED = Decimal(100)
ZERO = Decimal(0)
SNAPSHOT_VERSION = 1
# The oldest month the report pages offer: nothing was logged before it.
FIRST_MONTH = date(2000, 1, 1)


class MonthNotAvailable(ValueError):
    """A month the report cannot show: not a month at all, or not begun yet."""


# --- Months --------------------------------------------------------------------------------


def parse_month(text: str, team, now: datetime) -> date:
    """The first day of the YYYY-MM month, if the team's report can show it.

    Raises MonthNotAvailable, with a sentence for the page, for "2026-13" or a month that has
    not begun in the team's time zone.
    """
    try:
        year, number = (int(part) for part in text.split("-"))
        month = date(year, number, 1)
    except ValueError:
        raise MonthNotAvailable(f"“{text}” is not a month: write it as YYYY-MM.") from None
    if month < FIRST_MONTH:
        raise MonthNotAvailable(f"There are no reports before {FIRST_MONTH:%B %Y}.")
    if month > current_month(team, now):
        raise MonthNotAvailable(
            f"{month:%B %Y} has not begun yet in {team.time_zone}: there is nothing to report."
        )
    return month


# --- Figures and lines ---------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    """Sums over some usage: counts as int, money and TAO as exact Decimal."""

    requests: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: Decimal = ZERO
    tao_amount: Decimal = ZERO
    # What the TAO-carrying calls cost in USD when they were made (the USD value of the TAO).
    tao_cost_usd: Decimal = ZERO
    unpriced_requests: int = 0
    unpriced_tokens: int = 0
    disagreement_requests: int = 0
    tao_missing_requests: int = 0

    @property
    def tokens(self) -> int:
        """Every token of the calls: input counts cached and cache-write tokens already."""
        return self.input_tokens + self.output_tokens

    @property
    def error_rate_pct(self) -> Decimal | None:
        return Decimal(self.errors) * HUNDRED / self.requests if self.requests else None

    def __add__(self, other: "Figures") -> "Figures":
        return Figures(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )

    def to_json(self) -> dict:
        return {
            f.name: str(value) if isinstance(value, Decimal) else value
            for f in fields(self)
            if (value := getattr(self, f.name))
        }

    @classmethod
    def from_json(cls, data: dict) -> "Figures":
        return cls(**{f.name: _number(f, data[f.name]) for f in fields(cls) if f.name in data})


def _number(spec, value):
    return Decimal(value) if spec.type in (Decimal, "Decimal") else int(value)


def total_of(figures) -> Figures:
    return sum(figures, Figures())


@dataclass(frozen=True)
class Change:
    """A figure this month against the month before."""

    current: Decimal | int
    previous: Decimal | int

    @property
    def delta(self) -> Decimal | int:
        return self.current - self.previous

    @property
    def size(self) -> Decimal | int:
        return abs(self.delta)

    @property
    def pct(self) -> Decimal | None:
        """None when the month before had nothing to compare with."""
        if not self.previous:
            return None
        return Decimal(self.delta) * HUNDRED / Decimal(self.previous)

    @property
    def is_new(self) -> bool:
        return not self.previous and bool(self.current)


@dataclass(frozen=True)
class Line:
    """One row of a breakdown (or the totals): this month, the month before, and a budget."""

    key: str
    label: str
    figures: Figures
    previous: Figures
    budget_usd: Decimal | None = None
    budget_tao: Decimal | None = None

    @property
    def new(self) -> bool:
        """No usage at all the month before."""
        return not self.previous.requests and bool(self.figures.requests)

    @property
    def gone(self) -> bool:
        """Usage the month before, none this month."""
        return not self.figures.requests and bool(self.previous.requests)

    @property
    def cost_change(self) -> Change:
        return Change(self.figures.cost_usd, self.previous.cost_usd)

    @property
    def requests_change(self) -> Change:
        return Change(self.figures.requests, self.previous.requests)

    @property
    def tokens_change(self) -> Change:
        return Change(self.figures.tokens, self.previous.tokens)

    @property
    def tao_change(self) -> Change:
        return Change(self.figures.tao_amount, self.previous.tao_amount)

    @property
    def used_pct(self) -> Decimal | None:
        return self.figures.cost_usd * HUNDRED / self.budget_usd if self.budget_usd else None

    @property
    def tao_used_pct(self) -> Decimal | None:
        return self.figures.tao_amount * HUNDRED / self.budget_tao if self.budget_tao else None

    @property
    def over_budget_usd(self) -> Decimal | None:
        """How far spend went past the budget; None within it or without one."""
        if self.budget_usd is None or self.figures.cost_usd <= self.budget_usd:
            return None
        return self.figures.cost_usd - self.budget_usd

    def to_json(self) -> dict:
        return {
            "key": self.key,
            "label": self.label,
            "figures": self.figures.to_json(),
            "previous": self.previous.to_json(),
            "budget_usd": _text(self.budget_usd),
            "budget_tao": _text(self.budget_tao),
        }

    @classmethod
    def from_json(cls, data: dict) -> "Line":
        return cls(
            key=data["key"],
            label=data["label"],
            figures=Figures.from_json(data["figures"]),
            previous=Figures.from_json(data["previous"]),
            budget_usd=_decimal(data.get("budget_usd")),
            budget_tao=_decimal(data.get("budget_tao")),
        )


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _decimal(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


@dataclass(frozen=True)
class Savings:
    """The month's priced calls against the same tokens at each team's baseline model's price.

    Unpriced calls are left out of both sides (their actual cost is unknown), and so are days
    before the baseline model had a price.
    """

    actual_usd: Decimal
    baseline_usd: Decimal
    baselines: list[str]

    @property
    def savings_usd(self) -> Decimal:
        return self.baseline_usd - self.actual_usd

    @property
    def savings_pct(self) -> Decimal | None:
        return self.savings_usd * HUNDRED / self.baseline_usd if self.baseline_usd else None

    def to_json(self) -> dict:
        return {
            "actual_usd": str(self.actual_usd),
            "baseline_usd": str(self.baseline_usd),
            "baselines": list(self.baselines),
        }

    @classmethod
    def from_json(cls, data: dict) -> "Savings":
        return cls(Decimal(data["actual_usd"]), Decimal(data["baseline_usd"]), data["baselines"])


@dataclass(frozen=True)
class UnpricedLine:
    """A provider's model with calls the catalog could not price, and their tokens."""

    provider: str
    model: str
    requests: int
    tokens: int

    @property
    def label(self) -> str:
        return f"{self.provider}/{self.model}"


@dataclass(frozen=True)
class TeamPriceLine:
    """A model a team used in the month while its own (negotiated) price was in force."""

    team: str
    model: str
    effective_from: str  # YYYY-MM-DD
    input_per_mtok: str
    output_per_mtok: str


@dataclass(frozen=True)
class TeamRef:
    slug: str
    name: str
    time_zone: str


# --- The report ----------------------------------------------------------------------------


@dataclass(frozen=True)
class MonthReport:
    """Everything the monthly report shows, for one or several teams' same calendar month."""

    month: date  # the first day
    teams: list[TeamRef]
    generated_at: datetime
    # Whether the month was still running (in some team's zone) when the report was made.
    in_progress: bool
    totals: Line
    by_team: list[Line]
    by_provider: list[Line]
    by_model: list[Line]
    by_task_type: list[Line]
    savings: Savings | None
    unpriced: list[UnpricedLine]
    disagreements: list[CostDisagreement]
    notes: list[str] = field(default_factory=list)
    # Models priced at a team's own price instead of the list price (calls without a cost
    # reported by the proxy).
    team_prices: list[TeamPriceLine] = field(default_factory=list)

    @property
    def last_day(self) -> date:
        return last_day_of(self.month)

    @property
    def previous_month(self) -> date:
        return previous_month(self.month)

    @property
    def budget_usd(self) -> Decimal | None:
        return self.totals.budget_usd

    @property
    def budget_tao(self) -> Decimal | None:
        return self.totals.budget_tao

    @property
    def tao_usd_rate(self) -> Decimal | None:
        """The average USD paid per TAO over the month's TAO-carrying calls."""
        figures = self.totals.figures
        return figures.tao_cost_usd / figures.tao_amount if figures.tao_amount else None

    @property
    def unpriced_tokens(self) -> int:
        return sum(line.tokens for line in self.unpriced)

    def to_snapshot(self) -> dict:
        """The report as JSON-ready data: Decimals as strings, dates and times in ISO 8601."""
        return {
            "version": SNAPSHOT_VERSION,
            "month": self.month.isoformat(),
            "teams": [vars(team).copy() for team in self.teams],
            "generated_at": self.generated_at.isoformat(),
            "in_progress": self.in_progress,
            "totals": self.totals.to_json(),
            **{name: [line.to_json() for line in getattr(self, name)] for name in BREAKDOWNS},
            "savings": self.savings.to_json() if self.savings else None,
            "unpriced": [vars(line).copy() for line in self.unpriced],
            "disagreements": [
                {
                    "provider_name": row.provider_name,
                    "model_name": row.model_name,
                    "requests": row.requests,
                    "reported_usd": str(row.reported_usd),
                    "catalog_usd": str(row.catalog_usd),
                }
                for row in self.disagreements
            ],
            "notes": list(self.notes),
            "team_prices": [vars(line).copy() for line in self.team_prices],
        }

    @classmethod
    def from_snapshot(cls, data: dict) -> "MonthReport":
        return cls(
            month=date.fromisoformat(data["month"]),
            teams=[TeamRef(**team) for team in data["teams"]],
            generated_at=datetime.fromisoformat(data["generated_at"]),
            in_progress=bool(data["in_progress"]),
            totals=Line.from_json(data["totals"]),
            **{name: [Line.from_json(line) for line in data[name]] for name in BREAKDOWNS},
            savings=Savings.from_json(data["savings"]) if data.get("savings") else None,
            unpriced=[UnpricedLine(**line) for line in data["unpriced"]],
            disagreements=[
                CostDisagreement(
                    provider_name=row["provider_name"],
                    model_name=row["model_name"],
                    requests=int(row["requests"]),
                    reported_usd=Decimal(row["reported_usd"]),
                    catalog_usd=Decimal(row["catalog_usd"]),
                )
                for row in data["disagreements"]
            ],
            notes=list(data.get("notes", [])),
            team_prices=[TeamPriceLine(**line) for line in data.get("team_prices", [])],
        )


BREAKDOWNS = ["by_team", "by_provider", "by_model", "by_task_type"]


# --- Reading the rollups -------------------------------------------------------------------


@dataclass(frozen=True)
class DayRow:
    """One team day, provider, model and task type: the grain of the report and the exports."""

    team_id: int
    day: date
    provider: str
    model: str
    task_type: str
    figures: Figures


COUNT_COLUMNS = [
    "requests",
    *TOKEN_FIELDS,
    "unpriced_requests",
    "unpriced_tokens",
    "disagreement_requests",
    "tao_missing_requests",
]
AMOUNT_COLUMNS = ["cost_usd", "tao_amount"]


def day_rows_query(teams, first_day: date, last_day: date):
    """The teams' rollups of those days summed per team day, provider, model and task type."""
    return (
        UsageDailyRollup.objects.filter(
            team_id__in=[team.id for team in teams], day__gte=first_day, day__lte=last_day
        )
        .values("team_id", "day", "provider_name", "model_name", "task_type")
        .annotate(
            s_errors=whole(Sum("requests", filter=Q(status=Status.ERROR))),
            s_tao_cost_usd=Sum("cost_usd", filter=Q(tao_amount__gt=0)),
            **{f"s_{name}": whole(Sum(name)) for name in COUNT_COLUMNS},
            **{f"s_{name}": Sum(name) for name in AMOUNT_COLUMNS},
        )
        .order_by("team_id", "day", "provider_name", "model_name", "task_type")
    )


def day_row(row: dict) -> DayRow:
    return DayRow(
        team_id=row["team_id"],
        day=row["day"],
        provider=row["provider_name"],
        model=row["model_name"],
        task_type=row["task_type"],
        figures=Figures(
            errors=row["s_errors"] or 0,
            tao_cost_usd=row["s_tao_cost_usd"] or ZERO,
            **{name: row[f"s_{name}"] or 0 for name in COUNT_COLUMNS},
            **{name: row[f"s_{name}"] or ZERO for name in AMOUNT_COLUMNS},
        ),
    )


def day_rows(teams, first_day: date, last_day: date) -> list[DayRow]:
    return [day_row(row) for row in day_rows_query(teams, first_day, last_day)]


# --- Building the report -------------------------------------------------------------------


def month_report(teams, month: date, *, now: datetime | None = None) -> MonthReport:
    """The report of `month` (its first day) for one team or a list of teams.

    Five queries at most whatever the data size (see the module docstring).
    """
    teams = [teams] if isinstance(teams, Team) else list(teams)
    now = now or timezone.now()
    month = month.replace(day=1)
    last, before = last_day_of(month), previous_month(month)
    rows = day_rows(teams, before, last)
    this = [row for row in rows if row.day >= month]
    earlier = [row for row in rows if row.day < month]
    budgets = _budgets(teams, month)
    current = _sums(this, lambda row: row.team_id)
    previous = _sums(earlier, lambda row: row.team_id)
    by_team = [
        Line(
            team.slug,
            team.name,
            current.get(team.id, Figures()),
            previous.get(team.id, Figures()),
            *budgets.get(team.id, (None, None)),
        )
        for team in teams
    ]
    totals = Line(
        "total",
        "All usage",
        total_of(line.figures for line in by_team),
        total_of(line.previous for line in by_team),
        budget_usd=_sum_all([line.budget_usd for line in by_team]),
        budget_tao=_sum_all([line.budget_tao for line in by_team]),
    )
    return MonthReport(
        month=month,
        teams=[TeamRef(team.slug, team.name, team.time_zone) for team in teams],
        generated_at=now,
        in_progress=any(now.astimezone(team.zone).date() <= last for team in teams),
        totals=totals,
        by_team=by_team,
        by_provider=_ordered(_lines(this, earlier, lambda row: row.provider, str)),
        by_model=_ordered(_lines(this, earlier, _model_key, str)),
        by_task_type=_ordered(_lines(this, earlier, lambda row: row.task_type, _task_label)),
        savings=_savings(teams, this, last),
        unpriced=_unpriced(this),
        disagreements=_disagreements(teams, month, next_month(month)),
        notes=_notes(teams, budgets, totals),
        team_prices=_team_prices(teams, this, month, last),
    )


def _model_key(row: DayRow) -> str:
    return f"{row.provider}/{row.model}"


def _task_label(key: str) -> str:
    return key or "(none)"


def _sums(rows: list[DayRow], key) -> dict:
    sums: dict = defaultdict(Figures)
    for row in rows:
        sums[key(row)] += row.figures
    return sums


def _lines(this: list[DayRow], earlier: list[DayRow], key, label) -> list[Line]:
    """One line per key found in either month, this month's and the month before's sums."""
    current, previous = _sums(this, key), _sums(earlier, key)
    return [
        Line(name, label(name), current[name], previous[name])
        for name in current.keys() | previous.keys()
    ]


def _ordered(lines: list[Line]) -> list[Line]:
    """The biggest spend first; lines gone since last month at the end."""
    return sorted(
        lines,
        key=lambda line: (line.gone, -line.figures.cost_usd, -line.figures.requests, line.key),
    )


def _sum_all(amounts: list[Decimal | None]) -> Decimal | None:
    """The sum of the teams' amounts, or None unless every team has one."""
    if not amounts or any(amount is None for amount in amounts):
        return None
    return sum(amounts, ZERO)


def _budgets(teams, month: date) -> dict[int, tuple[Decimal, Decimal | None]]:
    """Each team's whole-team budget in force that month."""
    found = Budget.objects.whole_team_in_force({team.id: month for team in teams})
    return {team_id: (b.amount_usd, b.amount_tao) for team_id, b in found.items()}


def _savings(teams, this: list[DayRow], last: date) -> Savings | None:
    """Savings of the month, each team against its baseline model at the price of each day."""
    baseline_ids = {team.baseline_model_id for team in teams if team.baseline_model_id}
    if not baseline_ids:
        return None
    histories: dict[int, list[ModelPrice]] = defaultdict(list)
    for price in (
        ModelPrice.objects.filter(model_id__in=baseline_ids, effective_from__lte=last)
        .select_related("model__provider")
        .order_by("model_id", "effective_from")
    ):
        histories[price.model_id].append(price)
    actual = baseline = ZERO
    labels = set()
    for team in teams:
        history = histories.get(team.baseline_model_id)
        if not history:
            continue
        labels.add(str(history[-1].model))
        by_price: dict[int, list[CubeRow]] = defaultdict(list)
        for row in this:
            price = _in_force(history, row.day) if row.team_id == team.id else None
            if price is not None:
                by_price[price.pk].append(_cube_row(row))
        for price in history:
            for point in savings_by_day(by_price.get(price.pk, []), price):
                actual += point.actual_usd
                baseline += point.baseline_usd
    if not labels:
        return None
    return Savings(actual, baseline, sorted(labels))


def _cube_row(row: DayRow) -> CubeRow:
    """The row as the overview's savings read it."""
    figures = row.figures
    return CubeRow(
        day=row.day,
        provider=row.provider,
        model=row.model,
        task_type=row.task_type,
        cost_usd=figures.cost_usd,
        unpriced_requests=figures.unpriced_requests,
        **{name: getattr(figures, name) for name in TOKEN_FIELDS},
    )


def _in_force(history: list[ModelPrice], day: date) -> ModelPrice | None:
    price = None
    for candidate in history:
        if candidate.effective_from > day:
            break
        price = candidate
    return price


def _unpriced(this: list[DayRow]) -> list[UnpricedLine]:
    requests: dict[tuple, int] = defaultdict(int)
    tokens: dict[tuple, int] = defaultdict(int)
    for row in this:
        if row.figures.unpriced_requests:
            requests[(row.provider, row.model)] += row.figures.unpriced_requests
            tokens[(row.provider, row.model)] += row.figures.unpriced_tokens
    lines = [UnpricedLine(*key, requests[key], tokens[key]) for key in requests]
    return sorted(lines, key=lambda line: (-line.tokens, line.provider, line.model))


def _disagreements(teams, first: date, after: date) -> list[CostDisagreement]:
    """Models whose proxy-reported cost was more than 5% off the catalog's that month.

    As on the catalog page, read from the hourly rollups that hold a disagreement: their
    totals include the other calls of those rows too. An hour belongs to the day it starts on
    in the team's zone, as in the daily rollups.
    """
    hours = Q()
    for team in teams:
        hours |= Q(
            team_id=team.id,
            hour__gte=day_start(team, first),
            hour__lt=day_start(team, after),
        )
    return [
        CostDisagreement(**row)
        for row in UsageRollup.objects.filter(hours, disagreement_requests__gt=0)
        .values("provider_name", "model_name")
        .annotate(
            requests=whole(Sum("disagreement_requests")),
            reported_usd=Sum("reported_cost_usd"),
            catalog_usd=Sum("catalog_cost_usd"),
        )
        .order_by("-requests", "provider_name", "model_name")
    ]


def _team_prices(teams, this: list[DayRow], first: date, last: date) -> list[TeamPriceLine]:
    """Each team price in force on some day of the month for a model the team used then."""
    used = {(row.team_id, row.provider, row.model) for row in this if row.figures.requests}
    names = {team.id: team.name for team in teams}
    histories: dict[tuple, list[TeamModelPrice]] = defaultdict(list)
    for price in (
        TeamModelPrice.objects.filter(team_id__in=list(names), effective_from__lte=last)
        .select_related("model__provider")
        .order_by("team_id", "model_id", "effective_from", "id")
    ):
        history = histories[(price.team_id, price.model_id)]
        # A later row of the same day corrects the earlier one, which never applied.
        if history and history[-1].effective_from == price.effective_from:
            history.pop()
        history.append(price)
    lines = []
    for history in histories.values():
        for price, after in zip(history, [*history[1:], None], strict=True):
            model = price.model
            if after is not None and after.effective_from <= first:
                continue
            if (price.team_id, model.provider.slug, model.name) not in used:
                continue
            lines.append(
                TeamPriceLine(
                    team=names[price.team_id],
                    model=str(model),
                    effective_from=price.effective_from.isoformat(),
                    input_per_mtok=str(price.input_per_mtok),
                    output_per_mtok=str(price.output_per_mtok),
                )
            )
    return sorted(lines, key=lambda line: (line.team, line.model, line.effective_from))


def _notes(teams, budgets: dict, totals: Line) -> list[str]:
    """What a reader needs to know to read the totals right."""
    notes = []
    unbudgeted = [team.name for team in teams if team.id not in budgets]
    if len(teams) > 1 and unbudgeted and len(unbudgeted) < len(teams):
        notes.append(
            "No total budget: "
            + ", ".join(unbudgeted)
            + (" has" if len(unbudgeted) == 1 else " have")
            + " no budget for the month."
        )
    if totals.figures.tao_missing_requests:
        count = totals.figures.tao_missing_requests
        notes.append(
            f"{count} call{'s' if count != 1 else ''} to TAO-billed providers "
            f"{'have' if count != 1 else 'has'} no TAO amount (no fresh TAO price, or no cost)."
        )
    return notes
