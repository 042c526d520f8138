from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse

from dashboard.celery import app
from dashboard.schedule import JOBS, beat_schedule, scheduled_jobs


@pytest.fixture(scope="module")
def registered():
    app.loader.import_default_modules()
    return set(app.tasks)


@pytest.mark.parametrize("entry", sorted(app.conf.beat_schedule))
def test_every_beat_entry_names_a_task_the_worker_knows(entry, registered):
    assert app.conf.beat_schedule[entry]["task"] in registered


@pytest.mark.parametrize("entry", sorted(app.conf.beat_schedule))
def test_every_beat_entry_expires_before_its_next_run(entry):
    schedule = app.conf.beat_schedule[entry]
    assert 0 < schedule["options"]["expires"] < schedule["schedule"]


def test_alerts_are_evaluated_and_sent_every_minute_and_tao_polled_every_five():
    periods = {entry["task"]: entry["schedule"] for entry in app.conf.beat_schedule.values()}
    assert periods["billing.alert_tasks.evaluate_alerts"] == 60
    assert periods["billing.delivery_tasks.send_alert_notifications"] == 60
    assert periods["billing.tasks.poll_tao_price"] == 300


def test_beat_runs_exactly_the_scheduled_jobs():
    assert sorted(entry["task"] for entry in app.conf.beat_schedule.values()) == sorted(
        job.task for job in JOBS
    )


def test_a_period_comes_from_the_environment():
    jobs = {job.name: job for job in scheduled_jobs({"SCHEDULE_POLL_TAO_PRICE_SECONDS": "900"})}
    entry = beat_schedule(list(jobs.values()))["poll-tao-price"]
    assert (entry["schedule"], entry["options"]["expires"]) == (900, 870)
    assert jobs["poll_tao_price"].late_after == timedelta(minutes=31)


@pytest.mark.parametrize("value", ["often", "5", "-60"])
def test_a_nonsense_period_stops_the_start(value):
    with pytest.raises(ImproperlyConfigured, match="SCHEDULE_HEARTBEAT_SECONDS"):
        scheduled_jobs({"SCHEDULE_HEARTBEAT_SECONDS": value})


def test_the_jobs_page_lists_the_scheduled_jobs_with_their_periods(client, admin_user, team):
    client.force_login(admin_user)
    page = client.get(reverse("alert_jobs", kwargs={"team": team.slug})).content.decode()
    for job in JOBS:
        assert f'data-testid="job-{job.name}"' in page
        assert job.env_var in page
    assert "5 min" in page
