"""The monthly report: the page of a month, and its CSV, FOCUS CSV and bridge CSV downloads."""

import json
from datetime import date

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from billing.csv_output import csv_download
from billing.fx import display_currency_for, fx_rates, money_view_for
from billing.months import current_month, last_day_of, next_month, previous_month
from billing.reports.bridge_chart import bridge_figure
from billing.reports.exports import (
    FOCUS_DISPLAY_COLUMNS,
    bridge_filename,
    bridge_rows,
    csv_row_day,
    csv_rows,
    display_currency_asked,
    export_filename,
    focus_row_day,
    focus_rows,
    plain,
    thawed_rows,
    with_display_columns,
)
from billing.reports.figures import MonthReport
from billing.reports.invoices import ComputedCost, invoice_lines
from billing.reports.month_close import (
    adjustments_for,
    frozen_adjustments,
    month_is_over,
    standing_close,
)
from billing.reports.month_report import FIRST_MONTH, MonthNotAvailable, month_report, parse_month
from dashboard.access import PERMISSIONS, get_membership_for_user, role_may
from dashboard.display_money import DISPLAY_COLUMNS
from dashboard.models import Team

ALL_TEAMS = "all"


def _reportable_teams(user):
    """The teams whose reports the user may read, by name."""
    teams = Team.objects.select_related("baseline_model").order_by("name")
    if user.is_superuser:
        return teams
    return teams.filter(
        memberships__user=user, memberships__role__in=PERMISSIONS["reports.view"]
    ).distinct()


def _teams_for(request, team) -> list[Team]:
    """This team, or with ?teams=all every team whose reports the user may read."""
    if request.GET.get("teams") == ALL_TEAMS:
        return list(_reportable_teams(request.user))
    return [team]


def _scope_query(request) -> str:
    return f"?teams={ALL_TEAMS}" if request.GET.get("teams") == ALL_TEAMS else ""


def _month_url(name: str, team, month: date, query: str = "") -> str:
    return reverse(name, kwargs={"team": team.slug, "month": f"{month:%Y-%m}"}) + query


def _not_available(request, team, error: MonthNotAvailable):
    latest = previous_month(current_month(team, timezone.now()))
    context = {
        "team": team,
        "problem": str(error),
        "latest_url": _month_url("report", team, latest, _scope_query(request)),
        "latest": latest,
        "active_section": "reports",
    }
    return render(request, "billing/report.html", context, status=404)


@login_required
@require_GET
def reports_index(request, team):
    """Last month's report, or the month the picker asks for."""
    team = get_membership_for_user(request, team, "reports.view").team
    now = timezone.now()
    month = previous_month(current_month(team, now))
    if request.GET.get("month"):
        try:
            month = parse_month(request.GET["month"], team, now)
        except MonthNotAvailable as error:
            messages.warning(request, f"{error} Showing {month:%B %Y} instead.")
    return redirect(_month_url("report", team, month, _scope_query(request)))


@login_required
@require_GET
def report_page(request, team, month):
    membership = get_membership_for_user(request, team, "reports.view")
    team = membership.team
    try:
        first = parse_month(month, team, timezone.now())
    except MonthNotAvailable as error:
        return _not_available(request, team, error)
    teams = _teams_for(request, team)
    close = None if len(teams) > 1 else standing_close(team, first)
    report = _report(teams, first, close)
    context = report_context(request, team, first, report)
    context |= _money_context(membership, team, first, query=_scope_query(request))
    if context["display_currency"] != "USD":
        quote = money_view_for(membership).quote(context["money_day"])
        context["bridge_figure_json"] = _bridge_figure_json(report, quote=quote)
    if len(teams) == 1:
        context |= _close_and_invoices(membership.role, team, first, report, close)
    return render(request, "billing/report.html", context)


def _report(teams: list[Team], month: date, close) -> MonthReport:
    if close is not None:
        # A closed month is shown as it was frozen, whatever arrived since.
        return MonthReport.from_snapshot(close.snapshot["report"])
    return month_report(teams, month)


def _close_and_invoices(role: str, team, month: date, report: MonthReport, close) -> dict:
    """One team's month: its close state, the adjustments it carries, invoices vs computed."""
    computed = {
        line.key: ComputedCost(usd=line.figures.cost_usd, tao=line.figures.tao_amount)
        for line in report.by_provider
    }
    return {
        "close_context": {
            "close": close,
            "month": month,
            "month_slug": f"{month:%Y-%m}",
            "month_over": month_is_over(team, month, timezone.now()),
            "may_close": role_may(role, "reports.close"),
            "may_reopen": role_may(role, "team.manage"),
        },
        "adjustments": frozen_adjustments(close) if close else adjustments_for(team, month),
        "invoice_lines": invoice_lines(team, month, computed),
    }


def report_context(request, team, month: date, report: MonthReport) -> dict:
    """What billing/report.html shows. The month close adds `close_context` and
    `adjustments`, the invoice reconciliation `invoice_lines` (None hides that section)."""
    query = _scope_query(request)
    latest = current_month(team, timezone.now())
    before, after = previous_month(month), next_month(month)
    return {
        "team": team,
        "month": month,
        "report": report,
        "all_teams": bool(query),
        "may_choose_teams": _reportable_teams(request.user).count() > 1,
        "team_url": _month_url("report", team, month),
        "all_teams_url": _month_url("report", team, month, f"?teams={ALL_TEAMS}"),
        "previous_month": before,
        "next_month": after,
        "previous_url": _month_url("report", team, before, query) if before >= FIRST_MONTH else "",
        "next_url": _month_url("report", team, after, query) if after <= latest else "",
        "picker_max": f"{latest:%Y-%m}",
        "csv_url": _month_url("report_csv", team, month, query),
        "focus_csv_url": _month_url("report_focus_csv", team, month, query),
        "bridge_csv_url": _month_url("report_bridge_csv", team, month, query),
        "bridge_figure_json": _bridge_figure_json(report),
        "exact_cost_usd": plain(report.totals.figures.cost_usd),
        "active_section": "reports",
        "close_context": None,
        "adjustments": [],
        "invoice_lines": None,
    }


def _money_context(membership, team, month: date, *, query: str) -> dict:
    """The page's money at the rate of the month's last day (today while it runs), and the
    exports with the reader's display-currency columns when it is not USD."""
    today = timezone.now().astimezone(team.zone).date()
    currency = display_currency_for(membership)
    context = {"money_day": min(last_day_of(month), today), "display_currency": currency}
    if currency != "USD":
        asked = f"{query}&currency={currency}" if query else f"?currency={currency}"
        context["csv_display_url"] = _month_url("report_csv", team, month, asked)
        context["focus_csv_display_url"] = _month_url("report_focus_csv", team, month, asked)
    return context


def _bridge_figure_json(report: MonthReport, *, quote=None) -> str | None:
    """The waterfall in USD, or with `quote` in the reader's currency at the rate of the day
    the page's money is shown at."""
    if report.bridge is None:
        return None
    before, after = f"{report.previous_month:%B %Y}", f"{report.month:%B %Y}"
    if report.in_progress:
        after += " to date"
    figure = bridge_figure(report.bridge.total, before=before, after=after, quote=quote)
    return json.dumps(figure)


def _download_month(request, team, month):
    """The team, the month's first day and the teams the download covers; or the page saying
    why the month cannot be had."""
    team = get_membership_for_user(request, team, "reports.view").team
    try:
        first = parse_month(month, team, timezone.now())
    except MonthNotAvailable as error:
        return _not_available(request, team, error)
    return team, first, _teams_for(request, team)


def _export(request, team, month, *, focus: bool):
    found = _download_month(request, team, month)
    if not isinstance(found, tuple):
        return found
    team, first, teams = found
    try:
        currency = display_currency_asked(request.GET.get("currency"))
    except ValueError as error:
        return HttpResponseBadRequest(str(error), content_type="text/plain; charset=utf-8")
    close = None if len(teams) > 1 else standing_close(team, first)
    frozen = close.snapshot.get("exports", {}) if close else {}
    if frozen:
        # The rows as they were when the month closed, so they add up to its frozen page.
        rows = thawed_rows(frozen["focus" if focus else "csv"])
    else:
        rows = focus_rows(teams, first) if focus else csv_rows(teams, first)
    if currency is not None:
        rates = fx_rates(currency, first, last_day_of(first))
        if focus:
            zones = {each.slug: each.zone for each in teams}
            rows = with_display_columns(
                iter(rows),
                rates,
                names=FOCUS_DISPLAY_COLUMNS,
                cost="BilledCost",
                day_of=focus_row_day(zones),
            )
        else:
            rows = with_display_columns(
                iter(rows), rates, names=DISPLAY_COLUMNS, cost="cost_usd", day_of=csv_row_day
            )
    return csv_download(rows, export_filename(teams, first, focus=focus))


@login_required
@require_GET
def report_csv(request, team, month):
    return _export(request, team, month, focus=False)


@login_required
@require_GET
def report_focus_csv(request, team, month):
    return _export(request, team, month, focus=True)


@login_required
@require_GET
def report_bridge_csv(request, team, month):
    """The month's bridge from the month before: overall, per provider, per task type."""
    found = _download_month(request, team, month)
    if not isinstance(found, tuple):
        return found
    team, first, teams = found
    report = _report(teams, first, None if len(teams) > 1 else standing_close(team, first))
    return csv_download(bridge_rows(report), bridge_filename(teams, first))
