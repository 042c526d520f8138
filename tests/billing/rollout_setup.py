"""Shared setup of the rollout plan tests: a published rule, plans, and usage in a step."""

from datetime import UTC, datetime, timedelta

from billing.experiments.evidence import ArmRef
from billing.experiments.gates import StepGates
from billing.experiments.plans import rollout_create
from billing.ingest.store import usage_ingest
from routing.models import Model, RoutingRule
from routing.publish import routing_publish
from routing.rules import rule_save
from tests.factories import canonical_event

SONNET = ArmRef("anthropic", "claude-sonnet-4-5")
DEEPSEEK = ArmRef("chutes", "deepseek-ai/DeepSeek-V3")
MINI = ArmRef("openai", "gpt-5-mini")


def catalog_model(ref: ArmRef) -> Model:
    return Model.objects.get(provider__slug=ref.provider, name=ref.model)


def rule_save_targets(team, user, task_type, *targets):
    """targets: (ArmRef, weight) pairs."""
    rule = RoutingRule.objects.filter(team=team, task_type=task_type).first()
    rule_save(
        team=team,
        user=user,
        task_type=task_type,
        targets=[{"model_id": catalog_model(ref).pk, "weight": weight} for ref, weight in targets],
        fallbacks=[],
        rule=rule,
    )


def gate_steps(*weights, **gates) -> list[StepGates]:
    values = {"min_days": 2, "min_scored": 100, "max_error_increase_pts": 2, "max_p95_ratio": 1.5}
    return [StepGates.of(values | gates | {"weight": weight}) for weight in weights]


def plan_start(team, user, *weights, **options):
    return rollout_create(
        team=team,
        user=user,
        task_type="summarization",
        candidate=DEEPSEEK,
        control=SONNET,
        steps=gate_steps(*weights, **options.pop("gates", {})),
        auto_advance=options.get("auto_advance", False),
        auto_rollback=options.get("auto_rollback", False),
    )


def usage_send(
    team,
    count,
    ref,
    *,
    version,
    quality=0.9,
    errors=0,
    latency_ms=1800,
    tag="",
    between: tuple[datetime, datetime] | None = None,
):
    """`count` summarization calls to `ref` routed by `version` (the first `errors` failed): a
    second apart from half an hour ago, or spread evenly `between` two moments (for tests on
    real time, where a step's evidence counts from its version's publish)."""
    now = datetime.now(UTC)
    if between is None:
        start = now - timedelta(minutes=30)
        moments = [start + timedelta(seconds=n) for n in range(count)]
    else:
        start, end = between
        moments = [start + (end - start) * (n + 1) / (count + 1) for n in range(count)]
    events = [
        canonical_event(
            id=f"{ref.model}-{version}-{tag}-{n}",
            timestamp=moment.isoformat(),
            provider=ref.provider,
            model=ref.model,
            task_type="summarization",
            route_version=version,
            status="error" if n < errors else "success",
            quality_score=quality,
            latency_ms=latency_ms,
        )
        for n, moment in enumerate(moments)
    ]
    result = usage_ingest(team, events, now=now)
    assert result.accepted == count, result.rejected[:1]


def routing_publish_all_on_sonnet(team, user):
    """v1: everything on Sonnet, summarization in a rule of its own."""
    rule_save_targets(team, user, "*", (SONNET, 100))
    rule_save_targets(team, user, "summarization", (SONNET, 100))
    return routing_publish(team=team, user=user, comment="All on Sonnet")
