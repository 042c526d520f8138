"""What the proxy reads: its provider keys and the published routing config."""

import logging

from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from dashboard.api import DATABASE_ERRORS, ApiError, authenticate_proxy, database_unavailable
from dashboard.models import Scope
from routing.encryption import SecretUnreadable
from routing.keys import keys_for_proxy
from routing.litellm_config import litellm_yaml
from routing.publish import etag_of, latest_version, version_document

logger = logging.getLogger(__name__)


@csrf_exempt
def keys(request):
    try:
        if request.method != "GET":
            raise ApiError(405, "method not allowed", "Use GET.", {"Allow": "GET"})
        token = authenticate_proxy(request, Scope.KEYS_READ)
        response = JsonResponse({"team": token.team.slug, "keys": keys_for_proxy(token=token)})
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
        except ApiError as error:
            return error.response()
        except DATABASE_ERRORS:
            return database_unavailable("Try again shortly.").response()
        etag = etag_of(version)
        response = HttpResponse(status=304) if _not_modified(request, etag) else render(version)
        response["ETag"] = etag
        response["Cache-Control"] = "no-cache"
        return response

    return view


routes = _routes_endpoint(lambda version: JsonResponse(version_document(version)))
routes_litellm = _routes_endpoint(
    lambda version: HttpResponse(
        litellm_yaml(version.snapshot, version=version.number),
        content_type="application/yaml; charset=utf-8",
    )
)
