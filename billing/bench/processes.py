"""Processes a benchmark or a test starts beside this one (gunicorn, a LiteLLM proxy, a Celery
worker): a free loopback port, the DATABASE_URL that opens this process's database, and a start
and stop that own the child's whole process group, its output in a log file."""

import os
import signal
import socket
import subprocess
from contextlib import suppress
from pathlib import Path
from urllib.parse import quote, urlencode

STOP_SECONDS = 10
LOG_TAIL_CHARS = 4000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url(database: dict) -> str:
    """The DATABASE_URL (as dashboard.env.database_from_url reads it) naming the database of
    `database`, a connection's settings_dict: another process given it opens the same database,
    the test database included. A SQLite database in memory cannot be shared: the caller checks."""
    if database["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{database['NAME']}"
    credentials = quote(database["USER"] or "", safe="")
    if database["PASSWORD"]:
        credentials += ":" + quote(database["PASSWORD"], safe="")
    host = (database["HOST"] or "") + (f":{database['PORT']}" if database["PORT"] else "")
    location = f"{credentials}@{host}" if credentials else host
    query = urlencode(database.get("OPTIONS") or {})
    return f"postgresql://{location}/{quote(database['NAME'], safe='')}" + (
        f"?{query}" if query else ""
    )


def start_logged(command: list[str], *, log: Path, cwd: Path | str, env: dict) -> subprocess.Popen:
    """Start `command` as the leader of a new process group, its stdout and stderr into `log`."""
    with log.open("wb") as output:
        return subprocess.Popen(  # noqa: S603
            command,
            cwd=cwd,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_group(process: subprocess.Popen, *, seconds: float = STOP_SECONDS) -> None:
    """SIGTERM to the leader (its graceful stop) and `seconds` to exit, then SIGKILL to whatever
    is left of its process group."""
    if process.poll() is None:
        process.terminate()
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=seconds)
    kill_group(process)


def kill_group(process: subprocess.Popen) -> None:
    """SIGKILL to the whole process group at once, as a crash: no shutdown hook runs."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def signal_group(process: subprocess.Popen, signum: int) -> None:
    """`signum` to the whole process group (SIGSTOP / SIGCONT to pause and resume it)."""
    if process.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signum)


def log_tail(log: Path | None, title: str, chars: int = LOG_TAIL_CHARS) -> str:
    """The end of a process's log for a failure message, under `title`; "" without a log."""
    if log is None or not log.exists():
        return ""
    return f"\n{title} (last {chars} chars):\n" + log.read_text(errors="replace")[-chars:]
