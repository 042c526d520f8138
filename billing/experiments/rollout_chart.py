"""The arms' chart of an experiment or a rollout plan: each arm's share of the rule's requests
and its mean quality score per team day, with the changes of those days marked (publishes,
rollbacks, price changes)."""

from collections import defaultdict
from datetime import date, datetime, time, timedelta

from django.db.models import Q, Sum
from django.utils import timezone

from billing.experiments.evidence import ArmRef, Experiment, arm_matcher, experiments_of
from billing.models import UsageDailyRollup
from billing.overview.changes import change_markers
from dashboard.charts import FONT, day_axis_title, plotly_text, series_colour, with_changes
from routing.models import RolloutPlan

SHARE_HOVER = (
    "%{x|%b %-d}: %{y:.1f}% of the calls (%{customdata} calls)<extra>%{fullData.name}</extra>"
)
QUALITY_HOVER = (
    "%{x|%b %-d}: quality %{y:.3f} (%{customdata} scored)<extra>%{fullData.name}</extra>"
)


def _plan_arms(plan: RolloutPlan) -> list[ArmRef]:
    arms = [ArmRef(t["provider"], t["model"]) for t in plan.starting_targets]
    candidate = ArmRef(plan.candidate_provider, plan.candidate_model)
    return arms if candidate in arms else [*arms, candidate]


def arms_daily(team, experiments: list[Experiment], arms: list[ArmRef], since: date) -> list:
    """(day, arm label, requests, share %, scored calls, mean quality or None) per team day
    from `since` and arm, over the experiments' traffic."""
    condition = Q(pk__in=[])
    for experiment in experiments:
        condition |= experiment.usage_filter()
    rows = (
        UsageDailyRollup.objects.filter(condition, team=team, day__gte=since)
        .values("day", "provider_name", "model_name")
        .annotate(n=Sum("requests"), scored=Sum("quality_count"), score=Sum("quality_sum"))
        .order_by()
    )
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


def rollout_daily(plan: RolloutPlan) -> list[tuple]:
    """The rule's traffic under its experiments since the plan began."""
    experiments = [
        experiment
        for experiment in experiments_of(plan.team)
        if experiment.task_type == plan.task_type
        and (experiment.ended_at is None or experiment.ended_at > plan.created_at)
    ]
    since = plan.created_at.astimezone(plan.team.zone).date()
    return arms_daily(plan.team, experiments, _plan_arms(plan), since)


def experiment_daily(team, experiment: Experiment) -> list[tuple]:
    since = experiment.started_at.astimezone(team.zone).date()
    return arms_daily(team, [experiment], experiment.arms, since)


def arms_figure(team, daily: list[tuple], arms: list[ArmRef], *, now: datetime | None = None):
    """Share (top) and quality (bottom) by day, the changes of those days marked; None when
    there is nothing to draw."""
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
    layout = {
        "font": FONT,
        "height": 460,
        "margin": {"t": 30, "r": 10, "b": 50, "l": 70},
        "legend": {"orientation": "h", "y": -0.2, "yanchor": "top"},
        "hoverlabel": {"namelength": -1},
        "xaxis": {
            "title": {"text": day_axis_title(team.time_zone)},
            "type": "date",
            "tickformat": "%b %-d",
            # Drawn under the lower plot: both plots share the days.
            "anchor": "y2",
        },
        "yaxis": {"title": {"text": "Share of calls (%)"}, "domain": [0.55, 1], "range": [0, 100]},
        "yaxis2": {"title": {"text": "Mean quality"}, "domain": [0, 0.45], "anchor": "x"},
    }
    first, last = daily[0][0], daily[-1][0]
    start = datetime.combine(first, time(), tzinfo=team.zone)
    end = min(
        now or timezone.now(), datetime.combine(last + timedelta(1), time(), tzinfo=team.zone)
    )
    markers = change_markers(
        team,
        start=start,
        end=end,
        models_used={(arm.provider, arm.model) for arm in arms},
        tao_points=[],
    )
    return with_changes({"data": list(traces.values()), "layout": layout}, markers, team.zone)


def rollout_figure(plan: RolloutPlan, daily: list[tuple]) -> dict | None:
    return arms_figure(plan.team, daily, _plan_arms(plan))
