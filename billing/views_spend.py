"""GET /api/v1/spend: a team's spend for a period, grouped as asked, for scripts and BI tools."""

from urllib.parse import urlencode

from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from billing.spend import SpendQueryInvalid, spend_query_from, spend_totals
from dashboard.api import DATABASE_ERRORS, ApiError, authenticate_proxy, database_unavailable
from dashboard.models import Scope


@csrf_exempt
def spend(request):
    try:
        if request.method != "GET":
            raise ApiError(405, "method not allowed", "Use GET.", {"Allow": "GET"})
        team = authenticate_proxy(request, Scope.SPEND_READ).team
        query = spend_query_from(request.GET, today=timezone.localdate(timezone=team.zone))
        answer = spend_totals(team, query)
    except SpendQueryInvalid as invalid:
        return ApiError(400, f"invalid {invalid.parameter}", str(invalid)).response()
    except ApiError as error:
        return error.response()
    except DATABASE_ERRORS:
        return database_unavailable("Try again shortly.").response()
    pages = max(1, -(-answer.row_count // query.page_size))
    following = None
    if query.page < pages:
        params = {**request.GET.dict(), "page": query.page + 1}
        following = request.build_absolute_uri(f"{request.path}?{urlencode(params)}")
    response = JsonResponse(
        {
            "team": team.slug,
            "time_zone": team.time_zone,
            "start": query.start.isoformat(),
            "end": query.end.isoformat(),
            "group_by": list(query.group_by),
            "currency": "USD",
            "totals": answer.totals,
            "rows": answer.rows,
            "page": query.page,
            "page_size": query.page_size,
            "pages": pages,
            "row_count": answer.row_count,
            "next": following,
        }
    )
    response["Cache-Control"] = "private, no-cache"
    return response
