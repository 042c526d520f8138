"""The experiments pages under /t/<team>/routing/experiments/: every split, its arms and the
evidence for each candidate, with a CSV of exactly what the page shows."""

import json
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_GET

from billing.csv_output import csv_download
from billing.experiments.evidence import (
    ArmRef,
    Evidence,
    experiment_at,
    experiment_evidence,
    experiments_of,
)
from billing.experiments.progress import team_progress
from billing.experiments.rollout_chart import arms_figure, experiment_daily
from dashboard.access import get_membership_for_user, role_may


class EvidenceForm(forms.Form):
    """What the page is looking at: the control arm and an optional window (team days)."""

    control = forms.ChoiceField(label="Control arm", required=False)
    start = forms.DateField(label="From", required=False, widget=forms.DateInput({"type": "date"}))
    end = forms.DateField(label="To", required=False, widget=forms.DateInput({"type": "date"}))

    def __init__(self, *args, arms: list[ArmRef], **kwargs):
        super().__init__(*args, **kwargs)
        self.arms = {arm.label: arm for arm in arms}
        choices = [("", "The incumbent (most expensive)")]
        choices += [(label, label) for label in self.arms]
        self.fields["control"].choices = choices  # type: ignore[attr-defined]

    def clean(self):
        cleaned = super().clean() or {}
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end and start > end:
            raise forms.ValidationError("The window's start comes after its end.")
        return cleaned

    def window(self, zone) -> dict:
        """The chosen control and window as experiment_evidence takes them."""
        data = self.cleaned_data or {}
        start, end = data.get("start"), data.get("end")
        return {
            "control": self.arms.get(data.get("control") or ""),
            "start": datetime.combine(start, time(), tzinfo=zone) if start else None,
            "end": datetime.combine(end + timedelta(days=1), time(), tzinfo=zone) if end else None,
        }


@login_required
@require_GET
def experiments_page(request, team):
    membership = get_membership_for_user(request, team, "team.view")
    team = membership.team
    summaries = [experiment_evidence(team, experiment) for experiment in experiments_of(team)]
    context = {
        "team": team,
        "summaries": summaries,
        "progress": team_progress(team),
        "may_manage_team": role_may(membership.role, "team.manage"),
        "active_section": "routing",
    }
    return render(request, "billing/experiments.html", context)


def _evidence_for(request, team, version: int) -> tuple[EvidenceForm, Evidence]:
    experiment = experiment_at(team, version, request.GET.get("task", ""))
    if experiment is None:
        raise Http404("No such experiment.")
    form = EvidenceForm(request.GET, arms=experiment.arms)
    if not form.is_valid():
        return form, experiment_evidence(team, experiment)
    return form, experiment_evidence(team, experiment, **form.window(team.zone))


@login_required
@require_GET
def experiment_page(request, team, version):
    membership = get_membership_for_user(request, team, "team.view")
    team = membership.team
    form, evidence = _evidence_for(request, team, version)
    experiment = evidence.experiment
    figure = arms_figure(team, experiment_daily(team, experiment), experiment.arms)
    context = {
        "team": team,
        "form": form,
        "evidence": evidence,
        "figure_json": json.dumps(figure) if figure else None,
        "progress": team_progress(team),
        "may_manage_team": role_may(membership.role, "team.manage"),
        "csv_query": request.GET.urlencode(),
        "active_section": "routing",
    }
    return render(request, "billing/experiment.html", context, status=400 if form.errors else 200)


CSV_HEADER = [
    "task_type",
    "first_version",
    "window_start_utc",
    "window_end_utc",
    "arm",
    "role",
    "weight_pct",
    "requests",
    "errors",
    "error_rate",
    "p50_latency_ms",
    "p50_bucket_low_ms",
    "p50_bucket_high_ms",
    "p95_latency_ms",
    "p95_bucket_low_ms",
    "p95_bucket_high_ms",
    "scored_calls",
    "quality_mean",
    "cost_usd",
    "cost_per_call_usd",
    "cost_per_successful_call_usd",
    "cost_per_quality_point_usd",
    "quality_difference",
    "quality_difference_low",
    "quality_difference_high",
    "verdict",
    "scored_calls_needed",
    "days_needed",
    "error_rate_difference",
    "error_rate_difference_low",
    "error_rate_difference_high",
    "calls_without_route_version",
    "calls_to_models_outside_the_split",
]


def evidence_rows(evidence: Evidence):
    """The CSV rows: one an arm, the control first, as the page's tables show them."""
    comparisons = {comparison.arm.ref: comparison for comparison in evidence.comparisons}
    experiment = evidence.experiment
    ordered = [evidence.control] + [arm for arm in evidence.arms if arm is not evidence.control]
    for arm in ordered:
        comparison = comparisons.get(arm.ref)
        p50, p95 = arm.p50, arm.p95
        quality = comparison.quality if comparison else None
        errors = comparison.error_rate if comparison else None
        yield [
            experiment.task_type,
            experiment.first_version,
            evidence.start.astimezone(UTC),
            evidence.end.astimezone(UTC),
            arm.ref.label,
            "control" if comparison is None else "candidate",
            arm.weight,
            arm.requests,
            arm.errors,
            _rounded(arm.error_rate),
            *(_percentile_cells(p50)),
            *(_percentile_cells(p95)),
            arm.quality.count,
            _rounded(arm.quality_mean),
            arm.cost_usd,
            _money(arm.cost_per_call),
            _money(arm.cost_per_success),
            _money(arm.cost_per_quality_point),
            *(_interval_cells(quality)),
            comparison.verdict.value if comparison else "",
            comparison.scored_needed if comparison and comparison.scored_needed else "",
            _rounded(comparison.days_needed, 1) if comparison else "",
            *(_interval_cells(errors)),
            evidence.unversioned_requests,
            evidence.other_requests,
        ]


MONEY_PLACES = Decimal("1e-8")


def _rounded(value, places: int = 5):
    return "" if value is None else round(value, places)


def _money(value):
    return "" if value is None else value.quantize(MONEY_PLACES)


def _percentile_cells(found) -> list:
    if found is None:
        return ["", "", ""]
    high = "" if found.high_ms is None else round(found.high_ms, 1)
    return [round(found.ms), round(found.low_ms, 1), high]


def _interval_cells(interval) -> list:
    if interval is None:
        return ["", "", ""]
    return [round(interval.estimate, 5), round(interval.low, 5), round(interval.high, 5)]


@login_required
@require_GET
def experiment_csv(request, team, version):
    team = get_membership_for_user(request, team, "team.view").team
    _, evidence = _evidence_for(request, team, version)
    rows = [CSV_HEADER, *evidence_rows(evidence)]
    return csv_download(rows, f"{team.slug}-experiment-v{version}.csv")
