from integrations.litellm import llm_spend
from tests.integrations.conftest import sample


def test_chutes_reached_through_its_api_base_is_recognised():
    event = llm_spend.usage_event(sample("router_chutes_via_api_base"), instance_id="proxy-1")
    assert event == {
        "id": "27338e55-7630-41b3-bb84-36093575fd2b",
        "timestamp": "2026-11-25T02:31:25.957372+00:00",
        "provider": "chutes",
        "model": "unsloth/Llama-3.3-70B-Instruct",
        "task_type": "summarization",
        "status": "success",
        "input_tokens": 8426,
        "output_tokens": 1288,
        "cached_input_tokens": 0,
        "cache_write_tokens": 0,
        "latency_ms": 115,
        "metadata": {"proxy": "proxy-1"},
    }


def test_cache_reads_and_writes_and_litellms_cost_are_kept():
    event = llm_spend.usage_event(sample("router_anthropic_cache_tokens"))
    assert (event["provider"], event["model"], event["task_type"]) == (
        "anthropic",
        "claude-opus-4-5-20251101",
        "complex_analysis",
    )
    assert (event["input_tokens"], event["cached_input_tokens"], event["cache_write_tokens"]) == (
        5025,
        2512,
        300,
    )
    assert event["cost_usd"] == 0.025646000000000002


def test_a_failure_keeps_its_error_class():
    event = llm_spend.usage_event(sample("openai_rate_limited_failure"))
    assert (event["status"], event["error_type"], event["provider"]) == (
        "error",
        "RateLimitError",
        "openai",
    )
    assert "cost_usd" not in event and event["input_tokens"] == 0


def test_a_direct_call_takes_its_task_type_from_the_tag():
    event = llm_spend.usage_event(sample("openai_success"))
    assert (event["task_type"], event["model"], event["cost_usd"]) == (
        "summarization",
        "gpt-4o-mini",
        1.35e-05,
    )


def test_the_deployment_says_the_route_version_and_the_asked_task_type_wins():
    kwargs = {
        "litellm_params": {
            "api_base": "https://llm.chutes.ai/v1",
            "metadata": {"llm_spend_task_type": "translation"},
            "model_info": {
                "llm_spend_route_version": 7,
                "llm_spend_provider": "chutes",
                "llm_spend_model": "unsloth/Llama-3.3-70B-Instruct",
            },
        }
    }
    payload = sample("router_chutes_via_api_base") | {"model_group": "default"}
    event = llm_spend.usage_event(payload, kwargs=kwargs)
    assert (event["route_version"], event["task_type"], event["provider"]) == (
        7,
        "translation",
        "chutes",
    )


def test_a_task_type_asked_longer_than_the_dashboard_stores_is_cut_not_refused():
    asked = "t" * 150
    kwargs = {"litellm_params": {"metadata": {"llm_spend_task_type": asked}}}
    event = llm_spend.usage_event(sample("router_chutes_via_api_base"), kwargs=kwargs)
    assert event["task_type"] == asked[:100]


def test_a_streamed_call_has_a_time_to_first_token():
    payload = sample("anthropic_success") | {
        "stream": True,
        "startTime": 100.0,
        "completionStartTime": 100.25,
        "endTime": 101.0,
    }
    event = llm_spend.usage_event(payload)
    assert (event["ttft_ms"], event["latency_ms"]) == (250, 1000)
