import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from dashboard.jobs import recorded_run
from dashboard.models import JobRun
from dashboard.tasks import heartbeat

ROOT = Path(__file__).resolve().parents[2]


def test_heartbeat_records_a_successful_run(db):
    heartbeat()
    run = JobRun.objects.get(name="heartbeat")
    assert run.outcome == JobRun.Outcome.OK
    assert run.finished_at is not None


def test_heartbeat_prunes_runs_older_than_a_month(db):
    old = JobRun.objects.create(name="heartbeat", started_at=timezone.now() - timedelta(days=31))
    heartbeat()
    assert not JobRun.objects.filter(pk=old.pk).exists()


def test_a_failing_job_is_recorded_as_failed(db):
    with pytest.raises(ZeroDivisionError), recorded_run("broken"):
        1 / 0  # noqa: B018
    run = JobRun.objects.get(name="broken")
    assert run.outcome == JobRun.Outcome.FAILED
    assert "ZeroDivisionError" in run.detail


def test_a_job_that_did_not_do_its_work_is_recorded_as_degraded(db):
    with recorded_run("poll") as run:
        run.mark_degraded("every source failed")
    run = JobRun.objects.get(name="poll")
    assert (run.outcome, run.detail) == (JobRun.Outcome.DEGRADED, "every source failed")
    assert run.finished_at is not None


def test_the_beat_schedule_lists_the_heartbeat():
    from dashboard.celery import app

    entry = app.conf.beat_schedule["heartbeat"]
    assert entry["task"] == "dashboard.tasks.heartbeat"
    assert entry["options"]["expires"] < entry["schedule"]


def test_a_real_worker_runs_tasks_on_the_embedded_transport(tmp_path):
    """The demo's worker needs no broker server: a task sent through the filesystem queue runs."""
    database = tmp_path / "worker.sqlite3"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{database}",
        "CELERY_BROKER_URL": "",
        "CELERY_FILESYSTEM_DIR": str(tmp_path / "celery"),
    }
    python = [sys.executable]
    subprocess.run(  # noqa: S603
        [*python, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=120
    )
    worker = subprocess.Popen(  # noqa: S603
        [*python, "-m", "celery", "-A", "dashboard", "worker", "--pool", "solo", "-l", "WARNING"],
        cwd=ROOT,
        env=env,
    )
    try:
        send = "from dashboard.tasks import heartbeat; heartbeat.delay()"
        subprocess.run(  # noqa: S603
            [*python, "manage.py", "shell", "-c", send], cwd=ROOT, env=env, check=True, timeout=60
        )
        count = (
            "from dashboard.models import JobRun; "
            "print(JobRun.objects.filter(outcome='ok').count())"
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            result = subprocess.run(  # noqa: S603
                [*python, "manage.py", "shell", "-c", count],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                check=True,
                timeout=60,
            )
            if result.stdout.strip().endswith("1"):
                break
            time.sleep(0.5)
        assert result.stdout.strip().endswith("1"), "the worker never ran the task"
    finally:
        worker.terminate()
        worker.wait(timeout=30)
