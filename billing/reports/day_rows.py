"""The report's grain, read from the team-day rollups: one row per team day, provider, model
and task type, its sums as Figures. The month report and its CSV exports read the same query,
so the exports add up to the report to the last digit."""

from dataclasses import dataclass
from datetime import date

from django.db.models import Q, Sum

from billing.ingest.events import TOKEN_FIELDS
from billing.models import Status, UsageDailyRollup
from billing.overview.cube import whole
from billing.reports.figures import ZERO, Figures


@dataclass(frozen=True)
class DayRow:
    """One team day, provider, model and task type: the grain of the report and the exports."""

    team_id: int
    day: date
    provider: str
    model: str
    task_type: str
    figures: Figures
    # Set only in the exports' grain (by_who=True): the end user and API key alias.
    end_user: str = ""
    api_key_alias: str = ""


COUNT_COLUMNS = [
    "requests",
    *TOKEN_FIELDS,
    "unpriced_requests",
    "unpriced_tokens",
    "disagreement_requests",
    "tao_missing_requests",
]
AMOUNT_COLUMNS = ["cost_usd", "tao_amount"]


def day_rows_query(teams, first_day: date, last_day: date, *, by_who: bool = False):
    """The teams' rollups of those days summed per team day, provider, model and task type, and
    with `by_who` per end user and API key alias too (the exports' finer grain)."""
    group = ["team_id", "day", "provider_name", "model_name", "task_type"]
    if by_who:
        group += ["end_user", "api_key_alias"]
    return (
        UsageDailyRollup.objects.filter(
            team_id__in=[team.id for team in teams], day__gte=first_day, day__lte=last_day
        )
        .values(*group)
        .annotate(
            s_errors=whole(Sum("requests", filter=Q(status=Status.ERROR))),
            s_tao_cost_usd=Sum("cost_usd", filter=Q(tao_amount__gt=0)),
            **{f"s_{name}": whole(Sum(name)) for name in COUNT_COLUMNS},
            **{f"s_{name}": Sum(name) for name in AMOUNT_COLUMNS},
        )
        .order_by(*group)
    )


def day_row(row: dict) -> DayRow:
    return DayRow(
        team_id=row["team_id"],
        day=row["day"],
        provider=row["provider_name"],
        model=row["model_name"],
        task_type=row["task_type"],
        end_user=row.get("end_user", ""),
        api_key_alias=row.get("api_key_alias", ""),
        figures=Figures(
            errors=row["s_errors"] or 0,
            tao_cost_usd=row["s_tao_cost_usd"] or ZERO,
            **{name: row[f"s_{name}"] or 0 for name in COUNT_COLUMNS},
            **{name: row[f"s_{name}"] or ZERO for name in AMOUNT_COLUMNS},
        ),
    )


def day_rows(teams, first_day: date, last_day: date, *, by_who: bool = False) -> list[DayRow]:
    return [day_row(row) for row in day_rows_query(teams, first_day, last_day, by_who=by_who)]
