"""Filters for the experiments pages: rates, signed differences and latency buckets."""

from django import template

register = template.Library()


@register.filter
def pct(fraction) -> str:
    """0.0123 -> "1.23%"; nothing -> an em dash."""
    if fraction is None:
        return "—"
    return f"{fraction * 100:.2f}%"


@register.filter
def signed(value, places: int = 3) -> str:
    if value is None:
        return "—"
    return f"{value:+.{places}f}"


@register.filter
def signed_pct(value) -> str:
    """A difference of two rates, in percentage points."""
    if value is None:
        return "—"
    return f"{value * 100:+.2f} pt"


def _duration(ms: float) -> str:
    return f"{ms / 1000:.2f} s" if ms >= 1000 else f"{ms:.0f} ms"


@register.filter
def latency(found) -> str:
    """A percentile read from the histogram: its bucket's middle, and the bucket."""
    if found is None:
        return "—"
    high = "up" if found.high_ms is None else _duration(found.high_ms)
    return f"{_duration(found.ms)} ({_duration(found.low_ms)} to {high})"
