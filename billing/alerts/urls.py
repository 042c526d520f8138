"""Team pages for alert rules and alerts, under /t/<team>/alerts/ (included by dashboard.urls)."""

from django.urls import path

from billing.alerts import views

urlpatterns = [
    path("alerts/", views.alerts_page, name="alerts"),
    path("alerts/<int:alert_id>/", views.alert_detail, name="alert"),
    path(
        "alerts/<int:alert_id>/acknowledge/",
        views.alert_acknowledge_view,
        name="alert_acknowledge",
    ),
    path(
        "alerts/<int:alert_id>/acknowledge-all/",
        views.alert_acknowledge_all_view,
        name="alert_acknowledge_all",
    ),
    path("alerts/rules/", views.rules_page, name="alert_rules"),
    path(
        "alerts/rules/recommended/",
        views.rules_add_recommended,
        name="alert_rules_recommended",
    ),
    path("alerts/rules/new/", views.rule_edit, name="alert_rule_new"),
    path("alerts/rules/params/", views.rule_params, name="alert_rule_params"),
    path("alerts/rules/<int:rule_id>/edit/", views.rule_edit, name="alert_rule_edit"),
    path("alerts/rules/<int:rule_id>/params/", views.rule_params, name="alert_rule_params_edit"),
    path("alerts/rules/<int:rule_id>/delete/", views.rule_delete, name="alert_rule_delete"),
    path("alerts/jobs/", views.jobs_page, name="alert_jobs"),
]
