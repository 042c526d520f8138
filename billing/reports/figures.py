"""What the monthly finance report shows: sums over some usage (Figures), a month against the
month before (Change, Line), the savings against the baseline models, the unpriced and
team-priced models, the bridge from last month's spend (billing.reports.bridge), and the whole
MonthReport. Money stays unrounded Decimal.

A MonthReport turns into a JSON snapshot and back, so a closed month is shown from what was
frozen, with the same template. It is built by billing.reports.month_report.
"""

from dataclasses import dataclass, field, fields
from datetime import date, datetime
from decimal import Decimal

from billing.months import last_day_of, previous_month
from billing.queries import CostDisagreement
from billing.reports.bridge import ReportBridge

HUNDRED = Decimal(100)
ZERO = Decimal(0)
SNAPSHOT_VERSION = 1


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
        return cls(
            **{f.name: _figure_from_json(f, data[f.name]) for f in fields(cls) if f.name in data}
        )


def _figure_from_json(spec, value):
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
            "budget_usd": _optional_text(self.budget_usd),
            "budget_tao": _optional_text(self.budget_tao),
        }

    @classmethod
    def from_json(cls, data: dict) -> "Line":
        return cls(
            key=data["key"],
            label=data["label"],
            figures=Figures.from_json(data["figures"]),
            previous=Figures.from_json(data["previous"]),
            budget_usd=_optional_decimal(data.get("budget_usd")),
            budget_tao=_optional_decimal(data.get("budget_tao")),
        )


def _optional_text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _optional_decimal(text: str | None) -> Decimal | None:
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
    # How last month's spend became this month's (None in snapshots made before it existed).
    bridge: ReportBridge | None = None

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
            "bridge": self.bridge.to_json() if self.bridge else None,
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
            bridge=ReportBridge.from_json(data["bridge"]) if data.get("bridge") else None,
        )


BREAKDOWNS = ["by_team", "by_provider", "by_model", "by_task_type"]
