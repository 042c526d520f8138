"""Prepared routing changes: take a misbehaving target out of the draft, for a person to publish.

An alert about a provider (or one of its models) proposes the team's draft with that target's
weight moved to the rule's other targets, in proportion to their weights, or, when it was the
rule's only target, to the rule's first fallback that is not affected itself.
"""

from dataclasses import dataclass

from django.db import transaction

from routing.models import Model, RoutingRule
from routing.publish import draft_snapshot, snapshot_diff
from routing.rules import rule_save


@dataclass(frozen=True)
class Proposal:
    before: list[dict]
    after: list[dict]
    changes: list[str]  # readable, one line per changed rule
    stuck: list[str]  # rules that route only to the target and have nowhere else to go

    @property
    def changed(self) -> bool:
        return self.before != self.after


def affected(ref: dict, provider: str, model: str) -> bool:
    return ref["provider"] == provider and (not model or ref["model"] == model)


def spread(weights: list[int], total: int) -> list[int]:
    """`total` shared in proportion to `weights`, in whole numbers (largest remainders first).

    Weights that are all zero share it equally.
    """
    if not any(weights):
        weights = [1] * len(weights)
    whole = sum(weights)
    shares = [weight * total / whole for weight in weights]
    result = [int(share) for share in shares]
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(shares[i] - result[i]), i))
    for index in by_remainder[: total - sum(result)]:
        result[index] += 1
    return result


def proposal_without(snapshot: list[dict], *, provider: str, model: str = "") -> Proposal:
    """The snapshot with the provider (or its one model) taken out of every rule's targets."""
    after, stuck = [], []
    for rule in snapshot:
        targets = rule["targets"]
        moving = [t for t in targets if affected(t, provider, model)]
        if not moving:
            after.append(rule)
            continue
        staying = [t for t in targets if not affected(t, provider, model)]
        freed = sum(t["weight"] for t in moving)
        if staying:
            weights = [t["weight"] for t in staying]
            new_weights = [
                w + extra for w, extra in zip(weights, spread(weights, freed), strict=True)
            ]
            new_targets = [t | {"weight": w} for t, w in zip(staying, new_weights, strict=True)]
            fallbacks = rule["fallbacks"]
        else:
            spare = [f for f in rule["fallbacks"] if not affected(f, provider, model)]
            if not spare:
                stuck.append(rule["task_type"])
                after.append(rule)
                continue
            new_targets = [spare[0] | {"weight": 100}]
            fallbacks = [f for f in rule["fallbacks"] if f != spare[0]]
        after.append(rule | {"targets": new_targets, "fallbacks": fallbacks})
    return Proposal(snapshot, after, snapshot_diff(snapshot, after), stuck)


def proposal_for_team(team, *, provider: str, model: str = "") -> Proposal:
    return proposal_without(draft_snapshot(team), provider=provider, model=model)


def proposal_apply(*, team, user, proposal: Proposal) -> int:
    """Save the proposal's changed rules into the team's draft (never publishes); how many."""
    before = {rule["task_type"]: rule for rule in proposal.before}
    changed = [rule for rule in proposal.after if before.get(rule["task_type"]) != rule]
    refs = {
        (ref["provider"], ref["model"])
        for rule in changed
        for ref in [*rule["targets"], *rule["fallbacks"]]
    }
    models = {
        (m.provider.slug, m.name): m.pk
        for m in Model.objects.select_related("provider").filter(
            name__in={name for _, name in refs}
        )
    }
    rules = {rule.task_type: rule for rule in RoutingRule.objects.filter(team=team)}
    with transaction.atomic():
        for rule in changed:
            current = rules[rule["task_type"]]
            rule_save(
                team=team,
                user=user,
                task_type=rule["task_type"],
                enabled=rule["enabled"],
                description=rule.get("description", current.description),
                targets=[
                    {"model_id": models[(t["provider"], t["model"])], "weight": t["weight"]}
                    for t in rule["targets"]
                ],
                fallbacks=[models[(f["provider"], f["model"])] for f in rule["fallbacks"]],
                rule=current,
                based_on_revision=current.revision,
            )
    return len(changed)
