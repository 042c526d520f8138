"""Celery task for sending alert notifications; the work is in billing.alerts.delivery."""

from celery import shared_task

from billing.alerts.delivery import send_due_notifications
from dashboard.jobs import recorded_run


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
        run.detail = str(send_due_notifications())
