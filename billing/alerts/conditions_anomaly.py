"""The alert checks on anomalies: each judges the last complete day in the team's time zone
(never today so far) against the same weekdays of the weeks before it (billing.alerts.anomaly).

- spend_anomaly: the team's daily spend, in total, per provider and per task type; one alert per
  anomalous series and day, naming its likely cause and the day's bridge
  (billing.alerts.anomaly_causes).
- error_rate_anomaly and latency_anomaly: the anomaly mode of the error-rate and latency kinds,
  per provider (or the rule's model); one alert per target, firing while the last complete
  day is anomalous, naming the routing changes of that day and the day before.
"""

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from urllib.parse import urlencode

from billing.alerts import messages as words
from billing.alerts.anomaly import WEEK, Verdict, anomaly_judge
from billing.alerts.anomaly_causes import (
    TOP_MODELS,
    day_bridge,
    likely_causes,
    model_moves,
    reference_day,
    routing_causes,
)
from billing.alerts.conditions import HUNDRED, Condition, decimal_text, team_path
from billing.alerts.conditions_health import Target, scoped_rows, target_link, target_sums
from billing.alerts.daily import Series, daily, last_complete_day, series_in, spend_rows
from billing.histogram import percentile
from billing.models import AlertRule, UsageDailyRollup

# --- Spend --------------------------------------------------------------------------------


def spend_anomaly(rule: AlertRule, params: dict, now: datetime) -> list[Condition]:
    """Each series of the team (per the rule's scope) whose spend on the last complete day is
    an anomaly. Days from the team's first usage in the weeks read count as zero without calls.
    One query, and a few more per anomaly for its causes and bridge."""
    team, weeks = rule.team, params["weeks"]
    assert team is not None, "spend anomaly rules are a team's (never global)"
    day = last_complete_day(team, now)
    rows = spend_rows(team, day - WEEK * weeks, day)
    if not rows:
        return []
    first_day = rows[0].day
    conditions = []
    for series in series_in(rows, params["scope"]):
        own = [row for row in rows if series.holds(row)]
        spend = daily(own, first_day=first_day, last_day=day)
        verdict = anomaly_judge(
            spend, day, weeks=weeks, threshold=params["deviations"], min_abs=params["min_usd"]
        )
        if verdict is None or not verdict.anomaly:
            continue
        moves = model_moves(own, day=day, first_day=first_day, weeks=weeks)
        causes = likely_causes(team, own, day=day, moves=moves)
        reference = reference_day(spend, day, weeks, verdict.baseline)
        bridge = day_bridge(team, series, reference=reference, day=day)
        subject, summary = words.spend_anomaly_text(
            team_name=team.name,
            scope=series.scope,
            name=series.name,
            verdict=verdict,
            threshold=params["deviations"],
            min_usd=params["min_usd"],
            causes=[(cause.headline, cause.text) for cause in causes],
            bridge_line=words.bridge_text(bridge, reference=reference, day=day),
        )
        details = {
            "scope": series.scope,
            "series": series.name,
            **_verdict_numbers(verdict, params),
            "spend_usd": decimal_text(verdict.value),
            "usual_usd": decimal_text(verdict.baseline),
            "change_usd": decimal_text(verdict.change),
            "spread_usd": decimal_text(verdict.spread, "0.01"),
            "mad_usd": decimal_text(verdict.mad, "0.01"),
            "min_usd": decimal_text(params["min_usd"]),
            "likely_cause": causes[0].text if causes else "",
            "other_causes": [cause.text for cause in causes[1:]],
            "model_moves": [move.text for move in moves[:TOP_MODELS] if move.change > 0],
            "bridge": _bridge_numbers(bridge, reference),
        }
        key = f"spend_anomaly:{day.isoformat()}:{series.key}"
        link = _overview_link(rule, series, day - WEEK * weeks, day)
        conditions.append(Condition(key, subject, summary, details, link))
    return conditions


def _bridge_numbers(bridge, reference: date) -> dict:
    return {
        "reference_day": reference.isoformat(),
        "start_usd": decimal_text(bridge.start),
        **{effect.name: decimal_text(effect.amount) for effect in bridge.effects},
        "residual_usd": decimal_text(bridge.residual),
        "end_usd": decimal_text(bridge.end),
    }


def _verdict_numbers(verdict: Verdict, params: dict) -> dict:
    return {
        "day": verdict.day.isoformat(),
        "deviations": decimal_text(verdict.deviations, "0.1"),
        "threshold_deviations": decimal_text(params["deviations"]),
        "weeks": params["weeks"],
        "history_days": verdict.history,
    }


def _overview_link(rule: AlertRule, series: Series, first: date, last: date) -> str:
    """The team's overview over the weeks judged, narrowed to the series, split by model; for a
    key alias, which the overview does not filter by, the usage explorer's calls of that key."""
    query = {"range": "custom", "start": first.isoformat(), "end": last.isoformat()}
    if series.scope == "api_key_alias":
        query["api_key_alias"] = series.name
        return f"{team_path(rule.team, 'usage/')}?{urlencode(query)}"
    if series.scope != "team":
        query[series.scope] = series.name
    return f"{team_path(rule.team)}?{urlencode(query | {'by': 'model'})}"


# --- Error rate and latency, in anomaly mode ----------------------------------------------


def daily_targets(
    rule: AlertRule, params: dict, first_day: date, last_day: date
) -> dict[tuple[str, str], dict[date, Target]]:
    """The team's usage per provider (or provider of the rule's model) and day. One query."""
    rows = UsageDailyRollup.objects.filter(team=rule.team, day__gte=first_day, day__lte=last_day)
    rows = (
        scoped_rows(rows, params)
        .values("day", "provider_name", "model_name", "task_type")
        .annotate(**target_sums())
        .order_by()
    )
    targets: dict[tuple[str, str], dict[date, Target]] = {}
    for row in rows:
        provider = row["provider_name"]
        model = row["model_name"] if params["model"] else ""
        by_day = targets.setdefault((provider, model), {})
        by_day.setdefault(row["day"], Target(provider, model)).add(row)
    return targets


Measure = Callable[[Target], Decimal | None]
# A day's target and verdict as words for health_anomaly_text, and as numbers for the details.
Describe = Callable[[Target, Verdict], tuple[dict, dict]]


def _health_anomalies(
    rule: AlertRule,
    params: dict,
    now: datetime,
    *,
    kind: str,
    measure: Measure,
    min_rise: Decimal | int,
    describe: Describe,
) -> list[Condition]:
    """Each target whose `measure` on the last complete day is an anomaly; a day with fewer
    than min_requests calls (timed calls for latency) has no measure."""
    day = last_complete_day(rule.team, now)
    conditions = []
    targets = daily_targets(rule, params, day - WEEK * params["weeks"], day)
    causes = None
    for key in sorted(targets):
        by_day = targets[key]
        series = {when: value for when, t in by_day.items() if (value := measure(t)) is not None}
        verdict = anomaly_judge(
            series, day, weeks=params["weeks"], threshold=params["deviations"], min_abs=min_rise
        )
        if verdict is None or not verdict.anomaly:
            continue
        if causes is None:
            causes = [cause.text for cause in routing_causes(rule.team, day)]
        target = by_day[day]
        texts, numbers = describe(target, verdict)
        subject, summary = words.health_anomaly_text(
            label=target.label,
            day=day,
            verdict=verdict,
            threshold=params["deviations"],
            causes=causes,
            **texts,
        )
        details = (
            target.evidence()
            | _verdict_numbers(verdict, params)
            | numbers
            | {"likely_cause": causes[0] if causes else "", "other_causes": causes[1:]}
        )
        link = target_link(rule, target)
        conditions.append(
            Condition(f"{kind}:anomaly:{target.label}", subject, summary, details, link)
        )
    return conditions


def error_rate_anomaly(rule: AlertRule, params: dict, now: datetime) -> list[Condition]:
    def measure(target: Target) -> Decimal | None:
        if not target.requests or target.requests < params["min_requests"]:
            return None
        return Decimal(target.errors) * HUNDRED / target.requests

    def describe(target: Target, verdict: Verdict) -> tuple[dict, dict]:
        texts = {
            "what": "error rate",
            "value": words.pct(verdict.value),
            "usual": words.pct(verdict.baseline),
            "calls": f"{target.errors:,} of {target.requests:,} calls failed",
            "min_rise": f"{decimal_text(params['min_points'])} percentage points",
        }
        numbers = {
            "requests": target.requests,
            "errors": target.errors,
            "error_rate_pct": decimal_text(verdict.value, "0.01"),
            "usual_pct": decimal_text(verdict.baseline, "0.01"),
            "min_points": decimal_text(params["min_points"]),
            "min_requests": params["min_requests"],
        }
        return texts, numbers

    return _health_anomalies(
        rule,
        params,
        now,
        kind="error_rate",
        measure=measure,
        min_rise=params["min_points"],
        describe=describe,
    )


def latency_anomaly(rule: AlertRule, params: dict, now: datetime) -> list[Condition]:
    def measure(target: Target) -> Decimal | None:
        if not target.timed or target.timed < params["min_requests"]:
            return None
        return Decimal(str(round(percentile(target.latency, 0.95) or 0)))

    def describe(target: Target, verdict: Verdict) -> tuple[dict, dict]:
        texts = {
            "what": "p95 latency",
            "value": words.milliseconds(float(verdict.value)),
            "usual": words.milliseconds(float(verdict.baseline)),
            "calls": f"{target.timed:,} timed calls",
            "min_rise": words.milliseconds(params["min_ms"]),
            "note": " (read from the latency histogram: within about 20%)",
        }
        numbers = {
            "p95_ms": int(verdict.value),
            "usual_ms": int(verdict.baseline),
            "timed": target.timed,
            "min_ms": params["min_ms"],
            "min_requests": params["min_requests"],
        }
        return texts, numbers

    return _health_anomalies(
        rule,
        params,
        now,
        kind="latency_p95",
        measure=measure,
        min_rise=params["min_ms"],
        describe=describe,
    )
