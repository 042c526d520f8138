"""A smoke run of `manage.py bench_litellm` with tiny numbers against real proxies."""

import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

pytestmark = pytest.mark.litellm_proxy


def test_it_measures_every_mode_in_one_run(proxy_modules, transactional_db, settings):
    # `settings` restores FIELD_ENCRYPTION_KEYS, which the command sets for its dashboard.
    output = StringIO()

    call_command(
        "bench_litellm", requests=16, concurrency=2, rounds=2, ingest_events=40, batch=20,
        stdout=output,
    )  # fmt: skip

    text = output.getvalue()
    # mode, requests/s, p50, p95, failed
    failed = dict(
        re.findall(r"^(bare|generic|plugin) +[\d,.]+ +[\d.]+ +[\d.]+ +([\d,]+) ", text, re.M)
    )
    assert "generic vs bare: throughput" in text
    # How many: it flushes every 5 s and may lose its last batch at shutdown.
    assert re.search(r"^generic logger: [\d,]+ payloads reached the sink", text, re.M)
    if connection.vendor != "postgresql":
        assert failed == {"bare": "0", "generic": "0"}
        assert "plugin: needs PostgreSQL" in text
        return
    assert failed == {"bare": "0", "generic": "0", "plugin": "0"}
    # 16 requests, 20 of warm-up: each call's usage event landed, under its call id.
    assert re.search(r"^plugin: usage landed / calls +36 / 36 +all, same ids +yes$", text, re.M)
    assert re.search(r"^ingest: plugin's events / canonical +[\d.]+ ", text, re.M)
