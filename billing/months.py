"""Calendar months as finance uses them: a month is its first day; "now" is the team's."""

import calendar
from datetime import date, datetime, timedelta

from django.utils import timezone


def month_start(day: date) -> date:
    return day.replace(day=1)


def last_day_of(month: date) -> date:
    return month.replace(day=calendar.monthrange(month.year, month.month)[1])


def previous_month(month: date) -> date:
    return (month.replace(day=1) - timedelta(days=1)).replace(day=1)


def next_month(month: date) -> date:
    return last_day_of(month) + timedelta(days=1)


def current_month(team, now: datetime | None = None) -> date:
    """The first day of the team's current calendar month, in its time zone."""
    return (now or timezone.now()).astimezone(team.zone).date().replace(day=1)


def month_is_over(team, month: date, now: datetime | None = None) -> bool:
    return month_start(month) < current_month(team, now)
