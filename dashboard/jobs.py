"""Recording scheduled job runs, so a scheduler that stopped is noticed."""

from contextlib import contextmanager

from django.utils import timezone

from dashboard.models import JobRun


@contextmanager
def recorded_run(name: str):
    """Record a run of the named job: started, finished and whether it raised."""
    run = JobRun.objects.create(name=name)
    try:
        yield run
    except Exception as error:
        _finish(run, JobRun.Outcome.FAILED, f"{type(error).__name__}: {error}")
        raise
    _finish(run, JobRun.Outcome.OK, run.detail)


def _finish(run: JobRun, outcome: str, detail: str) -> None:
    run.finished_at = timezone.now()
    run.outcome = outcome
    run.detail = detail
    run.save(update_fields=["finished_at", "outcome", "detail"])


def last_run(name: str) -> JobRun | None:
    return JobRun.objects.filter(name=name).first()
