"""Real LiteLLM StandardLoggingPayloads, posted the way LiteLLM's generic HTTP logger sends them."""

import json
from decimal import Decimal
from pathlib import Path

import pytest

from billing.models import UsageEvent

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "litellm"
SAMPLE_NAMES = [
    "anthropic_success",
    "openai_rate_limited_failure",
    "openai_success",
    "router_anthropic_cache_tokens",
    "router_chutes_via_api_base",
]


def _sample(name: str) -> dict:
    payload = json.loads((SAMPLES / f"{name}.json").read_text())
    # The samples were captured in the past; the endpoint refuses nothing for being old.
    return payload


def _post(client, token, body: str):
    return client.post(
        "/api/v1/usage", body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )


@pytest.mark.parametrize("log_format", ["json_array", "ndjson", "single"])
def test_every_sample_lands_in_each_log_format(client, catalog, usage_token, log_format):
    payloads = [_sample(name) for name in SAMPLE_NAMES]
    if log_format == "json_array":
        answers = [_post(client, usage_token, json.dumps(payloads)).json()]
    elif log_format == "ndjson":
        answers = [_post(client, usage_token, "\n".join(json.dumps(p) for p in payloads)).json()]
    else:
        answers = [_post(client, usage_token, json.dumps(p)).json() for p in payloads]
    assert sum(answer["accepted"] for answer in answers) == len(SAMPLE_NAMES)
    assert all(answer["rejected"] == [] for answer in answers)
    assert UsageEvent.objects.count() == len(SAMPLE_NAMES)


def _land(client, token, name) -> UsageEvent:
    answer = _post(client, token, json.dumps(_sample(name))).json()
    assert answer["accepted"] == 1, answer
    return UsageEvent.objects.get()


def test_chutes_behind_an_openai_compatible_base_is_chutes(client, catalog, usage_token):
    event = _land(client, usage_token, "router_chutes_via_api_base")
    assert (event.provider_name, event.model_name) == ("chutes", "unsloth/Llama-3.3-70B-Instruct")
    assert event.task_type == "summarization"


def test_a_zero_response_cost_is_not_reported_and_the_catalog_prices_it(
    client, catalog, usage_token
):
    event = _land(client, usage_token, "router_chutes_via_api_base")
    assert event.reported_cost_usd is None
    assert event.cost_source == "catalog"
    assert event.cost_usd > 0


def test_a_failed_call_is_an_error_event_with_its_class_and_code(client, catalog, usage_token):
    event = _land(client, usage_token, "openai_rate_limited_failure")
    assert event.status == "error"
    assert "RateLimitError" in event.error_type
    assert "429" in event.error_type


def test_anthropic_cache_tokens_are_mapped_and_priced(client, catalog, usage_token):
    event = _land(client, usage_token, "router_anthropic_cache_tokens")
    assert (event.input_tokens, event.cached_input_tokens, event.cache_write_tokens) == (
        5025,
        2512,
        300,
    )
    assert event.output_tokens == 458
    assert event.task_type == "complex_analysis"
    assert event.model_name == "claude-opus-4-5"
    assert event.reported_cost_usd == Decimal("0.025646000000")


def test_the_task_type_comes_from_request_tags(client, catalog, usage_token):
    event = _land(client, usage_token, "openai_success")
    assert event.task_type == "summarization"


def test_a_reported_cost_is_kept_as_reported(client, catalog, usage_token):
    event = _land(client, usage_token, "anthropic_success")
    assert (event.reported_cost_usd, event.cost_source) == (Decimal("0.000330000000"), "reported")


def test_a_model_the_catalog_lacks_is_unpriced_not_free(client, catalog, usage_token):
    event = _land(client, usage_token, "openai_success")
    # gpt-4o-mini is not in the seed catalog, but LiteLLM reported a cost for it.
    assert event.catalog_cost_usd is None
    assert event.cost_source == "reported"


def test_sending_the_same_payload_again_is_a_duplicate(client, catalog, usage_token):
    body = json.dumps(_sample("anthropic_success"))
    _post(client, usage_token, body)
    assert _post(client, usage_token, body).json()["duplicates"] == 1
