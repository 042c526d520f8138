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


def as_typed(value) -> str:
    """A setting as its owner typed it: 4, 2.5."""
    return f"{Decimal(str(value)).normalize():f}"


def threshold_pct(value) -> str:
    """A threshold as its owner typed it: 80%, 12.5%."""
    return f"{as_typed(value)}%"


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


def moment(at: datetime, zone) -> str:
    """2026-05-14 09:13 UTC, or 2026-05-14 05:13 EDT in a team's zone: a time in an email body."""
    return f"{at.astimezone(zone or UTC):%Y-%m-%d %H:%M %Z}"


def month_name(month: date) -> str:
    return f"{month:%B}"


def day_name(day: date) -> str:
    return f"{day:%B} {day.day}"


def weekday_name(day: date) -> str:
    """Wednesday, May 13."""
    return f"{day:%A}, {day_name(day)}"


def short_day(day: date) -> str:
    """Wed May 13: a day in a subject line."""
    return f"{day:%a} {day_name(day)}"


def signed_usd(amount: Decimal) -> str:
    """+$930, -$12.40, $0."""
    amount = Decimal(amount)
    sign = "+" if amount > 0 else "-" if amount < 0 else ""
    return f"{sign}{usd(abs(amount))}"


def deviations(value: Decimal) -> str:
    return f"{Decimal(value).quantize(Decimal('0.1'), ROUND_HALF_UP)}"


# --- Each kind's subject and summary ------------------------------------------------------


def tao_spike_text(
    *, direction, move, minutes, threshold, from_usd, to_usd, from_at, to_at, zone
) -> tuple[str, str]:
    subject = (
        f"TAO {direction} {pct(abs(move))} in {span(minutes)}: {usd(from_usd)} -> {usd(to_usd)}"
    )
    summary = (
        f"TAO/USD moved {direction} {pct(abs(move))} within {span(minutes)}, from "
        f"{usd(from_usd)} at {moment(from_at, zone)} to {usd(to_usd)} at {moment(to_at, zone)}. "
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
        f"The latest TAO/USD price, {usd(last_usd)}, is from {moment(last_at, zone)}: "
        f"{duration(age)} ago, more than the {duration(timedelta(minutes=limit_minutes))} "
        "this rule allows."
    )
    return subject, summary


def tao_degraded_text(
    *, since, latest_at, limit_minutes, failing, price_usd, price_source, zone, now
) -> tuple[str, str]:
    """`failing` is (source, note) of each source not used at the latest poll."""
    names = ", ".join(source for source, _ in failing) or "no source"
    subject = f"TAO price degraded for {duration(now - since)}: {names} not used"
    reasons = "; ".join(f"{source}: {note}" for source, note in failing)
    if price_usd is None:
        outcome = "stored no price"
    else:
        outcome = f"stored {usd(price_usd)} from {price_source}, marked degraded"
    summary = (
        f"Since {moment(since, zone)} fewer than two TAO price sources have given a fresh price "
        f"that agrees with the others, longer than the "
        f"{duration(timedelta(minutes=limit_minutes))} this rule allows. The last poll, at "
        f"{moment(latest_at, zone)}, {outcome}."
    )
    if reasons:
        summary += f" Not used then: {reasons}."
    return subject, summary


def budget_scope(provider_name: str, task_type: str, api_key_alias: str = "") -> str:
    """for Chutes / summarization, or for API key batch; empty for a team-wide budget."""
    key = f"API key {api_key_alias}" if api_key_alias else ""
    parts = [part for part in (provider_name, task_type, key) if part]
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


# --- Anomalies: a day against the same weekdays before it --------------------------------


def task_type_name(task_type: str) -> str:
    return task_type or "(no task type)"


def spend_series_words(scope: str, name: str) -> tuple[str, str]:
    """What a spend series is called in a subject and in a sentence."""
    if scope == "provider":
        return f"at {name}", f" at {name}"
    if scope == "task_type":
        return f"in {task_type_name(name)}", f" on {task_type_name(name)}"
    if scope == "api_key_alias":
        return f"on API key {name}", f" on API key {name}"
    return "", ""


def spend_anomaly_text(
    *, team_name, scope, name, verdict, threshold, min_usd, causes, bridge_line
) -> tuple[str, str]:
    """`causes`: (headline, sentence) pairs, the likeliest first; `bridge_line`: the day's
    bridge in words, or ""."""
    where, spent_on = spend_series_words(scope, name)
    day = verdict.day
    subject = (
        f"Spend anomaly{' ' + where if where else ''}: team {team_name} spent "
        f"{usd(verdict.value)} on {short_day(day)}, usually {usd(verdict.baseline)} "
        f"({signed_usd(verdict.change)}, {deviations(verdict.deviations)} deviations)"
    )
    if causes:
        subject += f"; likely {causes[0][0]}"
    lines = [
        f"Team {team_name} spent {usd(verdict.value)}{spent_on} on {weekday_name(day)} (a whole "
        f"day in the team's time zone), against a usual {usd(verdict.baseline)}: the median of "
        f"the {verdict.history} {day:%A}s before it, give or take {usd(verdict.spread)}. That is "
        f"{signed_usd(verdict.change)}, {deviations(verdict.deviations)} deviations above the "
        f"usual; the rule fires at {as_typed(threshold)} deviations and {usd(min_usd)} above."
    ]
    lines += _cause_lines([text for _, text in causes])
    if bridge_line:
        lines.append(bridge_line)
    return subject, "\n".join(lines)


def _cause_lines(texts: list[str]) -> list[str]:
    if not texts:
        return []
    lines = [f"Likely cause: {texts[0]}."]
    if texts[1:]:
        lines.append("Also: " + "; ".join(texts[1:]) + ".")
    return lines


def model_move_text(*, label, cost, usual_cost, calls, usual_calls) -> str:
    return (
        f"{label} cost {usd(cost)} against a usual {usd(usual_cost)} "
        f"({signed_usd(cost - usual_cost)}), {calls:,} calls against a usual "
        f"{Decimal(usual_calls).quantize(Decimal(1), ROUND_HALF_UP):,}"
    )


def marker_text(marker, *, day: date, zone) -> str:
    """A change (billing.overview.changes.ChangeMarker) told against the anomalous day."""
    local = marker.at.astimezone(zone)
    when = "that day" if local.date() == day else "the day before"
    return f"{marker.title} {when} at {clock(marker.at, zone)}: {marker.detail}"


def tao_move_text(*, move, day, from_usd, to_usd) -> str:
    direction = "up" if move > 0 else "down"
    return (
        f"TAO/USD {direction} {pct(abs(move))} over {day_name(day)}, from {usd(from_usd)} to "
        f"{usd(to_usd)}: TAO-billed calls cost that much more or less in dollars"
    )


def bridge_text(bridge, *, reference: date, day: date) -> str:
    """The day's bridge (billing.reports.bridge.Bridge) from the reference day, in one line."""
    steps = ", ".join(f"{effect.label} {signed_usd(effect.amount)}" for effect in bridge.effects)
    text = (
        f"Bridge from {weekday_name(reference)} ({usd(bridge.start)}) to {day_name(day)} "
        f"({usd(bridge.end)}): {steps}"
    )
    if bridge.residual:
        text += f", not explained {signed_usd(bridge.residual)}"
    return text + "."


def health_anomaly_text(
    *, label, what, day, value, usual, verdict, calls, threshold, min_rise, causes, note=""
) -> tuple[str, str]:
    """An error rate or p95 latency (`what`) of a day against its usual: `value`, `usual` and
    `min_rise` as text, `calls` as "12 of 300 calls failed" or "300 timed calls"."""
    subject = f"{label} {what} {value} on {short_day(day)}, usually {usual} ({calls})"
    lines = [
        f"The {what} of {label} on {weekday_name(day)} (a whole day in the team's time zone) "
        f"was {value} ({calls}), against a usual {usual}: the median of the "
        f"{verdict.history} {day:%A}s before it. That is {deviations(verdict.deviations)} "
        f"deviations above the usual; the rule fires at {as_typed(threshold)} deviations "
        f"and {min_rise} above{note}.",
        *_cause_lines(causes),
    ]
    return subject, "\n".join(lines)


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
            f"The LiteLLM proxy {name} last reported at {moment(since, zone)}, {duration(age)} "
            "ago. Its calls may not be shipped, and it does not take new routes or keys."
        )
        return subject, summary
    if reason == "behind":
        runs = f"v{routing_version}" if routing_version else "no routing version"
        subject = f"Proxy {name} still on {runs}, not v{published_version}, after {duration(age)}"
        summary = (
            f"Routing v{published_version} was published {duration(age)} ago (since "
            f"{moment(since, zone)} for this proxy), and {name} still runs {runs}."
        )
        if routing_error:
            summary += f" It says: {routing_error[:300]}"
        return subject, summary
    subject = f"Proxy {name} spool growing for {duration(age)} ({spool_depth:,} calls waiting)"
    summary = (
        f"The spool of {name} has grown since {moment(since, zone)} and holds {spool_depth:,} "
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
    AlertKind.TAO_PRICE_DEGRADED: (
        "The price still comes from the sources that answer, but one bad answer now moves it. "
        "The Scheduled jobs page shows each TAO price source's last answer: check the failing "
        "ones' status pages, the server's outbound access to them, and their API keys if keyed."
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
    AlertKind.SPEND_ANOMALY: (
        "Check the likely cause first: a routing change can be rolled back on the routing "
        "page, a price change reviewed on the prices pages. Then compare the day with its "
        "usual on the overview (linked), split by model."
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
    "day": "Day judged",
    "scope": "Scope",
    "series": "Series",
    "spend_usd": "Spend that day (USD)",
    "usual_usd": "Usual spend (USD)",
    "change_usd": "Change (USD)",
    "spread_usd": "One deviation (USD)",
    "mad_usd": "MAD x 1.4826 (USD)",
    "usual_pct": "Usual error rate (%)",
    "usual_ms": "Usual p95 latency (ms)",
    "deviations": "Deviations above the usual",
    "threshold_deviations": "Fires at (deviations)",
    "min_usd": "Minimum rise (USD)",
    "min_points": "Minimum rise (percentage points)",
    "min_ms": "Minimum rise (ms)",
    "weeks": "Weeks compared",
    "history_days": "Same weekdays with data",
    "model_moves": "Models against their usual",
    "likely_cause": "Likely cause",
    "other_causes": "Other possible causes",
}
# Details the summary already tells in words: not repeated under the email's details.
TOLD_IN_SUMMARY = {"likely_cause", "other_causes", "bridge"}


def _count_text(count) -> str:
    """A count, or counts per task type (the calls of one model) as "task 12 · other 3"."""
    if isinstance(count, dict):
        return " · ".join(f"{task or '(no task type)'} {n:,}" for task, n in count.items())
    return f"{count:,}"


# Details holding a moment (ISO text in UTC): shown in the reader's zone, with the date.
MOMENT_KEYS = {"from_at", "to_at", "last_at", "since", "last_seen_at", "window_start"}


def facts_of(details: dict, zone=None) -> list[tuple[str, str]]:
    """The details of an alert as label/value rows for the email, moments in `zone`."""
    rows = []
    for key, value in details.items():
        if value in ("", None, [], {}) or key in TOLD_IN_SUMMARY:
            continue
        if key in MOMENT_KEYS and isinstance(value, str):
            value = _moment_text(value, zone)
        elif isinstance(value, dict):
            value = ", ".join(f"{name}: {_count_text(count)}" for name, count in value.items())
        elif isinstance(value, list):
            value = ", ".join(str(item) for item in value)
        rows.append((LABELS.get(key, key.replace("_", " ").capitalize()), str(value)))
    return rows


def _moment_text(value: str, zone) -> str:
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return value
    return moment(at if at.tzinfo else at.replace(tzinfo=UTC), zone)


def texts_in_zone(alert, zone) -> tuple[str, str]:
    """A global TAO alert's subject and summary told in a team's zone (they are stored in UTC);
    any other alert's own, already in its team's zone."""
    details, kind = alert.details, alert.rule.kind
    if alert.team_id or zone is None:
        return alert.subject, alert.summary
    if kind == AlertKind.TAO_PRICE_SPIKE and {"from_at", "to_at", "move_pct"} <= details.keys():
        _, summary = tao_spike_text(
            direction=details["direction"],
            move=Decimal(details["move_pct"]),
            minutes=details["window_minutes"],
            threshold=details["threshold_pct"],
            from_usd=Decimal(details["from_usd"]),
            to_usd=Decimal(details["to_usd"]),
            from_at=datetime.fromisoformat(details["from_at"]),
            to_at=datetime.fromisoformat(details["to_at"]),
            zone=zone,
        )
        return alert.subject, summary
    if kind == AlertKind.TAO_PRICE_STALE and {"last_at", "age_minutes"} <= details.keys():
        return tao_stale_text(
            age=timedelta(minutes=details["age_minutes"]),
            limit_minutes=details["limit_minutes"],
            last_usd=Decimal(details["last_usd"]),
            last_at=datetime.fromisoformat(details["last_at"]),
            zone=zone,
        )
    return alert.subject, alert.summary


def _render(context: dict) -> tuple[str, str]:
    text = render_to_string("billing/email/alert.txt", context)
    html = render_to_string("billing/email/alert.html", context)
    return text, html


def _prefixed(event: str, again: bool, subject: str) -> str:
    if event == "resolved":
        return f"Resolved: {subject}"
    return f"Still firing: {subject}" if again else subject


def _context(alerts, *, event: str, again: bool, teams) -> dict:
    """One email about `alerts` (one, or several rules' alerts of one event) for the people of
    `teams` (none: a global rule's own list). Times are in the one team's zone, else in UTC."""
    alert = alerts[0]
    team = teams[0] if len(teams) == 1 else None
    zone = team.zone if team is not None else UTC
    told = [(each, *texts_in_zone(each, zone)) for each in alerts]
    subject = _prefixed(event, again, told[0][1])
    if len(teams) > 1:
        subject += " (teams " + ", ".join(each.name for each in teams) + ")"
    link = alert.link or "/"
    if team is not None and not alert.team_id:
        link = f"/t/{team.slug}/alerts/{alert.pk}/"
    context = {
        "event": event,
        "again": again,
        "subject": subject[:SUBJECT_LENGTH],
        "headline": told[0][1],
        "summary": told[0][2],
        "alert": alert,
        "others": [(each.rule.name, summary) for each, _, summary in told[1:]],
        "rule_name": ", ".join(dict.fromkeys(each.rule.name for each in alerts)),
        "team_name": team.name if team is not None else "",
        "teams": [(each.name, f"{settings.SITE_URL}/t/{each.slug}/alerts/") for each in teams]
        if len(teams) > 1
        else [],
        "what_to_do": WHAT_TO_DO.get(alert.rule.kind, ""),
        "facts": facts_of(alert.details, zone),
        "link_url": settings.SITE_URL + link,
        "alerts_url": f"{settings.SITE_URL}/t/{team.slug}/alerts/" if team is not None else "",
        "routing_change_url": _routing_change_url(alert),
        "fired_at": moment(alert.fired_at, zone),
    }
    if event == "resolved":
        context["resolved_at"] = moment(alert.resolved_at, zone)
        context["fired_for"] = duration(alert.resolved_at - alert.fired_at)
    return context


# Alerts about a provider or model, which a prepared routing change can answer.
ROUTING_KINDS = {"error_rate", "latency_p95", "quality_drop"}


def _routing_change_url(alert) -> str:
    if not alert.team_id or alert.rule.kind not in ROUTING_KINDS:
        return ""
    if not alert.details.get("provider"):
        return ""
    return f"{settings.SITE_URL}/t/{alert.team.slug}/alerts/{alert.pk}/routing-change/"


def _message(alerts, *, event: str, again: bool, teams) -> Message:
    context = _context(alerts, event=event, again=again, teams=teams)
    return Message(context["subject"], *_render(context))


def fired_message(alert, *, again: bool = False, team=None) -> Message:
    """The email for an alert that fired, or (again) one still firing after the cooldown;
    `team`: the team a global alert's email goes to (its times, its alerts page)."""
    team = team or alert.team
    return _message([alert], event="fired", again=again, teams=[team] if team else [])


def resolved_message(alert, *, team=None) -> Message:
    """The email for an alert whose condition no longer holds: when, and for how long."""
    team = team or alert.team
    return _message([alert], event="resolved", again=False, teams=[team] if team else [])


def merged_message(notifications) -> Message:
    """One email for several outbox rows of one event that reach the same person: a global
    alert's rows for several teams (listing them, times in UTC) and overlapping rules' rows."""
    first = notifications[0]
    alerts = list({row.alert_id: row.alert for row in notifications}.values())
    teams = list({row.team_id: row.team for row in notifications if row.team_id}.values())
    teams.sort(key=lambda team: team.name)
    again = first.subject.startswith("Still firing: ")
    return _message(alerts, event=first.event, again=again, teams=teams)
