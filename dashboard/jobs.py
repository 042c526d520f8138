"""Recording scheduled job runs, and reading them against the schedule (dashboard.schedule), so a
scheduler that stopped is noticed."""

from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone
from django.utils.module_loading import import_string

from dashboard.models import JobRun
from dashboard.schedule import JOBS, ScheduledJob


@contextmanager
def recorded_run(name: str):
    """Record a run of the named job: started, finished, and whether it raised (failed) or
    said it did not do its work (run.mark_degraded)."""
    run = JobRun.objects.create(name=name)
    try:
        yield run
    except Exception as error:
        _finish(run, JobRun.Outcome.FAILED, f"{type(error).__name__}: {error}")
        raise
    degraded = run.outcome == JobRun.Outcome.DEGRADED
    _finish(run, JobRun.Outcome.DEGRADED if degraded else JobRun.Outcome.OK, run.detail)


def _finish(run: JobRun, outcome: str, detail: str) -> None:
    run.finished_at = timezone.now()
    run.outcome = outcome
    run.detail = detail
    run.save(update_fields=["finished_at", "outcome", "detail"])


def last_run(name: str) -> JobRun | None:
    return JobRun.objects.filter(name=name).first()


@dataclass
class JobStatus:
    job: ScheduledJob | None  # None: a job seen in the runs that the schedule does not list
    name: str
    last: JobRun | None
    late: bool


def job_statuses(now: datetime, recent: list[JobRun]) -> list[JobStatus]:
    """The scheduled jobs, then other jobs seen in `recent` (newest first), with their last run."""
    statuses = []
    for job in JOBS:
        last = next((run for run in recent if run.name == job.name), None) or last_run(job.name)
        late = last is None or now - last.started_at > job.late_after
        statuses.append(JobStatus(job, job.name, last, late))
    scheduled = {job.name for job in JOBS}
    others: dict[str, JobRun] = {}
    for run in recent:
        if run.name not in scheduled:
            others.setdefault(run.name, run)
    statuses += [JobStatus(None, name, run, False) for name, run in sorted(others.items())]
    return statuses


@dataclass
class Stall:
    job: str
    minutes: int | None  # None: the job never ran, though it has work


def scheduler_stall(now: datetime) -> Stall | None:
    """A watched job that has not run for too long, which means the scheduler is down; else None.

    One indexed query a watched job; a second when it never ran at all (does it have work?).
    """
    for job in JOBS:
        if job.stalled_after is None:
            continue
        started = (
            JobRun.objects.filter(name=job.name)
            .order_by("-started_at")
            .values_list("started_at", flat=True)
            .first()
        )
        if started is None:
            if job.has_work is None or import_string(job.has_work)():
                return Stall(job.name, None)
        elif now - started > job.stalled_after:
            return Stall(job.name, int((now - started).total_seconds() // 60))
    return None
