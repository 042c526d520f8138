"""The overview page, its chart CSVs, and the all-teams summary."""

import json
from dataclasses import replace
from datetime import UTC

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponseBadRequest
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from billing.csv_output import csv_download
from billing.fx import display_currency_for, money_view_for
from billing.overview.bundle import build_overview
from billing.overview.cube import Filters, load_cube, options_of, team_has_usage
from billing.overview.month import month_filters
from billing.overview.month_bridge import month_to_date_bridge
from billing.reports.bridge_chart import bridge_figure
from billing.rollups import NO_VERSION
from dashboard.access import get_membership_for_user
from dashboard.charts import chart_csv
from dashboard.forms import OverviewFilterForm
from dashboard.fragments import wants_fragment
from dashboard.overview_charts.latency_text import latency_reading
from dashboard.overview_charts.registry import CHARTS, build_charts


def _overview_for(request, team, currency: str = "USD"):
    """The filter form and the Overview its query string asks for, its charts drawn in
    `currency` (the reader's display currency)."""
    now = timezone.now()
    today = now.astimezone(team.zone).date()
    provisional = OverviewFilterForm(request.GET, options={})
    range_choice, first_day, last_day = provisional.days(today)
    full = load_cube(team, first_day, last_day)
    form = OverviewFilterForm(request.GET, options=options_of(full), team=team)
    filters = Filters(first_day, last_day, **form.narrowing())
    overview = build_overview(
        team, filters, now=now, by=form.split_by(), full=full, currency=currency
    )
    return form, range_choice, overview


@login_required
@require_GET
@vary_on_headers("HX-Request")
def overview(request, team):
    membership = get_membership_for_user(request, team)
    team = membership.team
    form, range_choice, overview = _overview_for(request, team, display_currency_for(membership))
    by = form.split_by()
    charts = build_charts(overview, by)
    context = {
        "team": team,
        "form": form,
        "range_choice": range_choice,
        "overview": overview,
        "month": overview.month,
        "totals": overview.totals,
        "filters": overview.filters,
        "charts": charts,
        "p95_latency": latency_reading(overview.latency_p95),
        "query": request.GET.urlencode(),
        "has_usage": bool(overview.cube) or team_has_usage(team),
    }
    # A refused range answers 400, except to htmx, which swaps the form's message in place.
    status = 400 if form.range_errors() and not wants_fragment(request) else 200
    if wants_fragment(request):
        return render(request, "dashboard/_partials/overview_body.html", context, status=status)
    context["member_count"] = team.memberships.count()
    return render(request, "dashboard/overview.html", context, status=status)


def _days(first, last) -> str:
    return (
        f"{first:%b} {first.day}\N{EN DASH}{last.day}"
        if first != last
        else f"{first:%b} {first.day}"
    )


@login_required
@require_GET
def overview_month_bridge(request, team):
    """The month panel's bridge, for the page's range and filters: loaded after the page, so
    its figures do not wait for it. The waterfall is drawn in the reader's display currency at
    today's rate, as the {% money %} amounts beside it (one money view: one query, none for
    USD)."""
    membership = get_membership_for_user(request, team)
    team = membership.team
    money_view = money_view_for(membership)
    today = timezone.now().astimezone(team.zone).date()
    # Narrowing only ever keeps rows equal to what is asked: any asked value is a valid choice.
    asked = {name: [request.GET.get(name, "")] for name in ("provider", "model", "task_type")}
    form = OverviewFilterForm(request.GET, options=asked)
    _, first_day, last_day = form.days(today)
    filters = Filters(first_day, last_day, **form.narrowing())
    if request.GET.get("version", "").strip():
        filters = replace(filters, route_version=NO_VERSION)
    month = month_filters(filters, today)
    found = month_to_date_bridge(team, month.first_day, month.last_day, filters)
    figure = None
    if found:
        quote = None if money_view.is_usd else money_view.quote()
        before, after = _days(*found.before), _days(*found.after)
        figure = bridge_figure(found.bridge, before=before, after=after, quote=quote)
    context = {
        "money_view": money_view,
        "team": team,
        "found": found,
        "filters": filters,
        "month_first_day": month.first_day,
        "bridge_figure_json": json.dumps(figure) if figure else None,
    }
    return render(request, "dashboard/_partials/overview_bridge.html", context)


@login_required
@require_GET
def overview_csv(request, team, chart):
    """A chart's rows as it draws them: in USD, with the display currency's columns added
    when it is drawn in the reader's."""
    membership = get_membership_for_user(request, team)
    team = membership.team
    if chart not in CHARTS:
        raise Http404("No such chart.")
    form, _, overview = _overview_for(request, team, display_currency_for(membership))
    if refused := form.range_errors():
        return HttpResponseBadRequest(" ".join(refused), content_type="text/plain; charset=utf-8")
    drawn = CHARTS[chart](overview, form.split_by())
    filters = overview.filters
    name = f"{team.slug}-{chart}-{filters.first_day}-to-{filters.last_day}.csv"
    return csv_download(chart_csv(drawn), name, stream=False)


CHANGES_HEADER = ["at_utc", "at_team_time", "kind", "change", "details", "link"]


@login_required
@require_GET
def overview_changes_csv(request, team):
    """The changes the page's charts mark, for its range and filters: a file of its own beside
    the charts' CSVs, whose columns stay what they draw."""
    team = get_membership_for_user(request, team).team
    form, _, overview = _overview_for(request, team)
    if refused := form.range_errors():
        return HttpResponseBadRequest(" ".join(refused), content_type="text/plain; charset=utf-8")
    site = settings.SITE_URL.rstrip("/")
    rows = [
        [
            change.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            change.at.astimezone(team.zone).strftime("%Y-%m-%d %H:%M"),
            change.kind_label,
            change.title,
            change.detail,
            f"{site}{change.url}" if change.url else "",
        ]
        for change in overview.changes
    ]
    filters = overview.filters
    name = f"{team.slug}-changes-{filters.first_day}-to-{filters.last_day}.csv"
    return csv_download([CHANGES_HEADER, *rows], name, stream=False)
