"""The two ends of the sign-in with the identity provider: sending the browser there, and the
callback it comes back to. Both are mozilla-django-oidc's views, given the endpoints from
discovery and a say on the sign-in page when something goes wrong."""

import logging

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import SuspiciousOperation
from django.http import Http404
from django.shortcuts import redirect
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from dashboard.sso.backends import REFUSAL_ATTRIBUTE
from dashboard.sso.discovery import ProviderUnavailable, provider_endpoints

logger = logging.getLogger(__name__)


class SsoStartView(OIDCAuthenticationRequestView):
    def __init__(self, *args, **kwargs):
        # The parent reads the endpoint from settings here; ours comes from discovery in get().
        super(OIDCAuthenticationRequestView, self).__init__(*args, **kwargs)
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID

    def get(self, request):
        if not settings.OIDC_ISSUER:
            raise Http404("Single sign-on is not configured.")
        try:
            self.OIDC_OP_AUTH_ENDPOINT = provider_endpoints().authorization_endpoint
        except ProviderUnavailable as error:
            logger.warning("Single sign-on: %s", error)
            messages.error(
                request,
                "The identity provider could not be reached. Try again in a minute.",
            )
            return redirect("login")
        return super().get(request)


class SsoCallbackView(OIDCAuthenticationCallbackView):
    @property
    def failure_url(self):
        return settings.LOGIN_URL

    def get(self, request):
        if not settings.OIDC_ISSUER:
            raise Http404("Single sign-on is not configured.")
        try:
            return super().get(request)
        except SuspiciousOperation:
            # A state this browser never started, e.g. an old tab or a link from elsewhere.
            messages.error(request, "That sign-in link has expired or was not started here.")
            return redirect(self.failure_url)

    def login_failure(self):
        if self.request.GET.get("error"):
            description = self.request.GET.get("error_description") or self.request.GET["error"]
            reason = f"The identity provider refused the sign-in: {description[:200]}"
        elif getattr(self, "user", None) is not None and not self.user.is_active:
            reason = "This account is disabled here: ask an admin."
        else:
            reason = getattr(self.request, REFUSAL_ATTRIBUTE, "Single sign-on did not sign you in.")
        messages.error(self.request, reason)
        return redirect(self.failure_url)
