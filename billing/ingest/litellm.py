"""LiteLLM's StandardLoggingPayload (what its loggers post) mapped onto our canonical usage event.

Pure functions, no database. The mapping is total: any dict in, a dict out. What cannot be mapped
is passed through or left out, so the canonical validator rejects the event with a field error.
"""

import math
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from urllib.parse import urlsplit

# API base hosts we recognise; a subdomain counts as the same provider (llm.chutes.ai).
HOST_PROVIDERS = (
    ("chutes.ai", "chutes"),
    ("openrouter.ai", "openrouter"),
    ("api.deepseek.com", "deepseek"),
    ("generativelanguage.googleapis.com", "google"),
    ("api.anthropic.com", "anthropic"),
    ("api.openai.com", "openai"),
)

# LiteLLM's custom_llm_provider values that differ from our provider slugs or need saying.
LITELLM_PROVIDERS = {
    "openai": "openai",
    "text-completion-openai": "openai",
    "anthropic": "anthropic",
    "openrouter": "openrouter",
    "deepseek": "deepseek",
    "gemini": "google",
    "vertex_ai": "google",
    "vertex_ai_beta": "google",
}

# Model prefixes LiteLLM routes by; stripped only when custom_llm_provider does not say which.
LITELLM_PREFIXES = frozenset(
    {
        *LITELLM_PROVIDERS,
        "azure",
        "azure_ai",
        "bedrock",
        "cohere",
        "custom_openai",
        "fireworks_ai",
        "groq",
        "hosted_vllm",
        "mistral",
        "ollama",
        "ollama_chat",
        "together_ai",
        "xai",
    }
)

TASK_TYPE_TAG = "task_type:"
MAX_ELAPSED_MS = 10**15
# The longest call timed in floats (a day); longer ones, rejected by validation, in Decimal.
FLOAT_ELAPSED_MAX_MS = 24 * 3600 * 1000
MAX_CACHED_URL = 200
# Every top-level field is_litellm_payload and litellm_to_canonical read: a reader may skip the
# rest of a payload (model_map_information, messages, response...) unparsed.
PAYLOAD_FIELDS = (
    "id",
    "litellm_call_id",
    "standard_built_in_tools_params",
    "timestamp",
    "startTime",
    "endTime",
    "completionStartTime",
    "stream",
    "status",
    "model",
    "model_group",
    "model_id",
    "custom_llm_provider",
    "api_base",
    "hidden_params",
    "litellm_params",
    "metadata",
    "request_tags",
    "prompt_tokens",
    "completion_tokens",
    "response_cost",
    "cache_hit",
    "cost_breakdown",
    "error_information",
    "trace_id",
    "call_type",
    "end_user",
)


def is_litellm_payload(obj) -> bool:
    """Whether a JSON item is a LiteLLM StandardLoggingPayload rather than a canonical event."""
    if not isinstance(obj, dict):
        return False
    if "litellm_call_id" in obj or "standard_built_in_tools_params" in obj:
        return True
    # A trimmed payload: LiteLLM times calls with "startTime", canonical events with "timestamp".
    return "startTime" in obj and "custom_llm_provider" in obj and "timestamp" not in obj


def litellm_to_canonical(payload: dict) -> dict:
    """The canonical event for one StandardLoggingPayload; keys without a value are left out."""
    if not isinstance(payload, dict):
        return {}
    metadata = _dict(payload.get("metadata"))
    usage = _dict(metadata.get("usage_object"))
    details = _dict(usage.get("prompt_tokens_details"))
    api_bases = _api_bases(payload)
    model = _provider_model(payload)
    start = payload.get("startTime")
    event = {
        # LiteLLM's id is the response id (suffixed on cache hits), its call id when none came.
        "id": _first(payload.get("id"), payload.get("litellm_call_id")),
        "timestamp": _first(start),
        "provider": _provider(payload, api_bases),
        "model": model,
        "task_type": _task_type(payload, metadata, model),
        # The proxy's own names: the customer a call was for, and the virtual key's alias.
        "end_user": _text(
            _first(payload.get("end_user"), metadata.get("user_api_key_end_user_id"))
        ),
        "api_key_alias": _text(metadata.get("user_api_key_alias")),
        "status": _status(payload.get("status")),
        "error_type": _error_type(payload),
        # LiteLLM's prompt_tokens already count the cached and cache-written prompt tokens.
        "input_tokens": _first(payload.get("prompt_tokens"), usage.get("prompt_tokens")),
        # completion_tokens include reasoning: OpenAI counts it there, and LiteLLM adds Gemini's
        # thoughtsTokenCount to candidatesTokenCount, so nothing is added here.
        "output_tokens": _first(payload.get("completion_tokens"), usage.get("completion_tokens")),
        "cached_input_tokens": _first(
            details.get("cached_tokens"), usage.get("cache_read_input_tokens"), 0
        ),
        "cache_write_tokens": _first(
            usage.get("cache_creation_input_tokens"),
            details.get("cache_creation_tokens"),
            details.get("cache_write_tokens"),
            0,
        ),
        "latency_ms": _elapsed_ms(start, payload.get("endTime")),
        # LiteLLM sets completionStartTime = endTime on unstreamed calls: no time to first token.
        "ttft_ms": (
            _elapsed_ms(start, payload.get("completionStartTime"))
            if payload.get("stream") is True
            else None
        ),
        "cost_usd": _cost(payload),
        "metadata": _metadata(payload, api_bases),
    }
    return {key: value for key, value in event.items() if value is not None}


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _present(value):
    """The value, or None when it is missing or a blank string."""
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _first(*values):
    for value in values:
        if _present(value) is not None:
            return value
    return None


def _text(value) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _is_finite_number(value) -> bool:
    """Whether _decimal_or_none would give a number, without building the Decimal."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, Decimal) and value.is_finite()


def _decimal_or_none(value) -> Decimal | None:
    """A finite JSON number as a Decimal (a float through its shortest repr), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    return number if number.is_finite() else None


def _api_bases(payload: dict) -> list[str]:
    """The API bases a payload names: the configured one, then the one LiteLLM called."""
    candidates = (
        payload.get("api_base"),
        _dict(payload.get("hidden_params")).get("api_base"),
        _dict(payload.get("litellm_params")).get("api_base"),
    )
    return [base.strip() for base in candidates if _text(base)]


def _host(url: str) -> str | None:
    # API bases repeat from payload to payload: a short one is parsed once.
    return _short_url_host(url) if len(url) <= MAX_CACHED_URL else _url_host(url)


def _url_host(url: str) -> str | None:
    try:
        host = urlsplit(url if "://" in url else f"//{url}").hostname
    except ValueError:
        return None
    return host.rstrip(".") if host else None


_short_url_host = lru_cache(maxsize=256)(_url_host)


def _provider(payload: dict, api_bases: list[str]):
    # OpenAI-compatible providers (Chutes) come as custom_llm_provider "openai": the host tells.
    for base in api_bases:
        host = _host(base)
        for domain, slug in HOST_PROVIDERS:
            if host and (host == domain or host.endswith(f".{domain}")):
                return slug
    name = payload.get("custom_llm_provider")
    if not isinstance(name, str):
        return name
    name = name.strip().lower()
    return LITELLM_PROVIDERS.get(name, name) or None


def _provider_model(payload: dict):
    """The model as its provider spells it, without the "<provider>/" LiteLLM routes by."""
    model = _present(payload.get("model"))
    if not isinstance(model, str):
        return model
    prefix, _, name = model.partition("/")
    if not name:
        return model
    routed_by = _text(payload.get("custom_llm_provider"))
    if routed_by is None:
        return name if prefix.lower() in LITELLM_PREFIXES else model
    # A direct call logs the model with LiteLLM's prefix already gone; the request keeps it.
    requested = _dict(payload.get("hidden_params")).get("litellm_model_name")
    if prefix.lower() != routed_by.lower() or requested == f"{routed_by}/{model}":
        return model
    return name


def _task_type(payload: dict, metadata: dict, model) -> str | None:
    if task_type := _declared_task_type(payload, metadata):
        return task_type
    # A Router whose model groups are task types; a group named after its model is not one.
    group = _text(payload.get("model_group"))
    if group is None or "/" in group or group in (model, payload.get("model")):
        return None
    return group


def _declared_task_type(payload: dict, metadata: dict) -> str | None:
    """The first task type a tag, the metadata, or the requester's or spend logs' metadata names."""
    tags = payload.get("request_tags")
    for tag in tags if isinstance(tags, list) else ():
        tagged = isinstance(tag, str) and tag.startswith(TASK_TYPE_TAG)
        if tagged and (task_type := _text(tag.removeprefix(TASK_TYPE_TAG))):
            return task_type
    if task_type := _text(metadata.get("task_type")):
        return task_type
    for name in ("requester_metadata", "spend_logs_metadata"):
        if task_type := _text(_dict(metadata.get(name)).get("task_type")):
            return task_type
    return None


def _status(status):
    if status == "success":
        return "success"
    if status == "failure":
        return "error"
    return _present(status)


def _error_code(value) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return _text(value)


def _error_type(payload: dict) -> str | None:
    if payload.get("status") != "failure":
        return None
    info = _dict(payload.get("error_information"))
    error_class, code = _text(info.get("error_class")), _error_code(info.get("error_code"))
    if error_class and code:
        return f"{error_class} ({code})"
    return error_class or code


def _elapsed_ms(start, end) -> int | Decimal | None:
    # Epoch floats are nearly every value. Before 2106 their shortest decimals are within
    # 2.4e-7 s of the floats themselves, so within a day of each other the float difference is
    # within 5e-4 ms of the exact one: the same whole ms unless that close to half of one.
    if type(start) is float and type(end) is float and abs(start) < 2**32 > abs(end):
        elapsed = (end - start) * 1000
        if 0 <= elapsed <= FLOAT_ELAPSED_MAX_MS and abs(elapsed % 1 - 0.5) > 1e-3:
            return math.floor(elapsed + 0.5)
    start, end = _decimal_or_none(start), _decimal_or_none(end)
    if start is None or end is None:
        return None
    try:
        elapsed = ((end - start) * 1000).to_integral_value(rounding=ROUND_HALF_UP)
    except ArithmeticError:
        return None
    # Far past any real call it stays a Decimal for the validator to reject: int() of a
    # million-digit number takes a minute.
    return int(elapsed) if abs(elapsed) <= MAX_ELAPSED_MS else elapsed


def _cost(payload: dict):
    cost = _present(payload.get("response_cost"))
    if not _is_finite_number(cost) or cost != 0:
        return cost
    # LiteLLM writes 0.0 for models it cannot price (not reported), but a cache hit is free.
    return cost if payload.get("cache_hit") is True else None


def _public_url(url: str) -> str | None:
    """The URL without credentials: Gemini's REST bases can carry ?key=..."""
    return _short_public_url(url) if len(url) <= MAX_CACHED_URL else _url_public(url)


def _url_public(url: str) -> str | None:
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    netloc = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=netloc, query="", fragment="").geturl() or None


_short_public_url = lru_cache(maxsize=256)(_url_public)


def _scalars(value) -> dict | None:
    """A flat dict's numbers and short strings (LiteLLM's cost_breakdown), else None."""
    # Nearly every value is a float or None: those are told apart without a call.
    kept = {
        key: item
        for key, item in _dict(value).items()
        if isinstance(key, str)
        and (
            math.isfinite(item)
            if type(item) is float
            else item is not None and (_is_finite_number(item) or _short_text(item))
        )
    }
    return kept or None


def _short_text(item) -> bool:
    return _text(item) is not None and len(item) <= 200


def _metadata(payload: dict, api_bases: list[str]) -> dict:
    """What is worth keeping from the payload; never its messages or response."""
    info = _dict(payload.get("error_information"))
    cache_hit = payload.get("cache_hit")
    values = {
        "source": "litellm",
        "litellm_call_id": _text(payload.get("litellm_call_id")),
        "trace_id": _text(payload.get("trace_id")),
        "model_group": _text(payload.get("model_group")),
        "model_id": _text(payload.get("model_id")),
        "api_base": _public_url(api_bases[0]) if api_bases else None,
        "call_type": _text(payload.get("call_type")),
        "cache_hit": cache_hit if isinstance(cache_hit, bool) else None,
        "end_user": _text(payload.get("end_user")),
        "error_code": _error_code(info.get("error_code")),
        "error_class": _text(info.get("error_class")),
        "reported_model": _text(payload.get("model")),
        "cost_breakdown": _scalars(payload.get("cost_breakdown")),
    }
    return {key: value for key, value in values.items() if value is not None}
