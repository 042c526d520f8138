"""A plan's chart: each arm's share of the rule's requests and its mean quality score, per team
day since the plan began, with a line where each step went live or was rolled back."""

from collections import defaultdict

from django.db.models import Q, Sum

from billing.experiments.evidence import ArmRef, arm_matcher, experiments_of
from billing.models import UsageDailyRollup
from dashboard.charts import FONT, day_axis_title, plotly_text, series_colour, vline
from routing.models import RolloutEvent, RolloutEventKind, RolloutPlan

SHARE_HOVER = (
    "%{x|%b %-d}: %{y:.1f}% of the calls (%{customdata} calls)<extra>%{fullData.name}</extra>"
)
QUALITY_HOVER = (
    "%{x|%b %-d}: quality %{y:.3f} (%{customdata} scored)<extra>%{fullData.name}</extra>"
)
MARKED = [RolloutEventKind.STEP_LIVE, RolloutEventKind.PUBLISHED, RolloutEventKind.ROLLED_BACK]


def _arms(plan: RolloutPlan) -> list[ArmRef]:
    arms = [ArmRef(t["provider"], t["model"]) for t in plan.starting_targets]
    candidate = ArmRef(plan.candidate_provider, plan.candidate_model)
    return arms if candidate in arms else [*arms, candidate]


def rollout_daily(plan: RolloutPlan) -> list[tuple]:
    """(day, arm label, requests, share %, scored calls, mean quality or None) per day and arm
    of the rule's traffic under its experiments since the plan began."""
    since = plan.created_at.astimezone(plan.team.zone).date()
    condition = Q(pk__in=[])
    for experiment in experiments_of(plan.team):
        if experiment.task_type == plan.task_type and (
            experiment.ended_at is None or experiment.ended_at > plan.created_at
        ):
            condition |= experiment.usage_filter()
    rows = (
        UsageDailyRollup.objects.filter(condition, team=plan.team, day__gte=since)
        .values("day", "provider_name", "model_name")
        .annotate(n=Sum("requests"), scored=Sum("quality_count"), score=Sum("quality_sum"))
        .order_by()
    )
    arms = _arms(plan)
    arm_of = arm_matcher(arms)
    cells: dict = defaultdict(lambda: [0, 0, 0])
    totals: dict = defaultdict(int)
    for row in rows:
        arm = arm_of(row["provider_name"], row["model_name"])
        if arm is None:
            continue
        cell = cells[(row["day"], arm)]
        cell[0] += row["n"]
        cell[1] += row["scored"] or 0
        cell[2] += row["score"] or 0
        totals[row["day"]] += row["n"]
    result = []
    for day in sorted(totals):
        for arm in arms:
            requests, scored, score = cells.get((day, arm), [0, 0, 0])
            share = round(requests * 100 / totals[day], 2)
            quality = round(float(score) / scored, 4) if scored else None
            result.append((day, arm.label, requests, share, scored, quality))
    return result


def rollout_figure(plan: RolloutPlan, daily: list[tuple]) -> dict | None:
    if not daily:
        return None
    traces: dict[tuple[str, str], dict] = {}
    for day, label, requests, share, scored, quality in daily:
        for axis, value, suffix in (("y", share, "share"), ("y2", quality, "quality")):
            trace = traces.setdefault(
                (label, axis),
                {
                    "type": "scatter",
                    "mode": "lines+markers",
                    "name": f"{plotly_text(label)} {suffix}",
                    "legendgroup": plotly_text(label),
                    "showlegend": axis == "y",
                    "yaxis": axis,
                    "x": [],
                    "y": [],
                    "customdata": [],
                    "line": {"width": 2, "color": series_colour(label)},
                    "hovertemplate": SHARE_HOVER if axis == "y" else QUALITY_HOVER,
                },
            )
            trace["x"].append(day.isoformat())
            trace["y"].append(value)
            trace["customdata"].append(requests if axis == "y" else scored)
    shapes, annotations = [], []
    events = RolloutEvent.objects.filter(plan=plan, kind__in=MARKED).order_by("at")
    zone = plan.team.zone
    for event in events:
        x = (event.at.astimezone(zone)).date().isoformat()
        shapes.append(vline(x, "#44506a"))
        text = (
            f"step {event.step + 1}" if event.kind != RolloutEventKind.ROLLED_BACK else "rollback"
        )
        annotations.append(
            {"x": x, "yref": "paper", "y": 1.02, "text": plotly_text(text), "showarrow": False}
        )
    layout = {
        "font": FONT,
        "height": 460,
        "margin": {"t": 30, "r": 10, "b": 50, "l": 70},
        "legend": {"orientation": "h", "y": -0.2, "yanchor": "top"},
        "hoverlabel": {"namelength": -1},
        "xaxis": {
            "title": {"text": day_axis_title(plan.team.time_zone)},
            "type": "date",
            "tickformat": "%b %-d",
            # Drawn under the lower plot: both plots share the days.
            "anchor": "y2",
        },
        "yaxis": {"title": {"text": "Share of calls (%)"}, "domain": [0.55, 1], "range": [0, 100]},
        "yaxis2": {"title": {"text": "Mean quality"}, "domain": [0, 0.45], "anchor": "x"},
        "shapes": shapes,
        "annotations": annotations,
    }
    return {"data": list(traces.values()), "layout": layout}
