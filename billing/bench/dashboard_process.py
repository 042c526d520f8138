"""This project served by gunicorn in a separate process, stoppable and startable on one port.

pytest-django's live_server runs in the test process, so it cannot be stopped while a proxy
keeps posting; this can. It runs with production settings (DEBUG off) against the database
the caller names (the test database, for tests), with the caller's SECRET_KEY (token hashes)
and Fernet keys (provider keys), so what the test process wrote, it reads.
"""

import os
import signal
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path
from urllib.parse import quote, urlencode

import httpx
from django.conf import settings

from tests.litellm_proxy.proxy import free_port

START_SECONDS = 60
STOP_SECONDS = 10


def database_url(database: dict) -> str:
    """A DATABASE_URL for dashboard.env.database_from_url naming this connection's database."""
    user = quote(database["USER"] or "", safe="")
    if database["PASSWORD"]:
        user += ":" + quote(database["PASSWORD"], safe="")
    host = (database["HOST"] or "127.0.0.1") + (f":{database['PORT']}" if database["PORT"] else "")
    query = urlencode(database.get("OPTIONS") or {})
    return f"postgresql://{user}@{host}/{quote(database['NAME'], safe='')}" + (
        f"?{query}" if query else ""
    )


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
        with self.log.open("wb") as output:
            self.process = subprocess.Popen(  # noqa: S603
                command,
                cwd=settings.BASE_DIR,
                env=self.env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
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
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            with suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=STOP_SECONDS)
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def log_tail(self, chars: int = 4000) -> str:
        if self.log is None or not self.log.exists():
            return ""
        return (
            f"\nDashboard log (last {chars} chars):\n"
            + self.log.read_text(errors="replace")[-chars:]
        )
