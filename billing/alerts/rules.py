"""Alert rules as people edit them, acknowledging alerts, and whether the scheduler that
evaluates the rules is keeping up. The evaluation itself is billing.alerts.evaluation."""

import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from django.db import transaction
from django.db.models import Case, CharField, F, OuterRef, Q, Subquery, Value, When
from django.utils import timezone

from billing.alerts.params import DEFAULT_PARAMS, GLOBAL_KINDS
from billing.audit_actions import BillingAuditAction
from billing.models import (
    Alert,
    AlertAcknowledgement,
    AlertKind,
    AlertNotification,
    AlertRule,
    AlertState,
)
from dashboard.audit import audit_record
from dashboard.models import Role, Team

DIRECTIONS = {"both": "both directions", "up": "rises only", "down": "falls only"}
CURRENCIES = {"both": "in USD and in TAO", "usd": "in USD", "tao": "in TAO"}
SPEND_SCOPES = {
    "all": "the team, each provider and each task type",
    "team": "the team as a whole",
    "provider": "each provider",
    "task_type": "each task type",
    "api_key_alias": "each API key alias",
}
TAO_BALANCES = {"account": "the Chutes account", "total": "the Chutes account and the wallet"}

OPS_ROLES = [Role.ADMIN, Role.OPS]
FINANCE_ROLES = [Role.ADMIN, Role.FINANCE]


def _minutes(minutes) -> str:
    if minutes >= 120 and minutes % 60 == 0:
        return f"{minutes // 60} h"
    return f"{minutes} min"


def _scope(params: dict) -> str:
    if params.get("model"):
        return f"model {params['model']}"
    if params.get("provider"):
        return f"provider {params['provider']}"
    return "each provider separately"


def params_in_words(kind: str, params: dict) -> str:
    """A rule's params as a short sentence for the rules table."""
    p = {**DEFAULT_PARAMS.get(kind, {}), **(params or {})}
    if kind == AlertKind.TAO_PRICE_SPIKE:
        direction = DIRECTIONS.get(p["direction"], p["direction"])
        return f"{p['threshold_pct']}% within {_minutes(p['window_minutes'])}, {direction}"
    if kind == AlertKind.TAO_PRICE_STALE:
        return f"no new price for {_minutes(p['minutes'])}"
    if kind == AlertKind.TAO_PRICE_DEGRADED:
        return f"fewer than two price sources fresh and agreeing for {_minutes(p['minutes'])}"
    if kind == AlertKind.TAO_RUNWAY:
        return (
            f"{TAO_BALANCES.get(p['balance'], p['balance'])} lasting under {p['days']} days "
            f"at the last {p['burn_days']} days' burn"
        )
    if kind == AlertKind.TAO_BALANCE:
        return f"{TAO_BALANCES.get(p['balance'], p['balance'])} holding under {p['tao']} TAO"
    if kind == AlertKind.BUDGET_THRESHOLD:
        return f"each budget's thresholds, {CURRENCIES.get(p['currency'], p['currency'])}"
    if kind == AlertKind.BUDGET_FORECAST:
        return "month-end forecast over a budget"
    if kind == AlertKind.PROXY_STALE:
        return (
            f"a proxy not seen for {_minutes(p['unseen_minutes'])}, not on the published "
            f"version {_minutes(p['behind_minutes'])} after a publish, or its spool growing "
            f"for {_minutes(p['spool_minutes'])}"
        )
    if kind == AlertKind.SPEND_ANOMALY:
        return (
            f"yesterday's spend of {SPEND_SCOPES.get(p['scope'], p['scope'])} at least "
            f"{p['deviations']} deviations and ${p['min_usd']} above the same weekday's usual "
            f"over {p['weeks']} weeks"
        )
    window, scope = _minutes(p["window_minutes"]), _scope(p)
    if p.get("mode") == "anomaly" and kind in (AlertKind.ERROR_RATE, AlertKind.LATENCY_P95):
        rise = f"{p['min_points']} points" if kind == AlertKind.ERROR_RATE else f"{p['min_ms']} ms"
        what = "errors" if kind == AlertKind.ERROR_RATE else "p95 latency"
        return (
            f"yesterday's {what} at least {p['deviations']} deviations and {rise} above the "
            f"same weekday's usual over {p['weeks']} weeks, at least {p['min_requests']} "
            f"requests a day, {scope}"
        )
    if kind == AlertKind.ERROR_RATE:
        return (
            f"errors above {p['threshold_pct']}% over {window}, "
            f"at least {p['min_requests']} requests, {scope}"
        )
    if kind == AlertKind.LATENCY_P95:
        return (
            f"p95 latency above {p['threshold_ms']} ms over {window}, "
            f"at least {p['min_requests']} requests, {scope}"
        )
    if kind == AlertKind.QUALITY_DROP:
        return (
            f"mean quality below {p['min_score']} over {window}, "
            f"at least {p['min_samples']} scores, {scope}"
        )
    return ", ".join(f"{key} {value}" for key, value in p.items())


def webhook_host(url: str) -> str:
    """Only the host of a webhook: its path often carries the secret (Slack, Discord)."""
    return (urlsplit(url).hostname or "") if url else ""


def rules_for(team: Team):
    """The team's rules and the global ones, team rules first."""
    rules = AlertRule.objects.filter(Q(team=team) | Q(team__isnull=True))
    return rules.order_by(F("team_id").asc(nulls_last=True), "kind", "name", "pk")


def may_change_rule(rule: AlertRule, *, user, may_manage: bool) -> bool:
    """Team rules: ops and admins of the team. Global rules: superusers only."""
    return user.is_superuser if rule.team_id is None else may_manage


def is_site_staff(user) -> bool:
    """Superusers: they run the site, change the global rules and hear of global alerts."""
    return bool(user.is_authenticated and user.is_superuser)


def may_see_rule_addresses(rule: AlertRule, *, user, may_manage: bool) -> bool:
    """A team rule's extra addresses: its team's ops and admins, who edit them. A global rule's:
    site staff only."""
    return is_site_staff(user) if rule.team_id is None else may_manage


def _summary(rule: AlertRule) -> dict:
    """What the audit log keeps of a rule: never the webhook's path, and for a global rule
    (audited in whichever team's page it was changed from) never its extra addresses."""
    if rule.team_id is None:
        count = len(rule.extra_emails)
        extra = [f"{count} extra address{'es' if count != 1 else ''}"] if count else []
    else:
        extra = list(rule.extra_emails)
    return {
        "kind": rule.kind,
        "name": rule.name,
        "enabled": rule.enabled,
        "params": params_in_words(rule.kind, rule.params),
        "recipients": [*rule.recipient_roles, *extra],
        "webhook": webhook_host(rule.webhook_url),
        "cooldown_minutes": rule.cooldown_minutes,
        "notify_on_resolve": rule.notify_on_resolve,
        "global": rule.team_id is None,
    }


RULE_FIELDS = [
    "kind",
    "name",
    "enabled",
    "params",
    "recipient_roles",
    "extra_emails",
    "webhook_url",
    "cooldown_minutes",
    "notify_on_resolve",
]


def alert_rule_save(
    *, team: Team, actor, values: dict, rule: AlertRule | None = None, make_global: bool = False
) -> AlertRule:
    """Create or change a rule from validated values (RULE_FIELDS), audited in `team`.

    `make_global` makes it a rule of no team; only TAO kinds may be global.
    """
    if make_global and values["kind"] not in GLOBAL_KINDS:
        raise ValueError("Only TAO price rules can be global.")
    creating = rule is None
    if creating:
        rule = AlertRule(created_by=actor if actor.is_authenticated else None)
    before = {} if creating else _summary(rule)
    for name in RULE_FIELDS:
        setattr(rule, name, values[name])
    rule.team = None if make_global else team
    rule.updated_at = timezone.now()
    with transaction.atomic():
        rule.save()
        after = _summary(rule)
        detail = after if creating else {**after, "changed": _changed(before, after)}
        audit_record(
            team=team,
            action=BillingAuditAction.ALERT_RULE_CREATED
            if creating
            else BillingAuditAction.ALERT_RULE_CHANGED,
            target=str(rule),
            actor=actor,
            detail=detail,
        )
    return rule


def _changed(before: dict, after: dict) -> list[str]:
    return [key for key, value in after.items() if before.get(key) != value]


def alert_rule_delete(*, team: Team, actor, rule: AlertRule) -> None:
    """Delete a rule with its alerts and their notifications, audited in `team`."""
    detail = _summary(rule)
    target = str(rule)
    with transaction.atomic():
        detail["alerts_deleted"] = rule.alerts.count()
        rule.delete()
        audit_record(
            team=team,
            action=BillingAuditAction.ALERT_RULE_DELETED,
            target=target,
            actor=actor,
            detail=detail,
        )


def recommended_rules() -> list[dict]:
    """The rules a team starts with: values for alert_rule_save."""

    def rule(kind, name, roles, **params):
        return {
            "kind": kind,
            "name": name,
            "enabled": True,
            "params": {**DEFAULT_PARAMS[kind], **params},
            "recipient_roles": [str(role) for role in roles],
            "extra_emails": [],
            "webhook_url": "",
            "cooldown_minutes": 60,
            "notify_on_resolve": False,
        }

    return [
        rule(AlertKind.TAO_PRICE_SPIKE, "TAO moves 10% within an hour", OPS_ROLES),
        rule(
            AlertKind.TAO_PRICE_SPIKE,
            "TAO moves 20% within a day",
            OPS_ROLES,
            threshold_pct=20,
            window_minutes=1440,
        ),
        rule(AlertKind.TAO_PRICE_STALE, "TAO price stale for 30 minutes", OPS_ROLES),
        rule(AlertKind.TAO_PRICE_DEGRADED, "TAO price degraded for 15 minutes", OPS_ROLES),
        rule(AlertKind.BUDGET_THRESHOLD, "Budget thresholds", FINANCE_ROLES),
        rule(AlertKind.BUDGET_FORECAST, "Month-end forecast over budget", FINANCE_ROLES),
        rule(
            AlertKind.TAO_RUNWAY, "TAO on the Chutes account runs out within 14 days", FINANCE_ROLES
        ),
        rule(AlertKind.ERROR_RATE, "Error rate above 5%", OPS_ROLES),
        rule(AlertKind.PROXY_STALE, "Proxy stale, behind or spooling", OPS_ROLES),
    ]


def alert_rules_add_recommended(*, team: Team, actor) -> list[AlertRule]:
    """Add the recommended rules the team does not have yet (by kind and name): pressing the
    button twice adds them once."""
    with transaction.atomic():
        # Two presses at once queue here instead of both adding the rules.
        Team.objects.select_for_update().filter(pk=team.pk).first()
        existing = set(AlertRule.objects.filter(team=team).values_list("kind", "name"))
        return [
            alert_rule_save(team=team, actor=actor, values=values)
            for values in recommended_rules()
            if (values["kind"], values["name"]) not in existing
        ]


def alerts_for(team: Team):
    """The team's alerts and the global ones, newest first, each with `shown_state`: its state
    for this team (a global alert this team acknowledged is acknowledged here only), and
    `team_ack_at` / `team_ack_by`: this team's acknowledgement of a global alert."""
    mine = AlertAcknowledgement.objects.filter(alert=OuterRef("pk"), team=team)
    alerts = (
        Alert.objects.filter(Q(team=team) | Q(team__isnull=True))
        .annotate(
            team_ack_at=Subquery(mine.values("at")[:1]),
            team_ack_by=Subquery(mine.values("user__username")[:1]),
        )
        .annotate(
            shown_state=Case(
                When(
                    state=AlertState.FIRING,
                    team_ack_at__isnull=False,
                    then=Value(AlertState.ACKNOWLEDGED.value),
                ),
                default=F("state"),
                output_field=CharField(),
            )
        )
    )
    return alerts.select_related("rule", "acknowledged_by").order_by("-fired_at", "-pk")


def alert_acknowledge(*, team: Team, actor, alert: Alert) -> bool:
    """Acknowledge a firing alert for `team`, audited there. A team alert turns acknowledged;
    a global one only stops `team`'s reminders and reads acknowledged on `team`'s pages.
    False, changing nothing, when it was not firing for `team` (acknowledged already, or
    resolved)."""
    now = timezone.now()
    detail = {"alert": alert.pk, "rule": alert.rule.name, "global": alert.team_id is None}
    with transaction.atomic():
        if alert.team_id is None:
            changed = _acknowledge_for_team(team=team, actor=actor, alert=alert, now=now)
        else:
            # Conditional, so a second press or a resolution racing with it changes nothing.
            changed = Alert.objects.filter(pk=alert.pk, state=AlertState.FIRING).update(
                state=AlertState.ACKNOWLEDGED, acknowledged_at=now, acknowledged_by=actor
            )
        if changed:
            audit_record(
                team=team,
                action=BillingAuditAction.ALERT_ACKNOWLEDGED,
                target=alert.subject,
                actor=actor,
                detail=detail,
            )
    alert.refresh_from_db(fields=["state", "acknowledged_at", "acknowledged_by", "resolved_at"])
    return bool(changed)


def _acknowledge_for_team(*, team: Team, actor, alert: Alert, now: datetime) -> bool:
    if not Alert.objects.filter(pk=alert.pk, state=AlertState.FIRING).exists():
        return False
    _, created = AlertAcknowledgement.objects.get_or_create(
        alert=alert, team=team, defaults={"user": actor, "at": now}
    )
    return created


def alert_acknowledge_for_all(*, team: Team, actor, alert: Alert) -> bool:
    """Site staff acknowledging a global alert for every team: all its reminders stop. Audited
    in `team` (the page it was done from). False, changing nothing, when it was not firing."""
    if not is_site_staff(actor) or alert.team_id is not None:
        raise ValueError("Only site staff acknowledge a global alert for every team.")
    now = timezone.now()
    with transaction.atomic():
        changed = Alert.objects.filter(pk=alert.pk, state=AlertState.FIRING).update(
            state=AlertState.ACKNOWLEDGED, acknowledged_at=now, acknowledged_by=actor
        )
        if changed:
            audit_record(
                team=team,
                action=BillingAuditAction.ALERT_ACKNOWLEDGED,
                target=alert.subject,
                actor=actor,
                detail={
                    "alert": alert.pk,
                    "rule": alert.rule.name,
                    "global": True,
                    "for_all_teams": True,
                },
            )
    alert.refresh_from_db(fields=["state", "acknowledged_at", "acknowledged_by", "resolved_at"])
    return bool(changed)


# --- Who may see whom ---------------------------------------------------------------------

EMAIL_LIKE = re.compile(r"[^\s<>'\"(),;:\[\]{}]+@[^\s<>'\"(),;:\[\]{}]+")


@dataclass
class NotificationRow:
    """A notification as one viewer may see it: addresses only to those who may see them."""

    notification: AlertNotification
    recipients: list[str] | None  # None: not this viewer's to see
    audience: str
    last_error: str


def notification_rows(*, alert: Alert, team: Team, user, role: str) -> list[NotificationRow]:
    """An alert's notifications as `user` (with `role` in `team`) may see them.

    Addresses (and error texts, which may quote them) go to site staff, and to the admins of
    the team a notification was sent to. A global alert's other teams' notifications are
    not shown at all outside site staff; its own list (superusers, extra addresses) only as a
    count.
    """
    notifications = alert.notifications.select_related("team").order_by("-created_at", "-pk")
    staff = is_site_staff(user)
    if alert.team_id is None and not staff:
        notifications = notifications.filter(Q(team=team) | Q(team__isnull=True))
    rows = []
    for notification in notifications:
        owner = notification.team_id or alert.team_id
        visible = staff or (role == Role.ADMIN and owner == team.pk)
        error = notification.last_error
        if not visible:
            error = EMAIL_LIKE.sub("…", error)
        rows.append(
            NotificationRow(
                notification=notification,
                recipients=list(notification.recipients) if visible else None,
                audience=_audience(notification, alert),
                last_error=error,
            )
        )
    return rows


def _audience(notification: AlertNotification, alert: Alert) -> str:
    count = len(notification.recipients)
    people = f"{count} address{'es' if count != 1 else ''}"
    if notification.team_id is None and alert.team_id is None:
        return f"{people}: site staff and the rule's extra addresses"
    roles = " and ".join(alert.rule.recipient_roles)
    whom = f"the team's {roles} members" if roles else "nobody in the team"
    if alert.team_id is not None and alert.rule.extra_emails:
        whom += " and the rule's extra addresses"
    return f"{people}: {whom}"


def detail_rows(details: dict, prefix: str = "") -> list[tuple[str, str]]:
    """An alert's details JSON as (label, value) rows; nested mappings become dotted labels."""
    rows = []
    for key, value in (details or {}).items():
        label = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            rows += detail_rows(value, prefix=f"{label}.")
        elif isinstance(value, list | tuple):
            rows.append((label, ", ".join(str(item) for item in value) or "—"))
        else:
            rows.append((label, "—" if value is None or value == "" else str(value)))
    return rows


def local_path(link: str) -> str:
    """The alert's link when it is a path on this site, else "" (never another origin)."""
    if link.startswith("/") and not link.startswith("//") and "\\" not in link:
        return link
    return ""


def any_rule_enabled() -> bool:
    """Whether alert evaluation has work (the scheduler banner asks, through dashboard.schedule)."""
    return AlertRule.objects.filter(enabled=True).exists()
