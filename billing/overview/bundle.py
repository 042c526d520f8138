"""Everything the overview page shows, in one bundle: `build_overview` returns an `Overview`.

It loads the cube once (or takes the caller's), narrows it to the filters, and derives the
totals, the month panel, savings, histograms and TAO prices from it, with the reader's
display-currency rates for the days its charts draw; the page's KPIs and every chart
(dashboard/overview_charts/) read only this bundle and never query.
"""

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings

from billing.budgets import budget_held_in_usd
from billing.fx import FxRates, fx_rates
from billing.models import Budget
from billing.overview.changes import ChangeMarker, change_markers
from billing.overview.cube import ROLLUPS, CubeRow, Filters, day_start, load_cube, narrow
from billing.overview.histograms import Histogram, load_histograms, merged
from billing.overview.month import (
    MonthPanel,
    budget_for,
    cube_covers,
    focus_month,
    month_filters,
    month_panel,
)
from billing.overview.savings import SavingsPoint, baseline_price, savings_by_day
from billing.overview.tao import TaoPoint, TaoQuote, tao_quote, tao_series
from billing.overview.totals import Totals, totals_of


@dataclass(frozen=True)
class Overview:
    team: object
    filters: Filters
    now: datetime
    today: date
    cube: list[CubeRow]
    totals: Totals
    by: str
    histograms: dict[tuple[date, str], Histogram]
    month: MonthPanel
    savings: list[SavingsPoint]
    tao_prices: list[TaoPoint]
    tao_quote: TaoQuote | None
    changes: list[ChangeMarker]
    fx: FxRates  # USD to the reader's display currency, for the charts

    @property
    def timings(self) -> Histogram:
        return merged(self.histograms.values())

    @property
    def latency_p95(self) -> float | None:
        return self.timings.latency_ms(0.95)

    @property
    def savings_usd(self) -> Decimal | None:
        return self.savings[-1].cumulative_savings_usd if self.savings else None

    @property
    def savings_pct(self) -> Decimal | None:
        return self.savings[-1].cumulative_savings_pct if self.savings else None

    @property
    def tao_stale(self) -> bool:
        """No TAO price within TAO_PRICE_MAX_AGE_MINUTES: new TAO amounts go unset meanwhile."""
        if self.tao_quote is None:
            return True
        max_age = timedelta(minutes=settings.TAO_PRICE_MAX_AGE_MINUTES)
        return self.now - self.tao_quote.at > max_age

    @property
    def tao_at_today_usd(self) -> Decimal | None:
        """The focus month's TAO at the latest price, against what it cost when used."""
        if self.tao_quote is None:
            return None
        return self.month.tao_used * self.tao_quote.usd


def build_overview(
    team,
    filters: Filters,
    *,
    now: datetime,
    by: str = "provider",
    source: str = ROLLUPS,
    full: list[CubeRow] | None = None,
    currency: str = "USD",
) -> Overview:
    """Every figure of the overview page for the filtered days, as of now.

    `full` is the unfiltered cube of the filters' days when the caller already has it. The
    rates of `currency` cover the charts' days, the month's forecast included: one query, none
    for USD.
    """
    today = now.astimezone(team.zone).date()
    if full is None:
        full = load_cube(team, filters.first_day, filters.last_day, source=source)
    month_wanted = month_filters(filters, today)
    if cube_covers(filters, month_wanted):
        month_full = full
    else:
        month_full = load_cube(team, month_wanted.first_day, month_wanted.last_day, source=source)
    cube = narrow(full, filters)
    budget = budget_for(team, month_wanted.first_day, filters)
    budget_tao = _tao_budget(team, month_wanted.first_day, filters, budget)
    start, end = (
        day_start(team, filters.first_day),
        min(now, day_start(team, filters.last_day + timedelta(1))),
    )
    tao_prices = tao_series(start, end)
    month_rows = narrow(month_full, month_wanted)
    held = budget_held_in_usd(team, budget, month_rows, month_wanted, today)
    month = month_panel(team, month_rows, filters, held, today, budget_tao)
    return Overview(
        team=team,
        filters=filters,
        now=now,
        today=today,
        cube=cube,
        totals=totals_of(cube),
        by=by,
        histograms=load_histograms(team, filters, by, source=source),
        month=month,
        savings=savings_by_day(cube, baseline_price(team, today)),
        tao_prices=tao_prices,
        tao_quote=tao_quote(now),
        changes=change_markers(
            team,
            start=start,
            end=end,
            models_used={(row.provider, row.model) for row in cube},
            tao_points=tao_prices,
        ),
        fx=fx_rates(
            currency,
            min(filters.first_day, month_wanted.first_day),
            max(filters.last_day, focus_month(filters)[1]),
        ),
    )


def _tao_budget(team, month: date, filters: Filters, budget: Budget | None) -> Decimal | None:
    """The TAO budget for what is shown: its own budget's, else the team's for a provider."""
    if budget is not None and budget.amount_tao is not None:
        return budget.amount_tao
    if filters.provider and not filters.model:
        # TAO is only spent at TAO-billed providers: the team's TAO budget holds for them.
        team_wide = budget_for(team, month, replace(filters, provider=""))
        return team_wide.amount_tao if team_wide else None
    return None
