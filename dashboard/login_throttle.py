"""Slow down password guessing: too many recent failures lock a username and address out."""

import math
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from dashboard.models import LoginFailure


def _window_start():
    return timezone.now() - timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES)


def _recent_failures(username: str, ip_address: str | None):
    return LoginFailure.objects.filter(
        username=username.lower(), ip_address=ip_address, created_at__gte=_window_start()
    )


def lockout_minutes_left(username: str, ip_address: str | None) -> int:
    """Minutes until this pair may try again, 0 when it is not locked out."""
    failures = list(
        _recent_failures(username, ip_address)
        .order_by("-created_at")
        .values_list("created_at", flat=True)[: settings.LOGIN_FAILURE_LIMIT]
    )
    if len(failures) < settings.LOGIN_FAILURE_LIMIT:
        return 0
    unlocks_at = failures[0] + timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES)
    return max(1, math.ceil((unlocks_at - timezone.now()).total_seconds() / 60))


def record_login_failure(username: str, ip_address: str | None) -> None:
    LoginFailure.objects.create(username=username.lower(), ip_address=ip_address)
    # Old rows only ever grow the table; drop them while we are here.
    LoginFailure.objects.filter(created_at__lt=_window_start()).delete()


def clear_login_failures(username: str, ip_address: str | None) -> None:
    LoginFailure.objects.filter(username=username.lower(), ip_address=ip_address).delete()


def client_ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR") or None
