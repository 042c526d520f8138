from django.conf import settings
from django.shortcuts import resolve_url
from django.utils import timezone
from django_htmx.http import HttpResponseClientRedirect


class ResetTimezoneMiddleware:
    """Start every request in UTC: a team page activates its team's zone for itself."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()


class HtmxLoginRedirectMiddleware:
    """An htmx request whose session expired reloads the whole page on the sign-in form,
    instead of swapping the sign-in page into a fragment."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        login_url = resolve_url(settings.LOGIN_URL)
        if (
            getattr(request, "htmx", False)
            and response.status_code == 302
            and response["Location"].startswith(login_url)
        ):
            return HttpResponseClientRedirect(response["Location"])
        return response
