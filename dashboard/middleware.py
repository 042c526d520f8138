from django.utils import timezone


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
