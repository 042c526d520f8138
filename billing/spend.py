"""Spend totals for a period, grouped as the caller asks: what GET /api/v1/spend answers.

Read from the daily rollups (team days in the team's own time zone), never from raw events, so
an answer costs the same whether the period holds a thousand calls or a billion.
"""

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db.models import Q, Sum
from django.db.models.functions import TruncMonth

from billing.models import Status, UsageDailyRollup
from billing.months import month_start

# group_by name -> the rollup column it reads.
GROUPS = {
    "day": "day",
    "month": "month",
    "provider": "provider_name",
    "model": "model_name",
    "task_type": "task_type",
    "route_version": "route_version",
    "end_user": "end_user",
    "api_key_alias": "api_key_alias",
}
COUNTS = [
    "requests",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "unpriced_requests",
    "tao_missing_requests",
]
MAX_DAYS = 366 * 3
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100
WHOLE = re.compile(r"[0-9]{1,9}")


class SpendQueryInvalid(ValueError):
    """Said back to the caller as a 400, naming the parameter."""

    def __init__(self, parameter: str, message: str):
        super().__init__(message)
        self.parameter = parameter


@dataclass(frozen=True)
class SpendQuery:
    start: date
    end: date
    group_by: tuple[str, ...]
    page: int
    page_size: int


def spend_query_from(params, *, today: date) -> SpendQuery:
    """The query string's start, end (team-local dates, both included; this month so far by
    default), group_by, page and page_size, or SpendQueryInvalid."""
    start = _date(params, "start", month_start(today))
    end = _date(params, "end", today)
    if end < start:
        raise SpendQueryInvalid("end", f"end {end} is before start {start}.")
    if (end - start).days >= MAX_DAYS:
        raise SpendQueryInvalid("end", f"Ask for at most {MAX_DAYS} days at a time.")
    names = [name.strip() for name in params.get("group_by", "").split(",") if name.strip()]
    unknown = [name for name in names if name not in GROUPS]
    if unknown:
        raise SpendQueryInvalid(
            "group_by",
            f"Unknown group {', '.join(repr(n[:40]) for n in unknown)}; use any of "
            f"{', '.join(GROUPS)}, comma-separated.",
        )
    if len(set(names)) != len(names):
        raise SpendQueryInvalid("group_by", "Name each group once.")
    page = _whole(params, "page", 1, low=1, high=10**6)
    page_size = _whole(params, "page_size", DEFAULT_PAGE_SIZE, low=1, high=MAX_PAGE_SIZE)
    return SpendQuery(start, end, tuple(names), page, page_size)


@dataclass(frozen=True)
class SpendAnswer:
    totals: dict
    rows: list[dict]
    row_count: int


def spend_totals(team, query: SpendQuery) -> SpendAnswer:
    rollups = UsageDailyRollup.objects.filter(team=team, day__range=(query.start, query.end))
    if "month" in query.group_by:
        rollups = rollups.annotate(month=TruncMonth("day"))
    columns = [GROUPS[name] for name in query.group_by]
    # Named apart from the columns they sum: Django refuses an aggregate named like a field.
    sums = {f"sum_{name}": Sum(name) for name in COUNTS} | {
        "sum_errors": Sum("requests", filter=Q(status=Status.ERROR)),
        "sum_cost_usd": Sum("cost_usd"),
        "sum_tao": Sum("tao_amount"),
    }
    totals = _clean(rollups.aggregate(**sums))
    grouped = rollups.values(*columns).order_by(*columns)
    row_count = grouped.annotate(sum_requests=Sum("requests")).count() if columns else 1
    first = (query.page - 1) * query.page_size
    if columns:
        page = grouped.annotate(**sums)[first : first + query.page_size]
        rows = [_row(row, query.group_by) for row in page]
    else:
        rows = [dict(totals)] if first == 0 else []
    return SpendAnswer(totals=totals, rows=rows, row_count=row_count)


def _row(values: dict, group_by: tuple[str, ...]) -> dict:
    row: dict = {}
    for name in group_by:
        value = values[GROUPS[name]]
        if name == "month":
            value = f"{value:%Y-%m}"
        elif name == "day":
            value = value.isoformat()
        row[name] = value
    return row | _clean(values)


def _clean(sums: dict) -> dict:
    """Counts as whole numbers and money as exact decimal strings (0 when there was none)."""
    cleaned: dict = {name: int(sums.get(f"sum_{name}") or 0) for name in [*COUNTS, "errors"]}
    for name in ("cost_usd", "tao"):
        cleaned[name] = decimal_text(sums.get(f"sum_{name}") or Decimal(0))
    return cleaned


def decimal_text(value: Decimal) -> str:
    """Exact, without an exponent or trailing zeros: Decimal('1.500000000000') -> '1.5'."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def day_param(params, name: str, default: date) -> date:
    """A query string's day as YYYY-MM-DD, or `default` when it is empty; ValueError saying
    what was wrong otherwise."""
    text = params.get(name, "").strip()
    if not text:
        return default
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{name} must be a day as YYYY-MM-DD, not {text[:40]!r}.") from None


def _date(params, name: str, default: date) -> date:
    try:
        return day_param(params, name, default)
    except ValueError as error:
        raise SpendQueryInvalid(name, str(error)) from None


def _whole(params, name: str, default: int, *, low: int, high: int) -> int:
    text = params.get(name, "").strip()
    if not text:
        return default
    if not WHOLE.fullmatch(text) or not low <= int(text) <= high:
        raise SpendQueryInvalid(name, f"{name} must be a whole number from {low} to {high}.")
    return int(text)
