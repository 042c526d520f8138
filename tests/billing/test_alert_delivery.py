import itertools
import json
import smtplib
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from django.core.mail.backends.base import BaseEmailBackend
from django.db import OperationalError

from billing.alerts.delivery import (
    CLAIM_TIMEOUT,
    MAX_ATTEMPTS,
    backoff_after,
    notification_deliver,
    notifications_claim_due,
    notifications_send_due,
)
from billing.alerts.tasks import send_alert_notifications
from billing.models import Alert, AlertKind, AlertNotification, NotificationStatus
from dashboard.models import JobRun
from tests.factories import AlertRuleFactory

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
WEBHOOK = "https://hooks.slack.example/services/T000/B000/s3cr3t-t0ken"
SUBJECT = "Maven: 80% of the November budget used"
_keys = itertools.count()


class FailingBackend(BaseEmailBackend):
    def send_messages(self, email_messages):
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")


class RefusingBackend(BaseEmailBackend):
    def send_messages(self, email_messages):
        raise ConnectionRefusedError(111, "Connection refused")


def make_notification(team, **overrides) -> AlertNotification:
    rule = AlertRuleFactory(team=team, kind=AlertKind.BUDGET_THRESHOLD, name="Budget")
    alert = Alert.objects.create(
        rule=rule,
        team=team,
        dedupe_key=f"budget:{next(_keys)}",
        subject=SUBJECT,
        link="/t/maven/alerts/",
    )
    fields = {
        "alert": alert,
        "event": "fired",
        "subject": SUBJECT,
        "text_body": "Spend is $800.00 of $1,000.00.",
        "html_body": "<p>Spend is <b>$800.00</b> of $1,000.00.</p>",
        "recipients": ["ops@example.com", "cfo@example.com"],
        "next_attempt_at": NOW,
        **overrides,
    }
    return AlertNotification.objects.create(**fields)


def reloaded(row: AlertNotification) -> AlertNotification:
    row.refresh_from_db()
    return row


@pytest.fixture(autouse=True)
def no_real_dns(dns):
    """Every webhook host resolves to a public address unless a test says otherwise."""
    return dns


@pytest.fixture
def failing_smtp(settings):
    settings.EMAIL_BACKEND = "tests.billing.test_alert_delivery.FailingBackend"


@pytest.fixture
def webhook_ok(respx_mock):
    return respx_mock.post(WEBHOOK).mock(return_value=httpx.Response(200, text="ok"))


# Sending


def test_it_sends_a_due_notification_and_marks_it_sent(team, mailoutbox):
    row = make_notification(team)
    notifications_send_due(NOW)
    row = reloaded(row)
    assert len(mailoutbox) == 1
    assert (row.status, row.sent_at, row.attempts) == (NotificationStatus.SENT, NOW, 1)
    assert (row.claimed_at, row.claim_token) == (None, "")


def test_it_sends_the_text_and_html_with_the_stored_subject_and_recipients(
    team, mailoutbox, settings
):
    settings.DEFAULT_FROM_EMAIL = "LLM Spend <alerts@example.com>"
    make_notification(team)
    notifications_send_due(NOW)
    message = mailoutbox[0]
    assert message.subject == SUBJECT
    assert message.recipients() == ["ops@example.com", "cfo@example.com"]
    assert message.from_email == "LLM Spend <alerts@example.com>"
    assert message.body == "Spend is $800.00 of $1,000.00."
    assert message.alternatives[0][1] == "text/html"
    assert "<b>$800.00</b>" in message.alternatives[0][0]


def test_it_shows_no_recipient_the_others_addresses(team, mailoutbox):
    make_notification(team)
    notifications_send_due(NOW)
    headers = mailoutbox[0].message()
    assert headers["To"] == "undisclosed-recipients:;"
    assert "ops@example.com" not in headers.as_string()


def test_it_marks_the_alert_notified(team, mailoutbox):
    row = make_notification(team)
    notifications_send_due(NOW)
    assert Alert.objects.get(pk=row.alert_id).last_notified_at == NOW


def test_it_never_moves_the_alerts_last_notified_at_back(team, mailoutbox):
    row = make_notification(team)
    later = NOW + timedelta(minutes=5)
    Alert.objects.filter(pk=row.alert_id).update(last_notified_at=later)
    notifications_send_due(NOW)
    assert Alert.objects.get(pk=row.alert_id).last_notified_at == later


def test_a_second_run_sends_nothing(team, mailoutbox):
    make_notification(team)
    notifications_send_due(NOW)
    result = notifications_send_due(NOW + timedelta(minutes=1))
    assert len(mailoutbox) == 1
    assert result.sent == 0


def test_it_sends_nothing_before_the_notification_is_due(team, mailoutbox):
    row = make_notification(team, next_attempt_at=NOW + timedelta(minutes=1))
    notifications_send_due(NOW)
    assert mailoutbox == []
    assert reloaded(row).status == NotificationStatus.PENDING


def test_it_sends_at_most_the_limit_per_run(team, mailoutbox):
    for _ in range(3):
        make_notification(team)
    result = notifications_send_due(NOW, limit=2)
    assert (result.sent, len(mailoutbox)) == (2, 2)
    assert AlertNotification.objects.filter(status=NotificationStatus.PENDING).count() == 1


# Failures and retries


def test_a_failing_smtp_server_leaves_it_pending_for_a_later_attempt(team, failing_smtp):
    row = make_notification(team)
    result = notifications_send_due(NOW)
    row = reloaded(row)
    assert result.retrying == 1
    assert (row.status, row.attempts) == (NotificationStatus.PENDING, 1)
    assert row.next_attempt_at == NOW + timedelta(minutes=1)
    assert (
        row.last_error == "Email not sent: SMTPServerDisconnected: Connection unexpectedly closed"
    )
    assert (row.claimed_at, row.claim_token) == (None, "")


def test_a_refused_smtp_connection_leaves_it_pending(team, settings):
    settings.EMAIL_BACKEND = "tests.billing.test_alert_delivery.RefusingBackend"
    row = make_notification(team)
    notifications_send_due(NOW)
    row = reloaded(row)
    assert (row.status, row.attempts) == (NotificationStatus.PENDING, 1)
    assert "ConnectionRefusedError" in row.last_error


def test_it_is_not_retried_before_its_backoff(team, failing_smtp, settings, mailoutbox):
    row = make_notification(team)
    notifications_send_due(NOW)
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    notifications_send_due(NOW + timedelta(seconds=59))
    assert mailoutbox == []
    assert reloaded(row).attempts == 1


def test_it_is_sent_exactly_once_when_the_smtp_server_is_back(
    team, failing_smtp, settings, mailoutbox
):
    row = make_notification(team)
    notifications_send_due(NOW)
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    notifications_send_due(NOW + timedelta(minutes=1))
    notifications_send_due(NOW + timedelta(minutes=2))
    row = reloaded(row)
    assert len(mailoutbox) == 1
    assert (row.status, row.attempts) == (NotificationStatus.SENT, 2)


def test_the_backoff_doubles_up_to_an_hour():
    minutes = [backoff_after(attempts) / timedelta(minutes=1) for attempts in range(1, 10)]
    assert minutes == [1, 2, 4, 8, 16, 32, 60, 60, 60]


def test_the_last_allowed_failure_marks_it_failed(team, failing_smtp):
    row = make_notification(team, attempts=MAX_ATTEMPTS - 1)
    result = notifications_send_due(NOW)
    row = reloaded(row)
    assert result.failed == 1
    assert (row.status, row.attempts) == (NotificationStatus.FAILED, MAX_ATTEMPTS)
    assert "SMTPServerDisconnected" in row.last_error


def test_a_failed_notification_is_not_tried_again(team, mailoutbox):
    make_notification(team, status=NotificationStatus.FAILED, attempts=MAX_ATTEMPTS)
    notifications_send_due(NOW + timedelta(days=1))
    assert mailoutbox == []


def test_nothing_to_send_to_fails_at_once(team, mailoutbox):
    row = make_notification(team, recipients=[])
    notifications_send_due(NOW)
    row = reloaded(row)
    assert row.status == NotificationStatus.FAILED
    assert row.last_error == "No recipients and no webhook: nothing to send."


# Claims


def test_a_second_worker_does_not_get_a_claimed_row(team):
    make_notification(team)
    first = notifications_claim_due(NOW, limit=10)
    second = notifications_claim_due(NOW + timedelta(seconds=30), limit=10)
    assert len(first) == 1
    assert second == []


def test_two_workers_claim_different_rows(team):
    make_notification(team)
    make_notification(team)
    first = notifications_claim_due(NOW, limit=1)
    second = notifications_claim_due(NOW, limit=1)
    assert {row.pk for row in first}.isdisjoint(row.pk for row in second)
    assert first[0].claim_token != second[0].claim_token


def test_a_claim_older_than_the_timeout_is_taken_over(team):
    make_notification(team)
    [stale] = notifications_claim_due(NOW, limit=1)
    [taken] = notifications_claim_due(NOW + CLAIM_TIMEOUT + timedelta(seconds=1), limit=1)
    assert taken.pk == stale.pk
    assert taken.claim_token != stale.claim_token


def test_a_worker_whose_claim_was_taken_over_does_not_record_its_outcome(team, mailoutbox):
    make_notification(team)
    [stale] = notifications_claim_due(NOW, limit=1)
    later = NOW + CLAIM_TIMEOUT + timedelta(seconds=1)
    [taken] = notifications_claim_due(later, limit=1)
    notification_deliver(stale, now=later)
    row = reloaded(taken)
    assert row.status == NotificationStatus.PENDING
    assert row.claim_token == taken.claim_token


def test_a_run_skips_rows_another_worker_is_sending(team, mailoutbox):
    make_notification(team)
    notifications_claim_due(NOW, limit=1)
    result = notifications_send_due(NOW + timedelta(minutes=1))
    assert (result.sent, mailoutbox) == (0, [])


# Webhooks


def test_it_posts_the_webhook_as_a_slack_message(team, mailoutbox, webhook_ok, settings):
    settings.SITE_URL = "https://spend.example.com"
    make_notification(team, webhook_url=WEBHOOK)
    notifications_send_due(NOW)
    payload = json.loads(webhook_ok.calls.last.request.content)
    assert payload["text"] == f"{SUBJECT}\nhttps://spend.example.com/t/maven/alerts/"
    assert payload["blocks"][0]["type"] == "section"
    assert "<https://spend.example.com/t/maven/alerts/|" in payload["blocks"][0]["text"]["text"]


def test_it_escapes_slack_markup_in_the_subject(team, webhook_ok):
    make_notification(team, subject="p95 > 10 s & rising", recipients=[], webhook_url=WEBHOOK)
    notifications_send_due(NOW)
    payload = json.loads(webhook_ok.calls.last.request.content)
    assert payload["text"].startswith("p95 &gt; 10 s &amp; rising")


def test_with_no_recipients_it_only_posts_the_webhook(team, mailoutbox, webhook_ok):
    row = make_notification(team, recipients=[], webhook_url=WEBHOOK)
    notifications_send_due(NOW)
    assert webhook_ok.call_count == 1
    assert mailoutbox == []
    assert reloaded(row).status == NotificationStatus.SENT


def test_a_failing_webhook_leaves_it_pending_without_sending_the_email(
    team, mailoutbox, respx_mock
):
    respx_mock.post(WEBHOOK).mock(return_value=httpx.Response(500))
    row = make_notification(team, webhook_url=WEBHOOK)
    notifications_send_due(NOW)
    row = reloaded(row)
    assert (row.status, row.attempts) == (NotificationStatus.PENDING, 1)
    assert row.last_error == "Webhook not posted: HTTP 500."
    assert mailoutbox == []


def test_after_a_webhook_failure_the_retry_sends_the_email_once(team, mailoutbox, respx_mock):
    route = respx_mock.post(WEBHOOK)
    route.side_effect = [httpx.Response(503), httpx.Response(200)]
    row = make_notification(team, webhook_url=WEBHOOK)
    notifications_send_due(NOW)
    notifications_send_due(NOW + timedelta(minutes=1))
    assert route.call_count == 2
    assert len(mailoutbox) == 1
    assert reloaded(row).status == NotificationStatus.SENT


def test_when_only_the_email_fails_the_retry_repeats_the_webhook_not_the_email(
    team, failing_smtp, settings, mailoutbox, webhook_ok
):
    make_notification(team, webhook_url=WEBHOOK)
    notifications_send_due(NOW)
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    notifications_send_due(NOW + timedelta(minutes=1))
    assert webhook_ok.call_count == 2
    assert len(mailoutbox) == 1


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (httpx.ConnectError("refused"), "Webhook not posted: ConnectError."),
        (httpx.ReadTimeout("slow"), "Webhook not posted: no answer within 8 s."),
    ],
)
def test_an_unreachable_webhook_leaves_it_pending(team, respx_mock, error, expected):
    respx_mock.post(WEBHOOK).mock(side_effect=error)
    row = make_notification(team, recipients=[], webhook_url=WEBHOOK)
    notifications_send_due(NOW)
    row = reloaded(row)
    assert (row.status, row.last_error) == (NotificationStatus.PENDING, expected)


def test_an_unexpected_error_keeps_the_webhook_url_out_of_the_error(team, respx_mock):
    respx_mock.post(WEBHOOK).mock(side_effect=ValueError(f"cannot post to {WEBHOOK}"))
    row = make_notification(team, recipients=[], webhook_url=WEBHOOK)
    notifications_send_due(NOW)
    row = reloaded(row)
    assert row.status == NotificationStatus.PENDING
    assert "s3cr3t" not in row.last_error


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/admin/",
        "http://169.254.169.254/latest/meta-data/",
        "http://2130706433:5432/",
        "http://[::ffff:10.0.0.1]/hook",
        "https://hooks.slack.example/services/T000/B000/s3cr3t-t0ken",
    ],
)
def test_it_never_posts_to_an_internal_address(team, respx_mock, dns, mailoutbox, url):
    dns["hooks.slack.example"] = ["10.0.0.5"]  # a name that resolves inside, at send time
    anything = respx_mock.route().respond(200)
    row = make_notification(team, webhook_url=url)
    notifications_send_due(NOW)
    row = reloaded(row)
    assert not anything.called
    assert (row.status, row.failed_part) == (NotificationStatus.PENDING, "webhook")
    assert "private or local network" in row.last_error
    assert mailoutbox == []


def test_it_does_not_follow_a_webhook_redirect(team, respx_mock):
    respx_mock.post(WEBHOOK).respond(307, headers={"Location": "http://127.0.0.1:8000/"})
    inside = respx_mock.route(host="127.0.0.1").respond(200)
    row = make_notification(team, recipients=[], webhook_url=WEBHOOK)
    notifications_send_due(NOW)
    assert not inside.called
    assert reloaded(row).last_error == "Webhook not posted: HTTP 307."


def test_it_records_which_part_failed_and_when(team, failing_smtp, webhook_ok):
    row = make_notification(team, webhook_url=WEBHOOK)
    notifications_send_due(NOW)
    row = reloaded(row)
    assert (row.failed_part, row.last_attempt_at) == ("email", NOW)


def test_a_run_stops_claiming_when_its_time_is_spent(team, mailoutbox):
    rows = [make_notification(team) for _ in range(3)]
    seconds = iter([0, 10, 46])  # start, before the 1st row, before the 2nd row
    result = notifications_send_due(NOW, budget_seconds=45, clock=lambda: next(seconds))
    assert len(mailoutbox) == 1
    assert result.out_of_time
    later = [reloaded(row) for row in rows[1:]]
    assert [(row.status, row.attempts, row.claimed_at) for row in later] == [
        (NotificationStatus.PENDING, 0, None)
    ] * 2


def test_the_rows_left_at_the_time_limit_go_out_in_the_next_run(team, mailoutbox):
    make_notification(team)
    make_notification(team)
    seconds = iter([0, 10, 46])
    notifications_send_due(NOW, budget_seconds=45, clock=lambda: next(seconds))
    notifications_send_due(NOW + timedelta(minutes=1))
    assert len(mailoutbox) == 2


def test_a_team_whose_webhook_times_out_does_not_hold_up_other_teams(
    team, other_team, respx_mock, mailoutbox
):
    slow = respx_mock.post(WEBHOOK).mock(side_effect=httpx.ReadTimeout("slow"))
    other_hook = respx_mock.post("https://chat.rival.example/hook").respond(200)
    slow_rows = [make_notification(team, recipients=[], webhook_url=WEBHOOK) for _ in range(3)]
    other = make_notification(
        other_team, recipients=[], webhook_url="https://chat.rival.example/hook"
    )
    notifications_send_due(NOW)
    assert slow.call_count == 1
    assert other_hook.call_count == 1
    assert reloaded(other).status == NotificationStatus.SENT
    put_off = reloaded(slow_rows[2])
    assert (put_off.attempts, put_off.next_attempt_at) == (0, NOW + timedelta(minutes=1))


def test_a_subject_with_line_breaks_is_sent_on_one_line(team, mailoutbox):
    make_notification(team, subject="Rule\r\nBcc: victim@example.com")
    notifications_send_due(NOW)
    assert mailoutbox[0].subject == "Rule Bcc: victim@example.com"
    assert "victim@example.com" not in mailoutbox[0].bcc


# The task


def test_the_task_records_a_job_run(team, mailoutbox):
    make_notification(team, next_attempt_at=NOW - timedelta(days=1))
    send_alert_notifications()
    run = JobRun.objects.get(name="send_alert_notifications")
    assert run.outcome == JobRun.Outcome.OK
    assert run.detail == "sent 1, retrying 0, failed 0"
    assert len(mailoutbox) == 1


def test_the_task_is_registered_under_its_name():
    assert send_alert_notifications.name == "billing.delivery_tasks.send_alert_notifications"


def test_the_task_records_an_unexpected_error_and_raises_it_for_a_retry(db, monkeypatch):
    def database_gone(**kwargs):
        raise OperationalError("server closed the connection")

    monkeypatch.setattr("billing.alerts.tasks.notifications_send_due", database_gone)
    with pytest.raises(OperationalError):
        send_alert_notifications()
    run = JobRun.objects.get(name="send_alert_notifications")
    assert run.outcome == JobRun.Outcome.FAILED


def test_the_task_retries_unexpected_errors_with_backoff():
    assert send_alert_notifications.autoretry_for == (Exception,)
    assert send_alert_notifications.retry_backoff is True
    assert send_alert_notifications.max_retries == 5
