"""The ingest benchmark: COPY limits against end-to-end HTTP ingest through gunicorn and
import_usage of a file.

Every figure is measured in the same run on the same machine, so the ratios mean something.
"""

import copy
import json
import logging
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from cryptography.fernet import Fernet
from django.conf import settings
from django.db import connection, transaction

from billing.bench.data import bench_tao_prices
from billing.bench.overview import Timing, overview_page, page_client, timed
from billing.bench.processes import database_url
from billing.bench.usage_file import usage_jsonl_write
from billing.ingest.events import event_from_json
from billing.ingest.store import event_rows, usage_forget, usage_store
from billing.models import TaoPrice, UsageRollup
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


# TAO quotes as the price feed keeps them (poll_tao_price runs every 5 minutes), so pricing
# Chutes calls reads as many quotes as it does in production.
TAO_SOURCE = "bench-ingest"
TAO_POLL = timedelta(minutes=5)


def tao_quotes_store(start: datetime, end: datetime) -> int:
    """A TAO quote every 5 minutes from `start` to `end`; returns how many."""
    return bench_tao_prices(start, end, step=TAO_POLL, source=TAO_SOURCE)


def tao_quotes_clear() -> None:
    TaoPrice.objects.filter(source=TAO_SOURCE).delete()


def bench_team(slug: str) -> Team:
    """A fresh team for one phase, so every phase lands new rows."""
    team, _ = Team.objects.get_or_create(slug=slug, defaults={"name": f"Benchmark {slug}"})
    UsageRollup.objects.filter(team=team).delete()
    usage_forget(team)
    return team


def moments(count: int, start: datetime, days: int | None = None) -> list[datetime]:
    """One a second from `start`; or, with `days`, spread evenly over that many days in a
    shuffled order, so that every batch of them spans the whole range (a backfill)."""
    if days is None:
        return [start + timedelta(seconds=number) for number in range(count)]
    step = timedelta(days=days) / count
    spread = [start + step * number for number in range(count)]
    random.Random(f"spread-{count}-{days}").shuffle(spread)  # noqa: S311 - not a secret
    return spread


def canonical_events(count: int, start: datetime, days: int | None = None) -> list[dict]:
    events = []
    for number, moment in enumerate(moments(count, start, days)):
        provider, model, task = ROUTES[number % len(ROUTES)]
        events.append(
            {
                "id": f"bench-{number}",
                "timestamp": moment.isoformat(),
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


def litellm_payloads(count: int, start: datetime, days: int | None = None) -> list[dict]:
    sample = json.loads(LITELLM_SAMPLE.read_text())
    payloads = []
    for number, moment in enumerate(moments(count, start, days)):
        payload = copy.deepcopy(sample)
        begin = moment.timestamp()
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


def lean_copy_rate(events: list[dict], batch: int) -> Rate:
    """The floor under any ingest: COPY + INSERT ... ON CONFLICT DO NOTHING of plain rows,
    prepared beforehand, into a lean table (a few columns, a unique (team_id, event_id) key),
    one transaction a batch as ingest commits. The table is logged, as the usage table is."""
    now = datetime.now(UTC)
    rows = [
        (1, item["id"], now, item["input_tokens"], item["output_tokens"], item["latency_ms"])
        for item in events
    ]
    columns = "team_id, event_id, occurred_at, input_tokens, output_tokens, latency_ms"
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_lean_usage")
        cursor.execute(
            "CREATE TABLE bench_lean_usage (team_id integer NOT NULL, event_id text NOT NULL, "
            "occurred_at timestamptz NOT NULL, input_tokens bigint, output_tokens bigint, "
            "latency_ms integer, UNIQUE (team_id, event_id))"
        )
    try:
        started = time.perf_counter()
        for start in range(0, len(rows), batch):
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    "CREATE TEMP TABLE IF NOT EXISTS bench_lean_staging "
                    "AS SELECT * FROM bench_lean_usage WITH NO DATA"
                )
                cursor.execute("TRUNCATE bench_lean_staging")
                with cursor.copy(f"COPY bench_lean_staging ({columns}) FROM STDIN") as copy:
                    for row in rows[start : start + batch]:
                        copy.write_row(row)
                cursor.execute(
                    f"INSERT INTO bench_lean_usage ({columns}) SELECT {columns} "  # noqa: S608
                    "FROM bench_lean_staging ON CONFLICT (team_id, event_id) DO NOTHING"
                )
        seconds = time.perf_counter() - started
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS bench_lean_usage")
            cursor.execute("DROP TABLE IF EXISTS bench_lean_staging")
    return Rate(len(rows), seconds)


def same_table_copy_rate(team: Team, events: list[dict], batch: int) -> Rate:
    """COPY + INSERT ... ON CONFLICT DO NOTHING of rows prepared beforehand into the usage
    table itself (its indexes and constraints), nothing else: no validation, no rollups."""
    now = datetime.now(UTC)
    cleaned = [event_from_json(item, now=now)[0] for item in events]
    rows = event_rows(team, cleaned, now=now)
    started = time.perf_counter()
    for start in range(0, len(rows), batch):
        with transaction.atomic():
            usage_store(rows[start : start + batch])
    return Rate(len(rows), time.perf_counter() - started)


def production_env() -> dict[str, str]:
    """The environment of a child process run as in production (DEBUG off), on this
    process's database, also when it is a test database."""
    return {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": settings.SECRET_KEY,  # tokens are hashed with it
        "ALLOWED_HOSTS": "127.0.0.1",
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "SECURE_SSL_REDIRECT": "false",
        "LOG_LEVEL": "WARNING",
        "DATABASE_URL": database_url(connection.settings_dict),
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    """A real gunicorn serving this project with production settings, on loopback."""

    def __init__(self, workers: int):
        self.port = _free_port()
        env = production_env()
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


# import_usage's summary: "N rows read: A accepted, ... in S.Ss (R rows/s)."
IMPORT_SUMMARY = re.compile(r"([\d,]+) rows read: ([\d,]+) accepted.* in ([\d.]+)s")


@dataclass
class ImportRun:
    rate: Rate
    peak_rss_mb: float
    file_mb: float


def import_run(team: Team, *, events: int, days: int, directory: Path) -> ImportRun:
    """`manage.py import_usage` of a generated JSON Lines file in a child process: its rate as
    the command reports it (the import, not Django's start) and the child's peak RSS."""
    path = directory / "bench-import.jsonl"
    size = usage_jsonl_write(path, events=events, days=days, end=datetime.now(UTC))
    log = directory / "bench-import.log"
    command = [sys.executable, "manage.py", "import_usage", str(path), "--team", team.slug]
    peak_mb = 0.0
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603
            command,
            cwd=settings.BASE_DIR,
            env=production_env(),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        # Read from /proc while it runs: the rusage of a child counts the memory of the
        # process it was forked from, this one, before it ran the command.
        while process.poll() is None:
            with suppress(FileNotFoundError, ProcessLookupError):
                peak_mb = max(peak_mb, peak_rss_mb(process.pid))
            time.sleep(0.05)
    text = log.read_text(errors="replace")
    summary = IMPORT_SUMMARY.search(text)
    if process.returncode or summary is None:
        raise RuntimeError(f"import_usage failed (exit {process.returncode}):\n{text[-2000:]}")
    accepted = int(summary[2].replace(",", ""))
    if accepted != events:
        raise RuntimeError(f"import_usage accepted {accepted:,} of {events:,} events")
    return ImportRun(Rate(accepted, float(summary[3])), peak_mb, size / 1024**2)


def overview_timing(team: Team, *, runs: int, days: int = 90) -> Timing:
    """The team's overview page over `days` days, timed `runs` times in this process."""
    client, url = page_client(team)
    return timed(overview_page(client, url, f"range={days}d"), runs)


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
