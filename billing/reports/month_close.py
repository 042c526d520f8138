"""Closing a team month: its report frozen as it stood, and later changes shown as adjustments.

A closed month never moves. Usage that arrives later for it (or a reprice that touches it)
is the difference between the month's live totals and the totals frozen at close; that
difference is shown as adjustment lines on the next open month, and frozen into that
month's own snapshot when it is closed in turn, so nothing is counted twice or lost.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from billing.audit_actions import BillingAuditAction
from billing.ingest.events import TOKEN_FIELDS
from billing.models import MonthClose, UsageDailyRollup
from billing.months import last_day_of, month_is_over, month_start, previous_month
from billing.queries import CostDisagreement
from billing.reports.exports import frozen_rows
from billing.reports.figures import MonthReport
from billing.reports.invoices import InvoiceLine, computed_by_provider, invoice_lines
from billing.treasury.ledger import SNAPSHOT_KEY as TREASURY_KEY
from billing.treasury.ledger import treasury_close_snapshot
from dashboard.audit import audit_record
from dashboard.models import Team

AMOUNTS = ["requests", "tokens", "cost_usd", "tao"]


@dataclass(frozen=True)
class Adjustment:
    """What changed in a closed month after it was closed, for one provider."""

    closed_month: date
    provider: str
    requests: int
    tokens: int
    cost_usd: Decimal
    tao: Decimal

    def to_json(self) -> dict:
        return {
            "closed_month": self.closed_month.isoformat(),
            "provider": self.provider,
            "requests": self.requests,
            "tokens": self.tokens,
            "cost_usd": str(self.cost_usd),
            "tao": str(self.tao),
        }

    @classmethod
    def from_json(cls, data: dict) -> "Adjustment":
        return cls(
            date.fromisoformat(data["closed_month"]),
            data["provider"],
            int(data["requests"]),
            int(data["tokens"]),
            Decimal(data["cost_usd"]),
            Decimal(data["tao"]),
        )


def provider_totals(team, month: date) -> dict[str, dict]:
    """The month's requests, tokens, USD and TAO per provider, from the team-day rollups."""
    rows = (
        UsageDailyRollup.objects.filter(team=team, day__gte=month, day__lte=last_day_of(month))
        .values("provider_name")
        .annotate(
            s_requests=Sum("requests"),
            s_cost_usd=Sum("cost_usd"),
            s_tao=Sum("tao_amount"),
            **{f"s_{name}": Sum(name) for name in TOKEN_FIELDS},
        )
        .order_by()
    )
    return {
        row["provider_name"]: {
            "requests": int(row["s_requests"] or 0),
            "tokens": sum(int(row[f"s_{name}"] or 0) for name in TOKEN_FIELDS),
            "cost_usd": Decimal(row["s_cost_usd"] or 0),
            "tao": Decimal(row["s_tao"] or 0),
        }
        for row in rows
    }


def standing_close(team, month: date) -> MonthClose | None:
    return (
        MonthClose.objects.select_related("closed_by")
        .filter(team=team, month=month_start(month), reopened_at=None)
        .first()
    )


def frozen_adjustments(close: MonthClose) -> list[Adjustment]:
    return [Adjustment.from_json(data) for data in close.snapshot.get("adjustments", [])]


def standing_closes(team) -> dict[date, MonthClose]:
    return {close.month: close for close in MonthClose.objects.filter(team=team, reopened_at=None)}


def adjustments_for(team, month: date, closes: dict[date, MonthClose] | None = None):
    """Adjustment lines an open month carries: the changes to the closed months just before it.

    Looks back through the unbroken run of closed months before `month`; from each, what its
    live totals differ from its frozen ones, less what later closed months already carried.
    """
    closes = standing_closes(team) if closes is None else closes
    lines = []
    closed_month = previous_month(month)
    while closed_month in closes:
        frozen = _frozen_totals(closes[closed_month])
        carried = _carried(closes, closed_month, month)
        live = provider_totals(team, closed_month)
        for provider in sorted(live.keys() | frozen.keys()):
            delta = {
                name: live.get(provider, {}).get(name, 0)
                - frozen.get(provider, {}).get(name, 0)
                - carried[provider][name]
                for name in AMOUNTS
            }
            if any(delta.values()):
                lines.append(
                    Adjustment(
                        closed_month,
                        provider,
                        int(delta["requests"]),
                        int(delta["tokens"]),
                        Decimal(delta["cost_usd"]),
                        Decimal(delta["tao"]),
                    )
                )
        closed_month = previous_month(closed_month)
    return sorted(lines, key=lambda line: (line.closed_month, line.provider))


def _frozen_totals(close: MonthClose) -> dict[str, dict]:
    return {
        provider: {
            "requests": int(values["requests"]),
            "tokens": int(values["tokens"]),
            "cost_usd": Decimal(values["cost_usd"]),
            "tao": Decimal(values["tao"]),
        }
        for provider, values in close.snapshot.get("totals", {}).items()
    }


def _carried(closes: dict[date, MonthClose], closed_month: date, before: date) -> dict:
    """What closed months after `closed_month` (and before `before`) already carried for it."""
    carried: dict[str, dict] = defaultdict(lambda: dict.fromkeys(AMOUNTS, 0))
    for month, close in closes.items():
        if not closed_month < month < before:
            continue
        for data in close.snapshot.get("adjustments", []):
            line = Adjustment.from_json(data)
            if line.closed_month != closed_month:
                continue
            for name in AMOUNTS:
                carried[line.provider][name] += getattr(line, name)
    return carried


def month_close(
    *, team: Team, month: date, user, report: dict, exports: dict | None = None, now=None
) -> MonthClose:
    """Freeze the month's report, its export rows and the adjustments it carries.

    Only a month that is over in the team's time zone, and only once until it is reopened.
    """
    now = now or timezone.now()
    month = month_start(month)
    if not month_is_over(team, month, now):
        raise ValidationError(f"{month:%B %Y} is not over yet in {team.time_zone}.")
    with transaction.atomic():
        Team.objects.select_for_update().filter(pk=team.pk).first()
        closes = standing_closes(team)
        if month in closes:
            raise ValidationError(f"{month:%B %Y} is already closed.")
        totals = provider_totals(team, month)
        snapshot = {
            "report": report,
            "totals": {
                provider: {name: str(value) for name, value in values.items()}
                for provider, values in totals.items()
            },
            "adjustments": [line.to_json() for line in adjustments_for(team, month, closes)],
            "exports": {kind: frozen_rows(rows) for kind, rows in (exports or {}).items()},
            TREASURY_KEY: treasury_close_snapshot(team, month),
        }
        try:
            close = MonthClose.objects.create(
                team=team, month=month, snapshot=snapshot, closed_by=user, closed_at=now
            )
        except IntegrityError:
            raise ValidationError(f"{month:%B %Y} is already closed.") from None
        audit_record(
            team=team,
            action=BillingAuditAction.MONTH_CLOSED,
            target=f"{month:%Y-%m}",
            actor=user,
            detail={"cost_usd": str(sum((t["cost_usd"] for t in totals.values()), Decimal(0)))},
        )
    return close


def month_reopen(*, team: Team, month: date, user, reason: str, now=None) -> MonthClose:
    """Let a closed month move again (an admin's decision, with a reason, audited)."""
    now = now or timezone.now()
    reason = reason.strip()
    if not reason:
        raise ValidationError("Say why the month is reopened: it goes in the audit log.")
    with transaction.atomic():
        close = (
            MonthClose.objects.select_for_update()
            .filter(team=team, month=month_start(month), reopened_at=None)
            .first()
        )
        if close is None:
            raise ValidationError(f"{month:%B %Y} is not closed.")
        close.reopened_at, close.reopened_by, close.reopen_reason = now, user, reason
        close.save(update_fields=["reopened_at", "reopened_by", "reopen_reason"])
        audit_record(
            team=team,
            action=BillingAuditAction.MONTH_REOPENED,
            target=f"{month:%Y-%m}",
            actor=user,
            detail={"reason": reason, "closed_at": close.closed_at.isoformat()},
        )
    return close


@dataclass(frozen=True)
class CloseWarnings:
    """What finance should see before freezing a month."""

    not_invoiced: list[InvoiceLine]  # providers with a cost this month and no invoice yet
    disagreements: list[CostDisagreement]

    def __bool__(self) -> bool:
        return bool(self.not_invoiced or self.disagreements)


def month_close_warnings(*, team: Team, month: date, report: MonthReport) -> CloseWarnings:
    """The month's providers not invoiced yet and its cost disagreements (from `report`)."""
    lines = invoice_lines(team, month, computed_by_provider(team, month))
    return CloseWarnings(
        not_invoiced=[line for line in lines if line.invoice is None],
        disagreements=report.disagreements,
    )
