"""Sign-in backends: passwords (superusers only when PASSWORD_SIGN_IN is off) and OpenID Connect.

mozilla-django-oidc runs the authorization code flow and checks the ID token's signature. It
does not check the issuer or the audience, so verify_token adds those, and turns the token's
own failures (expired, not yet valid) into a refusal the sign-in page can say.
"""

import logging

import jwt
import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import SuspiciousOperation
from django.db import transaction
from django.utils import timezone
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from dashboard.models import SsoIdentity
from dashboard.sso.discovery import ProviderUnavailable, provider_endpoints
from dashboard.sso.memberships import claimed_groups, memberships_sync

logger = logging.getLogger(__name__)

# Where the callback view finds why a sign-in was refused, to say it on the sign-in page.
REFUSAL_ATTRIBUTE = "sso_refusal"
MAX_USERNAME_LENGTH = 150


class SignInRefused(Exception):
    """Said to the person signing in, so never holds a token or a secret."""


class PasswordBackend(ModelBackend):
    """Django's own, refusing everyone but superusers when PASSWORD_SIGN_IN is off: then their
    sessions signed in with a password end too (ModelBackend.get_user asks the same)."""

    def user_can_authenticate(self, user) -> bool:
        if not settings.PASSWORD_SIGN_IN and not user.is_superuser:
            return False
        return super().user_can_authenticate(user)


class OidcBackend(OIDCAuthenticationBackend):
    def __init__(self, *args, **kwargs):
        # The parent reads the endpoints from settings here; ours come from discovery at sign-in.
        self.UserModel = get_user_model()
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        self.OIDC_RP_CLIENT_SECRET = settings.OIDC_RP_CLIENT_SECRET
        self.OIDC_RP_SIGN_ALGO = settings.OIDC_RP_SIGN_ALGO
        self.OIDC_RP_IDP_SIGN_KEY = None

    def authenticate(self, request, **kwargs):
        if request is None or not settings.OIDC_ISSUER or "code" not in request.GET:
            return None
        try:
            endpoints = provider_endpoints()
            self.OIDC_OP_TOKEN_ENDPOINT = endpoints.token_endpoint
            self.OIDC_OP_JWKS_ENDPOINT = endpoints.jwks_uri
            self.OIDC_OP_USER_ENDPOINT = endpoints.userinfo_endpoint
            return super().authenticate(request, **kwargs)
        except SignInRefused as refusal:
            reason = str(refusal)
        except ProviderUnavailable as error:
            logger.warning("Single sign-on: %s", error)
            reason = "The identity provider could not be reached. Try again in a minute."
        except requests.RequestException as error:
            logger.warning("Single sign-on: the identity provider failed: %s", error)
            reason = "The identity provider did not complete the sign-in. Try again."
        logger.info("Single sign-on refused: %s", reason)
        setattr(request, REFUSAL_ATTRIBUTE, reason)
        return None

    def verify_token(self, token, **kwargs):
        try:
            payload = super().verify_token(token, **kwargs)
        except jwt.ExpiredSignatureError:
            raise SignInRefused(
                "The identity provider's sign-in token has expired: sign in again "
                "(if this keeps happening, check this server's clock)."
            ) from None
        except (jwt.InvalidTokenError, SuspiciousOperation) as error:
            raise SignInRefused(
                f"The identity provider's sign-in token is not valid: {error}"
            ) from error
        id_token_claims_check(payload)
        return payload

    def get_userinfo(self, access_token, id_token, payload):
        """The ID token's claims, with the userinfo endpoint's on top (groups may be in either);
        the two must be about the same person."""
        userinfo = {}
        if self.OIDC_OP_USER_ENDPOINT:
            userinfo = super().get_userinfo(access_token, id_token, payload)
            if not isinstance(userinfo, dict) or userinfo.get("sub") != payload.get("sub"):
                raise SignInRefused("The identity provider's user info is about someone else.")
        return {**payload, **userinfo}

    def verify_claims(self, claims):
        email = claims.get("email")
        if not isinstance(email, str) or "@" not in email:
            raise SignInRefused(
                "The identity provider did not send an e-mail address: ask its admin to release "
                "the email claim to this app."
            )
        if claims.get("email_verified") is False:
            raise SignInRefused(f"{email} is not verified at the identity provider.")
        domain = email.rpartition("@")[2].lower()
        allowed = settings.OIDC_ALLOWED_EMAIL_DOMAINS
        if allowed and domain not in allowed:
            raise SignInRefused(f"Addresses at {domain} may not sign in here.")
        return True

    def filter_users_by_claims(self, claims):
        identity = SsoIdentity.objects.filter(
            issuer=settings.OIDC_ISSUER, subject=str(claims["sub"])
        ).first()
        if identity is not None:
            return self.UserModel.objects.filter(pk=identity.user_id)
        return super().filter_users_by_claims(claims)

    def create_user(self, claims):
        with transaction.atomic():
            user = self.UserModel.objects.create_user(
                _free_username(claims["email"]),
                email=claims["email"],
                first_name=str(claims.get("given_name") or "")[:150],
                last_name=str(claims.get("family_name") or "")[:150],
            )
            return self.update_user(user, claims)

    def update_user(self, user, claims):
        if not user.is_active:
            return user
        with transaction.atomic():
            SsoIdentity.objects.update_or_create(
                issuer=settings.OIDC_ISSUER,
                subject=str(claims["sub"]),
                defaults={
                    "user": user,
                    "email": claims["email"],
                    "last_sign_in_at": timezone.now(),
                },
            )
            if user.email != claims["email"]:
                user.email = claims["email"]
                user.save(update_fields=["email"])
            memberships_sync(user, claimed_groups(claims))
        return user


def id_token_claims_check(payload: dict) -> None:
    """What mozilla-django-oidc leaves out (OpenID Connect Core 3.1.3.7): the issuer, the
    audience and the authorized party; PyJWT checked exp, nbf and iat when present."""
    if payload.get("iss") != settings.OIDC_ISSUER:
        raise SignInRefused(
            f"The sign-in token was issued by {payload.get('iss')!r}, not {settings.OIDC_ISSUER}."
        )
    client_id = settings.OIDC_RP_CLIENT_ID
    audience = payload.get("aud")
    audiences = [audience] if isinstance(audience, str) else audience
    if not isinstance(audiences, list) or client_id not in audiences:
        raise SignInRefused("The sign-in token was issued for another application (audience).")
    if len(audiences) > 1 and payload.get("azp", client_id) != client_id:
        raise SignInRefused("The sign-in token was issued to another application (azp).")
    if "exp" not in payload or not payload.get("sub"):
        raise SignInRefused("The sign-in token has no expiry or no subject.")


def _free_username(email: str) -> str:
    User = get_user_model()
    base = email.lower()[:MAX_USERNAME_LENGTH]
    candidate, number = base, 1
    while User.objects.filter(username__iexact=candidate).exists():
        number += 1
        suffix = f"-{number}"
        candidate = base[: MAX_USERNAME_LENGTH - len(suffix)] + suffix
    return candidate
