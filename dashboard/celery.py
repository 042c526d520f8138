import os

from celery import Celery

from dashboard.schedule import JOBS, beat_schedule

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")

app = Celery("dashboard")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Task modules autodiscovery does not find (it imports only each app's "tasks").
app.conf.imports = ["billing.alerts.tasks", "billing.experiments.tasks", "billing.fx_tasks"]

app.conf.beat_schedule = beat_schedule(JOBS)
