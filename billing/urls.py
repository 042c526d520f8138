"""Billing's pages under /t/<team>/ (usage, budgets, team prices, the simulator, and the alerts
and reports packages' own), the shared price catalog under /catalog/, the proxy's usage and
scores endpoints under /api/v1/, the Prometheus scrape at /metrics, and OTLP traces in at
/v1/traces. Included at the site root by dashboard.urls."""

from django.urls import URLPattern, URLResolver, include, path

from billing import (
    views_attribution,
    views_budgets,
    views_catalog,
    views_metrics,
    views_simulate,
    views_spend,
    views_team_prices,
    views_usage,
)
from billing.alerts import views_preferences
from billing.ingest import api, otlp_api

team_patterns: list[URLPattern | URLResolver] = [
    path("usage/", views_usage.usage_explorer, name="usage"),
    path("usage.csv", views_usage.usage_csv, name="usage_csv"),
    path("usage/<int:event_pk>/", views_usage.usage_event_detail, name="usage_event"),
    path(
        "usage/by/<str:attribute>/", views_attribution.usage_attribution, name="usage_attribution"
    ),
    path("routing/simulate/", views_simulate.simulate_page, name="routing_simulate"),
    path("routing/publish/cost/", views_simulate.publish_cost, name="routing_publish_cost"),
    path("routing/experiments/", include("billing.experiments.urls")),
    path("routing/rollouts/", include("billing.experiments.rollout_urls")),
    path("budgets/", views_budgets.budgets_page, name="budgets"),
    path("budgets/new/", views_budgets.budget_edit, name="budget_new"),
    path("budgets/<int:budget_id>/edit/", views_budgets.budget_edit, name="budget_edit"),
    path("budgets/<int:budget_id>/delete/", views_budgets.budget_delete_view, name="budget_delete"),
    path("prices/", views_team_prices.team_prices_page, name="team_prices"),
    path("prices/add/", views_team_prices.team_price_add_view, name="team_price_add"),
    path("alerts/", include("billing.alerts.urls")),
    path("reports/", include("billing.reports.urls")),
    path("treasury/", include("billing.treasury.urls")),
]

catalog_patterns: list[URLPattern | URLResolver] = [
    path("", views_catalog.catalog, name="catalog"),
    path("models/add/", views_catalog.model_add, name="catalog_model_add"),
    path("models/<int:model_id>/prices/", views_catalog.model_prices, name="catalog_model_prices"),
    path("prices/add/", views_catalog.price_add_view, name="catalog_price_add"),
]

api_patterns: list[URLPattern | URLResolver] = [
    path("usage", api.usage, name="api_usage"),
    path("scores", api.scores, name="api_scores"),
    path("spend", views_spend.spend, name="api_spend"),
]

urlpatterns = [
    path("t/<slug:team>/", include(team_patterns)),
    path("catalog/", include(catalog_patterns)),
    path(
        "account/notifications/",
        views_preferences.notification_preferences,
        name="notification_preferences",
    ),
    path("api/v1/", include(api_patterns)),
    path("metrics", views_metrics.metrics, name="metrics"),
    path("v1/traces", otlp_api.traces, name="otlp_traces"),
]
