"""The ingest benchmark: raw COPY speed against end-to-end HTTP ingest through gunicorn.

Every figure is measured in the same run on the same machine, so the ratios mean something.
"""

import copy
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from cryptography.fernet import Fernet
from django.conf import settings
from django.db import connection, transaction

from billing.bench.processes import database_url
from billing.ingest.events import event_from_json
from billing.ingest.store import event_rows, usage_forget, usage_store
from billing.models import UsageRollup
from dashboard.models import Team
from dashboard.tokens import token_create

# Each request would otherwise log a line: noise in the benchmark's output.
logging.getLogger("httpx").setLevel(logging.WARNING)
LITELLM_SAMPLE = Path(settings.BASE_DIR) / "tests/data/litellm/openai_success.json"
ROUTES = [
    ("chutes", "deepseek-ai/DeepSeek-V3", "code_generation"),
    ("chutes", "unsloth/Llama-3.3-70B-Instruct", "summarization"),
    ("anthropic", "claude-sonnet-4-5", "complex_analysis"),
    ("openai", "gpt-5-mini", "extraction"),
]


@dataclass
class Rate:
    events: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def bench_team(slug: str) -> Team:
    """A fresh team for one phase, so every phase lands new rows."""
    team, _ = Team.objects.get_or_create(slug=slug, defaults={"name": f"Benchmark {slug}"})
    UsageRollup.objects.filter(team=team).delete()
    usage_forget(team)
    return team


def canonical_events(count: int, start: datetime) -> list[dict]:
    events = []
    for number in range(count):
        provider, model, task = ROUTES[number % len(ROUTES)]
        events.append(
            {
                "id": f"bench-{number}",
                "timestamp": (start + timedelta(seconds=number)).isoformat(),
                "provider": provider,
                "model": model,
                "task_type": task,
                "status": "success" if number % 50 else "error",
                "input_tokens": 3000 + number % 4000,
                "cached_input_tokens": (number % 7) * 100,
                "output_tokens": 1000 + number % 2500,
                "latency_ms": 800 + number % 9000,
                "ttft_ms": 200 + number % 900,
            }
        )
    return events


def litellm_payloads(count: int, start: datetime) -> list[dict]:
    sample = json.loads(LITELLM_SAMPLE.read_text())
    payloads = []
    for number in range(count):
        payload = copy.deepcopy(sample)
        begin = (start + timedelta(seconds=number)).timestamp()
        payload.update(
            id=f"bench-litellm-{number}",
            litellm_call_id=f"bench-call-{number}",
            startTime=begin,
            endTime=begin + 1.5,
            completionStartTime=begin + 1.5,
            prompt_tokens=3000 + number % 4000,
            completion_tokens=1000 + number % 2500,
        )
        payloads.append(payload)
    return payloads


def raw_copy_rate(team: Team, events: list[dict], batch: int) -> Rate:
    """COPY + INSERT ... ON CONFLICT DO NOTHING of rows prepared beforehand, nothing else."""
    now = datetime.now(UTC)
    cleaned = [event_from_json(item, now=now)[0] for item in events]
    rows = event_rows(team, cleaned, now=now)
    started = time.perf_counter()
    for start in range(0, len(rows), batch):
        with transaction.atomic():
            usage_store(rows[start : start + batch])
    return Rate(len(rows), time.perf_counter() - started)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    """A real gunicorn serving this project with production settings, on loopback."""

    def __init__(self, workers: int):
        self.port = _free_port()
        env = {
            **os.environ,
            "DEBUG": "false",
            "SECRET_KEY": settings.SECRET_KEY,  # tokens are hashed with it
            "ALLOWED_HOSTS": "127.0.0.1",
            "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "SECURE_SSL_REDIRECT": "false",
            "LOG_LEVEL": "WARNING",
            # The database this process uses, also when it is a test database.
            "DATABASE_URL": database_url(connection.settings_dict),
        }
        command = [
            sys.executable, "-m", "gunicorn", "dashboard.wsgi",
            "--bind", f"127.0.0.1:{self.port}", "--workers", str(workers),
            "--timeout", "300", "--log-level", "warning",
        ]  # fmt: skip
        self.process = subprocess.Popen(command, cwd=settings.BASE_DIR, env=env)  # noqa: S603
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{self.url}/api/v1/health", timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("gunicorn did not start within 60 s")

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()] if children.exists() else []

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=30)


def http_rate(url: str, token: str, items: list[dict], batch: int, clients: int = 1) -> Rate:
    """Events per second landed over HTTP, `clients` senders posting batches side by side."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    bodies = [json.dumps(items[i : i + batch]).encode() for i in range(0, len(items), batch)]

    def send(share: list[bytes]) -> int:
        with httpx.Client(timeout=300) as client:
            landed = 0
            for body in share:
                response = client.post(f"{url}/api/v1/usage", content=body, headers=headers)
                response.raise_for_status()
                landed += response.json()["accepted"]
            return landed

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        accepted = sum(pool.map(send, [bodies[n::clients] for n in range(clients)]))
    seconds = time.perf_counter() - started
    if accepted != len(items):
        raise RuntimeError(f"only {accepted:,} of {len(items):,} events were accepted")
    return Rate(len(items), seconds)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def ten_mb_batch(start: datetime) -> tuple[bytes, int]:
    """LiteLLM payloads (about 13.5 KB each, as LiteLLM sends them) up to just under 10 MB."""
    payloads = litellm_payloads(1_000, start)
    size, count = 2, 0
    for payload in payloads:
        size += len(json.dumps(payload)) + 2
        if size > 10 * 1024 * 1024 - 1024:
            break
        count += 1
    return json.dumps(payloads[:count]).encode(), count


def new_token(team: Team) -> str:
    return token_create(
        team=team, name=f"bench {datetime.now(UTC):%H:%M:%S}", scopes=["usage:write"]
    )[1]


def require_postgresql() -> None:
    if connection.vendor != "postgresql":
        raise RuntimeError(
            "bench_ingest measures PostgreSQL's COPY path: set DATABASE_URL to a PostgreSQL "
            "database (e.g. postgresql://root@127.0.0.1:5432/root)."
        )
