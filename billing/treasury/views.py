"""The treasury page (/t/<team>/treasury/): TAO held and on the Chutes account, what each
month's TAO cost, the lots and transfers, the runway; and recording, correcting and deleting
lots and transfers (after confirming). Finance and admins write; everyone in the team reads."""

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET

from billing.csv_output import csv_download
from billing.models import TaoLot, TaoTransfer
from billing.treasury.forms import TaoLotForm, TaoTransferForm
from billing.treasury.ledger import last_closed_month, month_csv_rows, treasury_of
from billing.treasury.records import (
    lot_label,
    tao_lot_delete,
    tao_lot_save,
    tao_transfer_delete,
    tao_transfer_save,
    transfer_label,
)
from billing.treasury.runway import draft_ratio, draft_shifts, runway_lines
from billing.treasury.scenario_views import scenarios_context, scenarios_fragment
from dashboard.access import get_membership_for_page, get_membership_for_user

WRITE = "reports.close"  # finance and admins: the permission invoices and month closes use

KINDS: dict[str, dict[str, Any]] = {
    "lot": {
        "model": TaoLot,
        "form": TaoLotForm,
        "save": tao_lot_save,
        "delete": tao_lot_delete,
        "label": lot_label,
        "noun": "lot",
    },
    "transfer": {
        "model": TaoTransfer,
        "form": TaoTransferForm,
        "save": tao_transfer_save,
        "delete": tao_transfer_delete,
        "label": transfer_label,
        "noun": "transfer",
    },
}


@login_required
def treasury_page(request, team):
    membership, may_edit = get_membership_for_page(request, team, view="team.view", edit=WRITE)
    # Checked after the role, so a reader posting here is refused like on every form.
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    team = membership.team
    scenarios = scenarios_context(request, team, url=request.path)
    if fragment := scenarios_fragment(request, scenarios):
        return fragment
    treasury = treasury_of(team)
    lines = runway_lines(treasury, team)
    context = {
        **scenarios,
        "team": team,
        "treasury": treasury,
        "runway_lines": lines,
        "draft_shifts": draft_shifts(lines, draft_ratio(team), team),
        "last_closed": last_closed_month(team),
        "may_edit": may_edit,
        "active_section": "treasury",
    }
    return render(request, "billing/treasury.html", context)


@login_required
@require_GET
def treasury_csv(request, team):
    team = get_membership_for_user(request, team, "team.view").team
    rows = list(month_csv_rows(treasury_of(team)))
    return csv_download(rows, f"{team.slug}-treasury.csv", stream=False)


def _get_record_for_user(request, team_slug: str, kind: str, record_id: int | None):
    """The team and the lot or transfer (None for a new one) for someone who may write."""
    team = get_membership_for_user(request, team_slug, WRITE).team
    if record_id is None:
        return team, None
    return team, get_object_or_404(KINDS[kind]["model"], pk=record_id, team=team)


def _record_edit(request, team, kind: str, record_id=None):
    team, record = _get_record_for_user(request, team, kind, record_id)
    spec = KINDS[kind]
    data = request.POST if request.method == "POST" else None
    form = spec["form"](data, **{kind: record})
    if form.is_bound and form.is_valid():
        try:
            saved = spec["save"](
                team=team, user=request.user, data=form.cleaned_data, **{kind: record}
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            verb = "Corrected" if record else "Recorded"
            messages.success(request, f"{verb} the {spec['noun']}: {spec['label'](saved)}.")
            return redirect("treasury", team=team.slug)
    context = {
        "team": team,
        "kind": kind,
        "record": record,
        "label": spec["label"](record) if record else "",
        "form": form,
        "active_section": "treasury",
    }
    return render(
        request, "billing/treasury_form.html", context, status=400 if form.errors else 200
    )


def _record_delete(request, team, kind: str, record_id):
    team, record = _get_record_for_user(request, team, kind, record_id)
    spec = KINDS[kind]
    errors = []
    if request.method == "POST":
        try:
            spec["delete"](user=request.user, **{kind: record})
        except ValidationError as error:
            errors = error.messages
        else:
            messages.success(request, f"Deleted the {spec['noun']}: {spec['label'](record)}.")
            return redirect("treasury", team=team.slug)
    context = {
        "team": team,
        "kind": kind,
        "record": record,
        "label": spec["label"](record),
        "errors": errors,
        "active_section": "treasury",
    }
    return render(request, "billing/treasury_delete.html", context, status=400 if errors else 200)


@login_required
def lot_edit(request, team, lot_id=None):
    return _record_edit(request, team, "lot", lot_id)


@login_required
def lot_delete(request, team, lot_id):
    return _record_delete(request, team, "lot", lot_id)


@login_required
def transfer_edit(request, team, transfer_id=None):
    return _record_edit(request, team, "transfer", transfer_id)


@login_required
def transfer_delete(request, team, transfer_id):
    return _record_delete(request, team, "transfer", transfer_id)
