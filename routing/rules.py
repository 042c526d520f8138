"""Editing the draft routing rules: validation, warnings, and saves that never overwrite."""

import re
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from routing.models import Model, ProviderKey, RoutingRule

TASK_TYPE = re.compile(r"^(\*|[a-z0-9][a-z0-9_.-]{0,99})$")
MAX_TARGETS = 20
MAX_FALLBACKS = 20


@dataclass
class RuleCheck:
    errors: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def error(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)

    @property
    def ok(self) -> bool:
        return not self.errors


class StaleEdit(Exception):
    """The rule changed since the editor loaded it; `current` is what it is now."""

    def __init__(self, current: RoutingRule):
        super().__init__("The rule was changed by someone else.")
        self.current = current


def check_rule(
    *,
    team,
    task_type: str,
    targets: list[dict],
    fallbacks: list[int],
    rule: RoutingRule | None = None,
) -> RuleCheck:
    """Everything wrong with a rule as typed (errors) and what deserves a second look (warnings)."""
    check = RuleCheck()
    if not TASK_TYPE.match(task_type or ""):
        check.error("task_type", "Use * for the default rule, or lowercase letters, digits, _ . -")
    elif (
        RoutingRule.objects.filter(team=team, task_type=task_type)
        .exclude(pk=getattr(rule, "pk", None))
        .exists()
    ):
        check.error("task_type", f"There is already a rule for {task_type}.")
    if not targets:
        check.error("targets", "Add at least one target.")
    # Bounded before the catalog query below, which takes every id at once.
    if len(targets) > MAX_TARGETS or len(fallbacks) > MAX_FALLBACKS:
        check.error(
            "targets" if len(targets) > MAX_TARGETS else "fallbacks",
            f"At most {MAX_TARGETS} targets and {MAX_FALLBACKS} fallbacks.",
        )
        return check
    weights = [target.get("weight") for target in targets]
    if any(type(weight) is not int or weight < 0 for weight in weights):
        check.error("targets", "Weights are whole numbers from 0 to 100.")
    elif targets and sum(weights) != 100:
        check.error("targets", f"Weights add up to {sum(weights)}; they must add up to 100.")
    target_ids = [target.get("model_id") for target in targets]
    if len(set(target_ids)) != len(target_ids):
        check.error("targets", "A model is a target twice; merge its weights.")
    if len(set(fallbacks)) != len(fallbacks):
        check.error("fallbacks", "A fallback is listed twice.")
    if set(fallbacks) & set(target_ids):
        check.error("fallbacks", "A fallback repeats a target: it would be tried twice.")
    models = Model.objects.select_related("provider").in_bulk([*target_ids, *fallbacks])
    # Prices live in billing; asked through the relation, routing imports nothing of billing.
    priced = set(
        Model.objects.filter(pk__in=list(models), prices__isnull=False).values_list("pk", flat=True)
    )
    for name, ids in (("targets", target_ids), ("fallbacks", fallbacks)):
        for model_id in ids:
            model = models.get(model_id)
            if model is None:
                check.error(name, f"Model {model_id} does not exist in the catalog.")
            elif not model.enabled:
                check.error(name, f"{model} is disabled in the catalog.")
            elif model_id not in priced:
                check.error(name, f"{model} has no price in the catalog: add one first.")
    keyed = set(
        ProviderKey.objects.active().filter(team=team).values_list("provider_id", flat=True)
    )
    for provider in sorted({m.provider for m in models.values()}, key=lambda p: p.name):
        if provider.pk not in keyed:
            check.warnings.append(
                f"{team.name} has no active {provider.name} key: the proxy cannot call it."
            )
    return check


def rule_save(
    *,
    team,
    user,
    task_type: str,
    targets: list[dict],
    fallbacks: list[int],
    enabled: bool = True,
    description: str = "",
    rule: RoutingRule | None = None,
    based_on_revision: int | None = None,
) -> RoutingRule:
    """Create or update a draft rule, valid by check_rule or not at all (ValidationError).

    Raises StaleEdit when someone saved the rule since `based_on_revision`.
    """
    check = check_rule(
        team=team, task_type=task_type, targets=targets, fallbacks=fallbacks, rule=rule
    )
    if not check.ok:
        raise ValidationError(check.errors)
    with transaction.atomic():
        if rule is not None:
            current = RoutingRule.objects.select_for_update().get(pk=rule.pk)
            if based_on_revision is not None and current.revision != based_on_revision:
                raise StaleEdit(current)
            rule = current
            rule.revision += 1
        else:
            rule = RoutingRule(team=team)
        rule.task_type, rule.enabled, rule.description = task_type, enabled, description
        rule.targets = [{"model_id": t["model_id"], "weight": t["weight"]} for t in targets]
        rule.fallbacks = list(fallbacks)
        rule.updated_at, rule.updated_by = timezone.now(), user
        rule.save()
    return rule
