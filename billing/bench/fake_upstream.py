"""A stand-in for the LLM providers behind a LiteLLM proxy, on loopback, for tests and benches.

It answers OpenAI chat completions (`POST <base>/chat/completions`, JSON or SSE when
`"stream": true`) and Anthropic messages (`POST <base>/v1/messages`, JSON or SSE) with token
usage, and records every request: the base path it reached (so several providers can live
on one server as `http://127.0.0.1:PORT/chutes/v1`, `.../openai/v1`, `.../anthropic`), the
Host header, the model and the API key (`Authorization: Bearer` or `x-api-key`).

Knobs, all thread-safe: `usage_for(model, Usage(...))` sets the tokens a model reports,
`delay_seconds` (and `delay_for(model, s)`) holds answers back, `fail(model, status)` makes a
model answer an error in its provider's shape, `reset()` forgets requests and knobs.
"""

import json
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

OPENAI_SUFFIX = "/chat/completions"
ANTHROPIC_SUFFIX = "/v1/messages"
REPLY = "The quick brown fox jumps over the lazy dog."
_EMPTY_TEXT = {"type": "text", "text": ""}


@dataclass(frozen=True)
class Usage:
    """Tokens as a provider reports them. `input_tokens` excludes the cached parts for
    Anthropic (as Anthropic counts) and includes them for OpenAI (as OpenAI counts)."""

    input_tokens: int = 100
    output_tokens: int = 20
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0


@dataclass(frozen=True)
class Seen:
    """One request the upstream answered (or failed on purpose)."""

    api: str  # "openai" or "anthropic"
    base: str  # the path before /chat/completions or /v1/messages, e.g. "/chutes/v1"
    host: str
    model: str
    api_key: str
    stream: bool
    status: int
    body: dict = field(repr=False, compare=False)


class FakeUpstream:
    """Start with `with FakeUpstream() as upstream:` or start()/stop(); `upstream.url` is the
    server's root, `upstream.base("/openai/v1")` a provider base under it."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0):
        self._lock = threading.Lock()
        self._requests: list[Seen] = []
        self._usage: dict[str, Usage] = {}
        self._delays: dict[str, float] = {}
        self._failures: dict[str, int] = {}
        self.default_usage = Usage()
        self.delay_seconds = 0.0
        self._server = _Server((host, port), _Handler)
        self._server.upstream = self
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def base(self, path: str) -> str:
        return self.url + path

    def start(self) -> "FakeUpstream":
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fake-upstream", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> "FakeUpstream":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # Knobs

    def usage_for(self, model: str, usage: Usage) -> None:
        with self._lock:
            self._usage[model] = usage

    def delay_for(self, model: str, seconds: float) -> None:
        with self._lock:
            self._delays[model] = seconds

    def fail(self, model: str, status: int = 500) -> None:
        """Every request for `model` answers `status` until `heal(model)` or `reset()`."""
        with self._lock:
            self._failures[model] = status

    def heal(self, model: str) -> None:
        with self._lock:
            self._failures.pop(model, None)

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()
            self._usage.clear()
            self._delays.clear()
            self._failures.clear()
            self.delay_seconds = 0.0

    # What was seen

    @property
    def requests(self) -> list[Seen]:
        with self._lock:
            return list(self._requests)

    def counts(self, *fields: str) -> Counter:
        """How many requests per value of `fields`, e.g. counts("base", "model", "api_key")
        gives {("/openai/v1", "gpt-x", "sk-1"): 20, ...}; one field gives plain values."""
        rows = self.requests
        if len(fields) == 1:
            return Counter(getattr(row, fields[0]) for row in rows)
        return Counter(tuple(getattr(row, name) for name in fields) for row in rows)

    # Used by the handler

    def _plan(self, model: str) -> tuple[Usage, float, int | None]:
        with self._lock:
            return (
                self._usage.get(model, self.default_usage),
                self._delays.get(model, self.delay_seconds),
                self._failures.get(model),
            )

    def _record(self, seen: Seen) -> None:
        with self._lock:
            self._requests.append(seen)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # A proxy opens many connections at once under load; the default backlog of 5 refuses some.
    request_queue_size = 256
    upstream: FakeUpstream


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    # Headers and body go out in two writes: with Nagle's algorithm the body waits for the
    # client's delayed ACK of the headers (40 ms on Linux), on every keep-alive request.
    disable_nagle_algorithm = True

    def log_message(self, format, *args):
        pass

    def do_POST(self):
        path = self.path.split("?", 1)[0].rstrip("/")
        if path.endswith(ANTHROPIC_SUFFIX):
            api, base = "anthropic", path.removesuffix(ANTHROPIC_SUFFIX)
        elif path.endswith(OPENAI_SUFFIX):
            api, base = "openai", path.removesuffix(OPENAI_SUFFIX)
        else:
            self._send_json(HTTPStatus.NOT_FOUND, {"error": {"message": f"no route {path}"}})
            return
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self._send_json(HTTPStatus.BAD_REQUEST, {"error": {"message": "body is not JSON"}})
            return
        model = str(body.get("model", ""))
        stream = bool(body.get("stream"))
        upstream = self.server.upstream
        usage, delay, failure = upstream._plan(model)
        upstream._record(
            Seen(
                api=api,
                base=base,
                host=self.headers.get("Host", ""),
                model=model,
                api_key=_api_key(self.headers),
                stream=stream,
                status=failure or 200,
                body=body,
            )
        )
        if delay:
            time.sleep(delay)
        if failure:
            self._send_json(failure, _error_body(api, failure))
        elif api == "openai" and stream:
            self._send_sse(_openai_chunks(model, usage, body))
        elif api == "openai":
            self._send_json(HTTPStatus.OK, _openai_completion(model, usage))
        elif stream:
            self._send_sse(_anthropic_events(model, usage), named=True)
        else:
            self._send_json(HTTPStatus.OK, _anthropic_message(model, usage))

    def _send_json(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_sse(self, events: list[tuple[str, dict | str]], named: bool = False) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        # No length is known up front: the stream ends when the connection closes.
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        for name, data in events:
            text = data if isinstance(data, str) else json.dumps(data)
            line = (f"event: {name}\n" if named else "") + f"data: {text}\n\n"
            self.wfile.write(line.encode())
            self.wfile.flush()


def _api_key(headers) -> str:
    authorization = headers.get("Authorization", "")
    if authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return headers.get("x-api-key", "")


def _openai_usage(usage: Usage) -> dict:
    prompt = usage.input_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": usage.output_tokens,
        "total_tokens": prompt + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_input_tokens, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    }


def _openai_completion(model: str, usage: Usage) -> dict:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_fake",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": REPLY, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": _openai_usage(usage),
    }


def _openai_chunks(model: str, usage: Usage, body: dict) -> list[tuple[str, dict | str]]:
    """As OpenAI streams: a role chunk, content chunks, a finish chunk, a usage chunk only when
    the client asked with stream_options.include_usage, then [DONE]."""
    ident, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())

    def chunk(delta: dict, finish: str | None = None, **extra) -> tuple[str, dict]:
        choices = [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
        return "", {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_fake",
            "choices": choices,
            **extra,
        }

    events = [chunk({"role": "assistant", "content": ""})]
    events += [chunk({"content": word + " "}) for word in REPLY.split()]
    events.append(chunk({}, "stop"))
    if (body.get("stream_options") or {}).get("include_usage"):
        events.append(("", chunk({})[1] | {"choices": [], "usage": _openai_usage(usage)}))
    events.append(("", "[DONE]"))
    return events


def _anthropic_usage(usage: Usage) -> dict:
    return {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_creation_input_tokens": usage.cache_write_tokens,
        "cache_read_input_tokens": usage.cached_input_tokens,
    }


def _anthropic_message(model: str, usage: Usage) -> dict:
    return {
        "id": f"msg_{uuid.uuid4().hex[:24]}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": REPLY}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": _anthropic_usage(usage),
    }


def _anthropic_events(model: str, usage: Usage) -> list[tuple[str, dict | str]]:
    message = _anthropic_message(model, usage) | {"content": [], "stop_reason": None}
    message["usage"] = _anthropic_usage(usage) | {"output_tokens": 1}
    events: list[tuple[str, dict | str]] = [
        ("message_start", {"type": "message_start", "message": message}),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
    ]
    for word in REPLY.split():
        delta = {"type": "text_delta", "text": word + " "}
        events.append(
            ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
        )
    events += [
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": usage.output_tokens},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    return events


def _error_body(api: str, status: int) -> dict:
    message = f"fake upstream: injected failure {status}"
    if api == "anthropic":
        kind = "rate_limit_error" if status == 429 else "api_error"
        return {"type": "error", "error": {"type": kind, "message": message}}
    kind = "rate_limit_exceeded" if status == 429 else "server_error"
    return {"error": {"message": message, "type": kind, "param": None, "code": str(status)}}
