"""Routing rules in the seed research's YAML shape: uploaded into the draft, downloaded from it.

providers:
  default: chutes
  default_model: unsloth/Llama-3.3-70B-Instruct   # optional: makes the * rule
routing:
  - task_type: summarization
    provider: chutes
    model: unsloth/Llama-3.3-70B-Instruct
  - task_type: code_generation                     # several targets and fallbacks
    targets:
      - {provider: chutes, model: deepseek-ai/DeepSeek-V3, weight: 80}
      - {provider: anthropic, model: claude-sonnet-4-5, weight: 20}
    fallbacks:
      - {provider: anthropic, model: claude-sonnet-4-5}
"""

from dataclasses import dataclass, field

import yaml
from django.core.exceptions import ValidationError
from django.db import transaction

from routing.models import Model, RoutingRule
from routing.publish import draft_snapshot
from routing.rules import check_rule, rule_save

MAX_YAML_BYTES = 256 * 1024


@dataclass
class ImportResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _model(provider: str, name: str, where: str, errors: list[str]) -> Model | None:
    models = Model.objects.filter(provider__slug=str(provider).lower())
    model = (
        models.filter(name__iexact=str(name)).first()
        or models.filter(display_name__iexact=str(name)).first()
    )
    if model is None:
        known = ", ".join(models.values_list("name", flat=True)[:8]) or "none"
        errors.append(f"{where}: {provider} has no model {name} in the catalog (known: {known}).")
    return model


def _rule_from_entry(entry, where: str, errors: list[str]):
    if not isinstance(entry, dict) or not entry.get("task_type"):
        errors.append(f"{where}: each entry needs task_type and provider/model (or targets).")
        return None
    if "targets" in entry:
        raw_targets = entry["targets"] if isinstance(entry["targets"], list) else []
    else:
        raw_targets = [
            {"provider": entry.get("provider"), "model": entry.get("model"), "weight": 100}
        ]
    targets, fallbacks = [], []
    for number, target in enumerate(raw_targets):
        if not isinstance(target, dict) or not target.get("provider") or not target.get("model"):
            errors.append(f"{where} target {number + 1}: needs provider and model.")
            continue
        model = _model(target["provider"], target["model"], where, errors)
        if model is not None:
            targets.append({"model_id": model.pk, "weight": target.get("weight", 100)})
    for number, fallback in enumerate(entry.get("fallbacks") or []):
        if not isinstance(fallback, dict):
            errors.append(f"{where} fallback {number + 1}: needs provider and model.")
            continue
        model = _model(fallback.get("provider"), fallback.get("model"), where, errors)
        if model is not None:
            fallbacks.append(model.pk)
    return str(entry["task_type"]), targets, fallbacks


def import_routing_yaml(*, team, user, text: str) -> ImportResult:
    """Create or update draft rules from the YAML; all or nothing, with every error listed."""
    if len(text.encode()) > MAX_YAML_BYTES:
        raise ValidationError(f"The file is larger than {MAX_YAML_BYTES // 1024} KB.")
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ValidationError(f"This is not valid YAML: {error}") from None
    if not isinstance(document, dict) or not isinstance(document.get("routing"), list):
        raise ValidationError("Expected a mapping with a 'routing' list (see the example).")
    errors: list[str] = []
    rules = [
        _rule_from_entry(e, f"routing[{i}]", errors) for i, e in enumerate(document["routing"])
    ]
    providers = document.get("providers") or {}
    if isinstance(providers, dict) and providers.get("default_model"):
        default = {
            "task_type": "*",
            "provider": providers.get("default"),
            "model": providers["default_model"],
        }
        rules.append(_rule_from_entry(default, "providers.default_model", errors))
    rules = [rule for rule in rules if rule is not None]
    seen = [task for task, _, _ in rules]
    errors += [f"{task}: listed twice." for task in sorted({t for t in seen if seen.count(t) > 1})]
    result = ImportResult()
    existing = {rule.task_type: rule for rule in RoutingRule.objects.filter(team=team)}
    for task, targets, fallbacks in rules:
        check = check_rule(
            team=team, task_type=task, targets=targets, fallbacks=fallbacks, rule=existing.get(task)
        )
        errors += [f"{task}: {m}" for messages in check.errors.values() for m in messages]
        result.warnings += [w for w in check.warnings if w not in result.warnings]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        for task, targets, fallbacks in rules:
            rule_save(
                team=team,
                user=user,
                task_type=task,
                targets=targets,
                fallbacks=fallbacks,
                rule=existing.get(task),
            )
            (result.updated if task in existing else result.created).append(task)
    if "*" not in seen and "*" not in existing:
        result.warnings.append(
            "No default rule (*): add one (or providers.default_model) before publishing."
        )
    return result


def export_routing_yaml(team) -> str:
    """The draft in the same shape: one provider/model where a rule has a single target."""
    entries, default = [], None
    for rule in draft_snapshot(team):
        targets = rule["targets"]
        if len(targets) == 1 and not rule["fallbacks"]:
            entry = {
                "task_type": rule["task_type"],
                "provider": targets[0]["provider"],
                "model": targets[0]["model"],
            }
        else:
            entry = {
                "task_type": rule["task_type"],
                "targets": targets,
                "fallbacks": rule["fallbacks"],
            }
        if rule["task_type"] == "*" and len(targets) == 1:
            default = targets[0]
        entries.append(entry)
    document = {}
    if default:
        document["providers"] = {"default": default["provider"]}
    document["routing"] = entries
    return yaml.safe_dump(document, sort_keys=False)
