"""What the proxy reads (its provider keys and the published routing config) and its
heartbeat."""

import json
import logging

from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from dashboard.api import DATABASE_ERRORS, ApiError, authenticate_proxy, database_unavailable
from dashboard.models import Scope
from routing.encryption import SecretUnreadable
from routing.fleet import HeartbeatInvalid, heartbeat_record, heartbeat_values
from routing.keys import active_keys_for_proxy, keys_etag, keys_for_proxy
from routing.litellm_config import litellm_yaml
from routing.publish import etag_of, latest_version, version_document

logger = logging.getLogger(__name__)


@csrf_exempt
def keys(request):
    try:
        if request.method != "GET":
            raise ApiError(405, "method not allowed", "Use GET.", {"Allow": "GET"})
        token = authenticate_proxy(request, Scope.KEYS_READ)
        active = active_keys_for_proxy(token.team)
        etag = keys_etag(active)
        if _not_modified(request, etag):
            # Nothing secret is served, so nothing is audited.
            response = HttpResponse(status=304)
        else:
            served = keys_for_proxy(token=token, keys=active)
            response = JsonResponse({"team": token.team.slug, "keys": served})
        response["ETag"] = etag
        # Secrets: no cache anywhere may keep a copy.
        response["Cache-Control"] = "no-store"
        return response
    except ApiError as error:
        return error.response()
    except SecretUnreadable as error:
        logger.error("Keys API: %s", error)
        return ApiError(500, "keys unreadable", str(error)).response()
    except DATABASE_ERRORS:
        return database_unavailable("Try again shortly.").response()


def _published(request):
    """The token's team's latest version, or ApiError; 304 handled by the caller."""
    if request.method not in ("GET", "HEAD"):
        raise ApiError(405, "method not allowed", "Use GET.", {"Allow": "GET"})
    token = authenticate_proxy(request, Scope.ROUTES_READ)
    version = latest_version(token.team)
    if version is None:
        raise ApiError(
            404, "nothing published", f"{token.team.name} has not published routing yet."
        )
    return version


def _not_modified(request, etag: str) -> bool:
    sent = [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]
    return etag in sent or "*" in sent


def _routes_endpoint(render):
    @csrf_exempt
    def view(request):
        try:
            version = _published(request)
            document = version_document(version)
        except ApiError as error:
            return error.response()
        except DATABASE_ERRORS:
            return database_unavailable("Try again shortly.").response()
        etag = etag_of(document)
        if _not_modified(request, etag):
            response = HttpResponse(status=304)
        else:
            response = render(version, document)
        response["ETag"] = etag
        response["Cache-Control"] = "no-cache"
        return response

    return view


routes = _routes_endpoint(lambda version, document: JsonResponse(document))
routes_litellm = _routes_endpoint(
    lambda version, document: HttpResponse(
        litellm_yaml(version.snapshot, version=version.number),
        content_type="application/yaml; charset=utf-8",
    )
)


HEARTBEAT_MAX_BYTES = 64 * 1024


def _small_body(request, limit: int) -> bytes:
    """The body when it is at most `limit` bytes, else ApiError 413."""
    declared = request.META.get("CONTENT_LENGTH") or ""
    if declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "body too large", f"More than {limit:,} bytes.")
    if declared:
        raw = request.read(limit + 1)
    elif request.META.get("wsgi.input_terminated"):
        raw = request.META["wsgi.input"].read(limit + 1)
    else:
        raw = b""
    if len(raw) > limit:
        raise ApiError(413, "body too large", f"More than {limit:,} bytes.")
    return raw


def _refuse_constant(name):
    raise ValueError(f"{name} is not a number JSON allows")


def _json_object(raw: bytes):
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise ApiError(400, "invalid JSON", str(error)[:200]) from None


@csrf_exempt
def proxy_heartbeat(request):
    """A proxy's companion says what it runs: upserted per (team, instance_id)."""
    try:
        if request.method != "POST":
            raise ApiError(405, "method not allowed", "Use POST.", {"Allow": "POST"})
        token = authenticate_proxy(request, Scope.ROUTES_READ)
        try:
            values = heartbeat_values(_json_object(_small_body(request, HEARTBEAT_MAX_BYTES)))
        except HeartbeatInvalid as invalid:
            raise ApiError(400, "invalid heartbeat", invalid.errors) from None
        heartbeat_record(team=token.team, values=values, now=timezone.now())
        published = latest_version(token.team)
        return JsonResponse(
            {"ok": True, "published_version": published.number if published else None}
        )
    except ApiError as error:
        return error.response()
    except DATABASE_ERRORS:
        return database_unavailable("Nothing was stored; send the next heartbeat.").response()
