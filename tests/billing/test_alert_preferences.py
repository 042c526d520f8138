"""Each person's alert preferences: the page, delivery honouring them, and the daily digest."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from billing.alerts import tasks
from billing.alerts.delivery import notifications_send_due
from billing.alerts.evaluation import alerts_evaluate
from billing.alerts.preferences import alert_preference_save, digests_send
from billing.models import AlertKind, AlertPreference
from dashboard.models import JobRun, Role
from dashboard.schedule import JOBS
from tests.factories import AlertRuleFactory, TaoPriceFactory

NOW = datetime(2026, 5, 14, 16, 0, tzinfo=UTC)
URL = "/account/notifications/"


@pytest.fixture
def tao_alert(db, clock, admin_user):
    """A global TAO rule telling admins and a treasury address, fired at NOW, not yet sent."""
    TaoPriceFactory(at=NOW - timedelta(minutes=70), usd=Decimal("146.20"))
    TaoPriceFactory(at=NOW - timedelta(minutes=5), usd=Decimal("166.95"))
    AlertRuleFactory(
        kind=AlertKind.TAO_PRICE_SPIKE,
        recipient_roles=[Role.ADMIN],
        extra_emails=["treasury@example.com"],
    )


def _bcc(mailoutbox):
    return sorted(address for message in mailoutbox for address in message.bcc)


def test_it_sends_anonymous_visitors_to_the_login_page(client, db):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_it_offers_email_at_once_by_default(client, outsider):
    client.force_login(outsider)
    response = client.get(URL)
    assert response.status_code == 200
    assert b'value="email" required id="id_tao_0" checked' in response.content


def test_it_shows_the_users_saved_choice(client, outsider):
    alert_preference_save(user=outsider, deliveries={"tao": "digest"})
    client.force_login(outsider)
    response = client.get(URL)
    assert b'value="digest" required id="id_tao_1" checked' in response.content


def test_it_saves_the_signed_in_users_choices(client, outsider):
    client.force_login(outsider)
    response = client.post(
        URL,
        {
            "tao": "none",
            "budget": "digest",
            "health": "email",
            "proxy": "email",
            "treasury": "email",
        },
    )
    assert response.status_code == 302
    assert outsider.alert_preference.deliveries["tao"] == "none"


def test_a_user_edits_only_their_own_preferences(client, outsider, admin_user):
    alert_preference_save(user=admin_user, deliveries={"tao": "email"})
    client.force_login(outsider)
    form = {
        "tao": "none",
        "budget": "email",
        "health": "email",
        "proxy": "email",
        "treasury": "email",
    }
    client.post(URL, form | {"user": admin_user.pk})
    assert AlertPreference.objects.get(user=admin_user).deliveries == {"tao": "email"}


def test_an_unknown_choice_is_refused_and_the_form_says_so(client, outsider):
    client.force_login(outsider)
    response = client.post(
        URL,
        {
            "tao": "pigeon",
            "budget": "email",
            "health": "email",
            "proxy": "email",
            "treasury": "email",
        },
    )
    assert response.status_code == 400
    assert b"Select a valid choice" in response.content
    assert not AlertPreference.objects.filter(user=outsider).exists()


def test_the_user_menu_links_to_the_page(admin_client, team):
    response = admin_client.get(reverse("overview", kwargs={"team": team.slug}))
    assert f'href="{URL}"'.encode() in response.content


def test_a_person_who_chose_none_gets_no_email_of_that_kind(tao_alert, admin_user, mailoutbox):
    alert_preference_save(user=admin_user, deliveries={"tao": "none"})
    alerts_evaluate()
    notifications_send_due()
    assert _bcc(mailoutbox) == ["treasury@example.com"]


def test_a_person_who_chose_the_digest_gets_no_email_at_once(tao_alert, admin_user, mailoutbox):
    alert_preference_save(user=admin_user, deliveries={"tao": "digest"})
    alerts_evaluate()
    notifications_send_due()
    assert "admin-user@example.com" not in _bcc(mailoutbox)


def test_a_choice_for_another_group_leaves_the_email_alone(tao_alert, admin_user, mailoutbox):
    alert_preference_save(user=admin_user, deliveries={"budget": "none"})
    alerts_evaluate()
    notifications_send_due()
    assert "admin-user@example.com" in _bcc(mailoutbox)


def test_the_digest_lists_the_days_alerts_once(tao_alert, admin_user, mailoutbox, clock):
    alert_preference_save(user=admin_user, deliveries={"tao": "digest"})
    alerts_evaluate()
    clock.shift(timedelta(hours=1))
    mailoutbox.clear()
    assert digests_send() == 1
    [digest] = mailoutbox
    assert digest.to == ["admin-user@example.com"]
    assert digest.body.count("TAO up 14.2% in 1 h") == 1
    assert "2026-05-14 16:00 UTC" in digest.body


def test_the_digest_is_sent_once_a_day(tao_alert, admin_user, mailoutbox, clock):
    alert_preference_save(user=admin_user, deliveries={"tao": "digest"})
    alerts_evaluate()
    digests_send()
    alerts_evaluate(now=NOW + timedelta(minutes=30))
    assert digests_send(now=NOW + timedelta(hours=2)) == 0


def test_a_digest_with_nothing_to_say_is_not_sent(db, admin_user, mailoutbox):
    alert_preference_save(user=admin_user, deliveries={"tao": "digest"})
    assert digests_send(now=NOW) == 0
    assert mailoutbox == []


def test_a_failed_digest_is_sent_by_the_next_run(tao_alert, admin_user, mailoutbox, monkeypatch):
    alert_preference_save(user=admin_user, deliveries={"tao": "digest"})
    alerts_evaluate()
    monkeypatch.setattr("django.core.mail.EmailMessage.send", _refuse)
    with pytest.raises(OSError):
        digests_send(now=NOW + timedelta(minutes=1))
    monkeypatch.undo()
    assert digests_send(now=NOW + timedelta(minutes=2)) == 1


def test_the_digest_task_records_a_job_run(db):
    tasks.send_alert_digests()
    assert JobRun.objects.get(name="send_alert_digests").outcome == JobRun.Outcome.OK


def test_the_digest_job_is_in_the_schedule():
    assert "billing.alert_tasks.send_alert_digests" in [job.task for job in JOBS]


def _refuse(*args, **kwargs):
    raise OSError("connection refused")
