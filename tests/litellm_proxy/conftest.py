"""Fixtures that run a real LiteLLM proxy, a fake upstream and a live dashboard process.

Every test module here is marked `litellm_proxy` (`-m 'not litellm_proxy'` leaves them out).
Without the proxy's runtime modules (the dev dependency group installs them) the proxy
fixtures skip with the missing names; on CI (CI=true) that is an error instead, as a missing
install step would otherwise hide. The live dashboard needs PostgreSQL (a second process
cannot open SQLite's in-memory test database).
"""

import os
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.db import connection

from billing.bench.dashboard_process import DashboardProcess
from billing.bench.fake_upstream import FakeUpstream
from billing.bench.litellm_proxy import LiteLLMProxy, missing_proxy_modules
from billing.bench.processes import database_url


@pytest.fixture(scope="session")
def proxy_modules() -> None:
    missing = missing_proxy_modules()
    if not missing:
        return
    reason = f"the LiteLLM proxy's runtime modules are missing: {', '.join(missing)} (uv sync)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def fake_upstream():
    with FakeUpstream() as upstream:
        yield upstream


@pytest.fixture
def litellm_proxy(proxy_modules):
    """start(config, env=...) -> a started LiteLLMProxy; every one is stopped after the test."""
    proxies: list[LiteLLMProxy] = []

    def start(config: Path, **options) -> LiteLLMProxy:
        proxies.append(LiteLLMProxy(config, **options))
        return proxies[-1].start()

    yield start
    for proxy in proxies:
        proxy.stop()


@pytest.fixture
def dashboard_process(transactional_db, settings, tmp_path):
    """A gunicorn of this project on the test database, started; stop() and start() again
    keep its port. Skipped unless the test database is PostgreSQL."""
    if connection.vendor != "postgresql":
        pytest.skip(
            "the live dashboard process needs the test database on PostgreSQL "
            "(set DATABASE_URL=postgresql://...)"
        )
    # One Fernet key for this process and the server, so both read the provider keys.
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    server = DashboardProcess(
        database_url=database_url(connection.settings_dict),
        encryption_keys=settings.FIELD_ENCRYPTION_KEYS,
        log_dir=tmp_path,
    )
    yield server.start()
    server.stop()
