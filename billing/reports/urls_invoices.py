"""Provider invoices of a report month, under /t/<team>/reports/<YYYY-MM>/invoices/
(included by dashboard.urls)."""

from django.urls import re_path

from billing.reports import views_invoices

MONTH = r"reports/(?P<month>\d{4}-\d{2})/invoices/"

urlpatterns = [
    re_path(rf"^{MONTH}$", views_invoices.invoices_page, name="report_invoices"),
    re_path(rf"^{MONTH}new/$", views_invoices.invoice_edit, name="report_invoice_new"),
    re_path(
        rf"^{MONTH}(?P<invoice_id>\d+)/edit/$",
        views_invoices.invoice_edit,
        name="report_invoice_edit",
    ),
    re_path(
        rf"^{MONTH}(?P<invoice_id>\d+)/delete/$",
        views_invoices.invoice_delete_view,
        name="report_invoice_delete",
    ),
]
