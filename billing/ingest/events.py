"""Validating one usage event in the canonical form (LiteLLM payloads are mapped to it first)."""

import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

import orjson

from billing.ingest.litellm import is_litellm_payload, litellm_to_canonical

MAX_FUTURE = timedelta(minutes=5)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
MAX_TOKENS = 10**12
MAX_MS = 24 * 3600 * 1000
MAX_COST_USD = Decimal(1_000_000)
MAX_METADATA_BYTES = 16 * 1024
MAX_METADATA_DEPTH = 16
# Money as a string keeps its digits exactly: a plain decimal literal, nothing around it.
DECIMAL_STRING = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]{1,4})?")
MAX_DECIMAL_STRING = 64
# The fields of a canonical event, in the order the docs list them.
CANONICAL_FIELDS = [
    "id",
    "timestamp",
    "provider",
    "model",
    "task_type",
    "end_user",
    "api_key_alias",
    "route_version",
    "status",
    "error_type",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "latency_ms",
    "ttft_ms",
    "cost_usd",
    "quality_score",
    "metadata",
]
TOKEN_FIELDS = ["input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens"]
STATUSES = {"success", "error"}


@dataclass(slots=True)
class EventIn:
    event_id: str
    occurred_at: datetime
    provider: str
    model: str
    task_type: str = ""
    end_user: str = ""
    api_key_alias: str = ""
    route_version: int | None = None
    status: str = "success"
    error_type: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    latency_ms: int | None = None
    ttft_ms: int | None = None
    reported_cost_usd: Decimal | None = None
    quality_score: Decimal | None = None
    metadata: dict = field(default_factory=dict)


class Invalid(ValueError):
    pass


def event_from_json(item, *, now: datetime) -> tuple[EventIn | None, dict[str, str]]:
    """The cleaned event, or None and the errors as field -> message."""
    if not isinstance(item, dict):
        return None, {"event": "must be a JSON object"}
    if is_litellm_payload(item):
        item = litellm_to_canonical(item)
    errors: dict[str, str] = {}

    def take(name, parse, *args):
        try:
            return parse(item.get(name), *args)
        except Invalid as error:
            errors[name] = str(error)
            return None

    event_id = take("id", parse_text, 255, True)
    occurred_at = take("timestamp", _timestamp, now)
    provider = take("provider", _provider, 100) or ""
    model = take("model", parse_text, 200, True)
    task_type = take("task_type", parse_text, 100, False) or ""
    end_user = take("end_user", parse_text, 200, False) or ""
    api_key_alias = take("api_key_alias", parse_text, 200, False) or ""
    route_version = take("route_version", _optional_int, 1, 2**31 - 1)
    status = take("status", _status)
    error_type = take("error_type", parse_text, 200, False) or ""
    tokens = {name: take(name, _count) for name in TOKEN_FIELDS}
    latency_ms = take("latency_ms", _milliseconds)
    ttft_ms = take("ttft_ms", _milliseconds)
    cost = take("cost_usd", _cost)
    quality = take("quality_score", parse_score)
    metadata = take("metadata", _metadata)
    if (
        not errors
        and tokens["cached_input_tokens"] + tokens["cache_write_tokens"] > tokens["input_tokens"]
    ):
        errors["cached_input_tokens"] = (
            "cached_input_tokens + cache_write_tokens cannot exceed input_tokens, "
            "which counts every prompt token"
        )
    if errors:
        return None, errors
    return (
        EventIn(
            event_id=event_id,
            occurred_at=occurred_at,
            provider=provider,
            model=model,
            task_type=task_type,
            end_user=end_user,
            api_key_alias=api_key_alias,
            route_version=route_version,
            status=status,
            error_type=error_type,
            latency_ms=latency_ms,
            ttft_ms=ttft_ms,
            reported_cost_usd=cost,
            quality_score=quality,
            metadata=metadata,
            **tokens,
        ),
        {},
    )


def clean_string(value: str) -> str:
    if "\x00" in value:
        raise Invalid("must not contain NUL characters")
    if value.isascii():
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise Invalid("must be valid Unicode (no lone surrogates)") from None
    return value


def parse_text(value, max_length: int, required: bool) -> str | None:
    """A stripped string the database can store (no NUL, no lone surrogate), or None if blank."""
    if value is None or value == "":
        if required:
            raise Invalid("is required")
        return None
    if not isinstance(value, str):
        raise Invalid("must be a string")
    value = clean_string(value.strip())
    if required and not value:
        raise Invalid("is required")
    if len(value) > max_length:
        raise Invalid(f"must be at most {max_length} characters")
    return value


def _provider(value, max_length: int) -> str | None:
    # Lowered before the length check: some characters lower to two ("İ" -> "i̇").
    return parse_text(value.lower() if isinstance(value, str) else value, max_length, False)


def _is_number(value) -> bool:
    return isinstance(value, int | Decimal | float) and not isinstance(value, bool)


def _finite_decimal(value) -> Decimal:
    if not _is_number(value):
        raise Invalid("must be a number")
    try:
        number = Decimal(value) if not isinstance(value, float) else Decimal(repr(value))
    except (InvalidOperation, ValueError):
        raise Invalid("must be a number") from None
    if not number.is_finite():
        raise Invalid("must be a finite number")
    return number


def _exact_decimal(value) -> Decimal:
    """A JSON number, or a decimal string such as "0.004750" (how money keeps its digits)."""
    if isinstance(value, str):
        if len(value) > MAX_DECIMAL_STRING or not DECIMAL_STRING.fullmatch(value):
            raise Invalid('must be a number or a decimal string such as "0.004750"')
        return Decimal(value)
    if not _is_number(value):
        raise Invalid('must be a number or a decimal string such as "0.004750"')
    return _finite_decimal(value)


def _timestamp(value, now: datetime) -> datetime:
    if value is None:
        raise Invalid("is required")
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise Invalid("must be ISO 8601 with a UTC offset, or epoch seconds") from None
        if moment.tzinfo is None:
            raise Invalid("must include a UTC offset, e.g. 2026-11-26T10:00:00Z")
        try:
            moment = moment.astimezone(UTC)
        except OverflowError:
            # Year 1 or 9999 pushed past the calendar by its offset.
            if moment.year < EARLIEST.year:
                raise Invalid("must be after 2000-01-01") from None
            raise Invalid("is more than 5 minutes in the future") from None
    elif type(value) is float and math.isfinite(value):  # LiteLLM's times: no Decimal needed
        if value > 10**11:
            raise Invalid("looks like epoch milliseconds; send epoch seconds")
        if value < 0:
            raise Invalid("must be after 2000-01-01")
        moment = datetime.fromtimestamp(value, tz=UTC)
    else:
        seconds = _finite_decimal(value)
        if seconds > 10**11:
            raise Invalid("looks like epoch milliseconds; send epoch seconds")
        if seconds < 0:
            raise Invalid("must be after 2000-01-01")
        moment = datetime.fromtimestamp(float(seconds), tz=UTC)
    if moment < EARLIEST:
        raise Invalid("must be after 2000-01-01")
    if moment > now + MAX_FUTURE:
        raise Invalid("is more than 5 minutes in the future")
    return moment


def _whole_number(value, low: int, high: int) -> int:
    # Plain ints are nearly every value the proxy sends: check them without Decimal.
    if type(value) is int:
        if not low <= value <= high:
            raise Invalid(f"must be between {low:,} and {high:,}")
        return value
    number = _finite_decimal(value)
    if number != number.to_integral_value():
        raise Invalid("must be a whole number")
    if not low <= number <= high:
        raise Invalid(f"must be between {low:,} and {high:,}")
    return int(number)


def _count(value) -> int:
    return 0 if value is None else _whole_number(value, 0, MAX_TOKENS)


def _optional_int(value, low: int, high: int) -> int | None:
    return None if value is None else _whole_number(value, low, high)


def _milliseconds(value) -> int | None:
    if value is None:
        return None
    if type(value) is int and 0 <= value <= MAX_MS:
        return value
    number = _finite_decimal(value)
    if not 0 <= number <= MAX_MS:
        raise Invalid(f"must be between 0 and {MAX_MS:,} ms")
    return int(number.to_integral_value())


def _status(value) -> str:
    if value is None:
        return "success"
    if not isinstance(value, str) or value not in STATUSES:
        raise Invalid("must be success or error")
    return value


def _cost(value) -> Decimal | None:
    if value is None:
        return None
    number = _exact_decimal(value)
    if not 0 <= number <= MAX_COST_USD:
        raise Invalid(f"must be between 0 and {MAX_COST_USD:,} USD")
    return number.quantize(Decimal("1e-12"))


def parse_score(value) -> Decimal | None:
    if value is None:
        return None
    number = _exact_decimal(value)
    if not 0 <= number <= 1:
        raise Invalid("must be between 0 and 1")
    return number.quantize(Decimal("1e-5"))


def _metadata(value) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Invalid("must be a JSON object")
    text = _plain_json_text(value)
    if text is None:  # something to clean or refuse: walk it
        value = _plain_json(value, 0)
        text = compact_json(value)
    if len(text) > MAX_METADATA_BYTES:
        raise Invalid(f"must be at most {MAX_METADATA_BYTES:,} bytes of JSON")
    return value


def _plain_json_text(value: dict) -> bytes | None:
    """The compact JSON of metadata that _plain_json would return unchanged, or None when it
    might not (then the walk decides). orjson refuses lone surrogates, non-string keys, Decimals
    and integers past 64 bits; what it writes as NUL or null (also NaN and infinities) and more
    than MAX_METADATA_DEPTH brackets in all are left to the walk, as brackets inside strings
    only send more metadata there. Most metadata has none of these: one dumps, no walk."""
    try:
        text = orjson.dumps(value)
    except orjson.JSONEncodeError:
        return None
    if b"\\u0000" in text or b"null" in text:
        return None
    if text.count(b"{") + text.count(b"[") > MAX_METADATA_DEPTH:
        return None
    return text


def compact_json(value) -> bytes:
    """The value as compact UTF-8 JSON: how metadata is measured and stored."""
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:  # an integer past 64 bits, which orjson does not write
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _plain_json(value, depth: int):
    """JSON the database can store: no NUL, no lone surrogates, numbers as int or float."""
    if depth > MAX_METADATA_DEPTH:
        raise Invalid(f"must not nest deeper than {MAX_METADATA_DEPTH} levels")
    kind = type(value)
    if kind is int or kind is bool or value is None:  # nothing to clean: most values
        return value
    if isinstance(value, dict):
        return {clean_string(str(key)): _plain_json(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain_json(item, depth + 1) for item in value]
    if isinstance(value, str):
        return clean_string(value)
    if isinstance(value, Decimal):
        number = float(value)
        if not math.isfinite(number):
            raise Invalid("must hold finite numbers only")
        return number
    if isinstance(value, float) and not math.isfinite(value):
        raise Invalid("must hold finite numbers only")
    return value
