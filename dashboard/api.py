"""What every /api/v1/ endpoint shares: JSON errors and proxy-token authentication."""

from django.db import InterfaceError, OperationalError
from django.http import JsonResponse

from dashboard.models import ProxyToken
from dashboard.tokens import token_authenticate


class ApiError(Exception):
    def __init__(self, status: int, error: str, detail=None, headers: dict | None = None):
        super().__init__(error)
        self.status, self.error, self.detail, self.headers = status, error, detail, headers or {}

    def response(self) -> JsonResponse:
        response = JsonResponse({"error": self.error, "detail": self.detail}, status=self.status)
        for name, value in self.headers.items():
            response[name] = value
        return response


RETRY_AFTER_SECONDS = 30
DATABASE_ERRORS = (OperationalError, InterfaceError)


def database_unavailable(
    detail: str = "Nothing was stored; send the same request again later.",
) -> ApiError:
    """The answer when the database cannot be reached: 503 with Retry-After, never a 500."""
    return ApiError(503, "database unavailable", detail, {"Retry-After": str(RETRY_AFTER_SECONDS)})


def authenticate_proxy(request, scope: str) -> ProxyToken:
    """The token of an `Authorization: Bearer <token>` header, holding `scope`, or ApiError."""
    kind, _, token = request.headers.get("Authorization", "").partition(" ")
    if kind.lower() != "bearer" or not token.strip():
        raise ApiError(
            401,
            "missing token",
            "Send the proxy token as 'Authorization: Bearer <token>'.",
            {"WWW-Authenticate": 'Bearer realm="api"'},
        )
    row = token_authenticate(token.strip())
    if row is None:
        raise ApiError(
            401,
            "invalid token",
            "The token is unknown or was revoked.",
            {"WWW-Authenticate": 'Bearer realm="api", error="invalid_token"'},
        )
    if not row.has_scope(scope):
        raise ApiError(403, "missing scope", f"This token lacks the {scope} scope.")
    return row
