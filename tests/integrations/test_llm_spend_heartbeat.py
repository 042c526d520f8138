import json
import subprocess
import sys
from pathlib import Path

import litellm
import pytest
import respx

from integrations.litellm import llm_spend
from tests.integrations.conftest import DASHBOARD, KEYS, ROUTES_V7, canonical

HEARTBEAT_FIELDS = {
    "instance_id",
    "host",
    "litellm_version",
    "plugin_version",
    "routing_version",
    "routing_error",
    "last_sync_at",
    "spool_depth",
    "spool_bytes",
    "shipped",
    "dead_lettered",
    "dropped",
}


@pytest.fixture
def companion(plugin_settings):
    router = litellm.Router(model_list=[])
    companion = llm_spend.Companion(plugin_settings, router_provider=lambda: router)
    yield companion
    companion.spool.close()


@respx.mock
def test_every_poll_reports_the_applied_version_spool_and_counters(companion):
    respx.get(f"{DASHBOARD}/api/v1/routes").respond(200, json=ROUTES_V7, headers={"ETag": '"v7"'})
    respx.get(f"{DASHBOARD}/api/v1/keys").respond(200, json=KEYS, headers={"ETag": '"k1"'})
    heartbeat = respx.post(f"{DASHBOARD}/api/v1/proxy/heartbeat").respond(
        200, json={"ok": True, "published_version": 7}
    )
    companion.spool.add_many([canonical(1), canonical(2)])
    companion.counters.add("shipped", 5)
    companion.counters.add("dead_lettered", 1)
    companion.sync_once()
    sent = json.loads(heartbeat.calls.last.request.content)
    assert set(sent) == HEARTBEAT_FIELDS
    assert sent["instance_id"] == companion.instance_id
    assert (sent["routing_version"], sent["routing_error"]) == (7, "")
    assert (sent["spool_depth"], sent["shipped"], sent["dead_lettered"], sent["dropped"]) == (
        2,
        5,
        1,
        0,
    )
    assert sent["spool_bytes"] > 0
    assert (
        sent["litellm_version"] == "1.110.2" and sent["plugin_version"] == llm_spend.PLUGIN_VERSION
    )
    assert sent["last_sync_at"].endswith("+00:00")
    assert heartbeat.calls.last.request.headers["Authorization"] == "Bearer lls_test_token"


@respx.mock
def test_the_heartbeat_carries_the_error_that_stopped_a_version(companion):
    respx.get(f"{DASHBOARD}/api/v1/routes").respond(
        200, json={"version": 9, "rules": "nonsense"}, headers={"ETag": '"v9"'}
    )
    respx.get(f"{DASHBOARD}/api/v1/keys").respond(200, json=KEYS, headers={"ETag": '"k1"'})
    heartbeat = respx.post(f"{DASHBOARD}/api/v1/proxy/heartbeat").respond(200, json={"ok": True})
    companion.sync_once()
    sent = json.loads(heartbeat.calls.last.request.content)
    assert sent["routing_version"] is None
    assert sent["routing_error"] == "version 9 not applied: the routes have no list of rules"


def test_a_long_routing_error_is_cut_to_what_the_dashboard_accepts(companion):
    companion.poller.routing_error = "x" * 5000
    payload = llm_spend.heartbeat_payload(
        instance_id="i", poller=companion.poller, spool=companion.spool, counters=companion.counters
    )
    assert len(payload["routing_error"]) == 2000


def test_settings_come_from_the_environment():
    settings = llm_spend.Settings.from_env(
        {
            "LLM_SPEND_URL": "https://spend.example.com/",
            "LLM_SPEND_TOKEN": "lls_x",
            "LLM_SPEND_SPOOL_DIR": "/var/spool/llm",
            "LLM_SPEND_POLL_SECONDS": "2.5",
        }
    )
    assert settings == llm_spend.Settings(
        url="https://spend.example.com",
        token="lls_x",
        spool_dir="/var/spool/llm",
        poll_seconds=2.5,
        spool_max_bytes=1024**3,
    )


@pytest.mark.parametrize(
    "environ",
    [
        {"LLM_SPEND_URL": "ftp://x", "LLM_SPEND_TOKEN": "t"},
        {"LLM_SPEND_URL": "https://x"},
        {"LLM_SPEND_URL": "https://x", "LLM_SPEND_TOKEN": "t", "LLM_SPEND_POLL_SECONDS": "0"},
        {"LLM_SPEND_URL": "https://x", "LLM_SPEND_TOKEN": "t", "LLM_SPEND_SPOOL_MAX_BYTES": "lots"},
    ],
)
def test_nonsense_settings_are_refused_with_the_variable_named(environ):
    with pytest.raises(llm_spend.SettingsError, match="LLM_SPEND_"):
        llm_spend.Settings.from_env(environ)


def test_the_module_imports_neither_django_nor_litellm():
    code = (
        "import sys; import integrations.litellm.llm_spend as m; "
        "m.group_name('*'); "
        "print(sorted(n for n in sys.modules if n.split('.')[0] in ('django', 'litellm')))"
    )
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    )
    assert result.stdout.strip() == "[]"
