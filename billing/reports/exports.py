"""The monthly report's usage as CSV: our own columns, and the FinOps FOCUS 1.2 layout
(billing.reports.focus); and the report's bridge from the month before as a CSV of its own.

One row per team, day, provider, model and task type (FOCUS: one per token meter of those),
read from the same rollup query as the report itself, so the sum of the cost column is the
report's total to the last digit. Rows are streamed through billing.csv_output; amounts are
exact Decimals and ints, never floats, so they are written as plain numbers and only the text
cells are made safe for spreadsheets.

USD stays the billing currency; asked for (`?currency=EUR`), the exports add columns with each
row's cost in a display currency at its day's ECB reference rate (billing.fx).
"""

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal

from billing.csv_output import cell_text
from billing.fx import FxRates, currency_checked
from billing.months import last_day_of
from billing.reports.day_rows import DayRow, day_row, day_rows_query
from billing.reports.figures import MonthReport

# The FOCUS export lives in billing.reports.focus; its names are served from here as well.
from billing.reports.focus import FOCUS_COLUMNS as FOCUS_COLUMNS
from billing.reports.focus import FOCUS_DISPLAY_COLUMNS as FOCUS_DISPLAY_COLUMNS
from billing.reports.focus import FOCUS_NUMERIC_COLUMNS
from billing.reports.focus import focus_row_day as focus_row_day
from billing.reports.focus import focus_rows as focus_rows
from dashboard.display_money import DISPLAY_QUANTUM, exact

CSV_COLUMNS = [
    "team",
    "day",
    "provider",
    "model",
    "task_type",
    "end_user",
    "api_key_alias",
    "requests",
    "errors",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "cost_usd",
    "tao_amount",
    "unpriced_requests",
]

# The columns holding amounts: typed again when a closed month's frozen text rows are served.
CSV_AMOUNTS = CSV_COLUMNS[CSV_COLUMNS.index("requests") :]
NUMERIC_COLUMNS = {*CSV_AMOUNTS, *FOCUS_NUMERIC_COLUMNS}
EXPORT_CHUNK = 2_000


def plain(value: Decimal | int) -> str:
    """Exact decimal text without exponent or trailing zeros: 0.0105, 12, 0."""
    return cell_text(exact(value))


def month_rows(teams, month: date) -> Iterator[DayRow]:
    query = day_rows_query(teams, month, last_day_of(month), by_who=True)
    return (day_row(row) for row in query.iterator(chunk_size=EXPORT_CHUNK))


def csv_rows(teams, month: date) -> Iterator[list]:
    """The header, then one row per team day, provider, model, task type, end user and API key
    alias."""
    slugs = {team.id: team.slug for team in teams}
    yield CSV_COLUMNS
    for row in month_rows(teams, month):
        figures = row.figures
        yield [
            slugs[row.team_id],
            row.day.isoformat(),
            row.provider,
            row.model,
            row.task_type,
            row.end_user,
            row.api_key_alias,
            *(exact(getattr(figures, name)) for name in CSV_AMOUNTS),
        ]


# The bridge (billing.reports.bridge): one row per step of each bridge, the overall one first,
# then each provider's and each task type's; a bridge's usd from "start" to "end" adds up.
BRIDGE_COLUMNS = ["month", "previous_month", "scope", "group", "step", "usd"]


def bridge_rows(report: MonthReport) -> Iterator[list]:
    """The header, then the report's bridges (none for a month closed before bridges were)."""
    yield BRIDGE_COLUMNS
    if report.bridge is None:
        return
    months = [f"{report.month:%Y-%m}", f"{report.previous_month:%Y-%m}"]
    bridges = [
        ("total", "all", report.bridge.total),
        *(("provider", line.key, line.bridge) for line in report.bridge.by_provider),
        *(("task_type", line.key, line.bridge) for line in report.bridge.by_task_type),
    ]
    for scope, group, bridge in bridges:
        steps = [
            ("start", bridge.start),
            *bridge.effects,
            ("residual", bridge.residual),
            ("end", bridge.end),
        ]
        for step, amount in steps:
            yield [*months, scope, group, step, exact(amount)]


# The usage explorer's calls one per row, as they were stored: unlike the monthly rows above,
# these carry what the rollups do not keep, such as the route version of each call.
USAGE_COLUMNS = [
    "event_id",
    "occurred_at",
    "provider",
    "model",
    "task_type",
    "end_user",
    "api_key_alias",
    "route_version",
    "status",
    "error_type",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "latency_ms",
    "ttft_ms",
    "cost_usd",
    "cost_source",
    "tao_amount",
    "quality_score",
]
USAGE_FIELDS = [
    "event_id",
    "occurred_at",
    "provider_name",
    "model_name",
    *USAGE_COLUMNS[4:],
]


def usage_rows(events) -> Iterator[list]:
    """The header, then one row per event of `events` (an ordered queryset) in its order, read
    in chunks so memory stays flat however many there are."""
    yield USAGE_COLUMNS
    rows = events.values_list(*USAGE_FIELDS)
    for row in rows.iterator(chunk_size=EXPORT_CHUNK):
        yield [_utc(cell) if isinstance(cell, datetime) else cell for cell in row]


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def usage_filename(team, now: datetime) -> str:
    return f"{team.slug}-usage-{now:%Y%m%d-%H%M%S}.csv"


def frozen_rows(rows: Iterable[list]) -> list[list[str]]:
    """Export rows as a month close stores them in its snapshot: JSON text, not yet made safe
    for spreadsheets (that happens each time they are written out, see thawed_rows)."""
    return [[cell if isinstance(cell, str) else cell_text(cell) for cell in row] for row in rows]


def thawed_rows(stored: list[list[str]]) -> Iterator[list]:
    """A closed month's frozen rows (header first) with their amount columns as Decimals again,
    so that the CSV writer makes their text cells safe and leaves the amounts plain numbers.
    Works as well for the snapshots of months closed before text cells were made safe."""
    if not stored:
        return
    header = stored[0]
    numeric = {index for index, name in enumerate(header) if name in NUMERIC_COLUMNS}
    yield header
    for row in stored[1:]:
        yield [_amount(text) if index in numeric else text for index, text in enumerate(row)]


def _amount(text: str) -> Decimal | str:
    try:
        amount = Decimal(text)
    except (ArithmeticError, TypeError, ValueError):
        return text
    return amount if amount.is_finite() else text


def export_filename(teams, month: date, *, focus: bool) -> str:
    """<team>-<YYYY-MM>.csv or .focus.csv; all-teams-<YYYY-MM>... for several teams."""
    return f"{_who(teams)}-{month:%Y-%m}{'.focus' if focus else ''}.csv"


def bridge_filename(teams, month: date) -> str:
    return f"{_who(teams)}-{month:%Y-%m}.bridge.csv"


def _who(teams) -> str:
    return teams[0].slug if len(teams) == 1 else "all-teams"


# --- Display-currency columns ------------------------------------------------------------


def display_currency_asked(raw: str | None) -> str | None:
    """The ?currency= of an export: None when not asked, else a supported ISO code; ValueError
    saying why for anything else."""
    if raw is None or not raw.strip():
        return None
    return currency_checked(raw)


def with_display_columns(
    rows: Iterator[list], rates: FxRates, *, names: list[str], cost: str, day_of
) -> Iterator[list]:
    """The rows (header first) with `names` added: the currency, the rate of the row's day (the
    last before it on a day without one), that day, and the `cost` column converted with it.
    `day_of(row, header)` says a row's day; rows shorter than the header (notes) pass as they
    are, and a row without a rate or a cost gets empty cells."""
    header = next(rows, None)
    if header is None:
        return
    yield [*header, *names]
    cost_at = header.index(cost)
    for row in rows:
        if len(row) < len(header):
            yield row
            continue
        amount = row[cost_at]
        quote = rates.on(day_of(row, header)) if isinstance(amount, Decimal | int) else None
        if quote is None:
            yield [*row, rates.currency, None, None, None]
            continue
        rate = exact(quote.rate.quantize(DISPLAY_QUANTUM))
        converted = exact(quote.convert(amount).quantize(DISPLAY_QUANTUM))
        yield [*row, rates.currency, rate, quote.day, converted]


def csv_row_day(row: list, header: list) -> date:
    return date.fromisoformat(row[header.index("day")])


def usage_row_day(zone) -> Callable[[list, list], date]:
    """A usage row's day: when the call happened, in the team's zone."""

    def day_of(row: list, header: list) -> date:
        return datetime.fromisoformat(row[header.index("occurred_at")]).astimezone(zone).date()

    return day_of
