"""The harness itself, against a real LiteLLM proxy process: what the scenario tests stand on."""

import json
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from billing.bench.fake_upstream import FakeUpstream, Usage
from billing.bench.litellm_proxy import (
    LiteLLMProxy,
    anthropic_deployment,
    openai_deployment,
    write_config,
)

pytestmark = pytest.mark.litellm_proxy
SAMPLE_CALLBACK = Path(__file__).resolve().parent / "sample_callback.py"


@pytest.fixture(scope="module")
def static_upstream():
    with FakeUpstream() as upstream:
        yield upstream


@pytest.fixture(scope="module")
def static_proxy(proxy_modules, static_upstream, tmp_path_factory):
    """One proxy for the tests of a static config (a start costs about 10 s)."""
    config = write_config(
        tmp_path_factory.mktemp("static-proxy"),
        model_list=[
            openai_deployment("gpt", "gpt-x", static_upstream.base("/openai/v1"), "sk-openai-1"),
            anthropic_deployment(
                "claude", "claude-x", static_upstream.base("/anthropic"), "sk-ant-1"
            ),
        ],
    )
    with LiteLLMProxy(config) as proxy:
        yield proxy


@pytest.fixture
def upstream(static_upstream):
    static_upstream.reset()
    return static_upstream


def chat(client: httpx.Client, group: str, **extra) -> httpx.Response:
    body = {"model": group, "messages": [{"role": "user", "content": "Say hello."}], **extra}
    return client.post("/v1/chat/completions", json=body)


def wait_for(condition, *, what: str, proxy, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"No {what} within {seconds} s." + proxy.log_tail(), pytrace=False)
        time.sleep(0.1)


def test_it_proxies_openai_and_anthropic_deployments_to_their_bases_with_their_keys(
    upstream, static_proxy
):
    upstream.usage_for("claude-x", Usage(input_tokens=40, output_tokens=7))
    proxy = static_proxy
    with httpx.Client(base_url=proxy.url, headers=proxy.headers, timeout=30) as client:
        answers = [chat(client, group) for group in ["gpt", "claude"] for _ in range(20)]

    assert [answer.status_code for answer in answers] == [200] * 40
    usages = Counter(
        (a.json()["usage"]["prompt_tokens"], a.json()["usage"]["completion_tokens"])
        for a in answers
    )
    assert usages == {(100, 20): 20, (40, 7): 20}
    assert upstream.counts("api", "base", "model", "api_key") == {
        ("openai", "/openai/v1", "gpt-x", "sk-openai-1"): 20,
        ("anthropic", "/anthropic", "claude-x", "sk-ant-1"): 20,
    }


def test_it_streams_openai_with_usage_through_the_proxy(upstream, static_proxy):
    proxy = static_proxy
    body = {
        "model": "gpt",
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": "Say hello."}],
    }
    with (
        httpx.Client(base_url=proxy.url, headers=proxy.headers, timeout=30) as client,
        client.stream("POST", "/v1/chat/completions", json=body) as answer,
    ):
        chunks = [line[6:] for line in answer.iter_lines() if line.startswith("data: ")]

    assert chunks[-1] == "[DONE]"
    usage = [json.loads(c)["usage"] for c in chunks[:-1] if json.loads(c).get("usage")]
    assert usage[-1]["prompt_tokens"] == 100
    assert usage[-1]["completion_tokens"] == 20
    assert [(seen.model, seen.stream) for seen in upstream.requests] == [("gpt-x", True)]


def test_a_callback_module_beside_the_config_logs_every_call_and_swaps_deployments_live(
    fake_upstream, litellm_proxy, tmp_path
):
    calls, model_list = tmp_path / "calls.log", tmp_path / "model_list.json"
    config = write_config(
        tmp_path / "proxy",
        model_list=[openai_deployment("default", "gpt-x", fake_upstream.base("/a/v1"), "sk-a")],
        callbacks=["sample_callback.proxy_handler"],
        modules=[SAMPLE_CALLBACK],
    )
    env = {"SAMPLE_CALLBACK_CALLS": str(calls), "SAMPLE_CALLBACK_MODEL_LIST": str(model_list)}
    proxy = litellm_proxy(config, env=env)

    def lines(prefix: str) -> list[str]:
        text = calls.read_text() if calls.exists() else ""
        return [line for line in text.splitlines() if line.startswith(prefix)]

    with httpx.Client(base_url=proxy.url, headers=proxy.headers, timeout=30) as client:
        before = [chat(client, "default").status_code for _ in range(10)]
        wait_for(lambda: len(lines("success")) == 10, what="10 logged calls", proxy=proxy)
        swapped = [openai_deployment("default", "gpt-y", fake_upstream.base("/b/v1"), "sk-b")]
        # Written aside then renamed: the watcher never reads a half-written file.
        model_list.with_suffix(".tmp").write_text(json.dumps(swapped))
        model_list.with_suffix(".tmp").replace(model_list)
        wait_for(lambda: lines("applied"), what="model list applied", proxy=proxy)
        after = [chat(client, "default").status_code for _ in range(10)]
        wait_for(lambda: len(lines("success")) == 20, what="20 logged calls", proxy=proxy)

    assert before == after == [200] * 10
    assert fake_upstream.counts("base", "model", "api_key") == {
        ("/a/v1", "gpt-x", "sk-a"): 10,
        ("/b/v1", "gpt-y", "sk-b"): 10,
    }
    call_ids = [line.split()[1] for line in lines("success")]
    assert len(set(call_ids)) == 20
    assert {line.split()[2] for line in lines("success")} == {"default"}
    assert proxy.starts == 1
