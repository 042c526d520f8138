"""Experiments: every published rule that splits its traffic between two or more targets, over
the consecutive versions that kept the same targets, and what each target (arm) did then.

Read from the hourly rollups of the experiment's route versions: events sent without a route
version are counted apart and never in an arm, nor are calls to other models (fallbacks).
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Q, Sum
from django.utils import timezone

from billing.costing import PriceBook
from billing.histogram import LATENCY_FIELDS, bucket_bounds, bucket_middle, percentile_bucket
from billing.models import Status, UsageRollup
from billing.rollups import NO_VERSION, hour_of
from routing.confidence import (
    Interval,
    Moments,
    Verdict,
    difference_interval,
    observations_needed,
    verdict,
)
from routing.models import RoutingVersion

# The rate at which scored calls arrive is read over the window's last days.
RATE_DAYS = 7


@dataclass(frozen=True)
class ArmRef:
    provider: str
    model: str

    @property
    def label(self) -> str:
        return f"{self.provider}/{self.model}"


@dataclass
class Experiment:
    """A rule's split, live from the first of `versions` until `ended_at` (None: still live)."""

    task_type: str
    arms: list[ArmRef]
    weights: dict[ArmRef, int]
    versions: list[RoutingVersion]
    # For the default rule (*): per version, the task types other rules routed.
    routed_elsewhere: dict[int, set[str]]
    ended_at: datetime | None = None

    @property
    def first_version(self) -> int:
        return self.versions[0].number

    @property
    def last_version(self) -> int:
        return self.versions[-1].number

    @property
    def started_at(self) -> datetime:
        return self.versions[0].published_at

    @property
    def is_live(self) -> bool:
        return self.ended_at is None

    @property
    def version_numbers(self) -> list[int]:
        return [version.number for version in self.versions]

    def usage_filter(self) -> Q:
        """The rollup rows of this rule's traffic under each of its versions."""
        if self.task_type != "*":
            return Q(route_version__in=self.version_numbers, task_type=self.task_type)
        condition = Q(pk__in=[])
        for number in self.version_numbers:
            condition |= Q(route_version=number) & ~Q(task_type__in=self.routed_elsewhere[number])
        return condition


def experiments_of(team) -> list[Experiment]:
    """The team's experiments, the latest first."""
    found: list[Experiment] = []
    running: dict[tuple, Experiment] = {}
    for version in RoutingVersion.objects.filter(team=team).order_by("number"):
        rules = [rule for rule in version.snapshot if rule.get("enabled", True)]
        task_types = {rule["task_type"] for rule in rules}
        seen = set()
        for rule in rules:
            arms = [ArmRef(target["provider"], target["model"]) for target in rule["targets"]]
            if len(arms) < 2:
                continue
            key = (rule["task_type"], frozenset(arms))
            seen.add(key)
            experiment = running.get(key)
            if experiment is None:
                experiment = Experiment(rule["task_type"], arms, {}, [], {})
                running[key] = experiment
                found.append(experiment)
            experiment.versions.append(version)
            experiment.weights = {
                arm: target["weight"] for arm, target in zip(arms, rule["targets"], strict=True)
            }
            experiment.routed_elsewhere[version.number] = task_types - {"*"}
        for key in list(running):
            if key not in seen:
                running.pop(key).ended_at = version.published_at
    return sorted(found, key=lambda e: (e.is_live, e.last_version), reverse=True)


def experiment_at(team, first_version: int, task_type: str) -> Experiment | None:
    for experiment in experiments_of(team):
        if experiment.first_version == first_version and experiment.task_type == task_type:
            return experiment
    return None


@dataclass(frozen=True)
class Percentile:
    """A latency percentile read from the histogram: the bucket's middle and its bounds."""

    ms: float
    low_ms: float
    high_ms: float | None  # None: the open last bucket


def _percentile(counts: list[int], fraction: float) -> Percentile | None:
    index = percentile_bucket(counts, fraction)
    if index is None:
        return None
    return Percentile(bucket_middle(index), *bucket_bounds(index))


@dataclass
class ArmFigures:
    ref: ArmRef
    weight: int
    requests: int = 0
    errors: int = 0
    cost_usd: Decimal = Decimal(0)
    quality: Moments = field(default_factory=lambda: Moments(0, 0.0, 0.0))
    latency_counts: list[int] = field(default_factory=lambda: [0] * len(LATENCY_FIELDS))
    recent_scored: int = 0

    @property
    def successes(self) -> int:
        return self.requests - self.errors

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None

    @property
    def errors_moments(self) -> Moments:
        return Moments(self.requests, float(self.errors), float(self.errors))

    @property
    def p50(self) -> Percentile | None:
        return _percentile(self.latency_counts, 0.5)

    @property
    def p95(self) -> Percentile | None:
        return _percentile(self.latency_counts, 0.95)

    @property
    def quality_mean(self) -> float | None:
        return self.quality.mean

    @property
    def cost_per_call(self) -> Decimal | None:
        return self.cost_usd / self.requests if self.requests else None

    @property
    def cost_per_success(self) -> Decimal | None:
        return self.cost_usd / self.successes if self.successes else None

    @property
    def cost_per_quality_point(self) -> Decimal | None:
        """What a call costs per point of its mean quality score."""
        mean = self.quality_mean
        if self.cost_per_call is None or not mean:
            return None
        return self.cost_per_call / Decimal(str(round(mean, 6)))


@dataclass
class Comparison:
    """A candidate arm against the control: quality with its verdict, and error rates."""

    arm: ArmFigures
    quality: Interval | None
    verdict: Verdict
    scored_needed: int | None
    days_needed: float | None
    error_rate: Interval | None


@dataclass
class Evidence:
    experiment: Experiment
    start: datetime
    end: datetime
    margin: Decimal
    arms: list[ArmFigures]
    control: ArmFigures
    comparisons: list[Comparison]
    unversioned_requests: int
    other_requests: int
    scored_per_day: float

    @property
    def scored(self) -> int:
        return sum(arm.quality.count for arm in self.arms)


def incumbent(experiment: Experiment, *, team_id: int, now: datetime) -> ArmRef:
    """The rule's most expensive target at today's prices: what the candidates are measured
    against unless ops pick another."""
    return most_expensive(experiment.arms, team_id=team_id, now=now)


def most_expensive(arms: list[ArmRef], *, team_id: int, now: datetime) -> ArmRef:
    """The arm with the highest input plus output price per million tokens (the first of
    equals); arms without a price count as the cheapest."""
    book = PriceBook.current()

    def blended(arm: ArmRef) -> Decimal:
        price = book.price_on(book.resolve(arm.provider, arm.model).model, now, team_id=team_id)
        return price.input_per_mtok + price.output_per_mtok if price else Decimal(-1)

    return max(arms, key=lambda arm: (blended(arm), -arms.index(arm)))


def arm_matcher(arms: list[ArmRef]):
    """Which arm a rollup row's provider and model are, as the catalog resolves both."""
    book = PriceBook.current()

    def canonical(provider: str, model: str) -> tuple[str, str]:
        resolved = book.resolve(provider, model)
        return resolved.provider_name.lower(), resolved.model_name.lower()

    by_name = {canonical(arm.provider, arm.model): arm for arm in arms}
    return lambda provider, model: by_name.get(canonical(provider, model))


def experiment_evidence(
    team,
    experiment: Experiment,
    *,
    control: ArmRef | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    now: datetime | None = None,
) -> Evidence:
    """Each arm's figures over the experiment's life (or the part of it between start and end),
    and each candidate against the control."""
    now = now or timezone.now()
    window_start = max(filter(None, [experiment.started_at, start]))
    window_end = min(filter(None, [experiment.ended_at, end, now]))
    hours = Q(hour__gte=hour_of(window_start), hour__lt=window_end)
    recent = hour_of(window_end - timedelta(days=RATE_DAYS))
    figures = {arm: ArmFigures(arm, experiment.weights.get(arm, 0)) for arm in experiment.arms}
    arm_of = arm_matcher(experiment.arms)
    other = 0
    rows = (
        UsageRollup.objects.filter(hours, experiment.usage_filter(), team=team)
        .values("provider_name", "model_name", "status")
        .annotate(
            n=Sum("requests"),
            recent_scored=Sum("quality_count", filter=Q(hour__gte=recent)),
            cost=Sum("cost_usd"),
            scored=Sum("quality_count"),
            score_sum=Sum("quality_sum"),
            score_sumsq=Sum("quality_sumsq"),
            **{name: Sum(name) for name in LATENCY_FIELDS},
        )
        .order_by()
    )
    sums: dict[ArmRef, dict] = defaultdict(lambda: defaultdict(Decimal))
    for row in rows:
        arm = arm_of(row["provider_name"], row["model_name"])
        if arm is None:
            other += row["n"]
            continue
        figure = figures[arm]
        figure.requests += row["n"]
        figure.errors += row["n"] if row["status"] == Status.ERROR else 0
        figure.cost_usd += row["cost"] or 0
        figure.recent_scored += row["recent_scored"] or 0
        for name in ("scored", "score_sum", "score_sumsq"):
            sums[arm][name] += row[name] or 0
        for index, name in enumerate(LATENCY_FIELDS):
            figure.latency_counts[index] += row[name]  # type: ignore[literal-required]
    for arm, total in sums.items():
        figures[arm].quality = Moments(
            int(total["scored"]), float(total["score_sum"]), float(total["score_sumsq"])
        )
    unversioned = _unversioned_requests(team, experiment, hours)
    chosen = control if control in figures else incumbent(experiment, team_id=team.pk, now=now)
    rate_days = max(min((window_end - window_start) / timedelta(days=1), RATE_DAYS), 1 / 24)
    scored_per_day = sum(f.recent_scored for f in figures.values()) / rate_days
    margin = team.noninferiority_margin
    comparisons = [
        _compare(figures[arm], figures[chosen], float(margin), scored_per_day)
        for arm in experiment.arms
        if arm != chosen
    ]
    return Evidence(
        experiment=experiment,
        start=window_start,
        end=window_end,
        margin=margin,
        arms=list(figures.values()),
        control=figures[chosen],
        comparisons=comparisons,
        unversioned_requests=unversioned,
        other_requests=other,
        scored_per_day=scored_per_day,
    )


def _compare(arm: ArmFigures, control: ArmFigures, margin: float, per_day: float) -> Comparison:
    quality = difference_interval(arm.quality, control.quality)
    needed = observations_needed(arm.quality, control.quality, margin)
    return Comparison(
        arm=arm,
        quality=quality,
        verdict=verdict(quality, margin),
        scored_needed=needed,
        days_needed=needed / per_day if needed and per_day else None,
        error_rate=difference_interval(arm.errors_moments, control.errors_moments),
    )


def _unversioned_requests(team, experiment: Experiment, hours: Q) -> int:
    """Calls of the rule's task type(s) sent without a route version in the window."""
    rows = UsageRollup.objects.filter(hours, team=team, route_version=NO_VERSION)
    if experiment.task_type == "*":
        latest = experiment.routed_elsewhere[experiment.last_version]
        rows = rows.exclude(task_type__in=latest)
    else:
        rows = rows.filter(task_type=experiment.task_type)
    return rows.aggregate(n=Sum("requests"))["n"] or 0
