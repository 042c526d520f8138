"""From alerts to actions, under /t/<team>/alerts/ (included by dashboard.urls)."""

from django.urls import path

from billing.alerts import views_routing_change as views_alert_action

urlpatterns = [
    path(
        "alerts/<int:alert_id>/routing-change/",
        views_alert_action.alert_routing_change,
        name="alert_routing_change",
    ),
]
