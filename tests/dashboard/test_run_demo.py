import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from billing.bench.processes import free_port

ROOT = Path(__file__).resolve().parents[2]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A child that exited but was not yet reaped by its parent is a zombie, not alive.
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "State:\tZ" in status.read_text())


def test_run_demo_serves_the_app_and_ctrl_c_stops_everything(tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        "CELERY_BROKER_URL": "",
        "CELERY_FILESYSTEM_DIR": str(tmp_path / "celery"),
        "PYTHONUNBUFFERED": "1",
    }
    python = sys.executable
    subprocess.run(  # noqa: S603
        [python, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=120
    )
    port = free_port()
    demo = subprocess.Popen(  # noqa: S603
        [python, "manage.py", "run_demo", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        lines = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not any("pid" in line for line in lines):
            lines.append(demo.stdout.readline())
        pids = [int(pid) for pid in re.findall(r"pid (\d+)", "".join(lines))]
        assert len(pids) == 2, "".join(lines)
        health = f"http://127.0.0.1:{port}/api/v1/health"
        with urllib.request.urlopen(health, timeout=5) as answer:
            assert answer.status == 200
        demo.send_signal(signal.SIGINT)
        demo.wait(timeout=30)
        assert not [pid for pid in pids if _alive(pid)]
    finally:
        if demo.poll() is None:
            demo.kill()
