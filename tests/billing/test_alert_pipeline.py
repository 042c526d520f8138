"""From a condition to an email: evaluation queues, the delivery task sends, exactly once."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine

from billing.alerts.tasks import evaluate_alerts
from billing.models import AlertKind
from dashboard.celery import app
from tests.factories import AlertRuleFactory, TaoPriceFactory

NOW = datetime(2026, 11, 10, 17, 0, tzinfo=UTC)


@pytest.fixture
def eager():
    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


@pytest.fixture
def tao_spike(db):
    TaoPriceFactory(at=NOW - timedelta(minutes=70), usd=Decimal("146.20"))
    TaoPriceFactory(at=NOW - timedelta(minutes=5), usd=Decimal("166.95"))
    AlertRuleFactory(
        kind=AlertKind.TAO_PRICE_SPIKE,
        name="TAO 1 h",
        params={"threshold_pct": 10, "window_minutes": 60},
        extra_emails=["ops@example.com"],
    )


def test_an_evaluation_that_queues_sends_once_it_commits(
    eager, tao_spike, mailoutbox, django_capture_on_commit_callbacks
):
    with time_machine.travel(NOW, tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            evaluate_alerts()
        with django_capture_on_commit_callbacks(execute=True):
            evaluate_alerts()
    [email] = mailoutbox
    assert email.subject == "TAO up 14.2% in 1 h: $146.20 -> $166.95"
    assert email.recipients() == ["ops@example.com"]


def test_an_evaluation_with_nothing_to_say_sends_nothing(
    eager, db, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        evaluate_alerts()
    assert callbacks == []
    assert mailoutbox == []
