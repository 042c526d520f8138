"""The identity provider's endpoints, read from its discovery document and kept for an hour.

OpenID Connect Discovery 1.0: `<issuer>/.well-known/openid-configuration` names the endpoints,
and its `issuer` must be exactly the one configured, or a look-alike could hand out tokens.
"""

import time
from dataclasses import dataclass
from threading import Lock

import httpx
from django.conf import settings

KEEP_SECONDS = 3600


class ProviderUnavailable(Exception):
    """The discovery document could not be read or does not describe the configured issuer."""


@dataclass(frozen=True)
class ProviderEndpoints:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None


_cache: dict[str, tuple[float, ProviderEndpoints]] = {}
_lock = Lock()


def provider_endpoints() -> ProviderEndpoints:
    issuer = settings.OIDC_ISSUER
    with _lock:
        kept = _cache.get(issuer)
        if kept and time.monotonic() - kept[0] < KEEP_SECONDS:
            return kept[1]
    endpoints = _discover(issuer)
    with _lock:
        _cache[issuer] = (time.monotonic(), endpoints)
    return endpoints


def forget() -> None:
    with _lock:
        _cache.clear()


def _discover(issuer: str) -> ProviderEndpoints:
    url = f"{issuer}/.well-known/openid-configuration"
    try:
        response = httpx.get(url, timeout=settings.OIDC_TIMEOUT, follow_redirects=False)
        response.raise_for_status()
        document = response.json()
    except (httpx.HTTPError, ValueError) as error:
        raise ProviderUnavailable(
            f"{url} did not answer with a discovery document ({error})"
        ) from error
    if not isinstance(document, dict):
        raise ProviderUnavailable(f"{url} did not answer with a JSON object")
    if document.get("issuer") != issuer:
        raise ProviderUnavailable(
            f"{url} describes the issuer {document.get('issuer')!r}, not {issuer!r} (OIDC_ISSUER)"
        )
    missing = [
        name
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri")
        if not isinstance(document.get(name), str) or not document[name]
    ]
    if missing:
        raise ProviderUnavailable(f"{url} does not name its {', '.join(missing)}")
    userinfo = document.get("userinfo_endpoint")
    return ProviderEndpoints(
        issuer=issuer,
        authorization_endpoint=document["authorization_endpoint"],
        token_endpoint=document["token_endpoint"],
        jwks_uri=document["jwks_uri"],
        userinfo_endpoint=userinfo if isinstance(userinfo, str) and userinfo else None,
    )
