from celery.beat import PersistentScheduler

from dashboard.celery import app
from dashboard.models import JobRun


def _heartbeat_ran() -> bool:
    return JobRun.objects.filter(name="heartbeat", outcome=JobRun.Outcome.OK).exists()


def test_it_runs_the_heartbeat_sent_the_way_beat_sends_it(celery_worker, private_queue):
    worker = celery_worker("--queues", private_queue)
    entry = app.conf.beat_schedule["heartbeat"]
    with app.connection_for_write() as connection:
        app.send_task(entry["task"], connection=connection, queue=private_queue, **entry["options"])
    worker.wait_until(_heartbeat_ran, seconds=30, what="successful heartbeat run")


def test_embedded_beat_sends_an_overdue_heartbeat_at_start(celery_worker, tmp_path):
    """As after an outage: beat finds the heartbeat's last run a period ago and sends it at once."""
    schedule = str(tmp_path / "celerybeat-schedule")
    scheduler = PersistentScheduler(app=app, schedule_filename=schedule)
    heartbeat = scheduler.schedule["heartbeat"]
    heartbeat.last_run_at = app.now() - heartbeat.schedule.run_every
    scheduler.close()
    worker = celery_worker("--beat", "--schedule", schedule)
    worker.wait_until(_heartbeat_ran, seconds=30, what="heartbeat run sent by beat")
