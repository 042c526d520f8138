"""Each person's choice of how to hear of alerts, per group of kinds: an email at once, a line in
the daily digest, or nothing; and the daily digest itself. Addresses without a user (a rule's
extra emails) always get their email."""

import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMessage
from django.db.models.functions import Lower
from django.utils import timezone

from billing.alerts import messages as words
from billing.models import AlertDelivery, AlertKind, AlertNotification, AlertPreference

logger = logging.getLogger(__name__)

# The groups a person chooses for, each with the kinds it holds.
KIND_GROUPS: dict[str, tuple[str, list[str]]] = {
    "tao": (
        "TAO price",
        [AlertKind.TAO_PRICE_SPIKE, AlertKind.TAO_PRICE_STALE, AlertKind.TAO_PRICE_DEGRADED],
    ),
    "treasury": ("TAO treasury", [AlertKind.TAO_RUNWAY, AlertKind.TAO_BALANCE]),
    "budget": (
        "Budgets and spend",
        [AlertKind.BUDGET_THRESHOLD, AlertKind.BUDGET_FORECAST, AlertKind.SPEND_ANOMALY],
    ),
    "health": (
        "Provider health",
        [AlertKind.ERROR_RATE, AlertKind.LATENCY_P95, AlertKind.QUALITY_DROP],
    ),
    "proxy": ("LiteLLM proxies", [AlertKind.PROXY_STALE]),
}
GROUP_OF_KIND = {kind: group for group, (_, kinds) in KIND_GROUPS.items() for kind in kinds}
DIGEST_EVERY = timedelta(days=1)


def alert_preference_delivery(preference: AlertPreference | None, kind: str) -> str:
    if preference is None:
        return AlertDelivery.EMAIL
    return preference.deliveries.get(GROUP_OF_KIND.get(kind, ""), AlertDelivery.EMAIL)


def alert_preference_save(*, user, deliveries: dict[str, str]) -> AlertPreference:
    """The user's own choices, one per group; unknown groups and choices are refused."""
    if not deliveries.keys() <= KIND_GROUPS.keys() or not set(deliveries.values()) <= set(
        AlertDelivery.values
    ):
        raise ValueError("Unknown alert group or delivery.")
    preference, _ = AlertPreference.objects.get_or_create(user=user)
    preference.deliveries = dict(deliveries)
    preference.save(update_fields=["deliveries"])
    return preference


def recipients_emailed_now(kind: str, emails: Iterable[str]) -> list[str]:
    """Of `emails`, those to email now for an alert of `kind`: everyone but the people who chose
    the digest or nothing for its group."""
    emails = list(emails)
    held_back = set()
    for email, preference in _preferences_by_email(emails):
        if alert_preference_delivery(preference, kind) != AlertDelivery.EMAIL:
            held_back.add(email)
    return [email for email in emails if email not in held_back]


def _preferences_by_email(emails: list[str]):
    preferences = AlertPreference.objects.annotate(email=Lower("user__email")).filter(
        email__in=[email.lower() for email in emails], user__is_active=True
    )
    return [(preference.email, preference) for preference in preferences]


# --- The daily digest ---------------------------------------------------------------------


def digest_lines(preference: AlertPreference, *, since: datetime, until: datetime) -> list[str]:
    """What would have been emailed to the person in (since, until] for the groups they put in
    the digest: one line per event, oldest first, times in UTC with the date."""
    email = (preference.user.email or "").strip().lower()
    kinds = [
        kind
        for kind, group in GROUP_OF_KIND.items()
        if preference.deliveries.get(group) == AlertDelivery.DIGEST
    ]
    if not email or not kinds:
        return []
    rows = AlertNotification.objects.filter(
        created_at__gt=since, created_at__lte=until, alert__rule__kind__in=kinds
    ).order_by("created_at", "pk")
    lines, seen = [], set()
    for row in rows:
        event = row.merge_key or row.pk
        if email in row.recipients and event not in seen:
            seen.add(event)
            lines.append(f"{words.moment(row.created_at, UTC)}  {row.subject}")
    return lines


def digests_send(now: datetime | None = None) -> int:
    """Send each person who chose a digest the day's lines, once a day; returns how many were
    sent. A person's day is claimed with a conditional update, so two runs never both send it."""
    now = now or timezone.now()
    sent = 0
    for preference in AlertPreference.objects.select_related("user").filter(user__is_active=True):
        if AlertDelivery.DIGEST not in preference.deliveries.values():
            continue
        since = preference.digest_sent_until
        if since is not None and now - since < DIGEST_EVERY:
            continue
        claimed = AlertPreference.objects.filter(pk=preference.pk, digest_sent_until=since).update(
            digest_sent_until=now
        )
        if not claimed:
            continue
        lines = digest_lines(preference, since=since or now - DIGEST_EVERY, until=now)
        if not lines:
            continue
        try:
            _digest_email(preference.user.email, lines, now).send()
        except Exception:
            # Given back, so the next run sends the same day's lines.
            AlertPreference.objects.filter(pk=preference.pk, digest_sent_until=now).update(
                digest_sent_until=since
            )
            raise
        sent += 1
    return sent


def _digest_email(email: str, lines: list[str], now: datetime) -> EmailMessage:
    count = f"{len(lines)} alert" + ("" if len(lines) == 1 else "s")
    body = "\n".join(
        [
            f"The alerts of the day to {words.moment(now, UTC)}, from your digest choices:",
            "",
            *lines,
            "",
            f"Choose how you hear of alerts: {settings.SITE_URL}/account/notifications/",
        ]
    )
    return EmailMessage(
        subject=f"Daily alert digest: {count}",
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[email],
    )
