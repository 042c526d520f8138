"""Progress toward the team's goal: its share of requests on the target provider against its
band, and what the published routing and the next step would save in a month."""

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.db.models import Sum
from django.utils import timezone

from billing.experiments.plans import plans_next_rules
from billing.models import UsageRollup
from billing.simulate import Projection, simulate
from routing.publish import draft_snapshot, latest_version

SHARE_DAYS = 7
SIMULATION_DAYS = 30


@dataclass
class GoalProgress:
    provider: str
    share: Decimal | None  # % of the last SHARE_DAYS' requests
    band: tuple[int, int] | None
    current: Projection | None
    next_step: Projection | None
    baseline: Projection | None
    next_label: str

    @property
    def in_band(self) -> bool | None:
        if self.share is None or self.band is None:
            return None
        return self.band[0] <= self.share <= self.band[1]

    @property
    def current_saving(self) -> Decimal | None:
        """What a month of the published routing saves against the team's baseline model."""
        return self._saving(self.current)

    @property
    def next_saving(self) -> Decimal | None:
        return self._saving(self.next_step)

    def _saving(self, projection: Projection | None) -> Decimal | None:
        if projection is None or self.baseline is None:
            return None
        if projection.monthly_usd is None or self.baseline.monthly_usd is None:
            return None
        return self.baseline.monthly_usd - projection.monthly_usd


def target_share(team, *, days: int = SHARE_DAYS, now=None) -> Decimal | None:
    """The % of the team's requests of the last days that went to its target provider."""
    now = now or timezone.now()
    rows = UsageRollup.objects.filter(team=team, hour__gte=now - timedelta(days=days))
    total = rows.aggregate(n=Sum("requests"))["n"]
    if not total or not team.target_provider:
        return None
    on_target = rows.filter(provider_name=team.target_provider).aggregate(n=Sum("requests"))["n"]
    return Decimal(on_target or 0) * 100 / total


def goal_progress(
    team, *, published, next_rules: list[dict] | None, next_label: str
) -> GoalProgress:
    """The share now, and the monthly cost of the published routing and of `next_rules` (the
    next step: a rollout's next weights, or the draft) on the last 30 days' traffic."""
    current = published.snapshot if published else None
    result = simulate(team, candidate=next_rules or [], published=current, days=SIMULATION_DAYS)
    band = (
        (team.target_share_min, team.target_share_max)
        if team.target_share_min is not None and team.target_share_max is not None
        else None
    )
    return GoalProgress(
        provider=team.target_provider,
        share=target_share(team),
        band=band,
        current=result.published,
        next_step=result.candidate,
        baseline=result.baseline,
        next_label=next_label,
    )


def team_progress(team) -> GoalProgress:
    """Progress with its next step: the open rollout plans' next steps, else the draft when it
    differs from what is published."""
    published = latest_version(team)
    planned = plans_next_rules(team)
    if planned is not None:
        return goal_progress(
            team, published=published, next_rules=planned, next_label="the plans' next steps"
        )
    draft = draft_snapshot(team)
    changed = published is None or draft != published.snapshot
    return goal_progress(
        team,
        published=published,
        next_rules=draft if changed else None,
        next_label="the draft" if changed else "",
    )
