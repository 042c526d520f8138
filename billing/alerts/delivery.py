"""Sending alert notifications from the outbox: each row goes out once, retried until it does.

The alert engine writes AlertNotification rows (pending, due at next_attempt_at); this module
sends them.

- Claim. A worker claims a due row with one UPDATE whose own WHERE clause says the row is still
  pending, due and unclaimed (or its claim is older than CLAIM_TIMEOUT), stamping claimed_at and
  a fresh claim_token, then reads back the rows carrying that token. When two workers race for a
  row the database applies one UPDATE first and the other's WHERE no longer matches (PostgreSQL
  re-checks it against the updated row; SQLite runs writes one at a time), so only one of them
  gets it. Rows are claimed one at a time, just before each is sent: a claim never ages while
  other rows are being sent, and a worker that dies strands at most one row for CLAIM_TIMEOUT.
- Record. Every outcome is written through a filter on the worker's claim_token, so a worker
  whose claim was taken over cannot overwrite the outcome of the worker that took it.
- Order. A row has two parts, a webhook post and an email, but one status. The webhook is posted
  first and the email sent last, and the row is marked sent only when both went through; a retry
  therefore repeats at most the webhook. An email is never sent twice because the webhook failed.
  The price: when the email fails after the webhook went through, the retry posts the webhook
  again (a chat message may repeat; an email does not).
- Once per person. Rows of one event share a merge_key (a global alert's teams, overlapping
  rules at one moment). A person on several gets one email, from the first of them sent, merged
  from every row listing them; a receipt unique per event and address, written in the
  transaction that sends, makes the other rows (and other workers) leave that person out.
  Each person's preferences (billing.alerts.preferences) may hold their email back.
- Retry. A failure (SMTP error, refused connection, timeout, a webhook answering non-2xx or not
  at all) keeps the row pending with attempts + 1, a short last_error and next_attempt_at pushed
  back 1, 2, 4, 8 ... minutes (at most 60). The MAX_ATTEMPTS-th failure marks the row failed,
  with its error, for admins to see. `attempts` counts every try, the successful one included.
  An unexpected error while sending counts as a failed attempt too (logged with its traceback),
  so one bad row cannot block the others; a row with neither recipients nor a webhook fails at
  once.

- Webhooks go to public internet addresses only, checked again at each send on every address
  the host resolves to, and connected to at exactly those addresses (dashboard.outbound); no
  redirects. A refused address is a failed attempt like any other.
- Time. A webhook gets WEBHOOK_TIMEOUT_SECONDS in all; a run claims no new row after
  RUN_BUDGET_SECONDS, leaving the rest pending for the next run; and once a team's webhook has
  timed out, that team's other webhook rows wait for the next run: one slow or dead webhook
  cannot hold up other teams' notifications.
- Errors. Members see which part failed and when (failed_part, last_attempt_at); last_error,
  the technical detail (an HTTP status, an exception name), is for staff and the log.

What no outbox can rule out: a worker that dies after the mail server accepted the message but
before the row was marked sent leaves the row claimed, and after CLAIM_TIMEOUT another worker
sends it again. The SMTP (EMAIL_TIMEOUT) and webhook timeouts keep a send far shorter than the
claim, so a slow send is not taken over.
"""

import logging
import smtplib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from billing.alerts import messages as words
from billing.alerts.preferences import recipients_emailed_now
from billing.models import (
    Alert,
    AlertEmailReceipt,
    AlertNotification,
    DeliveryPart,
    NotificationStatus,
)
from dashboard.models import Membership
from dashboard.outbound import AddressRefused, public_request

logger = logging.getLogger(__name__)

CLAIM_TIMEOUT = timedelta(minutes=5)
MAX_ATTEMPTS = 12
MAX_BACKOFF_MINUTES = 60
# Connect, send and answer, all told; a slow webhook cannot hold a run longer.
WEBHOOK_TIMEOUT_SECONDS = 8
# A run stops claiming rows after this long; the rest wait for the next run (every minute).
RUN_BUDGET_SECONDS = 45
ERROR_LENGTH = 300
# The To header of an alert email: its recipients are all in Bcc (RFC 5322's empty group).
UNDISCLOSED = "undisclosed-recipients:;"


class DeliveryFailed(Exception):
    """A send that did not go through; the message is short and shown to staff only."""

    def __init__(self, part: str, message: str, *, slow: bool = False):
        super().__init__(message)
        self.part = part
        self.slow = slow


@dataclass
class DeliveryResult:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    # Teams whose webhook did not answer in time during this run: their other webhook rows wait
    # for the next run instead of holding up everyone else's notifications.
    slow_teams: set = field(default_factory=set)
    out_of_time: bool = False

    def __str__(self):
        text = f"sent {self.sent}, retrying {self.retrying}, failed {self.failed}"
        return f"{text}; stopped at the time limit" if self.out_of_time else text

    def count(self, status: str) -> None:
        if status == NotificationStatus.SENT:
            self.sent += 1
        elif status == NotificationStatus.PENDING:
            self.retrying += 1
        else:
            self.failed += 1


def notifications_send_due(
    now: datetime | None = None,
    *,
    limit: int = 50,
    budget_seconds: float = RUN_BUDGET_SECONDS,
    clock: Callable[[], float] = time.monotonic,
) -> DeliveryResult:
    """Send up to `limit` due notifications, claiming each just before sending it, for at most
    `budget_seconds` (plus the one send under way); unclaimed rows wait for the next run."""
    result = DeliveryResult()
    stop_at = clock() + budget_seconds
    for _ in range(limit):
        if clock() >= stop_at:
            result.out_of_time = True
            break
        moment = now or timezone.now()
        claimed = notifications_claim_due(moment, limit=1)
        if not claimed:
            break
        result.count(notification_deliver(claimed[0], now=moment, slow_teams=result.slow_teams))
    return result


def notifications_claim_due(now: datetime, *, limit: int) -> list[AlertNotification]:
    """Claim up to `limit` due rows for one worker; never a row under another live claim."""
    due = AlertNotification.objects.filter(
        Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - CLAIM_TIMEOUT),
        status=NotificationStatus.PENDING,
        next_attempt_at__lte=now,
    )
    token = uuid.uuid4().hex
    # The due conditions stay on the UPDATE itself, not only in the subquery: a row another
    # worker claimed meanwhile no longer matches them when this UPDATE reaches it.
    first_due = due.order_by("next_attempt_at", "pk").values("pk")[:limit]
    due.filter(pk__in=first_due).update(claimed_at=now, claim_token=token)
    return list(
        AlertNotification.objects.filter(status=NotificationStatus.PENDING, claim_token=token)
        .select_related("alert")
        .order_by("next_attempt_at", "pk")
    )


def notification_deliver(
    notification: AlertNotification, *, now: datetime, slow_teams: set | None = None
) -> str:
    """Post the webhook, then send the email, and record the outcome; returns the new status.

    `notification` must come from notifications_claim_due: the outcome is written under its claim.
    A team in `slow_teams` (its webhook timed out earlier in this run) has its webhook row put
    off to the next run, without counting an attempt; a timeout here adds the team to it.
    """
    if not notification.recipients and not notification.webhook_url:
        message = "No recipients and no webhook: nothing to send."
        return _record_failure(notification, DeliveryPart.NOTHING, message, now, final=True)
    slow_teams = set() if slow_teams is None else slow_teams
    team = notification.alert.team_id
    if notification.webhook_url and team in slow_teams:
        return _put_off(notification, now)
    part = DeliveryPart.WEBHOOK
    try:
        if notification.webhook_url:
            post_webhook(notification)
        part = DeliveryPart.EMAIL
        if notification.recipients:
            send_email(notification)
    except DeliveryFailed as error:
        if error.slow:
            slow_teams.add(team)
        message = _scrubbed(str(error), notification)
        return _record_failure(notification, error.part, message, now)
    except Exception as error:
        logger.exception("Alert notification %s: unexpected error while sending", notification.pk)
        message = f"{type(error).__name__}: {error}"
        return _record_failure(notification, part, _scrubbed(message, notification), now)
    return _record_sent(notification, now)


def send_email(notification: AlertNotification) -> None:
    """Its recipients, each told once per event: a person on several rows of the event (a
    global alert's teams, overlapping rules) gets one email covering them all, from whichever
    row is sent first; the others leave that person out (AlertEmailReceipt)."""
    if not notification.merge_key:
        recipients = recipients_emailed_now(notification.alert.rule.kind, notification.recipients)
        if recipients:
            _send_message(
                notification.subject, notification.text_body, notification.html_body, recipients
            )
        return
    for recipients, subject, text, html in _emails_of(notification):
        # The receipts and the send commit together: a send that fails leaves nobody marked
        # told, and a second worker sending the same event to the same person waits for this
        # transaction, then finds the receipt (the unique constraint) and leaves them out.
        with transaction.atomic():
            AlertEmailReceipt.objects.bulk_create(
                [
                    AlertEmailReceipt(
                        merge_key=notification.merge_key, recipient=email, notification=notification
                    )
                    for email in recipients
                ],
                ignore_conflicts=True,
            )
            mine = sorted(
                AlertEmailReceipt.objects.filter(
                    merge_key=notification.merge_key,
                    notification=notification,
                    recipient__in=recipients,
                ).values_list("recipient", flat=True)
            )
            if mine:
                _send_message(subject, text, html, mine)


def _emails_of(notification: AlertNotification) -> list[tuple[list[str], str, str, str]]:
    """The recipients not yet told of the event, grouped by the rows of the event that list
    them, each group with its email: the row's own, or one merged from its rows."""
    told = set(
        AlertEmailReceipt.objects.filter(
            merge_key=notification.merge_key, recipient__in=notification.recipients
        ).values_list("recipient", flat=True)
    )
    untold = recipients_emailed_now(
        notification.alert.rule.kind,
        [email for email in notification.recipients if email not in told],
    )
    if not untold:
        return []
    rows = list(
        AlertNotification.objects.filter(merge_key=notification.merge_key)
        .select_related("alert__rule", "alert__team", "team")
        .order_by("pk")
    )
    groups: dict[tuple, list[str]] = {}
    for email in untold:
        told_together = tuple(row.pk for row in rows if email in row.recipients)
        groups.setdefault(told_together, []).append(email)
    in_several_teams = _in_several_teams(untold)
    emails = []
    for pks, recipients in groups.items():
        listing = [row for row in rows if row.pk in pks]
        if len(listing) == 1:
            row = listing[0]
            subject, text, html = row.subject, row.text_body, row.html_body
        else:
            merged = words.merged_message(listing)
            subject, text, html = merged.subject, merged.text, merged.html
        teams = {row.team_id for row in listing}
        single_team = listing[0].team if len(teams) == 1 and None not in teams else None
        # The team is named where it matters: for someone who is in several teams.
        tagged = [email for email in recipients if email in in_several_teams]
        plain = [email for email in recipients if email not in in_several_teams]
        if single_team is not None and tagged:
            emails.append((tagged, f"{subject} (team {single_team.name})", text, html))
            recipients = plain
        if recipients:
            emails.append((recipients, subject, text, html))
    return emails


def _in_several_teams(emails: list[str]) -> set[str]:
    memberships = (
        Membership.objects.annotate(email=Lower("user__email"))
        .filter(email__in=emails, user__is_active=True)
        .values_list("email", "team_id")
    )
    teams: dict[str, set] = {}
    for email, team_id in memberships:
        teams.setdefault(email, set()).add(team_id)
    return {email for email, found in teams.items() if len(found) > 1}


def _send_message(subject: str, text: str, html: str, recipients: list[str]) -> None:
    """One message to every recipient, each in Bcc: no recipient learns another's address
    (a rule's outside addresses, the superusers of a global alert)."""
    message = EmailMultiAlternatives(
        # A line break in a header is refused outright; one stray newline must not lose the alert.
        subject=" ".join(subject.splitlines()),
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        bcc=recipients,
        headers={"To": UNDISCLOSED},
    )
    if html:
        message.attach_alternative(html, "text/html")
    try:
        message.send()
    except (smtplib.SMTPException, OSError) as error:
        raise DeliveryFailed(
            DeliveryPart.EMAIL, f"Email not sent: {type(error).__name__}: {error}"
        ) from error


def post_webhook(notification: AlertNotification) -> None:
    """POST a Slack-compatible message to a public address (dashboard.outbound), without
    following redirects; only the status code is kept, never the URL (a secret) or the body."""
    try:
        response = public_request(
            "POST",
            notification.webhook_url,
            json=webhook_payload(notification),
            total_seconds=WEBHOOK_TIMEOUT_SECONDS,
        )
    except AddressRefused as error:
        raise DeliveryFailed(DeliveryPart.WEBHOOK, f"Webhook not posted: {error}") from None
    except httpx.TimeoutException:
        raise DeliveryFailed(
            DeliveryPart.WEBHOOK,
            f"Webhook not posted: no answer within {WEBHOOK_TIMEOUT_SECONDS} s.",
            slow=True,
        ) from None
    except httpx.HTTPError as error:
        message = f"Webhook not posted: {type(error).__name__}."
        raise DeliveryFailed(DeliveryPart.WEBHOOK, message) from None
    if not response.is_success:
        message = f"Webhook not posted: HTTP {response.status_code}."
        raise DeliveryFailed(DeliveryPart.WEBHOOK, message)


def webhook_payload(notification: AlertNotification) -> dict:
    """Slack's incoming-webhook shape (Mattermost and Discord's /slack endpoint read it too)."""
    subject = _slack_escaped(notification.subject)
    url = alert_url(notification.alert)
    text = f"{subject}\n{url}" if url else subject
    section = f"*{subject}*\n<{url}|Open in LLM Spend>" if url else f"*{subject}*"
    block = {"type": "section", "text": {"type": "mrkdwn", "text": section}}
    return {"text": text, "blocks": [block]}


def alert_url(alert: Alert) -> str:
    if not alert.link:
        return ""
    return f"{settings.SITE_URL.rstrip('/')}/{alert.link.lstrip('/')}"


def backoff_after(attempts: int) -> timedelta:
    """1, 2, 4, 8 ... minutes after the 1st, 2nd, 3rd, 4th ... failure, at most an hour."""
    return timedelta(minutes=min(2 ** (attempts - 1), MAX_BACKOFF_MINUTES))


def _record_sent(notification: AlertNotification, now: datetime) -> str:
    recorded = _finish(
        notification,
        status=NotificationStatus.SENT,
        sent_at=now,
        attempts=notification.attempts + 1,
        last_attempt_at=now,
        failed_part="",
    )
    if recorded:
        # Forward only: the alert engine times reminders from last_notified_at, and may have
        # queued a newer notification while this one was being sent.
        Alert.objects.filter(
            Q(last_notified_at__isnull=True) | Q(last_notified_at__lt=now),
            pk=notification.alert_id,
        ).update(last_notified_at=now)
    return NotificationStatus.SENT


def _record_failure(
    notification: AlertNotification, part: str, error: str, now: datetime, *, final: bool = False
) -> str:
    attempts = notification.attempts + 1
    if final or attempts >= MAX_ATTEMPTS:
        status, next_attempt_at = NotificationStatus.FAILED, notification.next_attempt_at
    else:
        status, next_attempt_at = NotificationStatus.PENDING, now + backoff_after(attempts)
    logger.warning(
        "Alert notification %s, attempt %s: %s (now %s)", notification.pk, attempts, error, status
    )
    _finish(
        notification,
        status=status,
        attempts=attempts,
        next_attempt_at=next_attempt_at,
        failed_part=part,
        last_attempt_at=now,
        last_error=error[:ERROR_LENGTH],
    )
    return status


def _put_off(notification: AlertNotification, now: datetime) -> str:
    _finish(notification, next_attempt_at=now + backoff_after(1))
    return NotificationStatus.PENDING


def _finish(notification: AlertNotification, **fields) -> bool:
    """Write the outcome and release the claim, unless another worker has taken the row over."""
    recorded = AlertNotification.objects.filter(
        pk=notification.pk, claim_token=notification.claim_token
    ).update(claimed_at=None, claim_token="", **fields)
    if not recorded:
        logger.warning(
            "Alert notification %s: claim taken over by another worker, outcome not recorded",
            notification.pk,
        )
    return bool(recorded)


def _scrubbed(message: str, notification: AlertNotification) -> str:
    """Admins see error texts: never the webhook URL (it embeds a token) or the SMTP password."""
    for secret in (notification.webhook_url, settings.EMAIL_HOST_PASSWORD):
        if secret:
            message = message.replace(secret, "…")
    return message


def _slack_escaped(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
