"""Proxy tokens: made here, shown once, stored as a public prefix and a keyed hash."""

import hmac
import secrets
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.crypto import salted_hmac

from dashboard.audit import audit_record
from dashboard.audit_actions import AuditAction
from dashboard.models import ProxyToken, Scope, Team

TOKEN_START = "lsp_"  # noqa: S105 - the public start of every token, not a secret
PREFIX_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789"
PREFIX_LENGTH = 8
# last_used_at is a hint for people, not an audit: refresh it at most this often per token.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _hash(token: str) -> str:
    return salted_hmac("dashboard.ProxyToken", token, algorithm="sha256").hexdigest()


def token_create(*, team: Team, name: str, scopes: list[str], user=None) -> tuple[ProxyToken, str]:
    """A new token for the team. Returns the row and the token itself, which is never stored."""
    unknown = sorted(set(scopes) - set(Scope.values))
    if unknown:
        raise ValidationError(
            f"Unknown scope {', '.join(unknown)}; choose from {', '.join(Scope.values)}."
        )
    if not scopes:
        raise ValidationError("Choose at least one scope.")
    if not name.strip():
        raise ValidationError("Give the token a name, e.g. the proxy host it is for.")
    public = TOKEN_START + "".join(secrets.choice(PREFIX_CHARS) for _ in range(PREFIX_LENGTH))
    token = f"{public}_{secrets.token_urlsafe(32)}"
    row = ProxyToken.objects.create(
        team=team,
        name=name.strip(),
        prefix=public,
        token_hash=_hash(token),
        scopes=sorted(set(scopes)),
        created_by=user,
    )
    audit_record(
        team=team,
        action=AuditAction.TOKEN_CREATED,
        target=_describe(row),
        actor=user,
        detail={"scopes": row.scopes},
    )
    return row, token


def _describe(row: ProxyToken) -> str:
    # The public prefix only: the token itself is never recorded anywhere.
    return f"{row.name} ({row.prefix}…)"


def token_authenticate(token: str) -> ProxyToken | None:
    """The active token this string is, or None. Compares hashes in constant time."""
    public, separator, _ = token[len(TOKEN_START) :].partition("_")
    if not token.startswith(TOKEN_START) or not separator or len(public) != PREFIX_LENGTH:
        return None
    row = ProxyToken.objects.select_related("team").filter(prefix=TOKEN_START + public).first()
    if row is None:
        # Spend the same hashing work as a real check, so timing does not reveal prefixes.
        hmac.compare_digest(_hash(token), "0" * 64)
        return None
    if not hmac.compare_digest(_hash(token), row.token_hash) or not row.is_active:
        return None
    _touch(row)
    return row


def _touch(row: ProxyToken) -> None:
    now = timezone.now()
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
        ProxyToken.objects.filter(pk=row.pk).update(last_used_at=now)
        row.last_used_at = now


def token_revoke(*, token: ProxyToken, user=None) -> bool:
    """Revoke the token; False when it was already revoked."""
    updated = ProxyToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_by=user
    )
    token.refresh_from_db()
    if updated:
        audit_record(
            team=token.team,
            action=AuditAction.TOKEN_REVOKED,
            target=_describe(token),
            actor=user,
            detail={"scopes": token.scopes},
        )
    return bool(updated)
