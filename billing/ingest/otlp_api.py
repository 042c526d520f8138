"""POST /v1/traces: OpenTelemetry traces over OTLP/HTTP, whose GenAI spans become usage events.

Errors are JSON like every other endpoint's (OTLP exporters act on the status code alone).
"""

import logging

from django.db import DatabaseError
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from billing.ingest.api import read_body
from billing.ingest.otlp import spans_from_protobuf, traces_decoder, traces_ingest
from billing.ingest.payload import PayloadError
from billing.ingest.tally import ingest_tally_record
from dashboard.api import DATABASE_ERRORS, ApiError, authenticate_proxy, database_unavailable
from dashboard.models import Scope

logger = logging.getLogger(__name__)


@csrf_exempt
def traces(request):
    """A 200 in the request's encoding: an ExportTraceServiceResponse in protobuf, or our usage
    answer with ignored_spans and OTLP's partialSuccess in JSON."""
    try:
        if request.method != "POST":
            raise ApiError(405, "method not allowed", "Use POST.", {"Allow": "POST"})
        token = authenticate_proxy(request, Scope.USAGE_WRITE)
        decode = traces_decoder(request.headers.get("Content-Type", ""))
        result = traces_ingest(token.team, decode(read_body(request)))
        ingest_tally_record(token.team, result.ingest)
        if decode is spans_from_protobuf:
            return HttpResponse(result.as_protobuf(), content_type="application/x-protobuf")
        return JsonResponse(result.as_json())
    except ApiError as error:
        return error.response()
    except PayloadError as error:
        return ApiError(error.status, error.error, error.detail).response()
    except DATABASE_ERRORS as error:
        logger.warning("Database unavailable during %s: %s", request.path, error)
        return database_unavailable(
            "Nothing was stored; send the same export again later."
        ).response()
    except DatabaseError as error:
        # Validation should have caught it; say so rather than invite endless retries.
        logger.exception("Database refused an export during %s", request.path)
        return ApiError(
            422, "export not stored", f"Nothing was stored: the database refused it ({error})."
        ).response()
