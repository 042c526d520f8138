"""Alerts and alert rules, under /t/<team>/alerts/ (included by billing.urls)."""

from django.urls import path

from billing.alerts import views, views_routing_change

urlpatterns = [
    path("", views.alerts_page, name="alerts"),
    path("<int:alert_id>/", views.alert_detail, name="alert"),
    path("<int:alert_id>/acknowledge/", views.alert_acknowledge_view, name="alert_acknowledge"),
    path(
        "<int:alert_id>/acknowledge-all/",
        views.alert_acknowledge_all_view,
        name="alert_acknowledge_all",
    ),
    path(
        "<int:alert_id>/routing-change/",
        views_routing_change.alert_routing_change,
        name="alert_routing_change",
    ),
    path("rules/", views.rules_page, name="alert_rules"),
    path("rules/recommended/", views.rules_add_recommended, name="alert_rules_recommended"),
    path("rules/new/", views.rule_edit, name="alert_rule_new"),
    path("rules/params/", views.rule_params, name="alert_rule_params"),
    path("rules/<int:rule_id>/edit/", views.rule_edit, name="alert_rule_edit"),
    path("rules/<int:rule_id>/params/", views.rule_params, name="alert_rule_params_edit"),
    path("rules/<int:rule_id>/delete/", views.rule_delete, name="alert_rule_delete"),
    path("jobs/", views.jobs_page, name="alert_jobs"),
]
