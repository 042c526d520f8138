"""The one list of scheduled jobs: Celery beat's schedule, the Scheduled jobs page and the
scheduler banner are all built from it.

It belongs to the project layer, like settings and the root URLconf: it names each app's Celery
task by its registered name, a string that never changes (beat and queued messages find tasks by
it), so it imports no app and can be read while Celery configures itself. Each period can be
overridden from the environment, in seconds: SCHEDULE_<JOB NAME>_SECONDS.
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from django.core.exceptions import ImproperlyConfigured

MINIMUM_SECONDS = 10


@dataclass(frozen=True)
class ScheduledJob:
    name: str  # what the task records as its JobRun's name
    task: str  # the Celery task's registered name
    every: timedelta
    # Runs further apart than this mean the scheduler is down: admins see a banner.
    stalled_after: timedelta | None = None
    # When the job never ran, the banner shows only while this (a dotted path to a function of no
    # arguments) says the job has work; the project layer names it as it names task modules.
    has_work: str | None = None

    @property
    def env_var(self) -> str:
        return env_var_for(self.name)

    @property
    def expires_seconds(self) -> int:
        """Just under the period, so a backlog after an outage never queues duplicate runs."""
        seconds = int(self.every.total_seconds())
        return seconds - max(5, seconds // 30)

    @property
    def late_after(self) -> timedelta:
        """A job is late once two runs are missed, with a minute's grace."""
        return 2 * self.every + timedelta(minutes=1)

    @property
    def every_text(self) -> str:
        seconds = int(self.every.total_seconds())
        return f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} s"


def env_var_for(name: str) -> str:
    return f"SCHEDULE_{name.upper()}_SECONDS"


def _every(name: str, default_seconds: int, environ: Mapping[str, str]) -> timedelta:
    variable = env_var_for(name)
    raw = environ.get(variable, "").strip()
    if not raw:
        return timedelta(seconds=default_seconds)
    try:
        seconds = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{variable}={raw!r} is not a whole number.") from None
    if seconds < MINIMUM_SECONDS:
        raise ImproperlyConfigured(f"{variable}={seconds} must be at least {MINIMUM_SECONDS}.")
    return timedelta(seconds=seconds)


def scheduled_jobs(environ: Mapping[str, str] = os.environ) -> list[ScheduledJob]:
    def job(name, task, default_seconds, **watch) -> ScheduledJob:
        return ScheduledJob(name, task, _every(name, default_seconds, environ), **watch)

    return [
        job("heartbeat", "dashboard.tasks.heartbeat", 60),
        job(
            "evaluate_alerts",
            "billing.alert_tasks.evaluate_alerts",
            60,
            stalled_after=timedelta(minutes=10),
            has_work="billing.alerts.rules.any_rule_enabled",
        ),
        job("send_alert_notifications", "billing.delivery_tasks.send_alert_notifications", 60),
        # Hourly: each person's digest goes out once a day, an hour at most after it is due.
        job("send_alert_digests", "billing.alert_tasks.send_alert_digests", 3600),
        job("poll_tao_price", "billing.tasks.poll_tao_price", 300),
        # Rollout plans: each step's gates, and what passing or failing them does.
        job(
            "evaluate_rollouts",
            "billing.experiments.tasks.evaluate_rollouts",
            300,
            stalled_after=timedelta(hours=1),
            has_work="billing.experiments.plans.any_plan_open",
        ),
        # Daily: drops months of raw usage past USAGE_RAW_RETENTION_MONTHS (when it is set).
        job("drop_raw_usage", "billing.tasks.drop_raw_usage", 86400),
        # Daily: the ECB's reference rates for display currencies (billing.fx).
        job("fetch_fx_rates", "billing.fx_tasks.fetch_fx_rates", 86400),
    ]


JOBS = scheduled_jobs()


def beat_schedule(jobs: list[ScheduledJob]) -> dict:
    return {
        job.name.replace("_", "-"): {
            "task": job.task,
            "schedule": job.every.total_seconds(),
            "options": {"expires": job.expires_seconds},
        }
        for job in jobs
    }
