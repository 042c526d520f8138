"""What routing writes to the audit log (registered in RoutingConfig.ready)."""

from django.db import models


class RoutingAuditAction(models.TextChoices):
    KEY_ADDED = "key.added", "Key added"
    KEY_ROTATED = "key.rotated", "Key rotated"
    KEY_REVOKED = "key.revoked", "Key revoked"
    KEY_TESTED = "key.tested", "Key tested"
    KEY_READ = "key.read", "Keys read by the proxy"
    ROUTING_PUBLISHED = "routing.published", "Routing published"
    ROUTING_ROLLED_BACK = "routing.rolled_back", "Routing rolled back"
    ROUTING_DRAFT_RESET = "routing.draft_reset", "Routing draft reset to live"
    ROLLOUT_CREATED = "rollout.created", "Rollout plan created"
    ROLLOUT_PREPARED = "rollout.prepared", "Rollout step prepared in the draft"
    ROLLOUT_BLOCKED = "rollout.blocked", "Rollout step not prepared"
    ROLLOUT_STEP_LIVE = "rollout.step_live", "Rollout step live"
    ROLLOUT_PUBLISHED = "rollout.published", "Rollout step published by the plan"
    ROLLOUT_PASSED = "rollout.passed", "Rollout gates passed"
    ROLLOUT_PAUSED = "rollout.paused", "Rollout paused"
    ROLLOUT_ROLLED_BACK = "rollout.rolled_back", "Rollout rolled back by the plan"
    ROLLOUT_RESUMED = "rollout.resumed", "Rollout resumed"
    ROLLOUT_CANCELLED = "rollout.cancelled", "Rollout cancelled"
    ROLLOUT_COMPLETED = "rollout.completed", "Rollout completed"
