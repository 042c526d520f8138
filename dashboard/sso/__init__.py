"""Single sign-on with OpenID Connect: discovery, the sign-in backends, the views around
mozilla-django-oidc, and team memberships from the provider's group claim."""

from django.conf import settings


def sign_in_options() -> dict:
    """What the sign-in and invitation pages offer."""
    return {
        "sso_enabled": bool(settings.OIDC_ISSUER),
        "sso_provider_name": settings.OIDC_PROVIDER_NAME,
        "password_sign_in": settings.PASSWORD_SIGN_IN,
    }
