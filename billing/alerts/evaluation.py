"""Alert rules evaluated into alerts, and notifications queued for them (an outbox).

Each rule's kind picks its check (billing.alerts.conditions_money, conditions_health,
conditions_anomaly and conditions_treasury, with the params read by billing.alerts.params; the
error-rate and latency kinds in anomaly mode take conditions_anomaly's);
billing.alerts.recipients says whom to tell.

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
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from billing.alerts import messages as words
from billing.alerts.conditions import Condition
from billing.alerts.conditions_anomaly import error_rate_anomaly, latency_anomaly, spend_anomaly
from billing.alerts.conditions_health import error_rate, latency_p95, proxy_stale, quality_drop
from billing.alerts.conditions_money import (
    budget_forecast,
    budget_threshold,
    tao_price_degraded,
    tao_price_spike,
    tao_price_stale,
)
from billing.alerts.conditions_treasury import tao_balance, tao_runway
from billing.alerts.params import params_of
from billing.alerts.recipients import recipients_for, team_audiences
from billing.models import (
    Alert,
    AlertAcknowledgement,
    AlertKind,
    AlertNotification,
    AlertRule,
    AlertState,
)
from dashboard.models import Team

logger = logging.getLogger(__name__)

# Kinds whose alert tells of something that holds for the rest of the period: said once.
ONCE_PER_PERIOD = {AlertKind.BUDGET_THRESHOLD}

# The check of each kind.
CONDITIONS: dict[str, Callable[[AlertRule, dict, datetime], list[Condition]]] = {
    AlertKind.TAO_PRICE_SPIKE: tao_price_spike,
    AlertKind.TAO_PRICE_STALE: tao_price_stale,
    AlertKind.TAO_PRICE_DEGRADED: tao_price_degraded,
    AlertKind.BUDGET_THRESHOLD: budget_threshold,
    AlertKind.BUDGET_FORECAST: budget_forecast,
    AlertKind.ERROR_RATE: error_rate,
    AlertKind.LATENCY_P95: latency_p95,
    AlertKind.QUALITY_DROP: quality_drop,
    AlertKind.PROXY_STALE: proxy_stale,
    AlertKind.SPEND_ANOMALY: spend_anomaly,
    AlertKind.TAO_RUNWAY: tao_runway,
    AlertKind.TAO_BALANCE: tao_balance,
}
# The check of each kind with an anomaly mode, in that mode.
ANOMALY_CONDITIONS: dict[str, Callable[[AlertRule, dict, datetime], list[Condition]]] = {
    AlertKind.ERROR_RATE: error_rate_anomaly,
    AlertKind.LATENCY_P95: latency_anomaly,
}


def conditions_of(rule: AlertRule, now: datetime) -> list[Condition]:
    """What holds now for the rule, one condition per dedupe key."""
    params = params_of(rule)
    checks = ANOMALY_CONDITIONS if params.get("mode") == "anomaly" else CONDITIONS
    return checks[rule.kind](rule, params, now)


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
            merge_key=self._merge_key(alert, event, again),
        )

    def _merge_key(self, alert: Alert, event: str, again: bool) -> str:
        """The same for every row of one event: a global rule's alerts of a kind at one moment
        are one event whatever their rule; a team rule's, per team and condition."""
        scope = f"team:{self.rule.team_id}:{alert.dedupe_key}" if self.rule.team_id else "global"
        step = "again" if again else event
        return f"{step}:{self.rule.kind}:{scope}:{self.now.isoformat()}"[:200]

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


def alert_rule_evaluate(rule: AlertRule, *, now: datetime) -> EvaluationResult:
    """One rule at one moment, in its own transaction."""
    with transaction.atomic():
        return RuleRun(rule, now).run()


def alerts_evaluate(now: datetime | None = None) -> EvaluationResult:
    """Evaluate every enabled rule; a rule that fails is logged and the others still run."""
    now = now or timezone.now()
    result = EvaluationResult()
    rules = AlertRule.objects.filter(enabled=True).select_related("team").order_by("id")
    for rule in rules:
        try:
            result.add(alert_rule_evaluate(rule, now=now))
        except Exception as error:
            logger.exception("Alert rule %s (%s) failed", rule.id, rule.kind)
            result.rules += 1
            result.failed.append(f"rule {rule.id} ({rule.kind}): {type(error).__name__}: {error}")
    return result
