"""POST /v1/traces: OpenTelemetry traces over OTLP/HTTP, whose GenAI spans become usage events.

Errors are JSON like every other endpoint's (OTLP exporters act on the status code alone).
"""

from django.http import HttpResponse, JsonResponse

from billing.ingest.api import read_body, usage_write_endpoint
from billing.ingest.otlp import spans_from_protobuf, traces_decoder, traces_ingest
from billing.ingest.tally import ingest_tally_record


@usage_write_endpoint("export")
def traces(request, team):
    """A 200 in the request's encoding: an ExportTraceServiceResponse in protobuf, or our usage
    answer with ignored_spans and OTLP's partialSuccess in JSON."""
    decode = traces_decoder(request.headers.get("Content-Type", ""))
    result = traces_ingest(team, decode(read_body(request)))
    ingest_tally_record(team, result.ingest)
    if decode is spans_from_protobuf:
        return HttpResponse(result.as_protobuf(), content_type="application/x-protobuf")
    return JsonResponse(result.as_json())
