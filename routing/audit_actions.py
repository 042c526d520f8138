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
