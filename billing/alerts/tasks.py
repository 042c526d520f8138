"""Celery tasks of alerting: evaluating the rules, and sending what they queued. The task names
are the ones they had before billing's packages (beat and queued messages find tasks by name)."""

from celery import shared_task
from django.db import transaction

from billing.alerts.delivery import notifications_send_due
from billing.alerts.evaluation import alerts_evaluate
from billing.alerts.preferences import digests_send
from dashboard.jobs import recorded_run


class RulesFailed(Exception):
    """Some rules could not be evaluated; the others were."""


@shared_task(name="billing.alert_tasks.evaluate_alerts")
def evaluate_alerts() -> str:
    """One pass over every enabled alert rule; its summary lands in the job run's detail."""
    with recorded_run("evaluate_alerts") as run:
        result = alerts_evaluate()
        run.detail = result.summary
        if result.notifications:
            # Send what was just queued now, not at the next minute's delivery run.
            transaction.on_commit(send_alert_notifications.delay)
        if result.failed:
            # The run shows as failed (with the summary) so a broken rule gets noticed.
            raise RulesFailed(result.summary)
    return result.summary


# A failed send is not an error here: its row stays pending with its own backoff. The retries
# are for the unexpected (the database going away mid-run); claims make a rerun harmless.
@shared_task(
    name="billing.delivery_tasks.send_alert_notifications",
    autoretry_for=(Exception,),
    retry_backoff=True,
    max_retries=5,
)
def send_alert_notifications() -> None:
    with recorded_run("send_alert_notifications") as run:
        run.detail = str(notifications_send_due())


@shared_task(name="billing.alert_tasks.send_alert_digests")
def send_alert_digests() -> None:
    """The daily digest of each person who chose one for some alerts."""
    with recorded_run("send_alert_digests") as run:
        run.detail = f"{digests_send()} digests sent"
