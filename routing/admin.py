from django.contrib import admin

from dashboard.admin import ImmutableAdmin, ReadOnlyAdmin
from routing.models import (
    Model,
    Provider,
    ProviderKey,
    ProxyInstance,
    RolloutEvent,
    RolloutPlan,
    RoutingRule,
    RoutingVersion,
)


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "billing_currency", "openai_compatible", "base_url"]
    search_fields = ["name", "slug"]


@admin.register(Model)
class ModelAdmin(admin.ModelAdmin):
    list_display = ["name", "provider", "display_name", "enabled"]
    list_filter = ["provider", "enabled"]
    search_fields = ["name", "display_name"]


@admin.register(ProviderKey)
class ProviderKeyAdmin(ReadOnlyAdmin):
    """For looking only: keys are added, rotated, revoked and tested on the team's keys page,
    which writes the audit log."""

    list_display = [
        "provider",
        "label",
        "team",
        "mask",
        "fingerprint",
        "created_at",
        "created_by",
        "revoked_at",
        "revoked_by",
        "last_test_result",
        "last_tested_at",
    ]
    list_filter = [
        "provider",
        "team",
        "last_test_result",
        ("revoked_at", admin.EmptyFieldListFilter),
    ]
    search_fields = ["label", "mask", "fingerprint", "team__name", "team__slug"]
    list_select_related = ["provider", "team", "created_by", "revoked_by"]
    # secret_encrypted is left out on purpose: not even its ciphertext belongs on a page.
    fields = [
        "team",
        "provider",
        "label",
        "mask",
        "fingerprint",
        "created_at",
        "created_by",
        "replaces",
        "revoked_at",
        "revoked_by",
        "last_test_result",
        "last_test_message",
        "last_tested_at",
        "last_tested_by",
    ]
    exclude = ["secret_encrypted"]
    readonly_fields = fields


@admin.register(RoutingRule)
class RoutingRuleAdmin(ReadOnlyAdmin):
    """Rules are edited on the Routing page, where they are validated; here they are shown."""

    list_display = ["task_type", "team", "enabled", "revision", "updated_at", "updated_by"]
    list_filter = ["team", "enabled"]
    readonly_fields = ["revision", "updated_at", "updated_by"]


@admin.register(RoutingVersion)
class RoutingVersionAdmin(ImmutableAdmin):
    """Published versions are immutable."""

    list_display = ["number", "team", "published_at", "published_by", "comment"]
    list_filter = ["team"]


@admin.register(ProxyInstance)
class ProxyInstanceAdmin(ReadOnlyAdmin):
    """Written by the proxies' heartbeats; deleting a row forgets a proxy that is gone for good
    (it comes back with its next heartbeat if it is not)."""

    list_display = [
        "instance_id",
        "team",
        "host",
        "routing_version",
        "last_seen_at",
        "spool_depth",
        "shipped",
        "dead_lettered",
        "dropped",
    ]
    list_filter = ["team"]
    search_fields = ["instance_id", "host", "team__slug"]
    list_select_related = ["team"]


@admin.register(RolloutPlan)
class RolloutPlanAdmin(ReadOnlyAdmin):
    """Plans are started, resumed and cancelled on the rollouts page, which audits each."""

    list_display = ["task_type", "team", "candidate_model", "state", "step", "created_at"]
    list_filter = ["team", "state"]
    list_select_related = ["team"]


@admin.register(RolloutEvent)
class RolloutEventAdmin(ImmutableAdmin):
    """A plan's history: what happened is never rewritten."""

    list_display = ["at", "plan", "kind", "step", "version", "message"]
    list_filter = ["kind"]
    list_select_related = ["plan__team"]
