from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from dashboard.jobs import recorded_run
from dashboard.models import JobRun

JOB_RUN_RETENTION = timedelta(days=30)


@shared_task(name="dashboard.tasks.heartbeat")
def heartbeat() -> None:
    """Proves worker and beat are alive, and keeps the run history from growing forever."""
    with recorded_run("heartbeat") as run:
        pruned, _ = JobRun.objects.filter(
            started_at__lt=timezone.now() - JOB_RUN_RETENTION
        ).delete()
        run.detail = f"pruned {pruned} runs older than {JOB_RUN_RETENTION.days} days"
