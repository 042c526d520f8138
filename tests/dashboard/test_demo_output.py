"""What the demo prints: one line per email, and Celery quiet unless something fails."""

import logging
import os
import subprocess
import sys
from pathlib import Path

from django.core.mail import EmailMultiAlternatives

from dashboard.mail import OneLineEmailBackend

ROOT = Path(__file__).resolve().parents[2]


def _setting(name: str, **env) -> str:
    """A setting as a fresh process computes it from the environment."""
    code = (
        f"import django; django.setup(); from django.conf import settings; print(settings.{name})"
    )
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "dashboard.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip()


def test_it_logs_one_line_with_the_subject_and_recipients(caplog):
    message = EmailMultiAlternatives("TAO up 14%", "body", "a@x.test", bcc=["b@x.test", "c@x.test"])
    with caplog.at_level(logging.INFO, logger="dashboard.mail"):
        sent = OneLineEmailBackend().send_messages([message])
    assert sent == 1
    assert caplog.messages == ["Email sent: TAO up 14% -> b@x.test, c@x.test"]


def test_the_demo_without_an_email_host_uses_the_one_line_backend():
    backend = _setting("EMAIL_BACKEND", EMAIL_HOST="", DEBUG="true")
    assert backend == "dashboard.mail.OneLineEmailBackend"


def test_an_email_host_still_sends_by_smtp():
    backend = _setting("EMAIL_BACKEND", EMAIL_HOST="smtp.example.com", DEBUG="true")
    assert backend == "django.core.mail.backends.smtp.EmailBackend"


def test_celerys_per_task_lines_are_quiet_by_default():
    levels = {
        name: logging.getLogger(name).getEffectiveLevel()
        for name in ("celery.app.trace", "celery.worker.strategy", "celery.beat")
    }
    assert set(levels.values()) == {logging.WARNING}
