"""Run the web app and a Celery worker with beat together; Ctrl-C stops both."""

import os
import signal
import subprocess
import sys
import time
import urllib.request

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from dashboard.management.commands.seed_demo import demo_logins


class Command(BaseCommand):
    help = "Start the web app at http://127.0.0.1:8000 and a Celery worker with embedded beat."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args, port, **options):
        settings.VAR_DIR.mkdir(exist_ok=True)
        address = f"127.0.0.1:{port}"
        if _answers(f"http://{address}/api/v1/health"):
            raise CommandError(f"Something already answers on {address}: stop it and run again.")
        commands = {
            "web": [sys.executable, "manage.py", "runserver", "--noreload", address],
            "worker": [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "dashboard",
                "worker",
                "--beat",
                "--loglevel",
                "INFO",
                "--concurrency",
                "1",
                "--schedule",
                settings.CELERY_BEAT_SCHEDULE_FILENAME,
            ],
        }
        # Ctrl-C, a closing terminal or a plain `kill` all stop the children too. SIGINT is set
        # explicitly because a shell that starts us in the background leaves it ignored.
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, _interrupt)
        processes = {
            name: subprocess.Popen(command, cwd=settings.BASE_DIR, start_new_session=True)  # noqa: S603
            for name, command in commands.items()
        }
        try:
            self._wait_until_up(address, processes)
            self.stdout.write(self.style.SUCCESS(f"\nThe dashboard is up at http://{address}/"))
            pids = ", ".join(f"{name} pid {process.pid}" for name, process in processes.items())
            self.stdout.write(f"({pids})")
            self.stdout.write(demo_logins())
            self.stdout.write(
                "Celery worker with beat is running. Press Ctrl-C to stop everything.\n"
            )
            while all(process.poll() is None for process in processes.values()):
                time.sleep(0.5)
            stopped = [name for name, process in processes.items() if process.poll() is not None]
            raise CommandError(f"{', '.join(stopped)} stopped on its own; see the output above.")
        except KeyboardInterrupt:
            self.stdout.write("\nStopping...")
        finally:
            _stop(processes.values())

    def _wait_until_up(self, address, processes):
        deadline = time.monotonic() + 60
        while not _answers(f"http://{address}/api/v1/health"):
            if any(process.poll() is not None for process in processes.values()):
                raise CommandError("The demo failed to start; see the output above.")
            if time.monotonic() > deadline:
                raise CommandError(f"The web app did not answer on {address} within 60 s.")
            time.sleep(0.5)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - our own loopback address
            return True
    except OSError as error:
        # 503 means up but degraded, which still counts as answering.
        return getattr(error, "code", None) == 503


def _stop(processes) -> None:
    # The leaders shut down cleanly (Celery waits for its running task); anything left
    # in their process groups after the grace period is killed.
    for process in processes:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + 10
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
