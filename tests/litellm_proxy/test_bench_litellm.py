"""A smoke run of `manage.py bench_litellm` with tiny numbers against real proxies."""

import re
from io import StringIO

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.litellm_proxy


def test_it_measures_the_bare_proxy_and_the_generic_logger_in_one_run(
    proxy_modules, transactional_db, settings
):
    # `settings` restores FIELD_ENCRYPTION_KEYS, which the command sets for its dashboard.
    output = StringIO()

    call_command(
        "bench_litellm", requests=16, concurrency=2, rounds=2, ingest_events=40, batch=20,
        stdout=output,
    )  # fmt: skip

    text = output.getvalue()
    # mode, requests/s, p50, p95, failed
    failed = dict(re.findall(r"^(bare|generic) +[\d,.]+ +[\d.]+ +[\d.]+ +([\d,]+)$", text, re.M))
    assert failed == {"bare": "0", "generic": "0"}
    assert "generic vs bare: throughput" in text
    # Without integrations/litellm/llm_spend.py (or PostgreSQL) the plugin mode says why not.
    assert "plugin vs bare: throughput" in text or "plugin: " in text
    # How many: it flushes every 5 s and may lose its last batch at shutdown.
    assert re.search(r"^generic logger: [\d,]+ payloads reached the sink", text, re.M)
