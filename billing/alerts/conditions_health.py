"""The alert checks on health: the providers' error rate, p95 latency and quality over a
window (from the hourly rollups), and the proxies' heartbeats. Each takes a rule, its params and
the moment, and returns the conditions that hold then."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from urllib.parse import urlencode

from django.db.models import Q, Sum

from billing.alerts import messages as words
from billing.alerts.conditions import HUNDRED, Condition, decimal_text, rule_zone, team_path
from billing.histogram import LATENCY_FIELDS, percentile
from billing.models import AlertRule, Status, UsageRollup
from billing.overview.cube import whole
from routing.fleet import behind_since, fleet_proxies
from routing.publish import latest_version

HOUR = timedelta(hours=1)


# --- Provider health, from the hourly rollups ---------------------------------------------


@dataclass
class Target:
    """Usage of one provider (or one provider's model) over a rule's window, or one day."""

    provider: str
    model: str
    requests: int = 0
    errors: int = 0
    quality_sum: Decimal = Decimal(0)
    quality_count: int = 0
    latency: list[int] = field(default_factory=lambda: [0] * len(LATENCY_FIELDS))
    models: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    task_types: set[str] = field(default_factory=set)
    # Evidence for a routing change: calls and failed calls per model, then per task type.
    calls: dict[str, dict[str, int]] = field(default_factory=dict)
    failed_calls: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.provider}/{self.model}" if self.model else self.provider

    @property
    def timed(self) -> int:
        return sum(self.latency)

    def add(self, row: dict) -> None:
        """One rollup row annotated with target_sums()."""
        self.requests += row["s_requests"] or 0
        self.errors += row["s_errors"] or 0
        self.quality_sum += Decimal(row["s_quality_sum"] or 0)
        self.quality_count += row["s_quality_count"] or 0
        for index, name in enumerate(LATENCY_FIELDS):
            self.latency[index] += row[f"s_{name}"] or 0
        self.models[row["model_name"]] += row["s_requests"] or 0
        if row["task_type"]:
            self.task_types.add(row["task_type"])
        _count(self.calls, row["model_name"], row["task_type"], row["s_requests"])
        _count(self.failed_calls, row["model_name"], row["task_type"], row["s_errors"])

    def evidence(self) -> dict:
        """What the alert keeps of the calls: the routing-change page reads it."""
        return {
            "provider": self.provider,
            "model": self.model,
            "task_types": sorted(self.task_types),
            "models": dict(sorted(self.models.items())),
            "calls": _sorted_counts(self.calls),
            "failed_calls": _sorted_counts(self.failed_calls),
        }


def target_sums() -> dict:
    """The sums Target.add reads, for annotating hourly or daily rollup rows."""
    return {
        "s_requests": whole(Sum("requests")),
        "s_errors": whole(Sum("requests", filter=Q(status=Status.ERROR))),
        "s_quality_sum": Sum("quality_sum"),
        "s_quality_count": whole(Sum("quality_count")),
        **{f"s_{name}": whole(Sum(name)) for name in LATENCY_FIELDS},
    }


def scoped_rows(rows, params: dict):
    """The rollup rows of the rule's provider and model, if it names them."""
    if params["provider"]:
        rows = rows.filter(provider_name=params["provider"])
    if params["model"]:
        rows = rows.filter(model_name=params["model"])
    return rows


def window_targets(rule: AlertRule, params: dict, now: datetime) -> list[Target]:
    """The team's usage in the rule's window per provider, or per provider of the given model.

    The window is read from the hourly rollups whose hour overlaps it, so a 60-minute window
    at 12:30 reads 11:00-13:00. One query.
    """
    start = now - timedelta(minutes=params["window_minutes"])
    rows = UsageRollup.objects.filter(team=rule.team, hour__gt=start - HOUR, hour__lte=now)
    rows = (
        scoped_rows(rows, params)
        .values("provider_name", "model_name", "task_type")
        .annotate(**target_sums())
        .order_by()
    )
    targets: dict[tuple[str, str], Target] = {}
    for row in rows:
        provider = row["provider_name"]
        model = row["model_name"] if params["model"] else ""
        targets.setdefault((provider, model), Target(provider, model)).add(row)
    return [targets[key] for key in sorted(targets)]


def _count(counts: dict[str, dict[str, int]], model: str, task_type: str, number) -> None:
    if number:
        by_task = counts.setdefault(model, {})
        by_task[task_type] = by_task.get(task_type, 0) + number


def _sorted_counts(counts: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    return {model: dict(sorted(by_task.items())) for model, by_task in sorted(counts.items())}


def _target_condition(rule, kind, target, params, now, subject, summary, numbers) -> Condition:
    details = (
        target.evidence()
        | {
            "window_minutes": params["window_minutes"],
            "window_start": (now - timedelta(minutes=params["window_minutes"])).isoformat(),
        }
        | numbers
    )
    return Condition(f"{kind}:{target.label}", subject, summary, details, target_link(rule, target))


def target_link(rule: AlertRule, target: Target) -> str:
    """The team's overview filtered to the target's provider (and model)."""
    query = {"provider": target.provider} | ({"model": target.model} if target.model else {})
    return f"{team_path(rule.team)}?{urlencode(query)}"


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
            "error_rate_pct": decimal_text(rate, "0.01"),
            "threshold_pct": decimal_text(params["threshold_pct"]),
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
            "average_score": decimal_text(average, "0.0001"),
            "scored": target.quality_count,
            "min_score": decimal_text(params["min_score"]),
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
            zone=rule_zone(rule),
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
