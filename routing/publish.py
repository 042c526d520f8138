"""Publishing the draft as an immutable numbered version, rolling back, and diffs."""

import hashlib
import json

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from dashboard.audit import audit_record
from routing.audit_actions import RoutingAuditAction
from routing.models import Model, Provider, RoutingRule, RoutingVersion
from routing.rules import check_rule


def draft_snapshot(team) -> list[dict]:
    """The team's draft rules in the form versions and the proxy use: names, not ids."""
    rules = list(RoutingRule.objects.filter(team=team).order_by("task_type"))
    ids = {t["model_id"] for r in rules for t in r.targets} | {
        i for r in rules for i in r.fallbacks
    }
    models = Model.objects.select_related("provider").in_bulk(ids)

    def ref(model_id):
        model = models[model_id]
        return {"provider": model.provider.slug, "model": model.name}

    return [
        {
            "task_type": rule.task_type,
            "enabled": rule.enabled,
            "description": rule.description,
            "targets": [ref(t["model_id"]) | {"weight": t["weight"]} for t in rule.targets],
            "fallbacks": [ref(model_id) for model_id in rule.fallbacks],
        }
        for rule in rules
    ]


def snapshot_digest(snapshot: list[dict]) -> str:
    """A short fingerprint of a snapshot: a publish confirmation names the draft it showed."""
    return hashlib.sha256(json.dumps(snapshot, sort_keys=True).encode()).hexdigest()[:16]


def latest_version(team) -> RoutingVersion | None:
    return RoutingVersion.objects.filter(team=team).order_by("-number").first()


def publish_problems(team) -> list[str]:
    """Why the draft cannot be published, empty when it can."""
    rules = list(RoutingRule.objects.filter(team=team))
    problems = []
    if not any(rule.is_default and rule.enabled for rule in rules):
        problems.append("Add an enabled default rule (*) first: it routes every other task type.")
    for rule in rules:
        check = check_rule(
            team=team,
            task_type=rule.task_type,
            targets=rule.targets,
            fallbacks=rule.fallbacks,
            rule=rule,
        )
        for messages in check.errors.values():
            problems.extend(f"{rule.task_type}: {message}" for message in messages)
    return problems


def _next_version(team, snapshot, user, comment, rollback_of=None) -> RoutingVersion:
    # Locking the team row serialises publishes, so numbers never collide.
    type(team).objects.select_for_update().get(pk=team.pk)
    number = (RoutingVersion.objects.filter(team=team).aggregate(n=Max("number"))["n"] or 0) + 1
    return RoutingVersion.objects.create(
        team=team,
        number=number,
        snapshot=snapshot,
        comment=comment,
        published_by=user,
        rollback_of=rollback_of,
    )


def routing_publish(*, team, user, comment: str) -> RoutingVersion:
    """Publish the draft as the next version: refused (ValidationError) when it cannot be
    published, when it is the same as the live version, or without a comment."""
    problems = publish_problems(team)
    if problems:
        raise ValidationError(problems)
    snapshot = draft_snapshot(team)
    latest = latest_version(team)
    if latest is not None and latest.snapshot == snapshot:
        raise ValidationError(
            f"Nothing to publish: the draft is the same as the live version {latest.number}."
        )
    if not comment.strip():
        raise ValidationError("Say what changed and why: the comment is required.")
    with transaction.atomic():
        version = _next_version(team, snapshot, user, comment.strip())
    audit_record(
        team=team,
        action=RoutingAuditAction.ROUTING_PUBLISHED,
        target=f"version {version.number}",
        actor=user,
        detail={"comment": version.comment},
    )
    return version


def routing_rollback(
    *, version: RoutingVersion, user, comment: str = "", reset_draft: bool = False
) -> RoutingVersion:
    """Publish an old snapshot again, as a new version; with reset_draft the draft becomes
    those rules too, else it is left as it is."""
    team = version.team
    with transaction.atomic():
        new = _next_version(
            team,
            version.snapshot,
            user,
            comment.strip() or f"Rollback to version {version.number}",
            rollback_of=version,
        )
        if reset_draft:
            _draft_replace(team, new.snapshot, user)
    audit_record(
        team=team,
        action=RoutingAuditAction.ROUTING_ROLLED_BACK,
        target=f"version {new.number} = version {version.number}",
        actor=user,
        detail={"comment": new.comment},
    )
    return new


def _draft_replace(team, snapshot: list[dict], user) -> None:
    """Make the draft rules exactly the snapshot's; ValidationError when a model it names has
    left the catalog."""
    refs = {
        (ref["provider"], ref["model"])
        for rule in snapshot
        for ref in rule["targets"] + rule["fallbacks"]
    }
    ids = {
        (slug, name): pk
        for pk, slug, name in Model.objects.filter(
            provider__slug__in={slug for slug, _ in refs}
        ).values_list("pk", "provider__slug", "name")
    }
    missing = sorted(f"{slug}/{name}" for slug, name in refs - ids.keys())
    if missing:
        raise ValidationError(f"Not in the catalog any more: {', '.join(missing)}.")
    existing = {rule.task_type: rule for rule in RoutingRule.objects.filter(team=team)}
    RoutingRule.objects.filter(team=team).exclude(
        task_type__in=[rule["task_type"] for rule in snapshot]
    ).delete()
    now = timezone.now()
    for entry in snapshot:
        rule = existing.get(entry["task_type"]) or RoutingRule(team=team, revision=0)
        rule.task_type = entry["task_type"]
        rule.enabled, rule.description = entry["enabled"], entry["description"]
        rule.targets = [
            {"model_id": ids[(t["provider"], t["model"])], "weight": t["weight"]}
            for t in entry["targets"]
        ]
        rule.fallbacks = [ids[(f["provider"], f["model"])] for f in entry["fallbacks"]]
        rule.revision += 1
        rule.updated_at, rule.updated_by = now, user
        rule.save()


def routing_draft_reset(*, team, user) -> RoutingVersion:
    """Throw the draft's unpublished changes away: the draft becomes the live version's rules."""
    latest = latest_version(team)
    if latest is None:
        raise ValidationError("Nothing is published yet, so there is no live version to reset to.")
    with transaction.atomic():
        _draft_replace(team, latest.snapshot, user)
    audit_record(
        team=team,
        action=RoutingAuditAction.ROUTING_DRAFT_RESET,
        target=f"draft = version {latest.number}",
        actor=user,
    )
    return latest


def _with_api_base(ref: dict, bases: dict[str, str]) -> dict:
    return ref | {"api_base": bases.get(ref["provider"], "")}


def version_document(version: RoutingVersion) -> dict:
    """The version as the proxy reads it: each target and fallback with its provider's base
    URL from the catalog as it is now (site staff may change it after the publish)."""
    bases = dict(Provider.objects.values_list("slug", "base_url"))
    rules = [
        rule
        | {
            "targets": [_with_api_base(ref, bases) for ref in rule["targets"]],
            "fallbacks": [_with_api_base(ref, bases) for ref in rule["fallbacks"]],
        }
        for rule in version.snapshot
    ]
    return {
        "version": version.number,
        "published_at": version.published_at.isoformat(),
        "comment": version.comment,
        "rules": rules,
    }


def etag_of(document: dict) -> str:
    """Over the whole served document, so a changed base URL is a new ETag as well."""
    digest = hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()
    return f'"v{document["version"]}-{digest[:16]}"'


def _describe_target(ref: dict) -> str:
    return f"{ref['provider']}/{ref['model']}"


def _rule_summary(rule: dict) -> str:
    targets = ", ".join(f"{_describe_target(t)} {t['weight']}%" for t in rule["targets"])
    fallbacks = ", ".join(_describe_target(f) for f in rule["fallbacks"]) or "none"
    state = "" if rule["enabled"] else " (disabled)"
    return f"{targets}; fallbacks {fallbacks}{state}"


def snapshot_diff(old: list[dict], new: list[dict]) -> list[str]:
    """What changed from one snapshot to another, one readable line per change."""
    before = {rule["task_type"]: rule for rule in old}
    after = {rule["task_type"]: rule for rule in new}
    lines = []
    for task in sorted(before.keys() | after.keys()):
        if task not in after:
            lines.append(f"- {task}: removed (was {_rule_summary(before[task])})")
        elif task not in before:
            lines.append(f"+ {task}: {_rule_summary(after[task])}")
        elif before[task] != after[task]:
            lines.append(
                f"~ {task}: {_rule_summary(before[task])}  →  {_rule_summary(after[task])}"
            )
    return lines


def _target_weights(rule: dict | None) -> dict[str, int]:
    return {_describe_target(t): t["weight"] for t in rule["targets"]} if rule else {}


def _rule_settings(rule: dict) -> dict[str, str]:
    """What a rule says besides its target weights, as the diff table shows it."""
    return {
        "fallbacks": ", ".join(_describe_target(f) for f in rule["fallbacks"]) or "none",
        "enabled": "yes" if rule["enabled"] else "no",
        "description": rule["description"] or "—",
    }


def _weight_status(before: int | None, after: int | None) -> str:
    if before is None:
        return "added"
    if after is None:
        return "removed"
    return "same" if before == after else "changed"


def diff_rows(before: list[dict], after: list[dict]) -> list[dict]:
    """What changed from one snapshot to another as table rows, one per target of each changed
    rule (the default first): task_type, rule_status (added, removed, changed), target, the
    before and after weight (None where absent), their delta, and status (added, removed,
    changed, same); a changed rule's other changed settings (fallbacks, enabled, description)
    follow as rows with the text before and after (setting: True). Unchanged rules are left
    out."""
    old = {rule["task_type"]: rule for rule in before}
    new = {rule["task_type"]: rule for rule in after}
    rows = []
    for task in sorted(old.keys() | new.keys(), key=lambda task: (task != "*", task)):
        if old.get(task) == new.get(task):
            continue
        rule_status = "added" if task not in old else "removed" if task not in new else "changed"
        weights_before, weights_after = (
            _target_weights(old.get(task)),
            _target_weights(new.get(task)),
        )
        targets = list(weights_before) + [t for t in weights_after if t not in weights_before]
        for target in targets:
            weight_before, weight_after = weights_before.get(target), weights_after.get(target)
            status = _weight_status(weight_before, weight_after)
            rows.append(
                {
                    "task_type": task,
                    "rule_status": rule_status,
                    "target": target,
                    "before": weight_before,
                    "after": weight_after,
                    "delta": None if status != "changed" else weight_after - weight_before,
                    "status": status,
                }
            )
        if rule_status != "changed":
            continue
        settings_before, settings_after = _rule_settings(old[task]), _rule_settings(new[task])
        for name, value in settings_before.items():
            if value != settings_after[name]:
                rows.append(
                    {
                        "task_type": task,
                        "rule_status": rule_status,
                        "target": name,
                        "before": value,
                        "after": settings_after[name],
                        "status": "changed",
                        "setting": True,
                    }
                )
    return rows


def unpublished_changes(team) -> list[str]:
    latest = latest_version(team)
    return snapshot_diff(latest.snapshot if latest else [], draft_snapshot(team))


def unpublished_diff_rows(team) -> list[dict]:
    """The draft against the live version, as diff_rows."""
    latest = latest_version(team)
    return diff_rows(latest.snapshot if latest else [], draft_snapshot(team))
