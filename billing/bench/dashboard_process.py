"""This project served by gunicorn in a separate process, stoppable and startable on one port.

pytest-django's live_server runs in the test process, so it cannot be stopped while a proxy
keeps posting; this can. It runs with production settings (DEBUG off) against the database
the caller names (the test database, for tests), with the caller's SECRET_KEY (token hashes)
and Fernet keys (provider keys), so what the test process wrote, it reads.
"""

import os
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path

import httpx
from django.conf import settings

from billing.bench.processes import free_port, log_tail, start_logged, stop_group

START_SECONDS = 60


class DashboardProcess:
    def __init__(
        self,
        *,
        database_url: str,
        encryption_keys: list[str],
        log_dir: Path,
        workers: int = 2,
        port: int | None = None,
    ):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.log_dir = log_dir
        self.env = {
            **os.environ,
            "DEBUG": "false",
            "SECRET_KEY": settings.SECRET_KEY,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "FIELD_ENCRYPTION_KEYS": ",".join(encryption_keys),
            "SECURE_SSL_REDIRECT": "false",
            "LOG_LEVEL": "WARNING",
            "DATABASE_URL": database_url,
            "PYTHONUNBUFFERED": "1",
        }
        self.process: subprocess.Popen | None = None
        self.starts = 0
        self.log: Path | None = None

    def start(self) -> "DashboardProcess":
        self.log = self.log_dir / f"dashboard-{self.starts}.log"
        self.starts += 1
        command = [
            sys.executable, "-m", "gunicorn", "dashboard.wsgi",
            "--bind", f"127.0.0.1:{self.port}", "--workers", str(self.workers),
            "--timeout", "120", "--graceful-timeout", "5", "--log-level", "warning",
        ]  # fmt: skip
        self.process = start_logged(command, log=self.log, cwd=settings.BASE_DIR, env=self.env)
        deadline = time.monotonic() + START_SECONDS
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the dashboard exited ({self.process.returncode}) on start" + self.log_tail()
                )
            with suppress(httpx.HTTPError):
                httpx.get(f"{self.url}/api/v1/health", timeout=2)
                return self
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the dashboard did not answer within {START_SECONDS} s")
            time.sleep(0.2)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """SIGTERM (gunicorn's graceful stop), then SIGKILL to anything left in its group."""
        if self.process is not None:
            stop_group(self.process)

    def log_tail(self, chars: int = 4000) -> str:
        return log_tail(self.log, "Dashboard log", chars)
