import json
import os
from pathlib import Path

import httpx
import pytest

# LiteLLM fetches its price map over the network when imported, unless told to use its own copy.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from integrations.litellm import llm_spend

DASHBOARD = "https://spend.example.com"
SAMPLES = Path(__file__).resolve().parents[1] / "data" / "litellm"


def sample(name: str) -> dict:
    return json.loads((SAMPLES / f"{name}.json").read_text())


def canonical(number: int, **extra) -> dict:
    return {
        "id": f"call-{number}",
        "timestamp": "2026-12-05T10:00:00+00:00",
        "provider": "chutes",
        "model": "deepseek-ai/DeepSeek-V3",
        **extra,
    }


def accept_all(request: httpx.Request) -> httpx.Response:
    """The usage endpoint's answer when it stores every event of the batch."""
    events = json.loads(request.content)
    return httpx.Response(200, json={"accepted": len(events), "duplicates": 0, "rejected": []})


def shipped_events(route) -> list[dict]:
    return [event for call in route.calls for event in json.loads(call.request.content)]


@pytest.fixture
def plugin_settings(tmp_path):
    return llm_spend.Settings(url=DASHBOARD, token="lls_test_token", spool_dir=str(tmp_path))


@pytest.fixture
def counters():
    return llm_spend.Counters()


@pytest.fixture
def spool(tmp_path):
    spool = llm_spend.Spool(str(tmp_path), "test-1")
    yield spool
    spool.close()


@pytest.fixture
def client(plugin_settings):
    with llm_spend.dashboard_client(plugin_settings) as client:
        yield client


ROUTES_V7 = {
    "version": 7,
    "published_at": "2026-12-05T10:00:00+00:00",
    "comment": "",
    "rules": [
        {
            "task_type": "*",
            "enabled": True,
            "description": "",
            "targets": [
                {
                    "provider": "chutes",
                    "model": "deepseek-ai/DeepSeek-V3",
                    "weight": 80,
                    "api_base": "https://llm.chutes.ai/v1",
                },
                {
                    "provider": "anthropic",
                    "model": "claude-sonnet-4-5",
                    "weight": 20,
                    "api_base": "https://api.anthropic.com",
                },
            ],
            "fallbacks": [
                {
                    "provider": "openai",
                    "model": "gpt-4o-mini",
                    "api_base": "https://api.openai.com/v1",
                }
            ],
        },
        {
            "task_type": "summarization",
            "enabled": True,
            "description": "",
            "targets": [
                {
                    "provider": "chutes",
                    "model": "unsloth/Llama-3.3-70B-Instruct",
                    "weight": 100,
                    "api_base": "https://llm.chutes.ai/v1",
                }
            ],
            "fallbacks": [],
        },
    ],
}


def keys_document(**secrets) -> dict:
    return {
        "team": "maven",
        "keys": [
            {
                "provider": provider,
                "label": "main",
                "secret": secret,
                "base_url": "",
                "fingerprint": f"fp-{secret}",
                "created_at": "2026-12-01T00:00:00+00:00",
            }
            for provider, secret in secrets.items()
        ],
    }


KEYS = keys_document(chutes="cpk_one", anthropic="sk-ant-one", openai="sk-openai-one")
