"""The proxy's endpoints for usage and quality scores."""

import functools
import logging

from django.db import DatabaseError
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from billing.ingest.payload import MAX_BODY_BYTES, ItemReader, PayloadError, gunzip, parse_items
from billing.ingest.scores import scores_record
from billing.ingest.store import usage_ingest
from billing.ingest.tally import ingest_tally_record
from billing.ingest.usage_body import UsageReader
from dashboard.api import DATABASE_ERRORS, ApiError, authenticate_proxy, database_unavailable
from dashboard.models import Scope

logger = logging.getLogger(__name__)


def usage_write_endpoint(what: str):
    """Decorate view(request, team): POST only, a usage:write token, and every failure a JSON
    error, never a 500. `what` names what was sent ("batch", "export") in the messages."""

    def decorate(handle):
        @csrf_exempt
        @functools.wraps(handle)
        def view(request):
            try:
                if request.method != "POST":
                    raise ApiError(405, "method not allowed", "Use POST.", {"Allow": "POST"})
                return handle(request, authenticate_proxy(request, Scope.USAGE_WRITE).team)
            except ApiError as error:
                return error.response()
            except PayloadError as error:
                return ApiError(error.status, error.error, error.detail).response()
            except DATABASE_ERRORS as error:
                logger.warning("Database unavailable during %s: %s", request.path, error)
                return database_unavailable(
                    f"Nothing was stored; send the same {what} again later."
                ).response()
            except DatabaseError as error:
                # Validation should have caught it; say so rather than invite endless retries.
                logger.exception("Database refused a %s during %s", what, request.path)
                return ApiError(
                    422,
                    f"{what} not stored",
                    f"Nothing was stored: the database refused it ({error}).",
                ).response()

        return view

    return decorate


def _proxy_endpoint(handler, reader: ItemReader | None = None, after=None):
    """A parsed body of items handed to handler(team, items); `after(team, result)` runs once
    the handler has stored the batch, outside its transaction."""

    def view(request, team):
        result = handler(team, parse_items(read_body(request), reader))
        if after is not None:
            after(team, result)
        return JsonResponse(result.as_json())

    view.__name__ = view.__qualname__ = handler.__name__
    return usage_write_endpoint("batch")(view)


def read_body(request) -> bytes:
    raw = _read_capped(request)
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadError(413, "body too large", f"More than {MAX_BODY_BYTES:,} bytes.")
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding == "gzip" or raw[:2] == b"\x1f\x8b":
        return gunzip(raw)
    if encoding not in ("", "identity"):
        raise PayloadError(415, "unsupported encoding", "Send the body plain or gzip-compressed.")
    return raw


def _read_capped(request) -> bytes:
    """At most MAX_BODY_BYTES + 1 bytes of the body, framed by Content-Length or chunked."""
    declared = request.META.get("CONTENT_LENGTH") or ""
    if declared:
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            raise PayloadError(413, "body too large", f"More than {MAX_BODY_BYTES:,} bytes.")
        return request.read(MAX_BODY_BYTES + 1)
    # Without Content-Length Django reads nothing; a chunked body is read from the server's
    # stream, which gunicorn ends at the body's end (wsgi.input_terminated).
    if request.META.get("wsgi.input_terminated"):
        return _read_stream(request.META["wsgi.input"], MAX_BODY_BYTES + 1)
    if "HTTP_TRANSFER_ENCODING" in request.META:
        raise PayloadError(
            411,
            "length required",
            "This server cannot read a chunked body: send Content-Length, "
            "or serve the app with gunicorn, which reads chunked bodies.",
        )
    return b""


def _read_stream(stream, limit: int) -> bytes:
    chunks, size = [], 0
    try:
        while size < limit and (chunk := stream.read(min(64 * 1024, limit - size))):
            chunks.append(chunk)
            size += len(chunk)
    # Each server raises its own errors for broken chunk framing or a client gone mid-body.
    except Exception as error:
        logger.info("Could not read a chunked body: %s", error)
        raise PayloadError(400, "malformed body", "The chunked body could not be read.") from None
    return b"".join(chunks)


usage = _proxy_endpoint(usage_ingest, UsageReader(), after=ingest_tally_record)
scores = _proxy_endpoint(scores_record)
