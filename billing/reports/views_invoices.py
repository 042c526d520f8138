"""Provider invoices of a report month: the reconciliation with the computed cost, and
recording, correcting and deleting invoices (after confirming)."""

import re
from datetime import date

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render

from billing.models import ProviderInvoice
from billing.months import next_month, previous_month
from billing.reports.forms import InvoiceForm
from billing.reports.invoices import (
    amount_text,
    computed_by_provider,
    invoice_delete,
    invoice_label,
    invoice_lines,
    invoice_save,
    month_has_begun,
)
from dashboard.access import get_membership_for_page, get_membership_for_user
from routing.models import Provider

MONTH = re.compile(r"(\d{4})-(\d{2})")


def _month_or_404(text: str) -> date:
    match = MONTH.fullmatch(text)
    if match is None or not 1 <= int(match[2]) <= 12 or not 2000 <= int(match[1]) <= 2999:
        raise Http404(f"“{text[:20]}” is not a month we keep invoices for: write it as YYYY-MM.")
    return date(int(match[1]), int(match[2]), 1)


def _get_invoice_for_user(request, team_slug: str, month_text: str, invoice_id: int | None):
    """The team, the month and the invoice (None for a new one) for someone who may record
    invoices; an invoice of another team or month is a 404."""
    team = get_membership_for_user(request, team_slug, "reports.close").team
    month = _month_or_404(month_text)
    if invoice_id is None:
        return team, month, None
    invoices = ProviderInvoice.objects.select_related("provider", "team")
    return team, month, get_object_or_404(invoices, pk=invoice_id, team=team, month=month)


def _back(team, month):
    return redirect("report_invoices", team=team.slug, month=f"{month:%Y-%m}")


@login_required
def invoices_page(request, team, month):
    membership, may_edit = get_membership_for_page(
        request, team, view="reports.view", edit="reports.close"
    )
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    team, month = membership.team, _month_or_404(month)
    lines = invoice_lines(team, month, computed_by_provider(team, month))
    following = next_month(month)
    context = {
        "team": team,
        "month": month,
        "invoice_lines": lines,
        "awaiting": [line for line in lines if line.invoice is None and line.provider],
        "may_edit": may_edit,
        "may_record": may_edit and month_has_begun(team, month),
        "previous_month": previous_month(month),
        "next_month": following if month_has_begun(team, following) else None,
        "active_section": "reports",
    }
    return render(request, "billing/invoices.html", context)


@login_required
def invoice_edit(request, team, month, invoice_id=None):
    team, month, invoice = _get_invoice_for_user(request, team, month, invoice_id)
    preset = None
    if invoice is None and request.GET.get("provider"):
        preset = Provider.objects.filter(slug=request.GET["provider"]).first()
    data = request.POST if request.method == "POST" else None
    form = InvoiceForm(data, invoice=invoice, provider=preset)
    if form.is_bound and form.is_valid():
        try:
            saved = invoice_save(
                team=team, month=month, user=request.user, data=form.cleaned_data, invoice=invoice
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            verb = "Corrected" if invoice else "Recorded"
            messages.success(request, f"{verb} the {invoice_label(saved)}.")
            return _back(team, month)
    context = {
        "team": team,
        "month": month,
        "invoice": invoice,
        "amount": amount_text(invoice.amount, invoice.currency) if invoice else "",
        "form": form,
        "active_section": "reports",
    }
    status = 400 if form.errors else 200
    return render(request, "billing/invoice_form.html", context, status=status)


@login_required
def invoice_delete_view(request, team, month, invoice_id):
    team, month, invoice = _get_invoice_for_user(request, team, month, invoice_id)
    if request.method == "POST":
        invoice_delete(invoice=invoice, user=request.user)
        messages.success(request, f"Deleted the {invoice_label(invoice)}.")
        return _back(team, month)
    context = {
        "team": team,
        "month": month,
        "invoice": invoice,
        "amount": amount_text(invoice.amount, invoice.currency),
        "active_section": "reports",
    }
    return render(request, "billing/invoice_delete.html", context)
