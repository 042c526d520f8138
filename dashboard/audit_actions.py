"""The audit log's vocabulary: each app registers its own actions (in its AppConfig.ready), so a
new audited action needs no change, and no migration, in dashboard. Kept free of model imports so
models and every app can use it."""

from django.core.exceptions import ImproperlyConfigured
from django.db import models

MAX_ACTION_LENGTH = 40  # AuditEvent.action's column

_labels: dict[str, str] = {}


class AuditAction(models.TextChoices):
    """Dashboard's own actions: proxy tokens, members and invitations."""

    TOKEN_CREATED = "token.created", "Proxy token created"
    TOKEN_REVOKED = "token.revoked", "Proxy token revoked"
    MEMBER_ADDED = "member.added", "Member added"
    MEMBER_ROLE_CHANGED = "member.role_changed", "Member role changed"
    MEMBER_REMOVED = "member.removed", "Member removed"
    INVITATION_SENT = "invitation.sent", "Invitation sent"
    INVITATION_ACCEPTED = "invitation.accepted", "Invitation accepted"
    INVITATION_REVOKED = "invitation.revoked", "Invitation revoked"


def register_audit_actions(choices: type[models.TextChoices]) -> None:
    for value, label in choices.choices:
        if len(value) > MAX_ACTION_LENGTH:
            raise ImproperlyConfigured(f"Audit action {value!r} is over {MAX_ACTION_LENGTH} long.")
        if _labels.get(value, label) != label:
            raise ImproperlyConfigured(f"Audit action {value!r} is registered with two labels.")
        _labels[value] = label


def is_audit_action(action: str) -> bool:
    return action in _labels


def audit_action_label(action: str) -> str:
    """The action in words; an action no app registers any more shows as stored."""
    return _labels.get(action, action)


def audit_action_choices() -> list[tuple[str, str]]:
    """Every registered action, in the order the apps registered them."""
    return list(_labels.items())
