"""The usage explorer: a team's calls filtered and paged, one call's detail, and the CSV."""

import json
from collections.abc import Iterator
from datetime import date
from itertools import chain

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from billing.csv_output import csv_lines
from billing.forms import UsageFilterForm
from billing.fx import fx_rates
from billing.queries import (
    tao_note,
    usage_choices,
    usage_event,
    usage_events,
    usage_page,
)
from billing.reports.exports import (
    display_currency_asked,
    usage_filename,
    usage_row_day,
    usage_rows,
    with_display_columns,
)
from billing.retention import raw_removal_notices
from dashboard.access import get_membership_for_user, role_may
from dashboard.display_money import DISPLAY_COLUMNS
from dashboard.fragments import wants_fragment

# Before the first reference rate anyone stores: the ECB's own rates start in 1999.
EARLIEST_RATE_DAY = date(1999, 1, 4)


@login_required
@vary_on_headers("HX-Request")
def usage_explorer(request, team):
    membership = get_membership_for_user(request, team)
    team = membership.team
    choices = usage_choices(team)
    form = UsageFilterForm(request.GET, choices=choices)
    page, notices = None, []
    if form.is_valid():
        filters = form.filters(zone=team.zone, now=timezone.now())
        page = usage_page(
            team=team,
            filters=filters,
            sort=form.cleaned_data["sort"],
            before=form.cleaned_data["before"],
            after=form.cleaned_data["after"],
        )
        notices = raw_removal_notices(filters.start, filters.end)
    context = {
        "team": team,
        "form": form,
        "page": page,
        "raw_removal_notices": notices,
        "any_usage": choices.any_usage,
        "may_manage_tokens": role_may(membership.role, "tokens.manage"),
        "usage_url": settings.SITE_URL + reverse("api_usage"),
    }
    if wants_fragment(request):
        # htmx swaps only 2xx answers, so filter errors come back in a 200 fragment.
        return render(request, "billing/_partials/usage_results.html", context)
    return render(request, "billing/usage.html", context, status=400 if form.errors else 200)


@login_required
@require_GET
def usage_csv(request, team):
    """The calls the explorer's filters match, one per row in its sort's order, as CSV (the
    filters' errors as the explorer shows them); with ?currency=EUR, each call's cost in euros
    too, at the rate of its day."""
    membership = get_membership_for_user(request, team)
    team = membership.team
    try:
        currency = display_currency_asked(request.GET.get("currency"))
    except ValueError as error:
        return HttpResponseBadRequest(str(error), content_type="text/plain; charset=utf-8")
    form = UsageFilterForm(request.GET, choices=usage_choices(team))
    if not form.is_valid():
        return usage_explorer(request, team.slug)
    now = timezone.now()
    filters = form.filters(zone=team.zone, now=now)
    events = usage_events(team=team, filters=filters, sort=form.export_sort())
    # Rows after the calls, so that the header stays the first line.
    notes = [[f"# {notice}"] for notice in raw_removal_notices(filters.start, filters.end)]
    rows: Iterator[list] = chain(usage_rows(events), notes)
    if currency is not None:
        rates = fx_rates(currency, *_days_of(filters, team.zone, now))
        rows = with_display_columns(
            rows, rates, names=DISPLAY_COLUMNS, cost="cost_usd", day_of=usage_row_day(team.zone)
        )
    response = StreamingHttpResponse(csv_lines(rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{usage_filename(team, now)}"'
    return response


def _days_of(filters, zone, now) -> tuple[date, date]:
    """The team days the filters' calls can fall on (all since rates began, with no start)."""
    first = filters.start.astimezone(zone).date() if filters.start else EARLIEST_RATE_DAY
    last = (filters.end or now).astimezone(zone).date()
    return min(first, last), last


@login_required
@vary_on_headers("HX-Request")
def usage_event_detail(request, team, event_pk):
    team = get_membership_for_user(request, team).team
    event = usage_event(team=team, event_pk=event_pk)
    if event is None:
        raise Http404("No such event.")
    context = {
        "team": team,
        "active_section": "usage",
        "event": event,
        "tao_note": tao_note(event),
        "metadata_json": json.dumps(event.metadata, indent=2, sort_keys=True, ensure_ascii=False),
    }
    if wants_fragment(request):
        return render(request, "billing/_partials/usage_event.html", context)
    return render(request, "billing/usage_event.html", context)
