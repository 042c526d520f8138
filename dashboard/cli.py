"""Parsing the options management commands share."""

from datetime import UTC, datetime

from django.core.management.base import CommandError

from dashboard.models import Team


def day_option(value: str | None, option: str) -> datetime | None:
    """Midnight UTC of a YYYY-MM-DD option, or None when the option was not given."""
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise CommandError(f"{option} {value!r} is not a date like 2026-11-01.") from None


def team_option(slug: str | None) -> Team | None:
    if not slug:
        return None
    team = Team.objects.filter(slug=slug).first()
    if team is None:
        raise CommandError(f"No team has the slug {slug!r}.")
    return team
