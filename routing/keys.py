"""Provider API keys: adding, rotating, revoking, testing, and handing them to the proxy."""

import hashlib
import json
import re
from dataclasses import dataclass

import httpx
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from dashboard.audit import audit_record
from dashboard.models import ProxyToken, Team
from dashboard.outbound import AddressRefused, public_request
from routing.audit_actions import RoutingAuditAction
from routing.encryption import decrypt, encrypt, reencrypt
from routing.models import KeyTestResult, Provider, ProviderKey

TEST_TIMEOUT_SECONDS = 10
# The demo's keys start so: fake, and never sent to a provider by the key test.
DEMO_SECRET_PREFIX = "demo-not-a-real-key-"  # noqa: S105 - a prefix, not a secret
DEMO_KEY_LABEL = "demo key (fake, never sent)"
ANTHROPIC_VERSION = "2023-06-01"

# provider slug -> (prefix a key normally starts with, what that looks like)
FORMAT_HINTS = {
    "chutes": ("cpk_", "Chutes keys start with cpk_"),
    "anthropic": ("sk-ant-", "Anthropic keys start with sk-ant-"),
    "openai": ("sk-", "OpenAI keys start with sk-"),
    "openrouter": ("sk-or-", "OpenRouter keys start with sk-or-"),
    "deepseek": ("sk-", "DeepSeek keys start with sk-"),
    "google": ("AIza", "Google AI Studio keys start with AIza"),
}


def mask_of(secret: str) -> str:
    """cpk_…ab12: the provider's usual prefix and the last four characters, nothing more."""
    if len(secret) < 12:
        return "…" + secret[-2:]
    prefixes = sorted((prefix for prefix, _ in FORMAT_HINTS.values()), key=len, reverse=True)
    head = next((prefix for prefix in prefixes if secret.startswith(prefix)), "")
    return f"{head}…{secret[-4:]}"


def fingerprint_of(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()[:12]


@sensitive_variables()
def format_warnings(provider: Provider, secret: str) -> list[str]:
    """Hints, not refusals: a key that looks unlike the provider's is probably pasted wrong."""
    warnings = []
    hint = FORMAT_HINTS.get(provider.slug)
    if hint and not secret.startswith(hint[0]):
        warnings.append(f"{hint[1]}; this one does not. Check it is the right key.")
    if any(character.isspace() for character in secret):
        warnings.append("The key contains spaces or line breaks; check it was pasted whole.")
    return warnings


@sensitive_variables()
def _clean_secret(secret: str) -> str:
    secret = (secret or "").strip()
    if not secret:
        raise ValidationError({"secret": "Paste the API key."})
    if len(secret) > 1000:
        raise ValidationError({"secret": "That is longer than any API key (1,000 characters)."})
    return secret


def _describe(key: ProviderKey) -> str:
    return f"{key.provider.slug} / {key.label} ({key.mask})"


@sensitive_variables()
def _new_key(*, team, provider, label, secret, user, replaces=None) -> ProviderKey:
    return ProviderKey.objects.create(
        team=team,
        provider=provider,
        label=label,
        secret_encrypted=encrypt(secret),
        mask=mask_of(secret),
        fingerprint=fingerprint_of(secret),
        created_by=user,
        replaces=replaces,
    )


@sensitive_variables()
def key_add(*, team: Team, provider: Provider, label: str, secret: str, user) -> ProviderKey:
    label = (label or "").strip()
    if not label:
        raise ValidationError({"label": "Give the key a label, e.g. prod or staging."})
    secret = _clean_secret(secret)
    try:
        with transaction.atomic():
            key = _new_key(team=team, provider=provider, label=label, secret=secret, user=user)
    except IntegrityError:
        raise ValidationError(
            {
                "label": f"{team.name} already has an active {provider.name} key labelled {label}: "
                "rotate that one instead."
            }
        ) from None
    audit_record(
        team=team,
        action=RoutingAuditAction.KEY_ADDED,
        target=_describe(key),
        actor=user,
        detail={"fingerprint": key.fingerprint},
    )
    return key


@sensitive_variables()
def key_rotate(*, key: ProviderKey, secret: str, user) -> ProviderKey:
    """Replace the secret: a new key row takes the label, the old one stays, revoked."""
    secret = _clean_secret(secret)
    with transaction.atomic():
        old = ProviderKey.objects.select_for_update().get(pk=key.pk)
        if not old.is_active:
            raise ValidationError("This key was revoked; add a new one instead.")
        old.revoked_at, old.revoked_by = timezone.now(), user
        old.save(update_fields=["revoked_at", "revoked_by"])
        new = _new_key(
            team=old.team,
            provider=old.provider,
            label=old.label,
            secret=secret,
            user=user,
            replaces=old,
        )
    audit_record(
        team=new.team,
        action=RoutingAuditAction.KEY_ROTATED,
        target=_describe(new),
        actor=user,
        detail={"old_fingerprint": old.fingerprint, "fingerprint": new.fingerprint},
    )
    return new


def key_revoke(*, key: ProviderKey, user) -> bool:
    """Revoke the key; False when it already was."""
    revoked = ProviderKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_by=user
    )
    key.refresh_from_db()
    if revoked:
        audit_record(
            team=key.team,
            action=RoutingAuditAction.KEY_REVOKED,
            target=_describe(key),
            actor=user,
            detail={"fingerprint": key.fingerprint},
        )
    return bool(revoked)


@dataclass
class TestOutcome:
    result: str
    message: str


def _probe_request(provider: Provider, secret: str) -> tuple[str, dict]:
    """The provider's cheapest call that needs a valid key: listing its models."""
    base = (provider.base_url or "").rstrip("/")
    if provider.slug == "anthropic":
        return f"{base}/v1/models", {"x-api-key": secret, "anthropic-version": ANTHROPIC_VERSION}
    if provider.slug == "openrouter":
        # OpenRouter lists its models to anyone; /key answers only to a valid key.
        return f"{base}/key", {"Authorization": f"Bearer {secret}"}
    return f"{base}/models", {"Authorization": f"Bearer {secret}"}


def _provider_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200].strip()
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or error.get("type") or error)[:300]
    if isinstance(error, str):
        return error[:300]
    if isinstance(body, dict) and body.get("detail"):
        return str(body["detail"])[:300]
    return ""


@sensitive_variables()
def _redact(message: str, secret: str) -> str:
    """A provider that echoes the key back must not put it on our pages."""
    message = message.replace(secret, mask_of(secret))
    return re.sub(
        r"[A-Za-z0-9_\-]{8,}", lambda run: "…" if run.group(0) in secret else run.group(0), message
    )


@sensitive_variables()
def key_probe(provider: Provider, secret: str) -> TestOutcome:
    if is_demo_secret(secret):
        return TestOutcome("", "Demo key: not tested; it is fake and never sent.")
    if not provider.base_url:
        return TestOutcome(
            KeyTestResult.UNREACHABLE, f"{provider.name} has no base URL to test against."
        )
    url, headers = _probe_request(provider, secret)
    try:
        # The same public-address rule as webhooks: the answer's text is shown on the keys page.
        response = public_request("GET", url, headers=headers, total_seconds=TEST_TIMEOUT_SECONDS)
    except AddressRefused as error:
        return TestOutcome(KeyTestResult.UNREACHABLE, f"{provider.name} was not called: {error}")
    except httpx.TimeoutException:
        return TestOutcome(
            KeyTestResult.UNREACHABLE,
            f"No answer from {provider.name} within {TEST_TIMEOUT_SECONDS} s.",
        )
    except httpx.HTTPError as error:
        return TestOutcome(
            KeyTestResult.UNREACHABLE, f"Could not reach {provider.name}: {type(error).__name__}."
        )
    message = _redact(_provider_message(response), secret)
    if response.is_success:
        return TestOutcome(
            KeyTestResult.OK, f"{provider.name} accepted the key (HTTP {response.status_code})."
        )
    if response.status_code in (401, 403):
        return TestOutcome(
            KeyTestResult.REJECTED, f"HTTP {response.status_code}: {message or 'rejected'}"
        )
    return TestOutcome(
        KeyTestResult.UNREACHABLE,
        f"HTTP {response.status_code} from {provider.name}: {message or 'no message'}",
    )


@sensitive_variables()
def key_test(*, key: ProviderKey, user) -> ProviderKey:
    """Call the provider with the key and keep the result on the key."""
    outcome = key_probe(key.provider, decrypt(key.secret_encrypted))
    key.last_test_result, key.last_test_message = outcome.result, outcome.message[:500]
    key.last_tested_at, key.last_tested_by = timezone.now(), user
    key.save(
        update_fields=["last_test_result", "last_test_message", "last_tested_at", "last_tested_by"]
    )
    audit_record(
        team=key.team,
        action=RoutingAuditAction.KEY_TESTED,
        target=_describe(key),
        actor=user,
        detail={"result": outcome.result},
    )
    return key


def active_keys_for_proxy(team) -> list[ProviderKey]:
    """The team's active keys, newest first per provider (the proxy uses the first). The demo's
    fake keys are never handed out: a proxy would send them to a provider."""
    keys = ProviderKey.objects.active().filter(team=team).select_related("provider")
    keys = keys.order_by("provider__slug", "-created_at", "-pk")
    return [key for key in keys if not is_demo_secret(decrypt(key.secret_encrypted))]


def is_demo_secret(secret: str) -> bool:
    return secret.startswith(DEMO_SECRET_PREFIX)


def keys_etag(keys: list[ProviderKey]) -> str:
    """Changes with any key added, rotated or revoked (ids and fingerprints), and with what
    else is served beside the secret; never derived from the secrets themselves."""
    served = [
        [key.pk, key.fingerprint, key.provider.slug, key.label, key.provider.base_url]
        for key in keys
    ]
    digest = hashlib.sha256(json.dumps(served).encode()).hexdigest()
    return f'"k-{digest[:24]}"'


@sensitive_variables()
def keys_for_proxy(*, token: ProxyToken, keys: list[ProviderKey] | None = None) -> list[dict]:
    """The team's active keys with their secrets, for a keys:read token. Every read is audited."""
    if keys is None:
        keys = active_keys_for_proxy(token.team)
    served = [
        {
            "provider": key.provider.slug,
            "label": key.label,
            "secret": decrypt(key.secret_encrypted),
            "base_url": key.provider.base_url,
            "fingerprint": key.fingerprint,
            "created_at": key.created_at.isoformat(),
        }
        for key in keys
    ]
    audit_record(
        team=token.team,
        action=RoutingAuditAction.KEY_READ,
        target=f"{len(keys)} active key(s)",
        token=token,
        detail={"keys": [_describe(key) for key in keys]},
    )
    return served


@transaction.atomic
def keys_reencrypt(progress=None) -> int:
    """Every stored secret encrypted again under the first configured key."""
    keys = list(ProviderKey.objects.only("pk", "secret_encrypted"))
    for number, key in enumerate(keys, start=1):
        key.secret_encrypted = reencrypt(key.secret_encrypted)
        if progress:
            progress(number, len(keys))
    ProviderKey.objects.bulk_update(keys, ["secret_encrypted"], batch_size=500)
    return len(keys)
