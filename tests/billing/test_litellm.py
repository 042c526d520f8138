import copy
import hashlib
import json
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.ingest.litellm import is_litellm_payload, litellm_to_canonical

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "litellm"
SAMPLE_NAMES = [
    "openai_success",
    "anthropic_success",
    "openai_rate_limited_failure",
    "router_chutes_via_api_base",
    "router_anthropic_cache_tokens",
]
CANONICAL_EVENT = {
    "id": "e1",
    "timestamp": "2026-11-26T10:00:00Z",
    "provider": "chutes",
    "model": "deepseek-ai/DeepSeek-V3",
    "input_tokens": 10,
}


def _sample(name):
    # As the ingest endpoint parses bodies: exact decimals, never floats.
    return json.loads((SAMPLES / f"{name}.json").read_text(), parse_float=Decimal)


def _event(name, **changes):
    return litellm_to_canonical({**_sample(name), **changes})


def _hidden(name, **changes):
    return {**_sample(name)["hidden_params"], **changes}


def _shared_digests() -> dict[str, str]:
    """SHA256SUMS: the digests of the shared samples the copies were taken from."""
    lines = (SAMPLES / "SHA256SUMS").read_text().splitlines()
    return {name: digest for digest, name in (line.split() for line in lines)}


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_it_keeps_the_sample_copies_identical_to_the_shared_ones(name):
    copied = (SAMPLES / f"{name}.json").read_bytes()
    assert hashlib.sha256(copied).hexdigest() == _shared_digests()[f"{name}.json"]


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_it_detects_every_sample(name):
    assert is_litellm_payload(_sample(name))


def test_it_does_not_take_a_canonical_event_for_a_litellm_payload():
    assert not is_litellm_payload(CANONICAL_EVENT)


def test_it_does_not_take_a_canonical_event_with_litellm_like_fields_for_one():
    assert not is_litellm_payload({**CANONICAL_EVENT, "startTime": 1, "custom_llm_provider": "x"})


@pytest.mark.parametrize("item", [None, "litellm_call_id", ["litellm_call_id"], 42])
def test_it_does_not_take_a_non_object_for_a_litellm_payload(item):
    assert not is_litellm_payload(item)


@pytest.mark.parametrize(
    ("name", "provider", "model", "task_type"),
    [
        ("openai_success", "openai", "gpt-4o-mini", "summarization"),
        ("anthropic_success", "anthropic", "claude-sonnet-4-5-20250929", None),
        ("openai_rate_limited_failure", "openai", "gpt-4o-mini", None),
        ("router_chutes_via_api_base", "chutes", "unsloth/Llama-3.3-70B-Instruct", "summarization"),
        (
            "router_anthropic_cache_tokens",
            "anthropic",
            "claude-opus-4-5-20251101",
            "complex_analysis",
        ),
    ],
)
def test_it_maps_provider_model_and_task_type(name, provider, model, task_type):
    event = _event(name)
    assert (event["provider"], event["model"], event.get("task_type")) == (
        provider,
        model,
        task_type,
    )


@pytest.mark.parametrize(
    ("name", "tokens"),
    [
        ("openai_success", (10, 20, 0, 0)),
        ("anthropic_success", (10, 20, 0, 0)),
        ("openai_rate_limited_failure", (0, 0, 0, 0)),
        ("router_chutes_via_api_base", (8426, 1288, 0, 0)),
        ("router_anthropic_cache_tokens", (5025, 458, 2512, 300)),
    ],
)
def test_it_maps_token_counts(name, tokens):
    event = _event(name)
    keys = ("input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens")
    assert tuple(event[key] for key in keys) == tokens


@pytest.mark.parametrize(
    ("name", "latency_ms"),
    [
        ("openai_success", 199),
        ("anthropic_success", 60),
        ("openai_rate_limited_failure", 8),
        ("router_chutes_via_api_base", 115),
        ("router_anthropic_cache_tokens", 3),
    ],
)
def test_it_measures_latency_from_start_to_end(name, latency_ms):
    assert _event(name)["latency_ms"] == latency_ms


@pytest.mark.parametrize(
    ("name", "cost"),
    [
        ("openai_success", Decimal("0.0000135")),
        ("anthropic_success", Decimal("0.00033000000000000005")),
        ("router_anthropic_cache_tokens", Decimal("0.025646000000000002")),
    ],
)
def test_it_keeps_the_cost_litellm_priced_as_an_exact_decimal(name, cost):
    assert _event(name)["cost_usd"] == cost
    assert isinstance(_event(name)["cost_usd"], Decimal)


@pytest.mark.parametrize("name", ["router_chutes_via_api_base", "openai_rate_limited_failure"])
def test_it_leaves_out_a_zero_cost_litellm_could_not_price(name):
    assert "cost_usd" not in _event(name)


def test_it_keeps_a_zero_cost_on_a_cache_hit():
    assert _event("openai_success", response_cost=Decimal("0.0"), cache_hit=True)["cost_usd"] == 0


def test_it_maps_a_rate_limited_failure_to_an_error():
    event = _event("openai_rate_limited_failure")
    assert (event["status"], event["error_type"]) == ("error", "RateLimitError (429)")
    assert event["metadata"]["error_code"] == "429"


def test_it_passes_an_unknown_status_through():
    assert _event("openai_success", status="pending")["status"] == "pending"


def test_it_uses_the_payload_id():
    assert _event("router_chutes_via_api_base")["id"] == (
        "chatcmpl-f7856688-57c3-41de-94a9-141c2137d8e5"
    )


def test_it_falls_back_to_the_litellm_call_id():
    assert _event("openai_success", id="")["id"] == "fb3b556e-1a6b-4780-a79c-860116274f7d"


def test_it_uses_start_time_as_the_timestamp():
    assert _event("openai_success")["timestamp"] == Decimal("1795573864.39007")


def test_it_measures_time_to_first_token_of_a_streamed_call():
    event = _event("openai_success", stream=True, completionStartTime=Decimal("1795573864.49007"))
    assert event["ttft_ms"] == 100


def test_it_reports_no_time_to_first_token_for_an_unstreamed_call():
    assert "ttft_ms" not in _event("openai_success")


def test_it_leaves_out_latency_when_a_time_is_not_a_number():
    assert "latency_ms" not in _event("openai_success", endTime="soon")


def test_it_measures_latency_from_mixed_number_types():
    assert _event("openai_success", startTime=100, endTime=100.25)["latency_ms"] == 250


@pytest.mark.parametrize(
    ("api_base", "provider"),
    [
        ("https://llm.chutes.ai/v1", "chutes"),
        ("https://chutes.ai", "chutes"),
        ("https://openrouter.ai/api/v1", "openrouter"),
        ("https://api.deepseek.com", "deepseek"),
        ("https://generativelanguage.googleapis.com/v1beta/openai", "google"),
        ("https://api.anthropic.com", "anthropic"),
        ("https://chutes.ai.example.com/v1", "openai"),
        ("https://notchutes.ai/v1", "openai"),
        ("http://[::1", "openai"),
    ],
)
def test_it_tells_the_provider_from_the_api_base_host(api_base, provider):
    event = _event("router_chutes_via_api_base", api_base=api_base, hidden_params={})
    assert event["provider"] == provider


@pytest.mark.parametrize(
    ("custom_llm_provider", "provider"),
    [
        ("text-completion-openai", "openai"),
        ("gemini", "google"),
        ("vertex_ai", "google"),
        ("vertex_ai_beta", "google"),
        ("deepseek", "deepseek"),
        ("openrouter", "openrouter"),
        ("Bedrock", "bedrock"),
    ],
)
def test_it_maps_litellm_provider_names_to_ours(custom_llm_provider, provider):
    event = _event("anthropic_success", custom_llm_provider=custom_llm_provider)
    assert event["provider"] == provider


def test_it_keeps_an_unprefixed_model_of_an_openai_compatible_provider_whole():
    event = _event("router_chutes_via_api_base", model="deepseek-ai/DeepSeek-V3")
    assert event["model"] == "deepseek-ai/DeepSeek-V3"


def test_it_keeps_an_openrouter_model_namespace_that_is_not_litellms_prefix():
    event = _event("openai_success", custom_llm_provider="openrouter", model="openai/gpt-4o")
    assert event["model"] == "openai/gpt-4o"


def test_it_keeps_a_model_whose_prefix_a_direct_call_already_removed():
    hidden = _hidden("openai_success", litellm_model_name="openai/openai/gpt-oss-120b")
    event = _event("openai_success", model="openai/gpt-oss-120b", hidden_params=hidden)
    assert event["model"] == "openai/gpt-oss-120b"


def test_it_strips_a_known_prefix_when_litellm_names_no_provider():
    event = _event("anthropic_success", custom_llm_provider=None, model="gemini/gemini-2.5-pro")
    assert event["model"] == "gemini-2.5-pro"


def test_it_prefers_the_task_type_tag_to_metadata():
    metadata = {**_sample("openai_success")["metadata"], "task_type": "translation"}
    assert _event("openai_success", metadata=metadata)["task_type"] == "summarization"


@pytest.mark.parametrize("key", ["requester_metadata", "spend_logs_metadata"])
def test_it_reads_the_task_type_from_nested_metadata(key):
    metadata = {**_sample("anthropic_success")["metadata"], key: {"task_type": "translation"}}
    assert _event("anthropic_success", metadata=metadata)["task_type"] == "translation"


def test_it_does_not_take_a_model_group_named_after_the_model_for_a_task_type():
    event = _event("router_anthropic_cache_tokens", model_group="claude-opus-4-5-20251101")
    assert "task_type" not in event


def test_it_keeps_the_reported_model_and_router_details_in_metadata():
    metadata = _event("router_chutes_via_api_base")["metadata"]
    assert metadata["reported_model"] == "openai/unsloth/Llama-3.3-70B-Instruct"
    assert (metadata["model_group"], metadata["api_base"]) == (
        "summarization",
        "https://llm.chutes.ai/v1",
    )


def test_it_keeps_the_cost_breakdown_in_metadata():
    breakdown = _event("router_anthropic_cache_tokens")["metadata"]["cost_breakdown"]
    assert breakdown["cache_read_cost"] == Decimal("0.001256")


def test_it_never_copies_messages_or_the_response():
    event = _event("openai_success")
    assert not {"messages", "response"} & (set(event) | set(event["metadata"]))


def test_it_keeps_keys_out_of_the_stored_api_base():
    base = "https://user:secret@generativelanguage.googleapis.com/v1beta/models/x?key=AIza"
    metadata = _event("anthropic_success", api_base=base)["metadata"]
    assert metadata["api_base"] == "https://generativelanguage.googleapis.com/v1beta/models/x"


def test_it_leaves_the_required_fields_out_of_an_empty_payload_for_validation_to_reject():
    assert not {"id", "timestamp", "model"} & set(litellm_to_canonical({}))


FIELD_NAMES = sorted({key for name in SAMPLE_NAMES for key in _sample(name)})
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.decimals()
    | st.text(max_size=30)
    | st.sampled_from(["", "success", "failure", "openai", "https://llm.chutes.ai/v1", "a/b"])
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
HOSTILE = settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def _key_paths(document, prefix=()):
    for key, value in document.items():
        yield (*prefix, key)
        if isinstance(value, dict):
            yield from _key_paths(value, (*prefix, key))


SAMPLE_DOCUMENTS = {name: _sample(name) for name in SAMPLE_NAMES}
SAMPLE_PATHS = sorted(
    {(name, path) for name, document in SAMPLE_DOCUMENTS.items() for path in _key_paths(document)},
    key=repr,
)


@HOSTILE
@given(st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=12), json_values))
def test_it_maps_any_json_object_without_raising(payload):
    assert isinstance(litellm_to_canonical(payload), dict)


@HOSTILE
@given(st.sampled_from(SAMPLE_NAMES), st.data())
def test_it_maps_any_mutated_sample_without_raising(name, data):
    payload = copy.deepcopy(SAMPLE_DOCUMENTS[name])
    paths = [path for sample, path in SAMPLE_PATHS if sample == name]
    for path in data.draw(st.lists(st.sampled_from(paths), min_size=1, max_size=6)):
        parent = payload
        for key in path[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        if isinstance(parent, dict) and data.draw(st.booleans()):
            parent[path[-1]] = data.draw(json_values)
        elif isinstance(parent, dict):
            parent.pop(path[-1], None)
    assert isinstance(litellm_to_canonical(payload), dict)


@given(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.decimals()
    | st.text(max_size=5)
    | st.lists(st.integers(), max_size=2)
)
def test_a_finite_number_is_what_reads_as_a_decimal(value):
    from billing.ingest.litellm import _decimal_or_none, _is_finite_number

    assert _is_finite_number(value) == (_decimal_or_none(value) is not None)


def _exact_elapsed_ms(start: float, end: float):
    """The definition: the times' shortest decimals, their difference rounded half up."""
    elapsed = (Decimal(repr(end)) - Decimal(repr(start))) * 1000
    return int(elapsed.to_integral_value(rounding=ROUND_HALF_UP))


epoch_seconds = st.floats(min_value=0, max_value=2**32, allow_nan=False)


@given(
    start=epoch_seconds,
    seconds=st.floats(min_value=0, max_value=90_000)
    | st.sampled_from([0.0005, 1.0005, 0.25, 86_400.0]),
)
def test_latency_from_float_times_is_the_exact_difference_rounded(start, seconds):
    end = start + seconds
    payload = {**_sample("openai_success"), "startTime": start, "endTime": end}
    latency = litellm_to_canonical(payload)["latency_ms"]
    assert latency == _exact_elapsed_ms(start, end)


@pytest.mark.parametrize(
    ("start", "end", "latency_ms"),
    [
        (1764993000.0, 1764993000.0005, 1),
        (100.0, 100.0015, 2),
        (1764993000.25, 1764993001.7495, 1500),
    ],
)
def test_latency_of_exactly_half_a_millisecond_rounds_up(start, end, latency_ms):
    payload = {**_sample("openai_success"), "startTime": start, "endTime": end}
    assert litellm_to_canonical(payload)["latency_ms"] == latency_ms
