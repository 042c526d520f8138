"""OpenTelemetry traces (OTLP over HTTP, protobuf or JSON) read into our canonical usage events.

A span that follows the GenAI semantic conventions becomes one canonical event, which
billing.ingest.store.usage_ingest then validates, deduplicates and prices like any event posted
to /api/v1/usage; every other span is ignored and counted. Both encodings are read into the same
SpanIn, so they map identically.

The OTLP structure is checked as strictly as protobuf would check it (a malformed export is a
400); the attributes we read are handed over as sent, so a bad value is that span's rejection,
worded by the same validation as every other event.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import orjson
from google.protobuf.message import DecodeError  # type: ignore[import-untyped]  # no stubs
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from billing.ingest.litellm import HOST_PROVIDERS
from billing.ingest.payload import MAX_EVENTS, PayloadError
from billing.ingest.store import IngestResult, usage_ingest

PROTOBUF_TYPES = frozenset({"application/x-protobuf", "application/protobuf"})
JSON_TYPE = "application/json"
STATUS_ERROR = Status.STATUS_CODE_ERROR
MAX_UINT64 = 2**64 - 1
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_TEXT = 200
MAX_ERROR_MESSAGE = 1000
HEX_ID = re.compile(r"(?:[0-9a-fA-F]{2})*")
INTEGER = re.compile(r"-?[0-9]{1,20}")

OPERATION = "gen_ai.operation.name"
PROVIDER_KEYS = ("gen_ai.provider.name", "gen_ai.system")  # current name first
MODEL_KEYS = ("gen_ai.response.model", "gen_ai.request.model")  # the model that answered first
RESPONSE_ID = "gen_ai.response.id"
INPUT_KEYS = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")
OUTPUT_KEYS = ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens")
CACHE_READ_KEYS = ("gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens")
CACHE_WRITE_KEYS = (
    "gen_ai.usage.cache_creation.input_tokens",
    "gen_ai.usage.cache_creation_input_tokens",
)
ERROR_TYPE = "error.type"
SERVER_ADDRESS = "server.address"
END_USER_KEYS = ("user.id", "enduser.id")
TASK_TYPE = "llm_spend.task_type"
ROUTE_VERSION = "llm_spend.route_version"
API_KEY_ALIAS = "llm_spend.api_key_alias"
SERVICE_NAME = "service.name"
# Every attribute the mapping reads; the others are never decoded.
READ_KEYS = frozenset(
    {
        OPERATION,
        *PROVIDER_KEYS,
        *MODEL_KEYS,
        RESPONSE_ID,
        *INPUT_KEYS,
        *OUTPUT_KEYS,
        *CACHE_READ_KEYS,
        *CACHE_WRITE_KEYS,
        ERROR_TYPE,
        SERVER_ADDRESS,
        *END_USER_KEYS,
        TASK_TYPE,
        ROUTE_VERSION,
        API_KEY_ALIAS,
        SERVICE_NAME,
    }
)

# gen_ai.provider.name (and the older gen_ai.system) values that name one of our providers.
# Vertex AI counts as Google, as LiteLLM's vertex_ai does (billing.ingest.litellm).
PROVIDER_SLUGS = {
    "openai": "openai",
    "anthropic": "anthropic",
    "deepseek": "deepseek",
    "openrouter": "openrouter",
    "chutes": "chutes",
    "gcp.gemini": "google",
    "gcp.gen_ai": "google",
    "gcp.vertex_ai": "google",
    "gemini": "google",
    "vertex_ai": "google",
}


class NotScalar:
    """An array, key-value list or bytes attribute: no field of ours takes one."""

    def __repr__(self) -> str:
        return "<array, kvlist or bytes>"


NOT_SCALAR = NotScalar()


@dataclass(slots=True)
class SpanIn:
    """One span as both encodings read it: ids in lowercase hex, the attributes we read."""

    trace_id: str
    span_id: str
    name: str
    start_ns: int
    end_ns: int
    failed: bool
    status_message: str
    attributes: dict
    resource: dict


@dataclass
class TracesResult:
    ingest: IngestResult
    ignored_spans: int = 0

    def as_json(self) -> dict:
        """Our usage answer with ignored_spans, and OTLP/JSON's partialSuccess when spans were
        rejected (int64 as a string, as protobuf's JSON mapping writes it)."""
        answer = {**self.ingest.as_json(), "ignored_spans": self.ignored_spans}
        if self.ingest.rejected:
            answer["partialSuccess"] = {
                "rejectedSpans": str(len(self.ingest.rejected)),
                "errorMessage": self.error_message(),
            }
        return answer

    def as_protobuf(self) -> bytes:
        response = ExportTraceServiceResponse()
        if self.ingest.rejected:
            response.partial_success.CopyFrom(
                ExportTracePartialSuccess(
                    rejected_spans=len(self.ingest.rejected), error_message=self.error_message()
                )
            )
        return response.SerializeToString()

    def error_message(self) -> str:
        rejected = self.ingest.rejected
        first = rejected[0]
        errors = "; ".join(f"{name} {message}" for name, message in first["errors"].items())
        message = (
            f"{len(rejected)} GenAI span(s) rejected, nothing stored for them. "
            f"First: span {first['span_id']}: {errors}"
        )
        return message[:MAX_ERROR_MESSAGE]


def traces_decoder(content_type: str) -> Callable[[bytes], list[SpanIn]]:
    """How to read a body of this Content-Type; 415 for anything but OTLP's two encodings."""
    kind = content_type.split(";")[0].strip().lower()
    if kind in PROTOBUF_TYPES:
        return spans_from_protobuf
    if kind == JSON_TYPE:
        return spans_from_json
    raise PayloadError(
        415,
        "unsupported content type",
        "Send OTLP as application/x-protobuf or application/json.",
    )


def spans_from_protobuf(body: bytes) -> list[SpanIn]:
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except DecodeError as error:
        raise PayloadError(
            400, "malformed body", f"The body is not an OTLP ExportTraceServiceRequest: {error}."
        ) from None
    spans = []
    for resource_spans in request.resource_spans:
        resource = _protobuf_attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    SpanIn(
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        name=span.name,
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                        failed=span.status.code == STATUS_ERROR,
                        status_message=span.status.message,
                        attributes=_protobuf_attributes(span.attributes),
                        resource=resource,
                    )
                )
    return spans


def _protobuf_attributes(pairs) -> dict:
    return {pair.key: _protobuf_value(pair.value) for pair in pairs if pair.key in READ_KEYS}


def _protobuf_value(value: AnyValue):
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind in ("string_value", "bool_value", "int_value", "double_value"):
        return getattr(value, kind)
    return NOT_SCALAR


def spans_from_json(body: bytes) -> list[SpanIn]:
    """OTLP/JSON: protobuf's JSON mapping with lowerCamelCase names, except that trace and span
    ids are hex (not base64) and enums integers; 64-bit integers come as strings or numbers."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise PayloadError(400, "malformed body", f"The body is not valid JSON: {error}.") from None
    if not isinstance(document, dict):
        raise _malformed("the body", "must be an object with resourceSpans")
    spans = []
    for r, resource_spans in _objects(document, "resourceSpans", ""):
        resource = _json_attributes(
            _object(resource_spans, "resource", f"resourceSpans[{r}]"),
            f"resourceSpans[{r}].resource",
        )
        for s, scope_spans in _objects(resource_spans, "scopeSpans", f"resourceSpans[{r}]"):
            where = f"resourceSpans[{r}].scopeSpans[{s}]"
            for n, span in _objects(scope_spans, "spans", where):
                spans.append(_json_span(span, resource, f"{where}.spans[{n}]"))
    return spans


def _json_span(span: dict, resource: dict, where: str) -> SpanIn:
    status = _object(span, "status", where)
    code = status.get("code", 0)
    return SpanIn(
        trace_id=_hex_id(span, "traceId", where),
        span_id=_hex_id(span, "spanId", where),
        name=_json_text(span, "name", where),
        start_ns=_uint64(span, "startTimeUnixNano", where),
        end_ns=_uint64(span, "endTimeUnixNano", where),
        failed=code in (STATUS_ERROR, "STATUS_CODE_ERROR"),
        status_message=_json_text(status, "message", f"{where}.status"),
        attributes=_json_attributes(span, where),
        resource=resource,
    )


def _json_attributes(holder: dict, where: str) -> dict:
    attributes = {}
    for _, pair in _objects(holder, "attributes", where):
        key = pair.get("key")
        if isinstance(key, str) and key in READ_KEYS:
            value = pair.get("value")
            attributes[key] = _json_value(value) if isinstance(value, dict) else None
    return attributes


def _json_value(value: dict):
    if "stringValue" in value:
        return value["stringValue"]
    if "boolValue" in value:
        return value["boolValue"]
    if "intValue" in value:
        number = value["intValue"]
        # int64 as text is how protobuf's JSON mapping writes it; other text stays as sent.
        if isinstance(number, str) and INTEGER.fullmatch(number):
            return int(number)
        return number
    if "doubleValue" in value:
        return value["doubleValue"]
    if value.keys() & {"arrayValue", "kvlistValue", "bytesValue"}:
        return NOT_SCALAR
    return None


def _objects(holder: dict, name: str, where: str):
    path = f"{where}.{name}" if where else name
    items = holder.get(name)
    if items is None:
        return
    if not isinstance(items, list):
        raise _malformed(path, "must be a list")
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise _malformed(f"{path}[{index}]", "must be an object")
        yield index, item


def _object(holder: dict, name: str, where: str) -> dict:
    value = holder.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _malformed(f"{where}.{name}", "must be an object")
    return value


def _json_text(holder: dict, name: str, where: str) -> str:
    value = holder.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _malformed(f"{where}.{name}", "must be a string")
    return value


def _hex_id(span: dict, name: str, where: str) -> str:
    value = _json_text(span, name, where)
    if not HEX_ID.fullmatch(value):
        raise _malformed(f"{where}.{name}", "must be hex, as OTLP/JSON writes ids")
    return value.lower()


def _uint64(span: dict, name: str, where: str) -> int:
    value = span.get(name, 0)
    if isinstance(value, str) and INTEGER.fullmatch(value):
        value = int(value)
    if type(value) is not int or not 0 <= value <= MAX_UINT64:
        raise _malformed(f"{where}.{name}", "must be nanoseconds since the epoch")
    return value


def _malformed(where: str, problem: str) -> PayloadError:
    return PayloadError(400, "malformed body", f"Not an OTLP/JSON export: {where} {problem}.")


def is_genai(span: SpanIn) -> bool:
    """A model call: a model, and an operation or a provider as the GenAI conventions name them.
    Tool and agent spans without a model are not calls to bill."""
    attributes = span.attributes
    if _first(attributes, MODEL_KEYS) is None:
        return False
    return OPERATION in attributes or any(key in attributes for key in PROVIDER_KEYS)


def span_event(span: SpanIn) -> dict:
    """The canonical event of a GenAI span, values as sent: validation judges them."""
    attributes = span.attributes
    error_type = attributes.get(ERROR_TYPE)
    failed = span.failed or error_type is not None
    if failed and error_type is None:
        error_type = _text(span.status_message)
    return {
        "id": _event_id(span),
        "timestamp": (EPOCH + timedelta(microseconds=span.start_ns // 1000)).isoformat(),
        "provider": _provider(attributes),
        "model": _first(attributes, MODEL_KEYS),
        "task_type": _declared(span, TASK_TYPE),
        "end_user": _first(attributes, END_USER_KEYS) or _first(span.resource, END_USER_KEYS),
        "api_key_alias": _declared(span, API_KEY_ALIAS),
        "route_version": _declared(span, ROUTE_VERSION),
        "status": "error" if failed else "success",
        "error_type": error_type if failed else None,
        # OTel's gen_ai.usage.input_tokens "SHOULD include all types of input tokens, including
        # cached tokens", and cache reads and writes "SHOULD be included in" it: our
        # input_tokens exactly (OpenLLMetry's Anthropic instrumentation adds the cache in). A
        # span whose cache counts exceed its input (Anthropic's own input_tokens, which leaves
        # the cache out) breaks the convention and is rejected, as on /api/v1/usage: a span
        # that breaks it by less cannot be told apart, so none is guessed at.
        "input_tokens": _first(attributes, INPUT_KEYS),
        "output_tokens": _first(attributes, OUTPUT_KEYS),
        "cached_input_tokens": _first(attributes, CACHE_READ_KEYS),
        "cache_write_tokens": _first(attributes, CACHE_WRITE_KEYS),
        "latency_ms": (span.end_ns - span.start_ns + 500_000) // 1_000_000,
        "metadata": _metadata(span),
    }


def _event_id(span: SpanIn) -> str | None:
    # The provider's response id when there is one: the same in every retry of the export, and
    # the same when two nested instrumentations record one call, which then counts once.
    # Else the trace and span ids, also the same in every retry; a span id alone is only
    # unique within its trace.
    response_id = span.attributes.get(RESPONSE_ID)
    if isinstance(response_id, str) and response_id.strip():
        return response_id
    if _valid_id(span.trace_id, 32) and _valid_id(span.span_id, 16):
        return f"{span.trace_id}-{span.span_id}"
    return None  # an invalid span id (all zeros): validation says the id is required


def _valid_id(value: str, length: int) -> bool:
    return len(value) == length and value.strip("0") != ""


def _provider(attributes: dict):
    # An OpenAI client pointed at Chutes says "openai"; the server it called says who served it.
    host = attributes.get(SERVER_ADDRESS)
    if isinstance(host, str):
        host = host.strip().lower()
        for domain, slug in HOST_PROVIDERS:
            if host == domain or host.endswith(f".{domain}"):
                return slug
    name = _first(attributes, PROVIDER_KEYS)
    if not isinstance(name, str):
        return name
    return PROVIDER_SLUGS.get(name.strip().lower(), name)


def _declared(span: SpanIn, key: str):
    """Our own attribute, on the span or, for all of a service's spans, on its resource."""
    value = span.attributes.get(key)
    return span.resource.get(key) if value is None else value


def _first(attributes: dict, keys: tuple[str, ...]):
    for key in keys:
        value = attributes.get(key)
        if value is not None and value != "":
            return value
    return None


def _metadata(span: SpanIn) -> dict:
    texts = {
        "trace_id": span.trace_id,
        "span_id": span.span_id,
        "span_name": span.name,
        "service_name": span.resource.get(SERVICE_NAME),
        "operation": span.attributes.get(OPERATION),
    }
    return {key: _text(value) for key, value in texts.items() if isinstance(value, str) and value}


def _text(value: str) -> str:
    """Free text of ours to store (a status message, metadata): cut, and without the NULs no
    column takes, so a long or odd name costs no event."""
    return value.replace("\x00", "")[:MAX_TEXT]


@dataclass
class GenAiSpans:
    spans: list[SpanIn] = field(default_factory=list)
    ignored: int = 0


def genai_spans(spans: list[SpanIn]) -> GenAiSpans:
    found = GenAiSpans()
    for span in spans:
        if is_genai(span):
            found.spans.append(span)
        else:
            found.ignored += 1
    if len(found.spans) > MAX_EVENTS:
        raise PayloadError(
            413, "too many events", f"At most {MAX_EVENTS:,} GenAI spans per export; send fewer."
        )
    return found


def traces_ingest(team, spans: list[SpanIn]) -> TracesResult:
    """Store the export's GenAI spans as usage events; count the other spans as ignored.

    A rejected span is reported by its index among the export's GenAI spans, its event id and
    its trace and span ids.
    """
    found = genai_spans(spans)
    result = usage_ingest(team, [span_event(span) for span in found.spans])
    for rejected in result.rejected:
        span = found.spans[rejected["index"]]
        rejected.update(trace_id=span.trace_id, span_id=span.span_id)
    return TracesResult(result, found.ignored)
