"""One email per person per event: a global TAO alert's teams and overlapping rules merged,
times with their date and zone, and the outbox guarantees kept with two workers."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.mail import EmailMessage

from billing.alerts.delivery import (
    notification_deliver,
    notifications_claim_due,
    notifications_send_due,
)
from billing.alerts.evaluation import alerts_evaluate
from billing.models import AlertKind, AlertNotification, NotificationStatus
from dashboard.models import Role
from tests.factories import (
    AlertRuleFactory,
    MembershipFactory,
    TaoPriceFactory,
    TeamFactory,
    UserFactory,
)

NOW = datetime(2026, 5, 14, 16, 0, tzinfo=UTC)


@pytest.fixture
def teams(db):
    return [
        TeamFactory(slug="maven", name="Maven", time_zone="America/New_York"),
        TeamFactory(slug="rival", name="Rival"),
        TeamFactory(slug="third", name="Third", time_zone="Europe/Berlin"),
    ]


@pytest.fixture
def boss(teams):
    user = UserFactory(username="boss")
    for team in teams:
        MembershipFactory(team=team, user=user, role=Role.ADMIN)
    return user


@pytest.fixture
def tao_move(db, clock):
    TaoPriceFactory(at=NOW - timedelta(minutes=70), usd=Decimal("146.20"))
    TaoPriceFactory(at=NOW - timedelta(minutes=5), usd=Decimal("166.95"))


def _tao_rules(count=2):
    for threshold in (5, 10)[:count]:
        AlertRuleFactory(
            kind=AlertKind.TAO_PRICE_SPIKE,
            name=f"TAO {threshold}%",
            params={"window_minutes": 60, "threshold_pct": threshold, "direction": "both"},
            recipient_roles=[Role.ADMIN],
            extra_emails=["treasury@example.com"],
        )


def _emails_to(mailoutbox, address):
    return [message for message in mailoutbox if address in message.bcc]


def test_it_sends_one_email_to_an_admin_of_three_teams_for_two_global_rules(
    tao_move, boss, mailoutbox
):
    _tao_rules()
    alerts_evaluate()
    notifications_send_due()
    assert len(_emails_to(mailoutbox, "boss@example.com")) == 1


def test_every_row_of_the_event_is_marked_sent(tao_move, boss, mailoutbox):
    _tao_rules()
    alerts_evaluate()
    notifications_send_due()
    assert set(AlertNotification.objects.values_list("status", flat=True)) == {"sent"}


def test_the_merged_email_names_the_affected_teams(tao_move, boss, mailoutbox):
    _tao_rules(count=1)
    alerts_evaluate()
    notifications_send_due()
    [email] = _emails_to(mailoutbox, "boss@example.com")
    assert email.subject.endswith("(teams Maven, Rival, Third)")
    assert "/t/maven/alerts/" in email.body and "/t/third/alerts/" in email.body


def test_the_merged_email_names_both_rules(tao_move, boss, mailoutbox):
    _tao_rules()
    alerts_evaluate()
    notifications_send_due()
    [email] = _emails_to(mailoutbox, "boss@example.com")
    assert "TAO 5%, TAO 10%" in email.body


def test_a_merged_email_for_several_teams_tells_times_in_utc_with_the_date(
    tao_move, boss, mailoutbox
):
    _tao_rules(count=1)
    alerts_evaluate()
    notifications_send_due()
    [email] = _emails_to(mailoutbox, "boss@example.com")
    assert "2026-05-14 14:50 UTC" in email.body
    assert "EDT" not in email.body and "T14:50" not in email.body


def test_a_global_alert_to_one_team_tells_times_in_that_teams_zone_with_the_date(
    tao_move, teams, mailoutbox
):
    MembershipFactory(team=teams[0], user=UserFactory(username="solo"), role=Role.ADMIN)
    _tao_rules(count=1)
    alerts_evaluate()
    notifications_send_due()
    [email] = _emails_to(mailoutbox, "solo@example.com")
    assert "2026-05-14 10:50 EDT" in email.body and "11:55 EDT" in email.body
    assert "UTC" not in email.body


def test_a_member_of_one_team_gets_that_teams_email_only(tao_move, boss, teams, mailoutbox):
    MembershipFactory(team=teams[1], user=UserFactory(username="solo"), role=Role.ADMIN)
    _tao_rules(count=1)
    alerts_evaluate()
    notifications_send_due()
    [email] = _emails_to(mailoutbox, "solo@example.com")
    assert "Maven" not in email.subject + email.body


def test_a_team_rule_names_the_team_for_someone_in_several_teams(clock, boss, teams, mailoutbox):
    notification = _team_row(teams[1], ["boss@example.com"])
    [claimed] = notifications_claim_due(NOW, limit=1)
    notification_deliver(claimed, now=NOW)
    assert mailoutbox[0].subject == f"{notification.subject} (team Rival)"


def test_two_workers_with_two_rows_of_one_event_send_one_email(tao_move, boss, mailoutbox):
    _tao_rules()
    alerts_evaluate()
    first, second = _claimed_by_two_workers()
    notification_deliver(second, now=NOW)
    notification_deliver(first, now=NOW)
    assert len(_emails_to(mailoutbox, "boss@example.com")) == 1


def test_a_failed_send_leaves_the_person_to_the_next_row(tao_move, boss, mailoutbox, monkeypatch):
    _tao_rules()
    alerts_evaluate()
    first, second = _claimed_by_two_workers()
    monkeypatch.setattr("django.core.mail.EmailMessage.send", _refuse)
    assert notification_deliver(first, now=NOW) == NotificationStatus.PENDING
    monkeypatch.undo()
    notification_deliver(second, now=NOW)
    assert len(_emails_to(mailoutbox, "boss@example.com")) == 1


def test_a_worker_sending_while_another_is_mid_send_leaves_the_person_out(
    tao_move, boss, mailoutbox, monkeypatch
):
    _tao_rules()
    alerts_evaluate()
    first, second = _claimed_by_two_workers()
    real_send, waiting = EmailMessage.send, [second]

    def send_and_let_the_other_worker_in(message, *args, **kwargs):
        # The second worker delivers while the first is inside its send.
        while waiting:
            notification_deliver(waiting.pop(), now=NOW)
        return real_send(message, *args, **kwargs)

    monkeypatch.setattr(EmailMessage, "send", send_and_let_the_other_worker_in)
    notification_deliver(first, now=NOW)
    assert len(_emails_to(mailoutbox, "boss@example.com")) == 1


def _claimed_by_two_workers():
    """Two rows of the event listing the boss, each claimed by its own worker (claim token)."""
    rows = []
    while len(rows) < 2:
        [row] = notifications_claim_due(NOW, limit=1)
        if "boss@example.com" in row.recipients:
            rows.append(row)
    return rows


def _refuse(*args, **kwargs):
    raise OSError("connection refused")


def _team_row(team, recipients):
    rule = AlertRuleFactory(team=team, kind=AlertKind.ERROR_RATE)
    alert = rule.alerts.create(team=team, dedupe_key="k", subject="Errors", fired_at=NOW)
    return AlertNotification.objects.create(
        alert=alert,
        team=team,
        event="fired",
        subject="Errors",
        text_body="...",
        recipients=recipients,
        next_attempt_at=NOW,
        merge_key=f"fired:error_rate:team:{team.id}:k:{NOW.isoformat()}",
    )
