import gzip
import json
import time
from decimal import Decimal
from pathlib import Path
from unittest import mock

import pytest
from django.db import OperationalError
from django.db.models import Sum
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status as SdkStatus
from opentelemetry.trace import StatusCode

from billing.ingest.otlp import SpanIn, is_genai, span_event, spans_from_json, spans_from_protobuf
from billing.models import UsageEvent, UsageRollup
from dashboard.tokens import token_create

URL = "/v1/traces"
PROTOBUF = "application/x-protobuf"
FIXTURES = Path(__file__).resolve().parents[1] / "data" / "otlp"
TRACE_ID = bytes.fromhex("4bf92f3577b34da6a3ce929d0e0e4736")
START_NS = 1_795_169_700_000_000_000  # 2026-11-20T10:15:00Z, before conftest's NOW
MS = 1_000_000
SONNET_CALL = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "anthropic",
    "gen_ai.request.model": "claude-sonnet-4-5",
    "gen_ai.usage.input_tokens": 5000,
    "gen_ai.usage.output_tokens": 2000,
}


def _value(value) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, list):
        return AnyValue(array_value=ArrayValue(values=[_value(item) for item in value]))
    return AnyValue(string_value=value)


def _attributes(values: dict) -> list[KeyValue]:
    return [KeyValue(key=key, value=_value(value)) for key, value in values.items()]


def _span(attributes: dict, number: int = 1) -> Span:
    return Span(
        trace_id=TRACE_ID,
        span_id=number.to_bytes(8, "big"),
        name="chat",
        start_time_unix_nano=START_NS,
        end_time_unix_nano=START_NS + 1800 * MS,
        attributes=_attributes(attributes),
    )


def _export(*spans: Span) -> bytes:
    resource_spans = ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])
    return ExportTraceServiceRequest(resource_spans=[resource_spans]).SerializeToString()


def _post(client, body: bytes, token: str, content_type: str = PROTOBUF, **headers):
    return client.post(
        URL, body, content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {token}", **headers
    )


def _post_json(client, body: bytes, token: str):
    return _post(client, body, token, content_type="application/json")


def _json_export(*spans: Span) -> bytes:
    """The spans in OTLP/JSON, written by hand as its spec has it: ids hex, enums as integers."""
    return json.dumps(
        {"resourceSpans": [{"scopeSpans": [{"spans": [_json_span(s) for s in spans]}]}]}
    ).encode()


def _json_span(span: Span) -> dict:
    return {
        "traceId": span.trace_id.hex(),
        "spanId": span.span_id.hex(),
        "name": span.name,
        "startTimeUnixNano": str(span.start_time_unix_nano),
        "endTimeUnixNano": str(span.end_time_unix_nano),
        "attributes": [
            {"key": pair.key, "value": _json_value(pair.value)} for pair in span.attributes
        ],
        "status": {"code": span.status.code, "message": span.status.message},
    }


def _json_value(value: AnyValue) -> dict:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return {"arrayValue": {"values": [_json_value(item) for item in value.array_value.values]}}
    if kind == "int_value":
        return {"intValue": str(value.int_value)}
    names = {
        "string_value": "stringValue",
        "bool_value": "boolValue",
        "double_value": "doubleValue",
    }
    return {names[kind]: getattr(value, kind)}


def _span_in(attributes: dict, **overrides) -> SpanIn:
    fields = {
        "trace_id": TRACE_ID.hex(),
        "span_id": "00f067aa0ba902b7",
        "name": "chat",
        "start_ns": START_NS,
        "end_ns": START_NS + 1800 * MS,
        "failed": False,
        "status_message": "",
        "attributes": attributes,
        "resource": {},
    }
    return SpanIn(**{**fields, **overrides})


# The official SDK and its exporter, over HTTP.


def test_it_stores_the_genai_spans_the_official_exporter_sends(
    transactional_db, live_server, team, catalog, usage_token
):
    exporter = OTLPSpanExporter(
        endpoint=live_server.url + URL,
        headers={"Authorization": f"Bearer {usage_token}"},
        compression=Compression.Gzip,
    )
    provider = TracerProvider(
        resource=Resource.create({"service.name": "summarizer", "llm_spend.task_type": "summary"})
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    start = time.time_ns() - 60 * 10**9
    call = tracer.start_span("chat claude-sonnet-4-5", start_time=start)
    call.set_attributes(
        {
            **SONNET_CALL,
            "gen_ai.response.model": "claude-sonnet-4-5-20250929",
            "gen_ai.response.id": "msg_sdk_1",
            "gen_ai.usage.cache_read.input_tokens": 3000,
            "gen_ai.usage.cache_creation.input_tokens": 1000,
            "user.id": "alice",
        }
    )
    call.end(end_time=start + 1800 * MS)
    failed = tracer.start_span("chat gpt-5-mini", start_time=start)
    failed.set_attributes(
        {
            "gen_ai.system": "openai",
            "gen_ai.request.model": "gpt-5-mini",
            "gen_ai.usage.prompt_tokens": 100,
            "error.type": "RateLimitError",
        }
    )
    failed.set_status(SdkStatus(StatusCode.ERROR, "Rate limit reached"))
    failed.end(end_time=start + 250 * MS)
    tracer.start_span("GET /health", start_time=start).end(end_time=start + MS)
    provider.force_flush()
    provider.shutdown()

    sonnet = UsageEvent.objects.get(event_id="msg_sdk_1")
    assert (sonnet.team, sonnet.provider_name, sonnet.model_name) == (
        team,
        "anthropic",
        "claude-sonnet-4-5",
    )
    assert (sonnet.input_tokens, sonnet.output_tokens) == (5000, 2000)
    assert (sonnet.cached_input_tokens, sonnet.cache_write_tokens) == (3000, 1000)
    assert (sonnet.latency_ms, sonnet.status, sonnet.end_user, sonnet.task_type) == (
        1800,
        "success",
        "alice",
        "summary",
    )
    # 1,000 uncached at $3, 3,000 cache reads at $0.30, 1,000 writes at $3.75, 2,000 out at $15.
    assert sonnet.cost_usd == Decimal("0.03765")
    error = UsageEvent.objects.get(model_name="gpt-5-mini")
    assert (error.status, error.error_type, error.latency_ms) == ("error", "RateLimitError", 250)
    assert UsageEvent.objects.count() == 2
    rollup = UsageRollup.objects.filter(team=team).aggregate(
        requests=Sum("requests"), input=Sum("input_tokens"), cost=Sum("cost_usd")
    )
    assert rollup == {"requests": 2, "input": 5100, "cost": Decimal("0.03765") + error.cost_usd}


def test_the_exporter_reaches_it_configured_by_the_environment_alone(
    transactional_db, live_server, team, catalog, usage_token, monkeypatch
):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", live_server.url + URL)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"Authorization=Bearer%20{usage_token}")
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter()))
    start = time.time_ns() - 10**9
    span = provider.get_tracer("test").start_span("chat", start_time=start)
    span.set_attributes(SONNET_CALL)
    span.end(end_time=start + MS)
    provider.shutdown()
    assert UsageEvent.objects.get().model_name == "claude-sonnet-4-5"


# The two encodings.


def test_both_fixtures_read_as_the_same_spans():
    from_protobuf = spans_from_protobuf((FIXTURES / "genai_export.bin").read_bytes())
    from_json = spans_from_json((FIXTURES / "genai_export.json").read_bytes())
    assert len(from_protobuf) == 5
    assert from_json == from_protobuf


@pytest.mark.parametrize(
    ("name", "content_type"),
    [("genai_export.bin", PROTOBUF), ("genai_export.json", "application/json")],
)
def test_it_stores_the_fixture_spans_from_either_encoding(
    client, catalog, clock, usage_token, name, content_type
):
    _post(client, (FIXTURES / name).read_bytes(), usage_token, content_type)
    stored = UsageEvent.objects.order_by("occurred_at", "latency_ms").values_list(
        "event_id",
        "provider_name",
        "model_name",
        "task_type",
        "end_user",
        "status",
        "input_tokens",
        "output_tokens",
        "cached_input_tokens",
        "cache_write_tokens",
        "latency_ms",
    )
    assert list(stored) == [
        (
            "0af7651916cd43dd8448eb211c80319c-b7ad6b7169203334",
            "openai",
            "gpt-5.2",
            "summarization",
            "",
            "error",
            0,
            0,
            0,
            0,
            120,
        ),
        (
            "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
            "openai",
            "gpt-5-mini",
            "summarization",
            "bob",
            "success",
            1200,
            300,
            1024,
            0,
            950,
        ),
        (
            "msg_01XFDUDYJgAACzvnptvVoYEL",
            "anthropic",
            "claude-sonnet-4-5",
            "summarization",
            "alice",
            "success",
            5000,
            2000,
            3000,
            1000,
            1800,
        ),
    ]


def test_it_answers_json_with_our_counts_and_the_ignored_spans(client, catalog, clock, usage_token):
    body = (FIXTURES / "genai_export.json").read_bytes()
    assert _post_json(client, body, usage_token).json() == {
        "accepted": 3,
        "duplicates": 0,
        "rejected": [],
        "ignored_spans": 2,
    }


def test_it_answers_protobuf_with_an_empty_export_response(client, catalog, clock, usage_token):
    response = _post(client, (FIXTURES / "genai_export.bin").read_bytes(), usage_token)
    assert response.status_code == 200
    assert response["Content-Type"] == PROTOBUF
    answer = ExportTraceServiceResponse.FromString(response.content)
    assert not answer.HasField("partial_success")


# Dedupe, rejection, ignored spans.


def test_it_counts_a_resent_export_as_duplicates(client, catalog, clock, usage_token):
    body = (FIXTURES / "genai_export.json").read_bytes()
    _post_json(client, body, usage_token)
    answer = _post_json(client, body, usage_token).json()
    assert (answer["accepted"], answer["duplicates"]) == (0, 3)
    assert UsageEvent.objects.count() == 3


def test_it_counts_one_call_recorded_by_two_instrumentations_once(
    client, catalog, clock, usage_token
):
    call = {**SONNET_CALL, "gen_ai.response.id": "msg_1"}
    answer = _post_json(client, _json_export(_span(call, 1), _span(call, 2)), usage_token).json()
    assert (answer["accepted"], answer["duplicates"]) == (1, 1)


def test_it_rejects_a_span_with_bad_values_and_stores_the_rest(client, catalog, clock, usage_token):
    bad = _span({**SONNET_CALL, "gen_ai.usage.output_tokens": -5}, number=2)
    answer = _post_json(client, _json_export(_span(SONNET_CALL, 1), bad), usage_token).json()
    assert answer["accepted"] == 1
    assert answer["rejected"] == [
        {
            "index": 1,
            "id": f"{TRACE_ID.hex()}-0000000000000002",
            "errors": {"output_tokens": "must be between 0 and 1,000,000,000,000"},
            "trace_id": TRACE_ID.hex(),
            "span_id": "0000000000000002",
        }
    ]
    assert UsageEvent.objects.get().event_id.endswith("0000000000000001")


def test_it_reports_rejected_spans_as_partial_success_in_json(client, catalog, clock, usage_token):
    bad = _span({**SONNET_CALL, "gen_ai.request.model": ["a", "b"]})
    answer = _post_json(client, _json_export(bad), usage_token).json()
    assert answer["partialSuccess"]["rejectedSpans"] == "1"
    assert "model must be a string" in answer["partialSuccess"]["errorMessage"]


def test_it_reports_rejected_spans_as_partial_success_in_protobuf(
    client, catalog, clock, usage_token
):
    bad = _span({**SONNET_CALL, "gen_ai.usage.input_tokens": "many"}, number=7)
    response = _post(client, _export(_span(SONNET_CALL), bad), usage_token)
    partial = ExportTraceServiceResponse.FromString(response.content).partial_success
    assert partial.rejected_spans == 1
    assert "span 0000000000000007: input_tokens must be a number" in partial.error_message


def test_it_rejects_cache_counts_beyond_the_input_they_belong_to(
    client, catalog, clock, usage_token
):
    # Anthropic's own input_tokens leaves the cache out; OTel's gen_ai.usage.input_tokens does not.
    exclusive = {
        **SONNET_CALL,
        "gen_ai.usage.input_tokens": 10,
        "gen_ai.usage.cache_read_input_tokens": 4000,
    }
    answer = _post_json(client, _json_export(_span(exclusive)), usage_token).json()
    assert list(answer["rejected"][0]["errors"]) == ["cached_input_tokens"]
    assert not UsageEvent.objects.exists()


def test_it_counts_spans_that_are_not_model_calls_as_ignored(client, catalog, clock, usage_token):
    http = _span({"http.request.method": "GET"}, 1)
    tool = _span({"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search"}, 2)
    answer = _post_json(client, _json_export(http, tool, _span(SONNET_CALL, 3)), usage_token).json()
    assert (answer["accepted"], answer["ignored_spans"]) == (1, 2)


def test_it_stores_nothing_from_an_export_without_genai_spans(client, catalog, clock, usage_token):
    response = _post(client, _export(_span({"http.request.method": "GET"})), usage_token)
    assert response.status_code == 200
    assert not UsageEvent.objects.exists()


# Authentication, the body and its encodings.


def test_it_answers_401_without_a_token(client, db):
    response = client.post(URL, _export(), content_type=PROTOBUF)
    assert response.status_code == 401
    assert response.json()["error"] == "missing token"


def test_it_answers_401_for_an_unknown_token(client, db):
    assert _post(client, _export(), "lls_nope_nope").status_code == 401


def test_it_answers_403_for_a_token_without_usage_write(client, team):
    token = token_create(team=team, name="reader", scopes=["routes:read"])[1]
    assert _post(client, _export(), token).status_code == 403


def test_it_answers_405_to_a_get(client, usage_token):
    assert client.get(URL, HTTP_AUTHORIZATION=f"Bearer {usage_token}").status_code == 405


def test_it_answers_415_for_another_content_type(client, usage_token):
    response = _post(client, b"resourceSpans", usage_token, content_type="text/plain")
    assert response.status_code == 415
    assert "application/x-protobuf" in response.json()["detail"]


def test_it_answers_400_for_a_body_that_is_not_protobuf(client, usage_token):
    response = _post(client, b"\xff\xff\xff\xff", usage_token)
    assert response.status_code == 400
    assert "ExportTraceServiceRequest" in response.json()["detail"]


def test_it_answers_400_for_a_body_that_is_not_json(client, usage_token):
    response = _post_json(client, b'{"resourceSpans": [', usage_token)
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["detail"]


@pytest.mark.parametrize(
    ("document", "said"),
    [
        ([], "the body must be an object"),
        ({"resourceSpans": {}}, "resourceSpans must be a list"),
        ({"resourceSpans": [{"scopeSpans": [{"spans": [7]}]}]}, "spans[0] must be an object"),
        (
            {
                "resourceSpans": [
                    {"scopeSpans": [{"spans": [{"traceId": "S/kvNXezTaajzpKdDg5HNg=="}]}]}
                ]
            },
            "traceId must be hex",
        ),
        (
            {"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "soon"}]}]}]},
            "startTimeUnixNano must be nanoseconds",
        ),
        (
            {"resourceSpans": [{"scopeSpans": [{"spans": [{"attributes": {"a": 1}}]}]}]},
            "attributes must be a list",
        ),
    ],
)
def test_it_answers_400_for_json_that_is_not_an_otlp_export(client, usage_token, document, said):
    response = _post_json(client, json.dumps(document).encode(), usage_token)
    assert response.status_code == 400
    assert said in response.json()["detail"]


def test_it_reads_a_gzip_body(client, catalog, clock, usage_token):
    body = gzip.compress(_export(_span(SONNET_CALL)))
    response = _post(client, body, usage_token, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 200
    assert UsageEvent.objects.count() == 1


def test_it_answers_413_for_a_body_over_10_mb_after_gunzip(client, usage_token):
    body = gzip.compress(b"\x00" * (10 * 1024 * 1024 + 1))
    response = _post(client, body, usage_token, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 413


def test_it_answers_413_for_more_genai_spans_than_a_batch_holds(client, catalog, usage_token):
    spans = [_span(SONNET_CALL, number) for number in (1, 2, 3)]
    with mock.patch("billing.ingest.otlp.MAX_EVENTS", 2):
        response = _post(client, _export(*spans), usage_token)
    assert response.status_code == 413


def test_it_answers_503_with_retry_after_when_the_database_is_down(client, catalog, usage_token):
    with mock.patch("billing.ingest.otlp.usage_ingest", side_effect=OperationalError("gone")):
        response = _post(client, _export(_span(SONNET_CALL)), usage_token)
    assert response.status_code == 503
    assert response["Retry-After"] == "30"


# The mapping of one span.


def test_a_span_without_a_model_is_not_a_model_call():
    assert not is_genai(
        _span_in({"gen_ai.provider.name": "openai", "gen_ai.operation.name": "chat"})
    )


def test_a_span_with_a_model_but_no_genai_name_is_not_a_model_call():
    assert not is_genai(_span_in({"gen_ai.request.model": "gpt-5.2"}))


def test_a_provider_and_a_model_make_a_model_call():
    assert is_genai(_span_in({"gen_ai.system": "openai", "gen_ai.request.model": "gpt-5.2"}))


def test_the_response_model_is_preferred_to_the_requested_one():
    event = span_event(
        _span_in({"gen_ai.request.model": "gpt-5", "gen_ai.response.model": "gpt-5-2025-08-07"})
    )
    assert event["model"] == "gpt-5-2025-08-07"


def test_the_provider_name_is_preferred_to_the_older_system():
    event = span_event(_span_in({"gen_ai.provider.name": "anthropic", "gen_ai.system": "openai"}))
    assert event["provider"] == "anthropic"


@pytest.mark.parametrize(
    ("name", "slug"),
    [("gcp.vertex_ai", "google"), ("gcp.gemini", "google"), ("aws.bedrock", "aws.bedrock")],
)
def test_conventional_provider_names_map_onto_our_slugs(name, slug):
    assert span_event(_span_in({"gen_ai.provider.name": name}))["provider"] == slug


def test_the_server_called_names_an_openai_compatible_provider():
    attributes = {"gen_ai.provider.name": "openai", "server.address": "llm.chutes.ai"}
    assert span_event(_span_in(attributes))["provider"] == "chutes"


def test_the_event_id_is_the_trace_and_span_id_without_a_response_id():
    assert span_event(_span_in({}))["id"] == f"{TRACE_ID.hex()}-00f067aa0ba902b7"


def test_a_span_with_an_invalid_span_id_has_no_event_id():
    assert span_event(_span_in({}, span_id="0000000000000000"))["id"] is None


def test_the_start_is_the_timestamp_and_the_duration_the_latency():
    event = span_event(_span_in({}, end_ns=START_NS + 1_234_600_000))
    assert (event["timestamp"], event["latency_ms"]) == ("2026-11-20T10:15:00+00:00", 1235)


def test_a_failed_span_without_error_type_gives_its_status_message():
    event = span_event(_span_in({}, failed=True, status_message="upstream timed out"))
    assert (event["status"], event["error_type"]) == ("error", "upstream timed out")


def test_a_long_status_message_is_cut_to_an_error_type():
    event = span_event(_span_in({}, failed=True, status_message="x" * 5000))
    assert event["error_type"] == "x" * 200


def test_a_nul_in_the_span_name_costs_no_event(client, catalog, clock, usage_token):
    span = _span(SONNET_CALL)
    span.name = "chat\x00"
    _post(client, _export(span), usage_token)
    assert UsageEvent.objects.get().metadata["span_name"] == "chat"


def test_an_error_type_alone_marks_the_call_failed():
    event = span_event(_span_in({"error.type": "timeout"}))
    assert (event["status"], event["error_type"]) == ("error", "timeout")


def test_the_span_task_type_wins_over_the_resource_one():
    span = _span_in({"llm_spend.task_type": "extract"}, resource={"llm_spend.task_type": "other"})
    assert span_event(span)["task_type"] == "extract"


def test_the_deprecated_enduser_id_is_the_end_user_without_user_id():
    assert span_event(_span_in({"enduser.id": "bob"}))["end_user"] == "bob"


def test_json_integers_read_the_same_as_text_or_numbers():
    def export(tokens) -> bytes:
        attribute = {"key": "gen_ai.usage.input_tokens", "value": {"intValue": tokens}}
        span = {"traceId": TRACE_ID.hex(), "spanId": "00f067aa0ba902b7", "attributes": [attribute]}
        document = {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}
        return json.dumps(document).encode()

    as_text = spans_from_json(export("5000"))[0].attributes
    assert (
        as_text
        == spans_from_json(export(5000))[0].attributes
        == {"gen_ai.usage.input_tokens": 5000}
    )
