"""Alert rules evaluated into alerts, and notifications queued for them (an outbox).

Each enabled rule yields the conditions that hold now, each under a dedupe key. Per rule and
key an alert opens (firing) when its condition appears, is seen again while it holds, and
resolves when it goes. A notification row is queued when an alert fires, again while it is
still firing once the rule's cooldown has passed (never for an acknowledged alert, and a
budget threshold only once per month), and on resolve when the rule asks for it.

A global (TAO) rule has no team: its own notification goes to the superusers and its extra
addresses, and one more per team to that team's members in the rule's roles. A team that
acknowledges a global alert stops its own reminders only (AlertAcknowledgement); the alert
row turns acknowledged, stopping every reminder, when site staff acknowledge it for all.

Evaluating twice at the same moment changes nothing. Two evaluators at once are kept apart
by the one-open-alert-per-key constraint and by conditional updates, so neither can queue a
notification the other already queued.
"""

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from urllib.parse import urlencode

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.utils import timezone

from billing.alerts import messages as words
from billing.budgets import CURRENT, budget_lines
from billing.histogram import LATENCY_FIELDS, percentile
from billing.models import (
    Alert,
    AlertAcknowledgement,
    AlertKind,
    AlertNotification,
    AlertRule,
    AlertState,
    Budget,
    Status,
    TaoPrice,
    UsageRollup,
)
from billing.overview.cube import whole
from dashboard.models import Membership, Team
from routing.fleet import behind_since, fleet_proxies
from routing.publish import latest_version

logger = logging.getLogger(__name__)

HUNDRED = Decimal(100)
HOUR = timedelta(hours=1)

# Each kind's params and their defaults: the contract with the rules page.
DEFAULT_PARAMS = {
    AlertKind.TAO_PRICE_SPIKE: {"threshold_pct": 10, "window_minutes": 60, "direction": "both"},
    AlertKind.TAO_PRICE_STALE: {"minutes": 30},
    AlertKind.BUDGET_THRESHOLD: {"currency": "both"},
    AlertKind.BUDGET_FORECAST: {},
    AlertKind.ERROR_RATE: {
        "threshold_pct": 5,
        "window_minutes": 60,
        "min_requests": 50,
        "provider": "",
        "model": "",
    },
    AlertKind.LATENCY_P95: {
        "threshold_ms": 10000,
        "window_minutes": 60,
        "min_requests": 50,
        "provider": "",
        "model": "",
    },
    AlertKind.QUALITY_DROP: {
        "min_score": 0.7,
        "window_minutes": 1440,
        "min_samples": 30,
        "provider": "",
        "model": "",
    },
    AlertKind.PROXY_STALE: {"unseen_minutes": 10, "behind_minutes": 5, "spool_minutes": 15},
}
CHOICES = {"direction": {"both", "up", "down"}, "currency": {"both", "usd", "tao"}}
WHOLE_PARAMS = {"window_minutes", "minutes", "min_requests", "min_samples", "threshold_ms"}
WHOLE_PARAMS |= {"unseen_minutes", "behind_minutes", "spool_minutes"}
DECIMAL_PARAMS = {"threshold_pct", "min_score"}
# Kinds whose alert tells of something that holds for the rest of the period: said once.
ONCE_PER_PERIOD = {AlertKind.BUDGET_THRESHOLD}


def params_of(rule: AlertRule) -> dict:
    """The rule's params over its kind's defaults, numbers as numbers; ValueError on nonsense."""
    params = {**DEFAULT_PARAMS[rule.kind], **(rule.params or {})}
    for name, value in params.items():
        if name in WHOLE_PARAMS:
            params[name] = _number(name, value, int)
        elif name in DECIMAL_PARAMS:
            params[name] = _number(name, value, lambda v: Decimal(str(v)))
        elif name in CHOICES:
            if value not in CHOICES[name]:
                raise ValueError(f"{name} must be one of {sorted(CHOICES[name])}, not {value!r}")
        elif name in ("provider", "model"):
            params[name] = str(value or "").strip()
    return params


def _number(name, value, kind):
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number, not {value!r}")
    try:
        number = kind(value)
    except (TypeError, ValueError, InvalidOperation):
        raise ValueError(f"{name} must be a number, not {value!r}") from None
    if isinstance(number, Decimal) and not number.is_finite():
        raise ValueError(f"{name} must be a number, not {value!r}")
    if number < 0 or (name.endswith("minutes") and number < 1):
        raise ValueError(f"{name} must be positive, not {value!r}")
    return number


@dataclass(frozen=True)
class Condition:
    """Something a rule watches for that holds now."""

    key: str
    subject: str
    summary: str
    details: dict
    link: str


def team_path(team, page: str = "") -> str:
    """A page of the rule's team (overview, budgets/, alerts/), or the home page without one."""
    return f"/t/{team.slug}/{page}" if team is not None else "/"


# --- TAO price ----------------------------------------------------------------------------


def _zone(rule):
    return rule.team.zone if rule.team_id else None


def tao_price_spike(rule: AlertRule, params: dict, now: datetime) -> list[Condition]:
    """The latest price against the last one at or before now - window, beyond the threshold."""
    minutes = params["window_minutes"]
    latest = TaoPrice.objects.filter(at__lte=now).order_by("-at", "-id").first()
    then = (
        TaoPrice.objects.filter(at__lte=now - timedelta(minutes=minutes))
        .order_by("-at", "-id")
        .first()
    )
    if latest is None or then is None or then.at >= latest.at:
        return []
    move = (latest.usd - then.usd) * HUNDRED / then.usd
    direction = "up" if move > 0 else "down"
    if abs(move) < params["threshold_pct"] or params["direction"] not in ("both", direction):
        return []
    subject, summary = words.tao_spike_text(
        direction=direction,
        move=move,
        minutes=minutes,
        threshold=params["threshold_pct"],
        from_usd=then.usd,
        to_usd=latest.usd,
        from_at=then.at,
        to_at=latest.at,
        zone=_zone(rule),
    )
    details = {
        "direction": direction,
        "move_pct": _decimal(move, "0.01"),
        "window_minutes": minutes,
        "threshold_pct": _decimal(params["threshold_pct"]),
        "from_usd": _decimal(then.usd),
        "from_at": then.at.isoformat(),
        "to_usd": _decimal(latest.usd),
        "to_at": latest.at.isoformat(),
    }
    key = f"tao_price_spike:{direction}:{minutes}"
    return [Condition(key, subject, summary, details, team_path(rule.team))]


def tao_price_stale(rule: AlertRule, params: dict, now: datetime) -> list[Condition]:
    """No TAO price newer than `minutes` (or none at all)."""
    limit = params["minutes"]
    latest = TaoPrice.objects.filter(at__lte=now).order_by("-at", "-id").first()
    if latest is not None and now - latest.at <= timedelta(minutes=limit):
        return []
    age = now - latest.at if latest else None
    subject, summary = words.tao_stale_text(
        age=age,
        limit_minutes=limit,
        last_usd=latest.usd if latest else None,
        last_at=latest.at if latest else None,
        zone=_zone(rule),
    )
    details = {"limit_minutes": limit}
    if latest is not None:
        details |= {
            "last_usd": _decimal(latest.usd),
            "last_at": latest.at.isoformat(),
            "age_minutes": int(age.total_seconds() // 60),
        }
    return [Condition("tao_price_stale", subject, summary, details, team_path(rule.team))]


# --- Budgets ------------------------------------------------------------------------------


def thresholds_of(budget: Budget) -> list[Decimal]:
    """The budget's threshold percentages, sorted; what is not a positive number is skipped."""
    found = set()
    for value in budget.thresholds or []:
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            continue
        if number.is_finite() and number > 0 and not isinstance(value, bool):
            found.add(number.normalize())
    return sorted(found)


@dataclass(frozen=True)
class BudgetMonth:
    """A budget and its scope's spend this team month (the overview's month panel)."""

    budget: Budget
    first_day: object
    today: object
    panel: object
    scope: str

    @property
    def period(self) -> str:
        return f"{self.first_day:%Y-%m}"


def budget_months(team, now: datetime) -> list[BudgetMonth]:
    """Each budget in force this team month, with its scope's month so far (as the Budgets
    page shows it): two queries."""
    today = now.astimezone(team.zone).date()
    first = today.replace(day=1)
    months = []
    for line in budget_lines(team, now=now):
        if line.applies != CURRENT:
            continue
        budget = line.budget
        scope = words.budget_scope(
            budget.provider.name if budget.provider else "", budget.task_type
        )
        months.append(BudgetMonth(budget, first, today, line.panel, scope))
    return months


def _budget_details(month: BudgetMonth) -> dict:
    budget = month.budget
    return {
        "budget_id": budget.id,
        "month": month.period,
        "provider": budget.provider.slug if budget.provider else "",
        "task_type": budget.task_type,
    }


def budget_threshold(rule: AlertRule, params: dict, now: datetime) -> list[Condition]:
    """Every threshold of every applicable budget that month-to-date spend has reached."""
    currencies = {"usd", "tao"} if params["currency"] == "both" else {params["currency"]}
    conditions = []
    for month in budget_months(rule.team, now):
        budget, panel = month.budget, month.panel
        amounts = [("usd", panel.spend_usd, budget.amount_usd)]
        if budget.amount_tao:
            amounts.append(("tao", panel.tao_used, budget.amount_tao))
        for threshold in thresholds_of(budget):
            for currency, spent, amount in amounts:
                if currency not in currencies or spent * HUNDRED < amount * threshold:
                    continue
                subject, summary = words.budget_threshold_text(
                    team_name=rule.team.name,
                    month=month.first_day,
                    scope=month.scope,
                    threshold=threshold,
                    currency=currency,
                    spent=spent,
                    amount=amount,
                )
                details = _budget_details(month) | {
                    "currency": currency,
                    "threshold": _decimal(threshold),
                    "spent": _decimal(spent),
                    "amount": _decimal(amount),
                    "used_pct": _decimal(spent * HUNDRED / amount, "0.1"),
                }
                key = f"budget_threshold:{budget.id}:{month.period}:{threshold:f}:{currency}"
                link = team_path(rule.team, "budgets/")
                conditions.append(Condition(key, subject, summary, details, link))
    return conditions


def budget_forecast(rule: AlertRule, params: dict, now: datetime) -> list[Condition]:
    """Each applicable budget that this month's pace takes past it by the month's end."""
    conditions = []
    for month in budget_months(rule.team, now):
        budget, panel = month.budget, month.panel
        if panel.today is None or panel.forecast_usd <= budget.amount_usd:
            continue
        subject, summary = words.budget_forecast_text(
            team_name=rule.team.name,
            month=month.first_day,
            scope=month.scope,
            crossing_day=panel.crossing_day,
            today=month.today,
            spent=panel.spend_usd,
            forecast=panel.forecast_usd,
            amount=budget.amount_usd,
        )
        details = _budget_details(month) | {
            "spent_usd": _decimal(panel.spend_usd),
            "forecast_usd": _decimal(panel.forecast_usd, "0.01"),
            "amount_usd": _decimal(budget.amount_usd),
            "crossing_day": panel.crossing_day.isoformat(),
        }
        key = f"budget_forecast:{budget.id}:{month.period}"
        link = team_path(rule.team, "budgets/")
        conditions.append(Condition(key, subject, summary, details, link))
    return conditions


# --- Provider health, from the hourly rollups ---------------------------------------------


@dataclass
class Target:
    """Usage of one provider (or one provider's model) over a rule's window."""

    provider: str
    model: str
    requests: int = 0
    errors: int = 0
    quality_sum: Decimal = Decimal(0)
    quality_count: int = 0
    latency: list[int] = field(default_factory=lambda: [0] * len(LATENCY_FIELDS))
    models: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    task_types: set[str] = field(default_factory=set)

    @property
    def label(self) -> str:
        return f"{self.provider}/{self.model}" if self.model else self.provider

    @property
    def timed(self) -> int:
        return sum(self.latency)


def window_targets(rule: AlertRule, params: dict, now: datetime) -> list[Target]:
    """The team's usage in the rule's window per provider, or per provider of the given model.

    The window is read from the hourly rollups whose hour overlaps it, so a 60-minute window
    at 12:30 reads 11:00-13:00. One query.
    """
    start = now - timedelta(minutes=params["window_minutes"])
    rows = UsageRollup.objects.filter(team=rule.team, hour__gt=start - HOUR, hour__lte=now)
    if params["provider"]:
        rows = rows.filter(provider_name=params["provider"])
    if params["model"]:
        rows = rows.filter(model_name=params["model"])
    rows = (
        rows.values("provider_name", "model_name", "task_type")
        .annotate(
            s_requests=whole(Sum("requests")),
            s_errors=whole(Sum("requests", filter=Q(status=Status.ERROR))),
            s_quality_sum=Sum("quality_sum"),
            s_quality_count=whole(Sum("quality_count")),
            **{f"s_{name}": whole(Sum(name)) for name in LATENCY_FIELDS},
        )
        .order_by()
    )
    targets: dict[tuple[str, str], Target] = {}
    for row in rows:
        provider = row["provider_name"]
        model = row["model_name"] if params["model"] else ""
        target = targets.setdefault((provider, model), Target(provider, model))
        target.requests += row["s_requests"] or 0
        target.errors += row["s_errors"] or 0
        target.quality_sum += Decimal(row["s_quality_sum"] or 0)
        target.quality_count += row["s_quality_count"] or 0
        for index, name in enumerate(LATENCY_FIELDS):
            target.latency[index] += row[f"s_{name}"] or 0
        target.models[row["model_name"]] += row["s_requests"] or 0
        if row["task_type"]:
            target.task_types.add(row["task_type"])
    return [targets[key] for key in sorted(targets)]


def _target_condition(rule, kind, target, params, now, subject, summary, numbers) -> Condition:
    details = {
        "provider": target.provider,
        "model": target.model,
        "task_types": sorted(target.task_types),
        "models": dict(sorted(target.models.items())),
        "window_minutes": params["window_minutes"],
        "window_start": (now - timedelta(minutes=params["window_minutes"])).isoformat(),
    } | numbers
    query = {"provider": target.provider} | ({"model": target.model} if target.model else {})
    link = f"{team_path(rule.team)}?{urlencode(query)}"
    return Condition(f"{kind}:{target.label}", subject, summary, details, link)


def error_rate(rule: AlertRule, params: dict, now: datetime) -> list[Condition]:
    conditions = []
    for target in window_targets(rule, params, now):
        if not target.requests or target.requests < params["min_requests"]:
            continue
        rate = Decimal(target.errors) * HUNDRED / target.requests
        if rate < params["threshold_pct"]:
            continue
        subject, summary = words.error_rate_text(
            label=target.label,
            rate=rate,
            minutes=params["window_minutes"],
            errors=target.errors,
            requests=target.requests,
            threshold=params["threshold_pct"],
        )
        numbers = {
            "requests": target.requests,
            "errors": target.errors,
            "error_rate_pct": _decimal(rate, "0.01"),
            "threshold_pct": _decimal(params["threshold_pct"]),
            "min_requests": params["min_requests"],
        }
        conditions.append(
            _target_condition(rule, "error_rate", target, params, now, subject, summary, numbers)
        )
    return conditions


def latency_p95(rule: AlertRule, params: dict, now: datetime) -> list[Condition]:
    conditions = []
    for target in window_targets(rule, params, now):
        if not target.timed or target.timed < params["min_requests"]:
            continue
        p95 = percentile(target.latency, 0.95)
        if p95 < params["threshold_ms"]:
            continue
        subject, summary = words.latency_text(
            label=target.label,
            p95_ms=p95,
            minutes=params["window_minutes"],
            timed=target.timed,
            threshold_ms=params["threshold_ms"],
        )
        numbers = {
            "p95_ms": round(p95),
            "timed": target.timed,
            "threshold_ms": params["threshold_ms"],
            "min_requests": params["min_requests"],
        }
        conditions.append(
            _target_condition(rule, "latency_p95", target, params, now, subject, summary, numbers)
        )
    return conditions


def quality_drop(rule: AlertRule, params: dict, now: datetime) -> list[Condition]:
    conditions = []
    for target in window_targets(rule, params, now):
        if not target.quality_count or target.quality_count < params["min_samples"]:
            continue
        average = target.quality_sum / target.quality_count
        if average >= params["min_score"]:
            continue
        subject, summary = words.quality_text(
            label=target.label,
            average=average,
            minutes=params["window_minutes"],
            scored=target.quality_count,
            min_score=params["min_score"],
        )
        numbers = {
            "average_score": _decimal(average, "0.0001"),
            "scored": target.quality_count,
            "min_score": _decimal(params["min_score"]),
            "min_samples": params["min_samples"],
        }
        conditions.append(
            _target_condition(rule, "quality_drop", target, params, now, subject, summary, numbers)
        )
    return conditions


# --- The proxies' heartbeats --------------------------------------------------------------


def _proxy_reason(proxy, published, params: dict, now: datetime) -> tuple[str, datetime] | None:
    """Why the proxy is stale, and since when; None when it is fine. Not seen trumps the rest:
    what an unseen proxy last reported is old news."""
    minutes = timedelta(minutes=1)
    if now - proxy.last_seen_at > params["unseen_minutes"] * minutes:
        return "unseen", proxy.last_seen_at
    since = behind_since(proxy, published)
    if since is not None and now - since > params["behind_minutes"] * minutes:
        return "behind", since
    growing = proxy.spool_growing_since
    if growing is not None and now - growing > params["spool_minutes"] * minutes:
        return "spool", growing
    return None


def proxy_stale(rule: AlertRule, params: dict, now: datetime) -> list[Condition]:
    """Each proxy seen in the last 24 hours that has gone quiet, is not on the published
    version some minutes after its publish, or whose spool keeps growing. Two queries."""
    published = latest_version(rule.team)
    conditions = []
    for proxy in fleet_proxies(rule.team, now):
        found = _proxy_reason(proxy, published, params, now)
        if found is None:
            continue
        reason, since = found
        subject, summary = words.proxy_stale_text(
            reason=reason,
            instance_id=proxy.instance_id,
            host=proxy.host,
            since=since,
            age=now - since,
            routing_version=proxy.routing_version,
            published_version=published.number if published else None,
            routing_error=proxy.routing_error,
            spool_depth=proxy.spool_depth,
            zone=_zone(rule),
        )
        details = {
            "instance_id": proxy.instance_id,
            "host": proxy.host,
            "reason": reason,
            "since": since.isoformat(),
            "last_seen_at": proxy.last_seen_at.isoformat(),
            "routing_version": proxy.routing_version,
            "published_version": published.number if published else None,
            "routing_error": proxy.routing_error,
            "spool_depth": proxy.spool_depth,
            "limit_minutes": params[f"{reason}_minutes"],
        }
        key = f"proxy_stale:{proxy.instance_id}:{reason}"
        link = team_path(rule.team, "routing/#fleet")
        conditions.append(Condition(key, subject, summary, details, link))
    return conditions


CONDITIONS: dict[str, Callable[[AlertRule, dict, datetime], list[Condition]]] = {
    AlertKind.TAO_PRICE_SPIKE: tao_price_spike,
    AlertKind.TAO_PRICE_STALE: tao_price_stale,
    AlertKind.BUDGET_THRESHOLD: budget_threshold,
    AlertKind.BUDGET_FORECAST: budget_forecast,
    AlertKind.ERROR_RATE: error_rate,
    AlertKind.LATENCY_P95: latency_p95,
    AlertKind.QUALITY_DROP: quality_drop,
    AlertKind.PROXY_STALE: proxy_stale,
}


def conditions_of(rule: AlertRule, now: datetime) -> list[Condition]:
    """What holds now for the rule, one condition per dedupe key."""
    return CONDITIONS[rule.kind](rule, params_of(rule), now)


def _decimal(value, places: str | None = None) -> str:
    # Decimals travel in the JSON details as strings, so no digit is lost to a float.
    value = Decimal(str(value))
    if places is not None:
        value = value.quantize(Decimal(places))
    return f"{value.normalize():f}"


# --- Recipients ---------------------------------------------------------------------------


def recipients_for(rule: AlertRule) -> list[str]:
    """The rule's extra emails plus its team's members in the chosen roles (for a global rule:
    the superusers), lower-cased, deduplicated and sorted."""
    emails = list(rule.extra_emails or [])
    if rule.team_id is None:
        users = get_user_model().objects.filter(is_superuser=True, is_active=True)
        emails += users.values_list("email", flat=True)
    elif rule.recipient_roles:
        members = Membership.objects.filter(
            team_id=rule.team_id, role__in=rule.recipient_roles, user__is_active=True
        )
        emails += members.values_list("user__email", flat=True)
    return _cleaned(emails)


def team_audiences(rule: AlertRule) -> list[tuple[Team, list[str]]]:
    """For a global rule: each team with members in the rule's roles, and their addresses, one
    notification each, so no team sees another's people. None for a team rule. One query."""
    if rule.team_id is not None or not rule.recipient_roles:
        return []
    members = Membership.objects.filter(
        role__in=rule.recipient_roles, user__is_active=True
    ).select_related("team", "user")
    teams: dict[int, Team] = {}
    emails: dict[int, list[str]] = defaultdict(list)
    for membership in members:
        teams[membership.team_id] = membership.team
        emails[membership.team_id].append(membership.user.email)
    audiences = [(teams[team_id], _cleaned(found)) for team_id, found in emails.items()]
    return sorted(
        ((team, found) for team, found in audiences if found), key=lambda pair: pair[0].slug
    )


def _cleaned(emails) -> list[str]:
    return sorted({str(email).strip().lower() for email in emails if email and str(email).strip()})


# --- The state machine --------------------------------------------------------------------


@dataclass
class EvaluationResult:
    rules: int = 0
    fired: int = 0
    still_firing: int = 0
    resolved: int = 0
    notifications: int = 0
    failed: list[str] = field(default_factory=list)

    def add(self, other: "EvaluationResult") -> None:
        self.rules += other.rules
        self.fired += other.fired
        self.still_firing += other.still_firing
        self.resolved += other.resolved
        self.notifications += other.notifications
        self.failed += other.failed

    @property
    def summary(self) -> str:
        text = (
            f"{self.rules} rules, fired {self.fired}, still firing {self.still_firing}, "
            f"resolved {self.resolved}, notifications queued {self.notifications}"
        )
        if self.failed:
            text += f"; {len(self.failed)} failed: " + "; ".join(self.failed)
        return text


class RuleRun:
    """One rule's conditions applied to its open alerts at one moment."""

    def __init__(self, rule: AlertRule, now: datetime):
        self.rule = rule
        self.now = now
        self.result = EvaluationResult(rules=1)
        self._recipients: list[str] | None = None
        self._team_audiences: list[tuple[Team, list[str]]] | None = None

    def run(self) -> EvaluationResult:
        conditions = {condition.key: condition for condition in conditions_of(self.rule, self.now)}
        open_alerts = {
            alert.dedupe_key: alert
            for alert in Alert.objects.filter(
                rule=self.rule, resolved_at__isnull=True
            ).select_related("team")
        }
        new_keys = conditions.keys() - open_alerts.keys()
        said_before = set()
        if self.rule.kind in ONCE_PER_PERIOD and new_keys:
            said_before = set(
                Alert.objects.filter(rule=self.rule, dedupe_key__in=new_keys).values_list(
                    "dedupe_key", flat=True
                )
            )
        for key, condition in sorted(conditions.items()):
            if key in open_alerts:
                self.still_true(open_alerts[key], condition)
            else:
                self.fire(condition, quiet=key in said_before)
        for key, alert in sorted(open_alerts.items()):
            if key not in conditions:
                self.resolve(alert)
        return self.result

    def fire(self, condition: Condition, *, quiet: bool) -> None:
        # A key that already fired this period opens quietly (e.g. spend corrected down and up).
        try:
            with transaction.atomic():
                alert = Alert.objects.create(
                    rule=self.rule,
                    team=self.rule.team,
                    dedupe_key=condition.key,
                    state=AlertState.FIRING,
                    fired_at=self.now,
                    last_seen_at=self.now,
                    last_notified_at=None if quiet else self.now,
                    **self._content(condition),
                )
                if not quiet:
                    self.queue(alert, "fired")
        except IntegrityError:
            # Another evaluator opened it first; its notification stands.
            logger.info("Alert %s of rule %s already open", condition.key, self.rule.id)
            return
        self.result.fired += 1

    def still_true(self, alert: Alert, condition: Condition) -> None:
        self.result.still_firing += 1
        changed = {
            name: value
            for name, value in self._content(condition).items()
            if getattr(alert, name) != value
        }
        if self.now > alert.last_seen_at:
            changed["last_seen_at"] = self.now
        if changed:
            for name, value in changed.items():
                setattr(alert, name, value)
            alert.save(update_fields=list(changed))
        if self._reminder_due(alert):
            claimed = Alert.objects.filter(
                id=alert.id,
                state=AlertState.FIRING,
                last_notified_at=alert.last_notified_at,
                resolved_at__isnull=True,
            ).update(last_notified_at=self.now)
            if claimed:
                alert.last_notified_at = self.now
                self.queue(alert, "fired", again=True)

    def _reminder_due(self, alert: Alert) -> bool:
        if alert.state != AlertState.FIRING or self.rule.kind in ONCE_PER_PERIOD:
            return False
        if alert.last_notified_at is None:
            return True
        since = self.now - alert.last_notified_at
        return since > timedelta(0) and since >= timedelta(minutes=self.rule.cooldown_minutes)

    def resolve(self, alert: Alert) -> None:
        resolved = Alert.objects.filter(id=alert.id, resolved_at__isnull=True).update(
            resolved_at=self.now, state=AlertState.RESOLVED
        )
        if not resolved:
            return
        alert.resolved_at, alert.state = self.now, AlertState.RESOLVED
        self.result.resolved += 1
        # Nobody heard of an alert that opened quietly: no news of its end either.
        if self.rule.notify_on_resolve and alert.last_notified_at is not None:
            self.queue(alert, "resolved")

    def queue(self, alert: Alert, event: str, *, again: bool = False) -> None:
        """The rule's own notification (its team, or a global rule's superusers and extra
        addresses), and for a global rule one per team in its roles, except, for a reminder,
        the teams that acknowledged it."""
        alert.rule = self.rule
        silenced = set()
        if again and self.rule.team_id is None:
            silenced = set(
                AlertAcknowledgement.objects.filter(alert=alert).values_list("team_id", flat=True)
            )
        rows = [self._notification(alert, event, again, self.rule.team, self.recipients)]
        rows += [
            self._notification(alert, event, again, team, emails)
            for team, emails in self.team_audiences
            if team.id not in silenced
        ]
        AlertNotification.objects.bulk_create(rows)
        self.result.notifications += len(rows)

    def _notification(self, alert, event, again, team, emails) -> AlertNotification:
        if event == "resolved":
            message = words.resolved_message(alert, team=team)
        else:
            message = words.fired_message(alert, again=again, team=team)
        own = team is None or team.id == self.rule.team_id
        return AlertNotification(
            alert=alert,
            team=team,
            event=event,
            subject=message.subject,
            text_body=message.text,
            html_body=message.html,
            recipients=emails,
            # The webhook is the rule's owner's: never posted once per team.
            webhook_url=self.rule.webhook_url if own else "",
            next_attempt_at=self.now,
            created_at=self.now,
        )

    @property
    def recipients(self) -> list[str]:
        if self._recipients is None:
            self._recipients = recipients_for(self.rule)
        return self._recipients

    @property
    def team_audiences(self) -> list[tuple[Team, list[str]]]:
        if self._team_audiences is None:
            self._team_audiences = team_audiences(self.rule)
        return self._team_audiences

    @staticmethod
    def _content(condition: Condition) -> dict:
        return {
            "subject": condition.subject[: words.SUBJECT_LENGTH],
            "summary": condition.summary,
            "details": condition.details,
            "link": condition.link[:300],
        }


def evaluate_rule(rule: AlertRule, *, now: datetime) -> EvaluationResult:
    """One rule at one moment, in its own transaction."""
    with transaction.atomic():
        return RuleRun(rule, now).run()


def evaluate_alerts(now: datetime | None = None) -> EvaluationResult:
    """Evaluate every enabled rule; a rule that fails is logged and the others still run."""
    now = now or timezone.now()
    result = EvaluationResult()
    rules = AlertRule.objects.filter(enabled=True).select_related("team").order_by("id")
    for rule in rules:
        try:
            result.add(evaluate_rule(rule, now=now))
        except Exception as error:
            logger.exception("Alert rule %s (%s) failed", rule.id, rule.kind)
            result.rules += 1
            result.failed.append(f"rule {rule.id} ({rule.kind}): {type(error).__name__}: {error}")
    return result
