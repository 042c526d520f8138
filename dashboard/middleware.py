from django.conf import settings
from django.http import HttpResponseBadRequest
from django.shortcuts import resolve_url
from django.utils import timezone
from django.utils.cache import patch_cache_control
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


class PrivateCacheMiddleware:
    """Nothing a signed-in user or a proxy token sees is kept by a shared cache, and a signed-in
    page is kept by no cache at all (the browser's back button after signing out included).

    An API view that sets its own Cache-Control keeps it, made private: the routes API asks
    proxies to revalidate with its ETag (no-cache) rather than forbidding storage.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.path_info.startswith("/api/"):
            if response.has_header("Cache-Control"):
                patch_cache_control(response, private=True)
            else:
                patch_cache_control(response, private=True, no_store=True)
        elif request.user.is_authenticated:
            patch_cache_control(response, private=True, no_store=True)
        return response


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
NUL_REFUSED = "The request holds a NUL character (\\0), which no field accepts."


class RefuseNulCharactersMiddleware:
    """A NUL in the path, the query string or a posted form answers 400.

    No page accepts one, and PostgreSQL refuses NUL in text, so letting it reach a query turns
    a typo or a probe into a 500. API bodies (JSON) are checked item by item by the API itself.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path or _holds_nul(request.GET) or _posted_form_holds_nul(request):
            return HttpResponseBadRequest(NUL_REFUSED, content_type="text/plain; charset=utf-8")
        return self.get_response(request)


def _holds_nul(query) -> bool:
    return any("\x00" in key or any("\x00" in v for v in values) for key, values in query.lists())


def _posted_form_holds_nul(request) -> bool:
    if request.method != "POST" or request.path.startswith("/api/"):
        return False
    if not request.content_type.startswith(FORM_TYPES):
        return False
    return _holds_nul(request.POST)
