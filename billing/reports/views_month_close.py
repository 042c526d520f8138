"""Closing and reopening a team month from its report."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from billing.reports.exports import csv_rows, focus_rows
from billing.reports.month_close import (
    month_close,
    month_close_warnings,
    month_reopen,
    standing_close,
)
from billing.reports.month_report import MonthNotAvailable, month_report, parse_month
from dashboard.access import get_membership_for_user


def _month(team, text):
    try:
        return parse_month(text, team, timezone.now())
    except MonthNotAvailable as error:
        raise Http404(str(error)) from None


@login_required
@require_http_methods(["GET", "POST"])
def report_close(request, team, month):
    team = get_membership_for_user(request, team, "reports.close").team
    first = _month(team, month)
    if request.method == "POST":
        report = month_report([team], first)
        exports = {"csv": list(csv_rows([team], first)), "focus": list(focus_rows([team], first))}
        try:
            month_close(
                team=team,
                month=first,
                user=request.user,
                report=report.to_snapshot(),
                exports=exports,
            )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(
                request,
                f"{first:%B %Y} is closed: its figures are frozen. Usage that arrives later "
                "for it shows as an adjustment on the next open month.",
            )
        return redirect("report", team=team.slug, month=month)
    report = month_report([team], first)
    context = {
        "team": team,
        "month": first,
        "month_slug": month,
        "total_usd": report.totals.figures.cost_usd,
        "warnings": month_close_warnings(team=team, month=first, report=report),
        "active_section": "reports",
    }
    return render(request, "billing/report_close_confirm.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def report_reopen(request, team, month):
    # Reopening undoes finance's close: an admin's decision.
    team = get_membership_for_user(request, team, "team.manage").team
    first = _month(team, month)
    close = standing_close(team, first)
    if close is None:
        messages.info(request, f"{first:%B %Y} is not closed.")
        return redirect("report", team=team.slug, month=month)
    reason = request.POST.get("reason", "")
    errors = []
    if request.method == "POST":
        try:
            month_reopen(team=team, month=first, user=request.user, reason=reason)
        except ValidationError as error:
            errors = error.messages
        else:
            messages.success(request, f"{first:%B %Y} is open again: its figures follow the usage.")
            return redirect("report", team=team.slug, month=month)
    context = {
        "team": team,
        "month": first,
        "month_slug": month,
        "close": close,
        "reopen": True,
        "reason": reason,
        "errors": errors,
        "active_section": "reports",
    }
    return render(
        request, "billing/report_close_confirm.html", context, status=400 if errors else 200
    )
