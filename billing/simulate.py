"""What-if: the team's real traffic of a recent window, replayed through a routing config.

Reads the hourly rollups only (one grouped query), prices tokens with today's catalog, so
projections compare configs, not history. Lives in billing because it reads usage; routing
must not import billing.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Sum
from django.utils import timezone

from billing.costing import PriceBook, cost_of
from billing.ingest.events import TOKEN_FIELDS
from billing.models import TaoPrice, UsageRollup

DAYS_IN_MONTH = Decimal(30)
SCALE_TASKS_PER_DAY = [100, 500, 1_000, 10_000, 100_000]


@dataclass
class TaskMix:
    """Requests and tokens per task type over the window."""

    days: int
    requests: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())


@dataclass
class Projection:
    monthly_usd: Decimal | None
    monthly_tao: Decimal | None
    provider_share: dict[str, float]
    unpriced: list[str]

    def per_task_usd(self, mix: TaskMix) -> Decimal | None:
        if self.monthly_usd is None or not mix.total_requests:
            return None
        return self.monthly_usd / (mix.total_requests * DAYS_IN_MONTH / mix.days)


def task_mix(team, *, days: int, now=None) -> TaskMix:
    now = now or timezone.now()
    rows = (
        UsageRollup.objects.filter(team=team, hour__gte=now - timedelta(days=days))
        .values("task_type")
        .annotate(requests_sum=Sum("requests"), **{f"{n}_sum": Sum(n) for n in TOKEN_FIELDS})
        .order_by()
    )
    mix = TaskMix(days=days)
    for row in rows:
        mix.requests[row["task_type"]] = row["requests_sum"]
        mix.tokens[row["task_type"]] = {n: row[f"{n}_sum"] or 0 for n in TOKEN_FIELDS}
    return mix


def _rule_for(rules: list[dict], task_type: str) -> dict | None:
    enabled = {rule["task_type"]: rule for rule in rules if rule.get("enabled", True)}
    return enabled.get(task_type) or enabled.get("*")


def project(
    mix: TaskMix, rules: list[dict], *, book: PriceBook, tao_usd: Decimal | None, today=None
) -> Projection:
    """Monthly USD and TAO if every task type's requests were split by the rule's weights."""
    today = today or timezone.now()
    scale = DAYS_IN_MONTH / mix.days
    usd, tao, unpriced = Decimal(0), Decimal(0), []
    requests_by_provider: dict[str, Decimal] = defaultdict(Decimal)
    for task_type, requests in mix.requests.items():
        rule = _rule_for(rules, task_type)
        if rule is None:
            unpriced.append(f"{task_type or '(no task type)'}: no rule routes it")
            continue
        for target in rule["targets"]:
            share = Decimal(target["weight"]) / 100
            requests_by_provider[target["provider"]] += requests * share
            resolved = book.resolve(target["provider"], target["model"])
            price = book.price_on(resolved.model, today)
            if price is None:
                unpriced.append(f"{target['provider']}/{target['model']}: no price")
                continue
            tokens = {name: int(count * share) for name, count in mix.tokens[task_type].items()}
            cost = cost_of(price=price, **tokens) * scale
            usd += cost
            if resolved.provider and resolved.provider.billing_currency == "TAO" and tao_usd:
                tao += cost / tao_usd
    total = sum(requests_by_provider.values()) or Decimal(1)
    share = {p: float(n / total) for p, n in sorted(requests_by_provider.items())}
    return Projection(
        monthly_usd=None if unpriced and not usd else usd.quantize(Decimal("0.01")),
        monthly_tao=tao.quantize(Decimal("0.0001")) if tao else None,
        provider_share=share,
        unpriced=unpriced,
    )


def baseline_rules(team) -> list[dict]:
    """Everything on the team's baseline model: what savings are measured against."""
    model = team.baseline_model
    if model is None:
        return []
    target = {"provider": model.provider.slug, "model": model.name, "weight": 100}
    return [{"task_type": "*", "enabled": True, "targets": [target], "fallbacks": []}]


def latest_tao_usd(now: datetime | None = None) -> Decimal | None:
    price = TaoPrice.objects.latest_at(now or timezone.now())
    return price.usd if price is not None else None


@dataclass
class Simulation:
    mix: TaskMix
    candidate: Projection
    published: Projection | None
    baseline: Projection | None
    scale: list[dict]


def simulate(
    team, *, candidate: list[dict], published: list[dict] | None, days: int, now=None
) -> Simulation:
    now = now or timezone.now()
    mix = task_mix(team, days=days, now=now)
    book, tao_usd = PriceBook.current(), latest_tao_usd(now)

    def run(rules):
        return project(mix, rules, book=book, tao_usd=tao_usd, today=now) if rules else None

    result = Simulation(mix, run(candidate), run(published), run(baseline_rules(team)), [])
    per_task = {
        name: projection.per_task_usd(mix) if projection else None
        for name, projection in (
            ("candidate", result.candidate),
            ("published", result.published),
            ("baseline", result.baseline),
        )
    }
    for tasks in SCALE_TASKS_PER_DAY:
        result.scale.append(
            {"tasks_per_day": tasks}
            | {
                name: (cost * tasks * DAYS_IN_MONTH).quantize(Decimal("0.01"))
                if cost is not None
                else None
                for name, cost in per_task.items()
            }
        )
    return result
