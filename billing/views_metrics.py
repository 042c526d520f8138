"""GET /metrics: the Prometheus scrape endpoint (billing.metrics says what it holds)."""

import ipaddress
import logging

from django.conf import settings
from django.http import HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from billing.metrics import metrics_exposition
from dashboard.api import DATABASE_ERRORS, ApiError, authenticate_proxy, database_unavailable
from dashboard.models import Scope, Team

logger = logging.getLogger(__name__)


# A scraper holds no CSRF cookie: anything but GET gets the JSON 405 below, not an HTML 403.
@csrf_exempt
def metrics(request):
    """Every team's series for a scrape from METRICS_ALLOWED_NETWORKS without a token; one
    team's for a spend:read token of that team (a token, when sent, always decides)."""
    try:
        if request.method not in ("GET", "HEAD"):
            raise ApiError(405, "method not allowed", "Use GET.", {"Allow": "GET, HEAD"})
        teams = _teams_for_scrape(request)
        body = metrics_exposition(teams, now=timezone.now())
    except ApiError as error:
        return error.response()
    except DATABASE_ERRORS as error:
        logger.warning("Database unavailable during %s: %s", request.path, error)
        return database_unavailable("Scrape again later.").response()
    # The classic text format, as prometheus_client's own handler answers a plain scrape.
    return HttpResponse(body, content_type=CONTENT_TYPE_PLAIN_0_0_4)


def _teams_for_scrape(request) -> list[Team]:
    if "Authorization" not in request.headers and from_allowed_network(request):
        return list(Team.objects.order_by("slug"))
    return [authenticate_proxy(request, Scope.SPEND_READ).team]


def from_allowed_network(request) -> bool:
    """Whether the client's address (REMOTE_ADDR: the peer, never a forwarded header) is in
    METRICS_ALLOWED_NETWORKS."""
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(address in network for network in settings.METRICS_ALLOWED_NETWORKS)
