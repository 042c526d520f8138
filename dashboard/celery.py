import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")

app = Celery("dashboard")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Task modules autodiscovery does not find (it imports only each app's "tasks").
app.conf.imports = ["billing.alerts.tasks", "billing.alerts.delivery_tasks"]

# The one list of scheduled jobs. Each expires just under its period, so a backlog
# after an outage never queues duplicate runs.
app.conf.beat_schedule = {
    "heartbeat": {
        "task": "dashboard.tasks.heartbeat",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    "poll-tao-price": {
        "task": "billing.tasks.poll_tao_price",
        "schedule": 300.0,
        "options": {"expires": 290},
    },
    "evaluate-alerts": {
        "task": "billing.alert_tasks.evaluate_alerts",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    "send-alert-notifications": {
        "task": "billing.delivery_tasks.send_alert_notifications",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
}
