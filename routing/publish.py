"""Publishing the draft as an immutable numbered version, rolling back, and diffs."""

import hashlib
import json

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max

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
    problems = publish_problems(team)
    if problems:
        raise ValidationError(problems)
    with transaction.atomic():
        version = _next_version(team, draft_snapshot(team), user, comment.strip())
    audit_record(
        team=team,
        action=RoutingAuditAction.ROUTING_PUBLISHED,
        target=f"version {version.number}",
        actor=user,
        detail={"comment": version.comment},
    )
    return version


def routing_rollback(*, version: RoutingVersion, user, comment: str = "") -> RoutingVersion:
    """Publish an old snapshot again, as a new version; the draft is left as it is."""
    team = version.team
    with transaction.atomic():
        new = _next_version(
            team,
            version.snapshot,
            user,
            comment.strip() or f"Rollback to version {version.number}",
            rollback_of=version,
        )
    audit_record(
        team=team,
        action=RoutingAuditAction.ROUTING_ROLLED_BACK,
        target=f"version {new.number} = version {version.number}",
        actor=user,
        detail={"comment": new.comment},
    )
    return new


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


def unpublished_changes(team) -> list[str]:
    latest = latest_version(team)
    return snapshot_diff(latest.snapshot if latest else [], draft_snapshot(team))
