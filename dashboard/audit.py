"""The audit log: one function records every sensitive change, whatever made it."""

from dashboard.audit_actions import is_audit_action
from dashboard.models import AuditEvent, ProxyToken, Team


def audit_record(
    *,
    team: Team,
    action: str,
    target: str,
    actor=None,
    token: ProxyToken | None = None,
    detail: dict | None = None,
) -> AuditEvent:
    """Record an action. `detail` must never hold a secret: masks and fingerprints only."""
    if not is_audit_action(action):
        raise ValueError(f"{action!r} is not an audit action any app registered.")
    return AuditEvent.objects.create(
        team=team,
        action=action,
        actor=actor if actor is not None and actor.is_authenticated else None,
        token=token,
        target=target[:300],
        detail=detail or {},
    )


def detail_pairs(event: AuditEvent) -> list[tuple[str, str]]:
    """An event's detail for a table cell: lists joined, nested mappings as key=value."""
    return [(key, _compact(value)) for key, value in event.detail.items()]


def _compact(value) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{key}={item}" for key, item in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value)
    return str(value)
