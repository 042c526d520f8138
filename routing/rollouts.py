"""A rollout plan's steps as routing: each step's targets for the rule, preparing a step in the
draft, and publishing one (only when the draft holds nobody's unpublished edits).

Step i puts steps[i]["weight"] % on the candidate; the rule's other targets share the rest in
proportion to their weights when the plan began.
"""

from django.core.exceptions import ValidationError
from django.db import transaction

from routing.models import RolloutEvent, RolloutEventKind, RolloutPlan, RoutingVersion
from routing.proposals import Proposal, proposal_apply, spread
from routing.publish import draft_snapshot, latest_version, routing_publish, snapshot_diff


class DraftHasEdits(Exception):
    """The draft differs from the live version in more than the step: publishing it would
    publish someone's unpublished edits."""

    def __init__(self, changes: list[str]):
        super().__init__("; ".join(changes))
        self.changes = changes


def _plain(ref: dict) -> tuple[str, str]:
    return ref["provider"], ref["model"]


def step_targets(plan: RolloutPlan, index: int) -> list[dict]:
    """The rule's targets at step `index`."""
    candidate = (plan.candidate_provider, plan.candidate_model)
    weight = plan.steps[index]["weight"]
    others = [t for t in plan.starting_targets if _plain(t) != candidate]
    shares = spread([t["weight"] for t in others], 100 - weight)
    targets = [
        {"provider": t["provider"], "model": t["model"], "weight": share}
        for t, share in zip(others, shares, strict=True)
    ]
    mine = {"provider": candidate[0], "model": candidate[1], "weight": weight}
    position = next(
        (i for i, t in enumerate(plan.starting_targets) if _plain(t) == candidate), len(targets)
    )
    targets.insert(position, mine)
    return [t for t in targets if t["weight"] > 0]


def same_targets(left: list[dict] | None, right: list[dict] | None) -> bool:
    """Whether two target lists route the same way (order aside)."""
    if left is None or right is None:
        return left is right

    def weights(targets):
        return sorted((t["provider"], t["model"], t["weight"]) for t in targets)

    return weights(left) == weights(right)


def rule_of(snapshot: list[dict], task_type: str) -> dict | None:
    """The snapshot's enabled rule for exactly this task type."""
    return next(
        (r for r in snapshot if r["task_type"] == task_type and r.get("enabled", True)), None
    )


def rule_targets(snapshot: list[dict], task_type: str) -> list[dict] | None:
    rule = rule_of(snapshot, task_type)
    return None if rule is None else rule["targets"]


def plain_targets(targets: list[dict]) -> list[dict]:
    return [
        {"provider": t["provider"], "model": t["model"], "weight": t["weight"]} for t in targets
    ]


def step_proposal(plan: RolloutPlan, targets: list[dict], base: list[dict]) -> Proposal:
    """`base` with the plan's rule routing to `targets`; a model taken up as a target leaves
    the rule's fallbacks."""
    target_refs = {_plain(t) for t in targets}
    after = []
    for rule in base:
        if rule["task_type"] != plan.task_type:
            after.append(rule)
            continue
        fallbacks = [f for f in rule["fallbacks"] if _plain(f) not in target_refs]
        after.append(rule | {"targets": targets, "fallbacks": fallbacks})
    return Proposal(base, after, snapshot_diff(base, after), [])


def draft_holds(plan: RolloutPlan, targets: list[dict]) -> bool:
    return same_targets(rule_targets(draft_snapshot(plan.team), plan.task_type), targets)


def step_prepare(plan: RolloutPlan, targets: list[dict]) -> bool:
    """Put the rule's step `targets` into the draft (from the live version's rule); False when
    the draft already holds them. Raises DraftDiffers when the draft's rule holds unpublished edits,
    ValidationError when the step is not a valid rule (a model left the catalog)."""
    if draft_holds(plan, targets):
        return False
    live = latest_version(plan.team)
    base = live.snapshot if live else draft_snapshot(plan.team)
    proposal_apply(team=plan.team, user=None, proposal=step_proposal(plan, targets, base))
    return True


def step_publish(plan: RolloutPlan, targets: list[dict], *, comment: str) -> RoutingVersion:
    """Publish the live version with the rule routing to `targets`, as the system.

    Raises DraftHasEdits, publishing nothing, unless the draft is the live version or the live
    version with exactly this step: a plan never publishes someone's unpublished edits."""
    team = plan.team
    live = latest_version(team)
    if live is None:
        raise ValidationError("Nothing is published yet.")
    proposal = step_proposal(plan, targets, live.snapshot)
    draft = draft_snapshot(team)
    if draft != live.snapshot and draft != proposal.after:
        raise DraftHasEdits(snapshot_diff(proposal.after, draft))
    with transaction.atomic():
        if draft != proposal.after:
            proposal_apply(team=team, user=None, proposal=proposal)
        return routing_publish(team=team, user=None, comment=comment)


# The transitions in which a plan published a version itself.
PUBLISHING = {RolloutEventKind.PUBLISHED, RolloutEventKind.ROLLED_BACK}


def rollout_transitions_by_version(team) -> dict[int, list[RolloutEvent]]:
    """Every plan transition of the team, by the version live when it happened (or the one the
    plan published), oldest first: the Versions page shows them with their version."""
    events = RolloutEvent.objects.filter(plan__team=team, version__isnull=False).select_related(
        "plan"
    )
    found: dict[int, list[RolloutEvent]] = {}
    for event in events.order_by("at", "pk"):
        found.setdefault(event.version, []).append(event)  # type: ignore[arg-type]
    return found
