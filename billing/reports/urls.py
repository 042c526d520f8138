"""The monthly report, its downloads, month close and provider invoices, under /t/<team>/reports/
(included by billing.urls)."""

from django.urls import path, re_path

from billing.reports import views, views_invoices, views_month_close

MONTH = r"(?P<month>\d{4}-\d{2})"
INVOICES = rf"{MONTH}/invoices/"

urlpatterns = [
    path("", views.reports_index, name="reports"),
    re_path(rf"^{MONTH}/$", views.report_page, name="report"),
    re_path(rf"^{MONTH}\.csv$", views.report_csv, name="report_csv"),
    re_path(rf"^{MONTH}\.focus\.csv$", views.report_focus_csv, name="report_focus_csv"),
    re_path(rf"^{MONTH}\.bridge\.csv$", views.report_bridge_csv, name="report_bridge_csv"),
    re_path(rf"^{MONTH}/close/$", views_month_close.report_close, name="report_close"),
    re_path(rf"^{MONTH}/reopen/$", views_month_close.report_reopen, name="report_reopen"),
    re_path(rf"^{INVOICES}$", views_invoices.invoices_page, name="report_invoices"),
    re_path(rf"^{INVOICES}new/$", views_invoices.invoice_edit, name="report_invoice_new"),
    re_path(
        rf"^{INVOICES}(?P<invoice_id>\d+)/edit/$",
        views_invoices.invoice_edit,
        name="report_invoice_edit",
    ),
    re_path(
        rf"^{INVOICES}(?P<invoice_id>\d+)/delete/$",
        views_invoices.invoice_delete_view,
        name="report_invoice_delete",
    ),
]
