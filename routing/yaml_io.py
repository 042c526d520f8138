"""Routing rules in the seed research's YAML shape: uploaded into the draft, downloaded from it.

providers:
  default: chutes
  default_model: unsloth/Llama-3.3-70B-Instruct   # optional: makes the * rule
routing:
  - task_type: summarization
    provider: chutes
    model: unsloth/Llama-3.3-70B-Instruct
    description: Short inputs, cheap model           # optional, as is enabled: false
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
from routing.rules import MAX_FALLBACKS, MAX_TARGETS, check_rule, rule_save

MAX_YAML_BYTES = 256 * 1024
# The exported shape nests five deep (document, routing, rule, targets, target).
MAX_DEPTH = 10
MAX_RULES = 200
# Longer than any field of the shape; also keeps int() and the messages small.
MAX_SCALAR_CHARS = 1000
# Values and lists counted while parsing: MAX_RULES rules of a dozen each leave room.
MAX_NODES = 20_000
QUOTE_CHARS = 40
MAX_MESSAGES = 50

# libyaml when installed (fast), else the pure-Python parser: the same events either way.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_COLLECTION_START = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_COLLECTION_END = (yaml.MappingEndEvent, yaml.SequenceEndEvent)
_TOP_KEYS = ("providers", "routing")
_PROVIDERS_KEYS = ("default", "default_model")
_RULE_KEYS = ("task_type", "provider", "model", "targets", "fallbacks", "enabled", "description")
_TARGET_KEYS = ("provider", "model", "weight")
_FALLBACK_KEYS = ("provider", "model")


@dataclass
class ImportResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class _RuleIn:
    where: str
    task_type: str
    targets: list[tuple[str, str, int]]
    fallbacks: list[tuple[str, str]]
    enabled: bool = True
    description: str = ""


def _short(value) -> str:
    """A value as a message quotes it: at most QUOTE_CHARS characters of it."""
    text = str(value)
    return text if len(text) <= QUOTE_CHARS else text[:QUOTE_CHARS] + "…"


def _refused(message: str, event) -> ValidationError:
    mark = event.start_mark
    return ValidationError(f"Line {mark.line + 1}, column {mark.column + 1}: {message}")


def _check_events(text: str) -> None:
    """Refuse, before anything is built, what the exported shape never holds.

    Aliases are what make a few hundred bytes expand into gigabytes; anchors only serve them.
    Nesting is capped before the composer, which recurses once a level.
    """
    depth = 0
    for count, event in enumerate(yaml.parse(text, Loader=_LOADER)):
        if count > MAX_NODES:
            raise _refused(f"The file holds more than {MAX_NODES:,} values.", event)
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise _refused(
                "YAML anchors and aliases (&name, *name) are not accepted: write each value out.",
                event,
            )
        if getattr(event, "tag", None):
            raise _refused(f"YAML tags such as {_short(event.tag)} are not accepted.", event)
        if isinstance(event, _COLLECTION_START):
            depth += 1
            if depth > MAX_DEPTH:
                raise _refused(f"Lists and mappings are nested more than {MAX_DEPTH} deep.", event)
        elif isinstance(event, _COLLECTION_END):
            depth -= 1
        elif isinstance(event, yaml.ScalarEvent) and len(event.value) > MAX_SCALAR_CHARS:
            raise _refused(
                f"A value is longer than {MAX_SCALAR_CHARS:,} characters ({_short(event.value)}).",
                event,
            )


def _load(text: str):
    if len(text.encode()) > MAX_YAML_BYTES:
        raise ValidationError(f"The file is larger than {MAX_YAML_BYTES // 1024} KB.")
    try:
        _check_events(text)
        return yaml.load(text, Loader=_LOADER)  # noqa: S506 (a safe loader, aliases refused)
    # Constructors raise ValueError for values such as the date 2001-13-45.
    except (yaml.YAMLError, ValueError, OverflowError) as error:
        raise ValidationError(f"This is not valid YAML: {error}") from None


class _Shape:
    """Checks the document against the exported shape, collecting every error."""

    def __init__(self):
        self.errors: list[str] = []

    def mapping(self, value, where: str, keys: tuple[str, ...]) -> dict | None:
        if not isinstance(value, dict):
            self.errors.append(f"{where}: must be a mapping of {', '.join(keys)}.")
            return None
        unknown = [key for key in value if key not in keys]
        for key in unknown[:3]:
            self.errors.append(f"{where}: unknown key {_short(key)} (known: {', '.join(keys)}).")
        return value

    def items(self, value, where: str, most: int, noun: str) -> list:
        if value is None:
            return []
        if not isinstance(value, list):
            self.errors.append(f"{where}: must be a list of {noun}.")
            return []
        if len(value) > most:
            self.errors.append(f"{where}: at most {most} {noun}, not {len(value):,}.")
            return []
        return value

    def text(self, value, where: str, most: int, *, numbers=True) -> str | None:
        # A task type of digits only reads as a number when it is not quoted.
        if numbers and type(value) is int:
            value = str(value)
        if value is None:
            self.errors.append(f"{where}: missing.")
            return None
        if not isinstance(value, str) or not value.strip():
            self.errors.append(f"{where}: must be text.")
            return None
        if len(value) > most:
            self.errors.append(f"{where}: at most {most} characters ({_short(value)}).")
            return None
        return value

    def weight(self, value, where: str) -> int | None:
        if type(value) is not int or not 0 <= value <= 100:
            self.errors.append(f"{where}: must be a whole number from 0 to 100.")
            return None
        return value

    def model_ref(self, ref: dict, where: str) -> tuple[str, str] | None:
        provider = self.text(ref.get("provider"), f"{where}.provider", 50)
        model = self.text(ref.get("model"), f"{where}.model", 200)
        return (provider.lower(), model) if provider and model else None

    def rule(self, value, where: str) -> _RuleIn | None:
        entry = self.mapping(value, where, _RULE_KEYS)
        if entry is None:
            return None
        before = len(self.errors)
        task_type = self.text(entry.get("task_type"), f"{where}.task_type", 100)
        if "targets" in entry and ("provider" in entry or "model" in entry):
            self.errors.append(f"{where}: give provider and model, or targets, not both.")
        targets = []
        if "targets" in entry:
            raw = self.items(entry["targets"], f"{where}.targets", MAX_TARGETS, "targets")
            for number, value in enumerate(raw):
                at = f"{where}.targets[{number}]"
                target = self.mapping(value, at, _TARGET_KEYS)
                if target is not None:
                    ref = self.model_ref(target, at)
                    weight = self.weight(target.get("weight", 100), f"{at}.weight")
                    if ref and weight is not None:
                        targets.append((*ref, weight))
        else:
            ref = self.model_ref(entry, where)
            targets = [(*ref, 100)] if ref else []
        fallbacks = []
        raw = self.items(entry.get("fallbacks"), f"{where}.fallbacks", MAX_FALLBACKS, "fallbacks")
        for number, value in enumerate(raw):
            at = f"{where}.fallbacks[{number}]"
            fallback = self.mapping(value, at, _FALLBACK_KEYS)
            ref = None if fallback is None else self.model_ref(fallback, at)
            if ref:
                fallbacks.append(ref)
        enabled = entry.get("enabled", True)
        if type(enabled) is not bool:
            self.errors.append(f"{where}.enabled: must be true or false.")
        description = entry.get("description")
        if description in (None, ""):
            description = ""
        else:
            description = self.text(description, f"{where}.description", 300, numbers=False)
        if len(self.errors) > before:
            return None
        return _RuleIn(where, task_type, targets, fallbacks, enabled, description)

    def document(self, document) -> list[_RuleIn]:
        top = self.mapping(document, "The file", _TOP_KEYS)
        if top is None or not isinstance(top.get("routing"), list):
            raise ValidationError("Expected a mapping with a 'routing' list (see the example).")
        entries = self.items(top["routing"], "routing", MAX_RULES, "rules")
        rules = [self.rule(entry, f"routing[{i}]") for i, entry in enumerate(entries)]
        providers = self.mapping(top.get("providers") or {}, "providers", _PROVIDERS_KEYS)
        if providers and providers.get("default_model") is not None:
            provider = self.text(providers.get("default"), "providers.default", 50)
            model = self.text(providers["default_model"], "providers.default_model", 200)
            if provider and model:
                target = (provider.lower(), model, 100)
                rules.append(_RuleIn("providers.default_model", "*", [target], []))
        return [rule for rule in rules if rule is not None]


def _model_ids(rules: list[_RuleIn]) -> tuple[dict[tuple[str, str], int], list[str]]:
    """Every model named in the file, looked up in one query: ids by (provider, name)."""
    slugs = {p for rule in rules for p, _, _ in rule.targets} | {
        p for rule in rules for p, _ in rule.fallbacks
    }
    rows = Model.objects.filter(provider__slug__in=slugs).values_list(
        "pk", "provider__slug", "name", "display_name"
    )
    by_name: dict[tuple[str, str], int] = {}
    by_label: dict[tuple[str, str], int] = {}
    known: dict[str, list[str]] = {}
    for pk, slug, name, display_name in rows:
        by_name.setdefault((slug, name.casefold()), pk)
        if display_name:
            by_label.setdefault((slug, display_name.casefold()), pk)
        known.setdefault(slug, []).append(name)
    # A dict keeps the messages in order and each once.
    ids: dict[tuple[str, str], int] = {}
    errors: dict[str, None] = {}
    for rule in rules:
        for provider, name in [(p, m) for p, m, _ in rule.targets] + rule.fallbacks:
            key = (provider, name.casefold())
            pk = by_name.get(key) or by_label.get(key)
            if pk is not None:
                ids[(provider, name)] = pk
                continue
            names = ", ".join(known.get(provider, [])[:8]) or "none"
            message = (
                f"{rule.where}: {_short(provider)} has no model {_short(name)} "
                f"in the catalog (known: {names})."
            )
            errors[message] = None
    return ids, list(errors)


def _raise_if(errors: list[str]) -> None:
    if len(errors) > MAX_MESSAGES:
        errors = [*errors[:MAX_MESSAGES], f"… and {len(errors) - MAX_MESSAGES:,} more."]
    if errors:
        raise ValidationError(errors)


def import_routing_yaml(*, team, user, text: str) -> ImportResult:
    """Create or update draft rules from the YAML; all or nothing, with every error listed.

    The document is checked against the exported shape (sizes, nesting, types) before the
    catalog is asked anything; anchors, aliases and tags are refused.
    """
    shape = _Shape()
    rules = shape.document(_load(text))
    seen = [rule.task_type for rule in rules]
    shape.errors += [
        f"{_short(task)}: listed twice." for task in sorted({t for t in seen if seen.count(t) > 1})
    ]
    _raise_if(shape.errors)
    ids, errors = _model_ids(rules)
    _raise_if(errors)
    result = ImportResult()
    existing = {rule.task_type: rule for rule in RoutingRule.objects.filter(team=team)}
    checked = []
    for rule in rules:
        targets = [{"model_id": ids[(p, m)], "weight": w} for p, m, w in rule.targets]
        fallbacks = [ids[ref] for ref in rule.fallbacks]
        check = check_rule(
            team=team,
            task_type=rule.task_type,
            targets=targets,
            fallbacks=fallbacks,
            rule=existing.get(rule.task_type),
        )
        errors += [
            f"{_short(rule.task_type)}: {m}" for messages in check.errors.values() for m in messages
        ]
        result.warnings += [w for w in check.warnings if w not in result.warnings]
        checked.append((rule, targets, fallbacks))
    _raise_if(errors)
    with transaction.atomic():
        for rule, targets, fallbacks in checked:
            rule_save(
                team=team,
                user=user,
                task_type=rule.task_type,
                targets=targets,
                fallbacks=fallbacks,
                enabled=rule.enabled,
                description=rule.description,
                rule=existing.get(rule.task_type),
            )
            (result.updated if rule.task_type in existing else result.created).append(
                rule.task_type
            )
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
        if not rule["enabled"]:
            entry["enabled"] = False
        if rule["description"]:
            entry["description"] = rule["description"]
        if rule["task_type"] == "*" and len(targets) == 1:
            default = targets[0]
        entries.append(entry)
    document = {}
    if default:
        document["providers"] = {"default": default["provider"]}
    document["routing"] = entries
    return yaml.safe_dump(document, sort_keys=False)
