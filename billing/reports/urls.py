"""Monthly finance report pages, under /t/<team>/reports/ (included by dashboard.urls)."""

from django.urls import path, re_path

from billing.reports import views as views_reports
from billing.reports import views_month_close

MONTH = r"reports/(?P<month>\d{4}-\d{2})"

urlpatterns = [
    path("reports/", views_reports.reports_index, name="reports"),
    re_path(rf"^{MONTH}/$", views_reports.report_page, name="report"),
    re_path(rf"^{MONTH}\.csv$", views_reports.report_csv, name="report_csv"),
    re_path(rf"^{MONTH}\.focus\.csv$", views_reports.report_focus_csv, name="report_focus_csv"),
    re_path(rf"^{MONTH}/close/$", views_month_close.report_close, name="report_close"),
    re_path(rf"^{MONTH}/reopen/$", views_month_close.report_reopen, name="report_reopen"),
]
