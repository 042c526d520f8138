"""Writes genai_export.bin and genai_export.json: one OTLP export of the same spans, made by the
OpenTelemetry SDK and its OTLP encoder (the bytes OTLPSpanExporter posts), in both encodings.

Run from the repository root: .venv/bin/python tests/data/otlp/make_fixtures.py
The ids and times are fixed: the same SDK version writes the same files again.
"""

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import SpanKind, Status, StatusCode, set_span_in_context

HERE = Path(__file__).resolve().parent
START = int(datetime(2026, 11, 20, 10, 15, tzinfo=UTC).timestamp()) * 10**9
MS = 10**6


class FixedIds(IdGenerator):
    def __init__(self):
        self.spans = 0

    def generate_trace_id(self) -> int:
        return 0x0AF7651916CD43DD8448EB211C80319C

    def generate_span_id(self) -> int:
        self.spans += 1
        return 0xB7AD6B7169203330 + self.spans


def export_spans():
    exporter = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource.create(
            {
                "service.name": "summarizer",
                "service.instance.id": "summarizer-1",
                "llm_spend.task_type": "summarization",
            }
        ),
        id_generator=FixedIds(),
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("fixtures")
    request = tracer.start_span("GET /summaries", start_time=START, kind=SpanKind.SERVER)
    request.set_attribute("http.request.method", "GET")
    inside = set_span_in_context(request)
    _call(
        tracer,
        inside,
        "chat claude-sonnet-4-5",
        1800,
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": "claude-sonnet-4-5",
            "gen_ai.response.model": "claude-sonnet-4-5-20250929",
            "gen_ai.response.id": "msg_01XFDUDYJgAACzvnptvVoYEL",
            "gen_ai.usage.input_tokens": 5000,
            "gen_ai.usage.output_tokens": 2000,
            "gen_ai.usage.cache_read.input_tokens": 3000,
            "gen_ai.usage.cache_creation.input_tokens": 1000,
            "user.id": "alice",
            "llm_spend.api_key_alias": "summarizer-prod",
        },
    )
    # The older names instrumentations still send.
    _call(
        tracer,
        inside,
        "openai.chat",
        950,
        {
            "gen_ai.system": "openai",
            "gen_ai.request.model": "gpt-5-mini",
            "gen_ai.response.id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
            "gen_ai.usage.prompt_tokens": 1200,
            "gen_ai.usage.completion_tokens": 300,
            "gen_ai.usage.cache_read_input_tokens": 1024,
            "enduser.id": "bob",
            "llm_spend.route_version": 3,
        },
    )
    _call(
        tracer,
        inside,
        "chat gpt-5.2",
        120,
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-5.2",
            "error.type": "RateLimitError",
        },
        error="Rate limit reached for gpt-5.2",
    )
    # A tool call: GenAI, but no model called, so no usage.
    _call(tracer, inside, "execute_tool search", 40, {"gen_ai.operation.name": "execute_tool"})
    request.end(end_time=START + 2000 * MS)
    return exporter.get_finished_spans()


def _call(tracer, context, name, ms, attributes, error=None):
    span = tracer.start_span(
        name, context, kind=SpanKind.CLIENT, attributes=attributes, start_time=START
    )
    if error:
        span.set_status(Status(StatusCode.ERROR, error))
    span.end(end_time=START + ms * MS)


def otlp_json(request) -> dict:
    """OTLP/JSON: protobuf's JSON mapping, with enums as integers and ids in hex."""
    document = json_format.MessageToDict(request, use_integers_for_enums=True)
    for resource_spans in document["resourceSpans"]:
        for scope_spans in resource_spans["scopeSpans"]:
            for span in scope_spans["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = _hex(span[key])
    return document


def _hex(base64_id: str) -> str:
    return base64.b64decode(base64_id).hex()


if __name__ == "__main__":
    request = encode_spans(export_spans())
    (HERE / "genai_export.bin").write_bytes(request.SerializeToString())
    text = json.dumps(otlp_json(request), indent=2) + "\n"
    (HERE / "genai_export.json").write_text(text)
