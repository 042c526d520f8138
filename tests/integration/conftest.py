"""Integration tests: a real Celery worker process against Redis and the test database.

The worker is a separate process, so it sees only committed rows: every test here runs on
transactional_db and hands the worker the test database's own connection settings (pytest-django
on PostgreSQL names it "test_" + the name in DATABASE_URL).

Skipped when the test database is SQLite in memory (no other process can open it), when
CELERY_BROKER_URL is not a redis:// URL or when Redis does not answer a PING within 1 s;
on CI (CI=true), where .ci/run starts Redis, a missing or silent Redis is an error instead.

A worker sent one task consumes a private queue; embedded beat publishes to Celery's default
queue, so two test runs sharing one Redis database could take each other's beat message: give
concurrent runs their own database number (redis://127.0.0.1:6379/N).

Each test's worker is stopped in its finalizer: SIGTERM (Celery's warm shutdown), then SIGKILL
for anything left in its process group, embedded beat included.
"""

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from uuid import uuid4

import pytest
import redis
from django.conf import settings
from django.db import connection
from kombu import Exchange, Queue
from kombu.utils.url import maybe_sanitize_url

from billing.bench.processes import database_url, log_tail, start_logged, stop_group
from dashboard.celery import app


@dataclass
class Worker:
    process: subprocess.Popen
    log: Path

    def wait_until(self, condition, *, seconds: float, what: str) -> None:
        """Poll condition() until it holds; fail with the worker's log if it never does."""
        deadline = time.monotonic() + seconds
        while not condition():
            if self.process.poll() is not None:
                self._fail(f"The worker exited ({self.process.returncode}) before {what}.")
            if time.monotonic() > deadline:
                self._fail(f"No {what} within {seconds} s.")
            time.sleep(0.2)

    def stop(self) -> None:
        stop_group(self.process)

    def _fail(self, message: str) -> None:
        pytest.fail(message + log_tail(self.log, "Worker log"), pytrace=False)


@pytest.fixture
def worker_database_url(transactional_db) -> str:
    """DATABASE_URL of the test database, for dashboard.env.database_from_url in the worker."""
    database = connection.settings_dict
    if connection.vendor == "sqlite" and connection.creation.is_in_memory_db(database["NAME"]):
        pytest.skip(
            "the test database is SQLite in memory, which a worker process cannot open: "
            "set DATABASE_URL to PostgreSQL"
        )
    return database_url(database)


@pytest.fixture
def redis_broker() -> None:
    """Skip unless CELERY_BROKER_URL is Redis and it answers; on CI, fail instead."""
    url = settings.CELERY_BROKER_URL
    shown = maybe_sanitize_url(url)
    if not url.startswith("redis://"):
        reason = f"CELERY_BROKER_URL is {shown!r}, not a redis:// URL"
    else:
        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        try:
            client.ping()
            return
        except redis.RedisError as error:
            reason = f"Redis at {shown} does not answer a PING within 1 s ({error})"
        finally:
            client.close()
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def celery_worker(worker_database_url, redis_broker, tmp_path):
    """Start `celery -A dashboard worker` with extra arguments; stopped after the test."""
    env = {**os.environ, "DATABASE_URL": worker_database_url, "PYTHONUNBUFFERED": "1"}
    workers = []

    def start(*args: str) -> Worker:
        log = tmp_path / f"worker-{len(workers)}.log"
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "dashboard",
            "worker",
            "--pool",
            "solo",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel",
            "INFO",
            "--hostname",
            f"integration-{uuid4().hex[:8]}@%h",
            *args,
        ]
        process = start_logged(command, log=log, cwd=settings.BASE_DIR, env=env)
        workers.append(Worker(process, log))
        return workers[-1]

    yield start
    for worker in workers:
        worker.stop()


@pytest.fixture
def private_queue(redis_broker):
    """A queue no worker of another test run on the same Redis consumes; removed afterwards."""
    name = f"integration-{uuid4().hex}"
    yield name
    # Named like the queues Celery makes up for send_task(queue=name) and `worker --queues name`.
    queue = Queue(name, Exchange(name), routing_key=name)
    with app.connection_for_write() as connection:
        bound = queue(connection.default_channel)
        # The Redis transport deletes only bindings it declared on the same connection.
        bound.declare()
        bound.delete()
