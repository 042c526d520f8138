"""A loopback HTTP endpoint that accepts any POST and discards it, counting what arrived: the
destination for LiteLLM's generic HTTP logger when only the logger's own cost is measured."""

import json
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Sink:
    def __init__(self):
        self._lock = threading.Lock()
        self.posts = 0
        self.items = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.sink = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/ingest"

    def __enter__(self) -> "Sink":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _count(self, body: bytes) -> None:
        try:
            parsed = json.loads(body)
            items = len(parsed) if isinstance(parsed, list) else 1
        except ValueError:
            items = body.count(b"\n") + 1  # NDJSON
        with self._lock:
            self.posts += 1
            self.items += items


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: with Nagle's algorithm the body waits for the
    # client's delayed ACK of the headers (40 ms on Linux), on every keep-alive request.
    disable_nagle_algorithm = True

    def log_message(self, format, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.sink._count(body)
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")
