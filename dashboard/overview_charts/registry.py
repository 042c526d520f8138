"""The overview's charts by slug: what the page draws, in order, and what each CSV link serves.

Every chart is built by a function `(overview, by) -> Chart` that takes the page's `Overview`
bundle (billing/overview/bundle.py) and the series the page is split by, and never queries;
its rows are both what it draws and its CSV.
"""

from dataclasses import replace

from billing.overview.bundle import Overview
from dashboard.charts import Chart, with_changes
from dashboard.overview_charts.health import error_rate, latency, quality, ttft
from dashboard.overview_charts.routes import provider_share, routes
from dashboard.overview_charts.savings import savings
from dashboard.overview_charts.spend import daily_cost, month_spend
from dashboard.overview_charts.tao import tao_month, tao_price, tao_value

CHARTS = {
    "month-spend": month_spend,
    "daily-cost": daily_cost,
    "share": provider_share,
    "savings": savings,
    "latency": latency,
    "ttft": ttft,
    "errors": error_rate,
    "quality": quality,
    "routes": routes,
    "tao-month": tao_month,
    "tao-price": tao_price,
    "tao-value": tao_value,
}


def build_charts(overview: Overview, by: str) -> list[Chart]:
    """Every chart, the time charts with the period's changes marked on them."""
    charts = [builder(overview, by) for builder in CHARTS.values()]
    zone = overview.team.zone  # type: ignore[attr-defined]
    return [
        replace(chart, figure=with_changes(chart.figure, overview.changes, zone))
        for chart in charts
    ]
