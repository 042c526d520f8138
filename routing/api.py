"""GET /api/v1/keys: the team's active provider keys, for the proxy's keys:read token."""

import logging

from django.db import InterfaceError, OperationalError
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from dashboard.api import ApiError, authenticate_proxy
from dashboard.models import Scope
from routing.encryption import SecretUnreadable
from routing.keys import keys_for_proxy

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
    except (OperationalError, InterfaceError):
        return ApiError(
            503, "database unavailable", "Try again shortly.", {"Retry-After": "30"}
        ).response()
