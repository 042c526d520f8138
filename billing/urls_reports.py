"""Monthly finance report pages, under /t/<team>/reports/ (included by dashboard.urls)."""

from django.urls import path

from dashboard import views

urlpatterns = [
    path("reports/", views.reports_page, name="reports"),
]
