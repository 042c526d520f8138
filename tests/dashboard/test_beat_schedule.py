import pytest

from dashboard.celery import app


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
