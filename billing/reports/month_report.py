"""The monthly finance report built: one team's month, or several teams' months side by side,
and which months a team's report can show.

Read from the team-day rollups, whose days are already each team's own: a team's month is its
days from the 1st to the last, so month boundaries follow its time zone (daylight saving
included) with no hour arithmetic. A fixed number of queries whatever the data size: the days
of the month and the month before, the budgets, the baseline prices, the hourly rows that
hold cost disagreements, the teams' own prices, and the list prices the bridge weighs tokens
with. What the report holds is in billing.reports.figures, its bridge in billing.reports.bridge.
"""

from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal

from django.db.models import Q, Sum
from django.utils import timezone

from billing.ingest.events import TOKEN_FIELDS
from billing.models import Budget, ModelPrice, TeamModelPrice, UsageRollup
from billing.months import current_month, last_day_of, next_month, previous_month
from billing.overview.cube import CubeRow, day_start, whole
from billing.overview.savings import savings_by_day
from billing.queries import CostDisagreement, disagreements_over_threshold
from billing.reports.bridge import ReportBridge, TokenWeights, report_bridge, token_weights
from billing.reports.day_rows import DayRow, day_rows
from billing.reports.figures import (
    ZERO,
    Figures,
    Line,
    MonthReport,
    Savings,
    TeamPriceLine,
    TeamRef,
    UnpricedLine,
    total_of,
)
from dashboard.models import Team

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


# --- Building the report -------------------------------------------------------------------


def month_report(teams, month: date, *, now: datetime | None = None) -> MonthReport:
    """The report of `month` (its first day) for one team or a list of teams.

    Six queries at most whatever the data size (see the module docstring).
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
        bridge=_bridge(earlier, this, before),
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


def _bridge(earlier: list[DayRow], this: list[DayRow], before: date) -> ReportBridge:
    """The bridge from the month before to this one, tokens weighed at the list prices in
    force on the first day of the month before."""
    return report_bridge(
        earlier,
        this,
        reference_prices=list_price_weights([*earlier, *this], before),
        task_label=_task_label,
    )


def list_price_weights(rows: list[DayRow], day: date) -> dict[tuple[str, str], TokenWeights]:
    """The catalog's list price on `day` of each (provider, model) of the rows, as weights;
    team prices are left out."""
    used = {(row.provider, row.model) for row in rows}
    if not used:
        return {}
    weights: dict[tuple[str, str], TokenWeights] = {}
    prices = (
        ModelPrice.objects.in_force_on(day)
        .filter(model__name__in={model for _, model in used})
        .select_related("model__provider")
    )
    # Newest first within each model: the first found is the one in force.
    for price in prices:
        key = (price.model.provider.slug, price.model.name)
        if key in used and key not in weights:
            weights[key] = token_weights(price)
    return weights


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
    return disagreements_over_threshold(
        CostDisagreement(**row)
        for row in UsageRollup.objects.filter(hours, disagreement_requests__gt=0)
        .values("provider_name", "model_name")
        .annotate(
            requests=whole(Sum("disagreement_requests")),
            reported_usd=Sum("reported_cost_usd"),
            catalog_usd=Sum("catalog_cost_usd"),
        )
        .order_by("-requests", "provider_name", "model_name")
    )


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
