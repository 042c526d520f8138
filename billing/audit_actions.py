"""What billing writes to the audit log (registered in BillingConfig.ready)."""

from django.db import models


class BillingAuditAction(models.TextChoices):
    BUDGET_CREATED = "budget.created", "Budget created"
    BUDGET_CHANGED = "budget.changed", "Budget changed"
    BUDGET_DELETED = "budget.deleted", "Budget deleted"
    ALERT_RULE_CREATED = "alert_rule.created", "Alert rule created"
    ALERT_RULE_CHANGED = "alert_rule.changed", "Alert rule changed"
    ALERT_RULE_DELETED = "alert_rule.deleted", "Alert rule deleted"
    ALERT_ACKNOWLEDGED = "alert.acknowledged", "Alert acknowledged"
    MONTH_CLOSED = "month.closed", "Month closed"
    MONTH_REOPENED = "month.reopened", "Month reopened"
    INVOICE_RECORDED = "invoice.recorded", "Provider invoice recorded"
    INVOICE_DELETED = "invoice.deleted", "Provider invoice deleted"
    TEAM_PRICE_ADDED = "team_price.added", "Team price added"
    TAO_LOT_CREATED = "treasury.lot_created", "TAO lot recorded"
    TAO_LOT_CHANGED = "treasury.lot_changed", "TAO lot corrected"
    TAO_LOT_DELETED = "treasury.lot_deleted", "TAO lot deleted"
    TAO_TRANSFER_CREATED = "treasury.transfer_created", "TAO transfer recorded"
    TAO_TRANSFER_CHANGED = "treasury.transfer_changed", "TAO transfer corrected"
    TAO_TRANSFER_DELETED = "treasury.transfer_deleted", "TAO transfer deleted"
