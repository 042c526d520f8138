"""Prepared routing changes: take a misbehaving target out of the draft, for a person to publish.

An alert about a provider (or one of its models) proposes a snapshot (the live version, or the
draft when nothing is published) with that target's weight moved: to a chosen destination per
rule, else to the rule's other targets in proportion to their weights, or, when it was the
rule's only target, to the rule's first fallback that is not affected itself. A scoped proposal
touches only the named rules and, in each, only the named models.
"""

from dataclasses import dataclass

from django.db import transaction

from routing.models import Model, RoutingRule
from routing.publish import diff_rows, draft_snapshot, latest_version, snapshot_diff
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

    @property
    def diff_rows(self) -> list[dict]:
        """The change as the per-rule, per-target table rows the Routing page shows."""
        return diff_rows(self.before, self.after)


class DraftDiffers(Exception):
    """The draft's version of a rule the proposal changes is not the one it was built from."""

    def __init__(self, task_types: list[str]):
        super().__init__(", ".join(task_types))
        self.task_types = task_types


def affected(ref: dict, provider: str, model: str) -> bool:
    return ref["provider"] == provider and (not model or ref["model"] == model)


def rule_routing(snapshot: list[dict], task_type: str) -> dict | None:
    """The enabled rule a proxy uses for the task type: its own, else the default (*)."""
    enabled = {rule["task_type"]: rule for rule in snapshot if rule["enabled"]}
    return enabled.get(task_type) or enabled.get("*")


def failing_by_rule(
    snapshot: list[dict], *, provider: str, calls: dict[str, list[str]]
) -> dict[str, set[str]]:
    """Which rule routes which failing model, from calls (model -> its task types): each rule's
    task type -> the provider's failing models among its targets."""
    by_rule: dict[str, set[str]] = {}
    for model, task_types in calls.items():
        for task_type in task_types:
            rule = rule_routing(snapshot, task_type)
            if rule and any(affected(t, provider, model) for t in rule["targets"]):
                by_rule.setdefault(rule["task_type"], set()).add(model)
    return by_rule


def remaining_refs(rule: dict, *, provider: str, models: set[str]) -> list[dict]:
    """The rule's targets, then fallbacks, that are not among the failing models (no weights)."""
    refs = []
    for ref in [*rule["targets"], *rule["fallbacks"]]:
        plain = {"provider": ref["provider"], "model": ref["model"]}
        failing = ref["provider"] == provider and ref["model"] in models
        if not failing and plain not in refs:
            refs.append(plain)
    return refs


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


def _failing(ref: dict, provider: str, model: str, models: set[str] | None) -> bool:
    if models is None:
        return affected(ref, provider, model)
    return ref["provider"] == provider and ref["model"] in models


def _moved_to(rule: dict, staying: list[dict], destination: dict, freed: int) -> dict:
    """The rule with the freed weight on the destination (made a target if it was not one)."""
    plain = {"provider": destination["provider"], "model": destination["model"]}
    is_plain = lambda ref: {"provider": ref["provider"], "model": ref["model"]} == plain  # noqa: E731
    if any(is_plain(t) for t in staying):
        targets = [t | {"weight": t["weight"] + freed} if is_plain(t) else t for t in staying]
    else:
        targets = [*staying, plain | {"weight": freed}]
    fallbacks = [f for f in rule["fallbacks"] if not is_plain(f)]
    return rule | {"targets": targets, "fallbacks": fallbacks}


def proposal_without(
    snapshot: list[dict],
    *,
    provider: str,
    model: str = "",
    only: dict[str, set[str]] | None = None,
    destinations: dict[str, dict] | None = None,
) -> Proposal:
    """The snapshot with the provider (or its one model) taken out of rules' targets.

    `only` (rule task type -> model names) limits the change to those rules and models;
    `destinations` (rule task type -> provider/model) names where a rule's freed weight goes.
    """
    after, stuck = [], []
    for rule in snapshot:
        task_type, targets = rule["task_type"], rule["targets"]
        if only is not None and task_type not in only:
            after.append(rule)
            continue
        models = None if only is None else only[task_type]
        moving = [t for t in targets if _failing(t, provider, model, models)]
        if not moving:
            after.append(rule)
            continue
        staying = [t for t in targets if not _failing(t, provider, model, models)]
        freed = sum(t["weight"] for t in moving)
        destination = (destinations or {}).get(task_type)
        if destination is not None:
            after.append(_moved_to(rule, staying, destination, freed))
            continue
        if staying:
            weights = [t["weight"] for t in staying]
            new_weights = [
                w + extra for w, extra in zip(weights, spread(weights, freed), strict=True)
            ]
            new_targets = [t | {"weight": w} for t, w in zip(staying, new_weights, strict=True)]
            fallbacks = rule["fallbacks"]
        else:
            spare = [f for f in rule["fallbacks"] if not _failing(f, provider, model, models)]
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


def proposal_base(team) -> tuple[list[dict], bool]:
    """What a proposal starts from: the live (latest published) snapshot, or the draft when
    nothing is published yet; and whether it is the live one."""
    latest = latest_version(team)
    if latest is None:
        return draft_snapshot(team), False
    return latest.snapshot, True


def draft_departures(team, base: list[dict]) -> list[str]:
    """How the team's draft differs from the base, one line per rule (empty: it does not)."""
    return snapshot_diff(base, draft_snapshot(team))


def draft_conflicts(team, proposal: Proposal) -> list[str]:
    """The rules the proposal changes whose draft version is not the one it was built from."""
    draft = {rule["task_type"]: rule for rule in draft_snapshot(team)}
    before = {rule["task_type"]: rule for rule in proposal.before}
    return [
        rule["task_type"]
        for rule in proposal.after
        if before.get(rule["task_type"]) != rule
        and draft.get(rule["task_type"]) != before[rule["task_type"]]
    ]


def proposal_apply(*, team, user, proposal: Proposal) -> int:
    """Save the proposal's changed rules into the team's draft (never publishes); how many.

    Raises DraftDiffers, and saves nothing, when the draft's version of a changed rule is not
    the one the proposal was built from: saving would throw away those unpublished edits.
    """
    conflicts = draft_conflicts(team, proposal)
    if conflicts:
        raise DraftDiffers(conflicts)
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
