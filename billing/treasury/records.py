"""Recording TAO lots and transfers: adding, correcting and deleting them, each audited with
what changed (old → new). Nothing dated in a closed month may change: its figures are frozen."""

from datetime import datetime
from decimal import Decimal
from typing import TypeVar

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from billing.audit_actions import BillingAuditAction
from billing.models import MonthClose, TaoLot, TaoTransfer
from billing.months import last_day_of
from dashboard.audit import audit_record
from dashboard.models import Team

LOT_FIELDS = ["bought_at", "tao", "usd_paid", "venue", "reference"]
TRANSFER_FIELDS = ["sent_at", "tao", "balance_after", "reference"]


R = TypeVar("R", TaoLot, TaoTransfer)


def plain(value: Decimal | None) -> str:
    """12.500000000000 and 12.5 are the same amount, written the same."""
    if value is None:
        return "none"
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _moment(team: Team, at: datetime) -> str:
    return f"{at.astimezone(team.zone):%Y-%m-%d %H:%M}"


def lot_label(lot: TaoLot) -> str:
    """What the audit log and messages call a lot, e.g. "12.5 TAO bought 2026-11-03"."""
    return f"{plain(lot.tao)} TAO bought {lot.bought_at.astimezone(lot.team.zone):%Y-%m-%d}"


def transfer_label(transfer: TaoTransfer) -> str:
    sent = transfer.sent_at.astimezone(transfer.team.zone)
    return f"{plain(transfer.tao)} TAO sent to Chutes {sent:%Y-%m-%d}"


def _lot_values(lot: TaoLot) -> dict[str, str]:
    return {
        "bought_at": _moment(lot.team, lot.bought_at),
        "tao": plain(lot.tao),
        "usd_paid": f"{lot.usd_paid:.2f}",
        "venue": lot.venue,
        "reference": lot.reference,
    }


def _transfer_values(transfer: TaoTransfer) -> dict[str, str]:
    return {
        "sent_at": _moment(transfer.team, transfer.sent_at),
        "tao": plain(transfer.tao),
        "balance_after": plain(transfer.balance_after),
        "reference": transfer.reference,
    }


def refuse_closed(team: Team, *moments: datetime) -> None:
    """Refuse a change dated on or before the end of the team's last closed month."""
    closes = MonthClose.objects.filter(team=team, reopened_at=None)
    months = sorted(closes.values_list("month", flat=True))
    for moment in moments:
        day = moment.astimezone(team.zone).date()
        closed = [month for month in months if day <= last_day_of(month)]
        if closed:
            raise ValidationError(f"{closed[0]:%B %Y} is closed: reopen it on its report first.")


def _save(record: R, *, team, user, data, fields, values, actions, label) -> R:
    """Create `record` (unsaved) or change it to `data`, audited with old → new."""
    created, changed, _ = actions
    with transaction.atomic():
        # Serialises the team's writes with its month closes.
        Team.objects.select_for_update().filter(pk=team.pk).first()
        creating = record.pk is None
        date_field = fields[0]
        old_moment = None if creating else getattr(record, date_field)
        refuse_closed(team, *filter(None, [old_moment, data[date_field]]))
        old = None if creating else values(record)
        for name in fields:
            setattr(record, name, data[name] if name in data else getattr(record, name))
        if creating:
            record.save()
            audit_record(
                team=team, action=created, target=label(record), actor=user, detail=values(record)
            )
            return record
        new = values(record)
        assert old is not None  # a record being changed had values before
        changes = {name: f"{old[name]} → {new[name]}" for name in old if old[name] != new[name]}
        if changes:
            record.updated_at = timezone.now()
            record.save()
            audit_record(
                team=team, action=changed, target=label(record), actor=user, detail=changes
            )
        return record


def _delete(record, *, team, user, date_field, values, action, label) -> None:
    with transaction.atomic():
        Team.objects.select_for_update().filter(pk=team.pk).first()
        refuse_closed(team, getattr(record, date_field))
        audit_record(
            team=team, action=action, target=label(record), actor=user, detail=values(record)
        )
        record.delete()


LOT_ACTIONS = (
    BillingAuditAction.TAO_LOT_CREATED,
    BillingAuditAction.TAO_LOT_CHANGED,
    BillingAuditAction.TAO_LOT_DELETED,
)
TRANSFER_ACTIONS = (
    BillingAuditAction.TAO_TRANSFER_CREATED,
    BillingAuditAction.TAO_TRANSFER_CHANGED,
    BillingAuditAction.TAO_TRANSFER_DELETED,
)


def tao_lot_save(*, team: Team, user, data: dict, lot: TaoLot | None = None) -> TaoLot:
    """Record a lot from `data` (LOT_FIELDS, parsed) or correct `lot` to it; audited.

    Raises ValidationError when the lot is, or would be, dated in a closed month.
    """
    record = lot or TaoLot(team=team, created_by=user)
    return _save(
        record,
        team=team,
        user=user,
        data=data,
        fields=LOT_FIELDS,
        values=_lot_values,
        actions=LOT_ACTIONS,
        label=lot_label,
    )


def tao_lot_delete(*, lot: TaoLot, user) -> None:
    _delete(
        lot,
        team=lot.team,
        user=user,
        date_field="bought_at",
        values=_lot_values,
        action=BillingAuditAction.TAO_LOT_DELETED,
        label=lot_label,
    )


def tao_transfer_save(
    *, team: Team, user, data: dict, transfer: TaoTransfer | None = None
) -> TaoTransfer:
    """Record a transfer from `data` (TRANSFER_FIELDS, parsed) or correct `transfer` to it;
    audited. Raises ValidationError when it is, or would be, dated in a closed month."""
    record = transfer or TaoTransfer(team=team, created_by=user)
    return _save(
        record,
        team=team,
        user=user,
        data=data,
        fields=TRANSFER_FIELDS,
        values=_transfer_values,
        actions=TRANSFER_ACTIONS,
        label=transfer_label,
    )


def tao_transfer_delete(*, transfer: TaoTransfer, user) -> None:
    _delete(
        transfer,
        team=transfer.team,
        user=user,
        date_field="sent_at",
        values=_transfer_values,
        action=BillingAuditAction.TAO_TRANSFER_DELETED,
        label=transfer_label,
    )
