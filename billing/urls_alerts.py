"""Team pages for alert rules and alerts, under /t/<team>/alerts/ (included by dashboard.urls)."""

from django.urls import path

from dashboard import views

urlpatterns = [
    path("alerts/", views.alerts_page, name="alerts"),
]
