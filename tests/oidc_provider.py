"""A small OpenID Connect provider on a loopback port, for the single sign-on tests.

It serves discovery, an authorization endpoint that signs in whoever `next_person` says at once
(a real provider would show its own sign-in page), the token endpoint (client secret and PKCE
checked), userinfo and the JWKS. ID tokens are RS256 JWTs signed with a key made per provider.
`id_token_changes` bends the next ID token (another audience, an expiry in the past, ...) to test
that the app refuses it.
"""

import base64
import hashlib
import json
import secrets
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from dashboard.sso import discovery

KEY_ID = "test-key-1"


class OidcProvider:
    def __init__(self, *, client_id: str = "llm-spend", client_secret: str = "s3cret-for-tests"):  # noqa: S107
        self.client_id = client_id
        self.client_secret = client_secret
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.next_person: dict = {}
        self.id_token_changes: dict = {}
        self.userinfo_changes: dict = {}
        self.token_requests: list[dict] = []
        self._codes: dict[str, dict] = {}
        self._access: dict[str, dict] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.issuer = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()

    def sign_in_as(self, email: str, *, sub: str | None = None, **claims) -> None:
        """Who the authorization endpoint signs in next, with extra claims such as groups."""
        self.next_person = {"sub": sub or f"sub-{email}", "email": email, **claims}

    def id_token(self, claims: dict) -> str:
        now = int(time.time())
        payload = {"iss": self.issuer, "aud": self.client_id, "iat": now, "exp": now + 300}
        payload.update(claims)
        payload.update(self.id_token_changes)
        return jwt.encode(payload, self.key, algorithm="RS256", headers={"kid": KEY_ID})

    def jwks(self) -> dict:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**public, "kid": KEY_ID, "alg": "RS256", "use": "sig"}]}

    def discovery(self) -> dict:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "userinfo_endpoint": f"{self.issuer}/userinfo",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }

    def authorize(self, query: dict) -> tuple[int, dict, bytes]:
        if query.get("client_id") != self.client_id or not query.get("redirect_uri"):
            return 400, {}, b"unknown client or no redirect_uri"
        code = secrets.token_urlsafe(16)
        self._codes[code] = {
            "person": dict(self.next_person),
            "nonce": query.get("nonce"),
            "challenge": query.get("code_challenge"),
            "redirect_uri": query["redirect_uri"],
        }
        target = f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}"
        return 302, {"Location": target}, b""

    def token(self, form: dict) -> tuple[int, dict, bytes]:
        self.token_requests.append(form)
        grant = self._codes.pop(form.get("code", ""), None)
        if form.get("client_secret") != self.client_secret or form.get("client_id") != (
            self.client_id
        ):
            return _json(401, {"error": "invalid_client"})
        if grant is None or form.get("redirect_uri") != grant["redirect_uri"]:
            return _json(400, {"error": "invalid_grant"})
        verifier = form.get("code_verifier", "")
        challenge = (
            base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            .rstrip(b"=")
            .decode()
        )
        if challenge != grant["challenge"]:
            return _json(400, {"error": "invalid_grant", "error_description": "PKCE failed"})
        access = secrets.token_urlsafe(16)
        self._access[access] = grant["person"]
        id_token = self.id_token({**grant["person"], "nonce": grant["nonce"]})
        return _json(
            200,
            {
                "access_token": access,
                "id_token": id_token,
                "token_type": "Bearer",
                "expires_in": 300,
            },
        )

    def userinfo(self, authorization: str) -> tuple[int, dict, bytes]:
        person = self._access.get(authorization.removeprefix("Bearer "))
        if person is None:
            return _json(401, {"error": "invalid_token"})
        return _json(200, {**person, **self.userinfo_changes})

    def _handler(self):
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                parts = urlsplit(self.path)
                query = {key: values[0] for key, values in parse_qs(parts.query).items()}
                if parts.path == "/.well-known/openid-configuration":
                    self._answer(*_json(200, provider.discovery()))
                elif parts.path == "/jwks":
                    self._answer(*_json(200, provider.jwks()))
                elif parts.path == "/authorize":
                    self._answer(*provider.authorize(query))
                elif parts.path == "/userinfo":
                    self._answer(*provider.userinfo(self.headers.get("Authorization", "")))
                else:
                    self._answer(404, {}, b"not found")

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode()
                form = {key: values[0] for key, values in parse_qs(body).items()}
                if urlsplit(self.path).path == "/token":
                    self._answer(*provider.token(form))
                else:
                    self._answer(404, {}, b"not found")

            def _answer(self, status, headers, body):
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        return Handler


def _json(status: int, document: dict) -> tuple[int, dict, bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(document).encode()


@contextmanager
def provider_in_use(settings, **more_settings):
    """A provider started, and the app's settings pointed at it (plus `more_settings`), with
    the discovery cache cleared before and after."""
    with OidcProvider() as provider:
        settings.OIDC_ISSUER = provider.issuer
        settings.OIDC_RP_CLIENT_ID = provider.client_id
        settings.OIDC_RP_CLIENT_SECRET = provider.client_secret
        for name, value in more_settings.items():
            setattr(settings, name, value)
        discovery.forget()
        yield provider
        discovery.forget()
