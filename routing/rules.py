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
WEIGHT_ERROR = "Weights are whole numbers from 0 to 100."


@dataclass
class RuleCheck:
    errors: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    # (list, row index, part) -> what is wrong with that row, e.g. ("targets", 1, "weight")
    row_errors: dict[tuple[str, int, str], list[str]] = field(default_factory=dict)

    def error(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)

    def row_error(self, name: str, row: int, part: str, message: str) -> None:
        """A message about one target or fallback row (part: model or weight), in errors once."""
        self.row_errors.setdefault((name, row, part), []).append(message)
        if message not in self.errors.get(name, []):
            self.error(name, message)

    def rows_renumber(self, name: str, positions: list[int]) -> None:
        """Row i of what was checked is row positions[i] of what was typed."""
        self.row_errors = {
            (n, positions[i] if n == name else i, part): messages
            for (n, i, part), messages in self.row_errors.items()
        }

    def for_row(self, name: str, row: int, part: str) -> list[str]:
        return self.row_errors.get((name, row, part), [])

    @property
    def rule_errors(self) -> dict[str, list[str]]:
        """The errors about the rule as a whole, by field, leaving out those about one row."""
        on_rows = {message for messages in self.row_errors.values() for message in messages}
        return {
            name: [message for message in messages if message not in on_rows]
            for name, messages in self.errors.items()
        }

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
    bad_weights = [row for row, weight in enumerate(weights) if not weight_is_valid(weight)]
    for row in bad_weights:
        check.row_error("targets", row, "weight", WEIGHT_ERROR)
    if targets and not bad_weights and sum(weights) != 100:
        check.error("targets", f"Weights add up to {sum(weights)}; they must add up to 100.")
    target_ids = [target.get("model_id") for target in targets]
    for row in _repeats(target_ids):
        check.row_error("targets", row, "model", "A model is a target twice; merge its weights.")
    for row in _repeats(fallbacks):
        check.row_error("fallbacks", row, "model", "A fallback is listed twice.")
    for row, model_id in enumerate(fallbacks):
        if model_id in target_ids:
            message = "A fallback repeats a target: it would be tried twice."
            check.row_error("fallbacks", row, "model", message)
    models = Model.objects.select_related("provider").in_bulk([*target_ids, *fallbacks])
    # Prices live in billing; asked through the relation, routing imports nothing of billing.
    priced = set(
        Model.objects.filter(pk__in=list(models), prices__isnull=False).values_list("pk", flat=True)
    )
    for name, ids in (("targets", target_ids), ("fallbacks", fallbacks)):
        for row, model_id in enumerate(ids):
            model = models.get(model_id)
            if model is None:
                message = f"Model {model_id} does not exist in the catalog."
            elif not model.enabled:
                message = f"{model} is disabled in the catalog."
            elif model_id not in priced:
                message = f"{model} has no price in the catalog: add one first."
            else:
                continue
            check.row_error(name, row, "model", message)
    keyed = set(
        ProviderKey.objects.active().filter(team=team).values_list("provider_id", flat=True)
    )
    for provider in sorted({m.provider for m in models.values()}, key=lambda p: p.name):
        if provider.pk not in keyed:
            check.warnings.append(
                f"{team.name} has no active {provider.name} key: the proxy cannot call it."
            )
    return check


def weight_is_valid(weight) -> bool:
    return type(weight) is int and 0 <= weight <= 100


def _repeats(ids: list) -> list[int]:
    """The rows that repeat an id of an earlier row."""
    return [row for row, model_id in enumerate(ids) if model_id in ids[:row]]


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
