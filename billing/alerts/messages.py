"""The words of alerts: each kind's subject and summary, and the notification emails.

Numbers arrive unrounded (Decimal) and are rounded here, for display only.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.template.loader import render_to_string

from billing.models import AlertKind

SUBJECT_LENGTH = 300


# --- Numbers and times --------------------------------------------------------------------


def usd(amount: Decimal) -> str:
    """Whole dollars from $1,000 or for round amounts, else cents: $1,204, $1,500, $146.20."""
    amount = Decimal(amount)
    whole = amount.quantize(Decimal(1), ROUND_HALF_UP)
    if abs(amount) >= 1000 or amount == whole:
        return f"${whole:,}"
    return f"${amount.quantize(Decimal('0.01'), ROUND_HALF_UP):,}"


def tao(amount: Decimal) -> str:
    rounded = Decimal(amount).quantize(Decimal("0.0001"), ROUND_HALF_UP).normalize()
    return f"{rounded:,f} TAO"


def pct(value: Decimal) -> str:
    return f"{Decimal(value).quantize(Decimal('0.1'), ROUND_HALF_UP)}%"


def threshold_pct(value) -> str:
    """A threshold as its owner typed it: 80%, 12.5%."""
    return f"{Decimal(str(value)).normalize():f}%"


def span(minutes: int) -> str:
    """A window's length: 30 min, 1 h, 24 h."""
    return f"{minutes // 60} h" if minutes % 60 == 0 else f"{minutes} min"


def window(minutes: int) -> str:
    """A health rule's window: minutes up to two hours (60 min), hours beyond (24 h)."""
    return f"{minutes} min" if minutes <= 120 else span(minutes)


def duration(delta: timedelta) -> str:
    """How long something lasted: 47 min, 2 h 14 min, 3 days 4 h."""
    minutes = max(int(delta.total_seconds() // 60), 0)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} days {hours} h" if hours else f"{days} days"


def milliseconds(value: float) -> str:
    return f"{value / 1000:.1f} s" if value >= 1000 else f"{value:.0f} ms"


def clock(moment: datetime, zone) -> str:
    """09:13 UTC, or 04:13 EST in a team's zone."""
    return f"{moment.astimezone(zone or UTC):%H:%M %Z}"


def month_name(month: date) -> str:
    return f"{month:%B}"


def day_name(day: date) -> str:
    return f"{day:%B} {day.day}"


# --- Each kind's subject and summary ------------------------------------------------------


def tao_spike_text(
    *, direction, move, minutes, threshold, from_usd, to_usd, from_at, to_at, zone
) -> tuple[str, str]:
    subject = (
        f"TAO {direction} {pct(abs(move))} in {span(minutes)}: {usd(from_usd)} -> {usd(to_usd)}"
    )
    summary = (
        f"TAO/USD moved {direction} {pct(abs(move))} within {span(minutes)}, from "
        f"{usd(from_usd)} at {clock(from_at, zone)} to {usd(to_usd)} at {clock(to_at, zone)}. "
        f"The rule fires on a move of {threshold_pct(threshold)} or more."
    )
    return subject, summary


def tao_stale_text(*, age, limit_minutes, last_usd, last_at, zone) -> tuple[str, str]:
    if last_at is None:
        return (
            "No TAO price yet",
            "No TAO/USD price has been recorded. New usage at TAO-billed providers gets no "
            "TAO amount until one arrives.",
        )
    subject = f"No TAO price for {duration(age)} (last {usd(last_usd)} at {clock(last_at, zone)})"
    summary = (
        f"The latest TAO/USD price, {usd(last_usd)}, is from {clock(last_at, zone)}: "
        f"{duration(age)} ago, more than the {duration(timedelta(minutes=limit_minutes))} "
        "this rule allows."
    )
    return subject, summary


def budget_scope(provider_name: str, task_type: str) -> str:
    """for Chutes / summarization; empty for a team-wide budget."""
    parts = [part for part in (provider_name, task_type) if part]
    return f" for {' / '.join(parts)}" if parts else ""


def budget_threshold_text(
    *, team_name, month, scope, threshold, currency, spent, amount
) -> tuple[str, str]:
    money = usd if currency == "usd" else tao
    kind = "budget" if currency == "usd" else "TAO budget"
    subject = (
        f"Team {team_name} at {threshold_pct(threshold)} of its {month_name(month)} "
        f"{kind}{scope}: {money(spent)} of {money(amount)}"
    )
    summary = (
        f"Month-to-date spend{scope} is {money(spent)}, "
        f"{pct(spent * 100 / amount)} of the {money(amount)} {month_name(month)} {kind}; "
        f"the {threshold_pct(threshold)} threshold is crossed."
    )
    return subject, summary


def budget_forecast_text(
    *, team_name, month, scope, crossing_day, today, spent, forecast, amount
) -> tuple[str, str]:
    if crossing_day <= today:
        course = f"passed its {month_name(month)} budget{scope} on {day_name(crossing_day)}"
    else:
        course = (
            f"on course to pass its {month_name(month)} budget{scope} on {day_name(crossing_day)}"
        )
    subject = f"Team {team_name} {course}: {usd(forecast)} of {usd(amount)} forecast"
    summary = (
        f"{usd(spent)} spent{scope} by {day_name(today)}; at this month's pace the month "
        f"ends at {usd(forecast)}, over the {usd(amount)} budget, which it passes on "
        f"{day_name(crossing_day)}."
    )
    return subject, summary


def error_rate_text(*, label, rate, minutes, errors, requests, threshold) -> tuple[str, str]:
    subject = (
        f"{label} error rate {pct(rate)} over the last {window(minutes)} "
        f"({errors:,} of {requests:,} calls)"
    )
    summary = (
        f"{errors:,} of {requests:,} calls to {label} failed over the last {window(minutes)}: "
        f"{pct(rate)}, at or above the {threshold_pct(threshold)} this rule allows."
    )
    return subject, summary


def latency_text(*, label, p95_ms, minutes, timed, threshold_ms) -> tuple[str, str]:
    subject = (
        f"{label} p95 latency {milliseconds(p95_ms)} over the last {window(minutes)} "
        f"({timed:,} calls)"
    )
    summary = (
        f"95% of {timed:,} timed calls to {label} over the last {window(minutes)} took up to "
        f"{milliseconds(p95_ms)}, at or above the {milliseconds(threshold_ms)} this rule allows "
        "(read from the latency histogram: within about 20%)."
    )
    return subject, summary


def quality_text(*, label, average, minutes, scored, min_score) -> tuple[str, str]:
    shown = Decimal(average).quantize(Decimal("0.01"), ROUND_HALF_UP)
    subject = (
        f"{label} quality {shown} over the last {window(minutes)} "
        f"(below {Decimal(str(min_score)).normalize():f}, {scored:,} scored calls)"
    )
    summary = (
        f"The average quality score of {scored:,} scored calls to {label} over the last "
        f"{window(minutes)} is {shown}, below the {Decimal(str(min_score)).normalize():f} "
        "this rule expects."
    )
    return subject, summary


def proxy_name(instance_id: str, host: str) -> str:
    return f"{instance_id} on {host}" if host and host != instance_id else instance_id


def proxy_stale_text(
    *,
    reason,
    instance_id,
    host,
    since,
    age,
    routing_version,
    published_version,
    routing_error,
    spool_depth,
    zone,
) -> tuple[str, str]:
    name = proxy_name(instance_id, host)
    if reason == "unseen":
        subject = f"Proxy {name} not seen for {duration(age)}"
        summary = (
            f"The LiteLLM proxy {name} last reported at {clock(since, zone)}, {duration(age)} "
            "ago. Its calls may not be shipped, and it does not take new routes or keys."
        )
        return subject, summary
    if reason == "behind":
        runs = f"v{routing_version}" if routing_version else "no routing version"
        subject = f"Proxy {name} still on {runs}, not v{published_version}, after {duration(age)}"
        summary = (
            f"Routing v{published_version} was published {duration(age)} ago (since "
            f"{clock(since, zone)} for this proxy), and {name} still runs {runs}."
        )
        if routing_error:
            summary += f" It says: {routing_error[:300]}"
        return subject, summary
    subject = f"Proxy {name} spool growing for {duration(age)} ({spool_depth:,} calls waiting)"
    summary = (
        f"The spool of {name} has grown since {clock(since, zone)} and holds {spool_depth:,} "
        "calls not yet shipped to this dashboard: usage figures lag behind until it drains."
    )
    return subject, summary


WHAT_TO_DO = {
    AlertKind.TAO_PRICE_SPIKE: (
        "Calls to TAO-billed providers (Chutes) now cost a different amount in dollars. "
        "Check the month's TAO budget and spend on the overview, and whether the routing "
        "shares still make sense at this price."
    ),
    AlertKind.TAO_PRICE_STALE: (
        "Until a price arrives, new usage at TAO-billed providers is stored without a TAO "
        "amount. Check that the Celery worker and beat run, and that the TAO price source "
        "answers; tao_prices_import can fill a gap by hand."
    ),
    AlertKind.BUDGET_THRESHOLD: (
        "Review where the month's spend goes on the overview. Raise the budget if the spend "
        "is expected, or move traffic to cheaper models on the routing page."
    ),
    AlertKind.BUDGET_FORECAST: (
        "Nothing is over yet. Review the spend per provider and task type on the overview, "
        "then raise the budget or move traffic to cheaper models before the crossing day."
    ),
    AlertKind.ERROR_RATE: (
        "Check the provider's status page and the failed calls on the usage page. If it "
        "persists, shift the affected task types to a fallback model on the routing page."
    ),
    AlertKind.LATENCY_P95: (
        "Check the provider's status page and the slow calls on the usage page. If it "
        "persists, move latency-sensitive task types to a faster model on the routing page."
    ),
    AlertKind.QUALITY_DROP: (
        "Look at the low-scored calls on the usage page. If the drop is real, route the "
        "affected task types to a stronger model on the routing page."
    ),
    AlertKind.PROXY_STALE: (
        "Check the proxy on the Routing page's fleet panel and in its own log: whether the "
        "process runs, reaches this dashboard with its token, and can apply the published "
        "version (the panel shows its error). A proxy gone for good leaves the panel after 24 h."
    ),
}


# --- Notification emails ------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    subject: str
    text: str
    html: str


LABELS = {
    "provider": "Provider",
    "model": "Model",
    "task_types": "Task types",
    "models": "Calls per model",
    "calls": "Calls per model and task type",
    "failed_calls": "Failed calls per model and task type",
    "window_minutes": "Window (minutes)",
    "window_start": "Window start",
    "requests": "Calls",
    "errors": "Failed calls",
    "error_rate_pct": "Error rate (%)",
    "threshold_pct": "Threshold (%)",
    "threshold_ms": "Threshold (ms)",
    "p95_ms": "p95 latency (ms)",
    "timed": "Timed calls",
    "average_score": "Average quality",
    "scored": "Scored calls",
    "min_score": "Minimum score",
    "min_requests": "Minimum calls",
    "min_samples": "Minimum scored calls",
    "direction": "Direction",
    "move_pct": "Move (%)",
    "from_usd": "From (USD)",
    "from_at": "From time",
    "to_usd": "To (USD)",
    "to_at": "To time",
    "last_usd": "Last price (USD)",
    "last_at": "Last price time",
    "age_minutes": "Age (minutes)",
    "limit_minutes": "Allowed age (minutes)",
    "budget_id": "Budget",
    "month": "Month",
    "currency": "Currency",
    "threshold": "Threshold (%)",
    "spent": "Spent this month",
    "amount": "Budget",
    "used_pct": "Used (%)",
    "task_type": "Task type",
    "forecast_usd": "Forecast (USD)",
    "spent_usd": "Spent this month (USD)",
    "amount_usd": "Budget (USD)",
    "crossing_day": "Crossing day",
    "instance_id": "Proxy",
    "host": "Host",
    "reason": "Reason",
    "since": "Since",
    "last_seen_at": "Last seen",
    "routing_version": "Routing version applied",
    "published_version": "Published version",
    "routing_error": "Routing error",
    "spool_depth": "Spool depth (calls)",
}


def _count_text(count) -> str:
    """A count, or counts per task type (the calls of one model) as "task 12 · other 3"."""
    if isinstance(count, dict):
        return " · ".join(f"{task or '(no task type)'} {n:,}" for task, n in count.items())
    return f"{count:,}"


def facts_of(details: dict) -> list[tuple[str, str]]:
    """The details of an alert as label/value rows for the email."""
    rows = []
    for key, value in details.items():
        if value in ("", None, [], {}):
            continue
        if isinstance(value, dict):
            value = ", ".join(f"{name}: {_count_text(count)}" for name, count in value.items())
        elif isinstance(value, list):
            value = ", ".join(str(item) for item in value)
        rows.append((LABELS.get(key, key.replace("_", " ").capitalize()), str(value)))
    return rows


def _render(context: dict) -> tuple[str, str]:
    text = render_to_string("billing/email/alert.txt", context)
    html = render_to_string("billing/email/alert.html", context)
    return text, html


def _context(alert, *, event: str, subject: str, team=None) -> dict:
    """`team`: the team a global alert's email goes to (its times, its alerts page); a team
    alert's own team otherwise."""
    team = team or alert.team
    zone = team.zone if team is not None else UTC
    alerts_path = f"/t/{team.slug}/alerts/" if team is not None else ""
    link = alert.link or "/"
    if team is not None and not alert.team_id:
        link = f"/t/{team.slug}/alerts/{alert.pk}/"
    return {
        "event": event,
        "subject": subject,
        "alert": alert,
        "rule_name": alert.rule.name,
        "team_name": team.name if team is not None else "",
        "what_to_do": WHAT_TO_DO.get(alert.rule.kind, ""),
        "facts": facts_of(alert.details),
        "link_url": settings.SITE_URL + link,
        "alerts_url": settings.SITE_URL + alerts_path if alerts_path else "",
        "routing_change_url": _routing_change_url(alert),
        "fired_at": f"{alert.fired_at.astimezone(zone):%Y-%m-%d %H:%M %Z}",
    }


# Alerts about a provider or model, which a prepared routing change can answer.
ROUTING_KINDS = {"error_rate", "latency_p95", "quality_drop"}


def _routing_change_url(alert) -> str:
    if not alert.team_id or alert.rule.kind not in ROUTING_KINDS:
        return ""
    if not alert.details.get("provider"):
        return ""
    return f"{settings.SITE_URL}/t/{alert.team.slug}/alerts/{alert.pk}/routing-change/"


def fired_message(alert, *, again: bool = False, team=None) -> Message:
    """The email for an alert that fired, or (again) one still firing after the cooldown."""
    subject = f"Still firing: {alert.subject}" if again else alert.subject
    context = _context(alert, event="fired", subject=subject, team=team) | {"again": again}
    return Message(subject[:SUBJECT_LENGTH], *_render(context))


def resolved_message(alert, *, team=None) -> Message:
    """The email for an alert whose condition no longer holds: when, and for how long."""
    subject = f"Resolved: {alert.subject}"
    team = team or alert.team
    zone = team.zone if team is not None else UTC
    context = _context(alert, event="resolved", subject=subject, team=team) | {
        "resolved_at": f"{alert.resolved_at.astimezone(zone):%Y-%m-%d %H:%M %Z}",
        "fired_for": duration(alert.resolved_at - alert.fired_at),
    }
    return Message(subject[:SUBJECT_LENGTH], *_render(context))
