"""The span each overview tile covers, said on the tile: the month to date, or the range shown."""

from django import template
from django.utils.dateformat import format as date_format

register = template.Library()


@register.filter
def month_span(month) -> str:
    """'December to date' while the month runs, 'all of November' once it is over."""
    name = date_format(month.first_day, "F")
    return f"{name} to date" if month.today else f"all of {name}"


@register.filter
def range_span(filters) -> str:
    """The first and last day joined by an en dash; years only when the range crosses one."""
    first, last = filters.first_day, filters.last_day
    day = "M j, Y" if first.year != last.year else "M j"
    if first == last:
        return date_format(first, day)
    return f"{date_format(first, day)} \u2013 {date_format(last, day)}"
