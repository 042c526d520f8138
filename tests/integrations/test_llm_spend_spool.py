import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import respx

from integrations.litellm import llm_spend
from tests.integrations.conftest import DASHBOARD, accept_all, canonical, shipped_events

PLUGIN = Path(llm_spend.__file__)


def test_it_keeps_spooled_events_across_a_restart(tmp_path):
    first = llm_spend.Spool(str(tmp_path), "proxy-a")
    first.add_many([canonical(n) for n in range(50)])
    first.close()
    restarted = llm_spend.Spool(str(tmp_path), "proxy-b")
    assert restarted.adopt_orphans() == 50
    assert [event["id"] for _, event in restarted.peek()] == [f"call-{n}" for n in range(50)]
    assert not (tmp_path / "spool-proxy-a.db").exists()


def test_it_leaves_the_spool_of_a_live_process_alone(tmp_path):
    alive = llm_spend.Spool(str(tmp_path), "proxy-a")
    alive.add_many([canonical(1)])
    other = llm_spend.Spool(str(tmp_path), "proxy-b")
    assert other.adopt_orphans() == 0
    assert other.depth == 0 and alive.depth == 1


def test_it_spools_each_call_id_once(spool):
    spool.add_many([canonical(1), canonical(1)])
    spool.add_many([canonical(1)])
    assert spool.depth == 1


SPOOLING_PROCESS = textwrap.dedent(
    """
    import importlib.util, sys, time
    spec = importlib.util.spec_from_file_location("llm_spend", sys.argv[1])
    llm_spend = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(llm_spend)
    spool = llm_spend.Spool(sys.argv[2], "doomed")
    writer = llm_spend.SpoolWriter(spool, llm_spend.Counters())
    writer.start()
    for number in range(300):
        writer.put({"id": f"call-{number}", "timestamp": "2026-12-05T10:00:00+00:00",
                    "provider": "chutes", "model": "m"})
    while spool.depth < 300:
        writer.written.wait(0.1)
    print("spooled", flush=True)
    time.sleep(600)
    """
)


@respx.mock
def test_events_spooled_by_a_proxy_killed_with_sigkill_are_all_shipped_by_the_next(
    tmp_path, client, counters
):
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, "-c", SPOOLING_PROCESS, str(PLUGIN), str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout.readline().strip() == "spooled"
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    usage = respx.post(f"{DASHBOARD}/api/v1/usage").mock(side_effect=accept_all)
    spool = llm_spend.Spool(str(tmp_path), "next")
    spool.adopt_orphans()
    llm_spend.Shipper(spool, client, counters).ship_until_empty()
    assert sorted(event["id"] for event in shipped_events(usage)) == sorted(
        f"call-{n}" for n in range(300)
    )
    assert spool.depth == 0 and counters.shipped == 300


def test_a_full_spool_drops_counts_and_logs_never_silently(tmp_path, counters, caplog):
    body = len(json.dumps(canonical(0), separators=(",", ":")))
    spool = llm_spend.Spool(str(tmp_path), "small", max_bytes=body * 3)
    writer = llm_spend.SpoolWriter(spool, counters)
    for number in range(5):
        writer.put(canonical(number))
    with caplog.at_level(logging.ERROR, logger="llm_spend"):
        writer.write_pending()
    assert spool.depth == 3
    assert counters.dropped == 2
    assert "the spool is full" in caplog.text and "dropped 2 usage events" in caplog.text


def test_the_request_path_only_queues_the_event(spool, counters):
    writer = llm_spend.SpoolWriter(spool, counters)
    writer.put(canonical(1))
    assert spool.depth == 0
    writer.write_pending()
    assert spool.depth == 1
