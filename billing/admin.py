from django.contrib import admin

from billing.catalog import team_price_add
from billing.costing import PriceBook
from billing.models import (
    Alert,
    AlertAcknowledgement,
    AlertEmailReceipt,
    AlertNotification,
    AlertPreference,
    AlertRule,
    Budget,
    FxRate,
    IngestTally,
    ModelPrice,
    MonthClose,
    ProviderInvoice,
    RawUsageRemoval,
    TaoLot,
    TaoPrice,
    TaoQuote,
    TaoTransfer,
    TeamModelPrice,
    UsageDailyRollup,
    UsageEvent,
    UsageRollup,
)
from dashboard.admin import ReadOnlyAdmin


@admin.register(ModelPrice)
class ModelPriceAdmin(admin.ModelAdmin):
    """Prices are added, never edited: a change is a new row from a later date."""

    list_display = [
        "model",
        "effective_from",
        "input_per_mtok",
        "output_per_mtok",
        "cached_input_per_mtok",
        "cache_write_per_mtok",
        "source",
    ]
    list_filter = ["model__provider"]
    search_fields = ["model__name", "source"]
    autocomplete_fields = ["model"]
    readonly_fields = ["created_by", "created_at"]

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
        PriceBook.forget()


@admin.register(TeamModelPrice)
class TeamModelPriceAdmin(admin.ModelAdmin):
    """A team's own prices: added (and audited in the team's log), never edited or deleted."""

    list_display = [
        "team",
        "model",
        "effective_from",
        "input_per_mtok",
        "output_per_mtok",
        "reason",
        "created_by",
        "created_at",
    ]
    list_filter = ["team", "model__provider"]
    search_fields = ["model__name", "reason", "team__slug"]
    autocomplete_fields = ["model"]
    readonly_fields = ["created_by", "created_at"]

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        fields = {
            name: getattr(obj, name)
            for name in [
                "effective_from",
                "input_per_mtok",
                "output_per_mtok",
                "cached_input_per_mtok",
                "cache_write_per_mtok",
                "reason",
            ]
        }
        saved = team_price_add(team=obj.team, model=obj.model, user=request.user, **fields)
        obj.pk = saved.pk


@admin.register(TaoPrice)
class TaoPriceAdmin(ReadOnlyAdmin):
    list_display = ["at", "usd", "source", "degraded"]
    list_filter = ["source", "degraded"]
    date_hierarchy = "at"


@admin.register(TaoQuote)
class TaoQuoteAdmin(ReadOnlyAdmin):
    list_display = ["polled_at", "source", "usd", "at", "used", "note"]
    list_filter = ["source", "used"]
    date_hierarchy = "polled_at"


@admin.register(FxRate)
class FxRateAdmin(ReadOnlyAdmin):
    list_display = ["day", "currency", "per_eur", "source"]
    list_filter = ["currency", "source"]
    date_hierarchy = "day"


@admin.register(IngestTally)
class IngestTallyAdmin(ReadOnlyAdmin):
    """Counted by the usage endpoint (billing.ingest.tally), reported at /metrics."""

    list_display = ["team", "accepted", "duplicates", "rejected", "updated_at"]


@admin.register(TaoLot)
class TaoLotAdmin(ReadOnlyAdmin):
    """Recorded and corrected on the treasury page, where closed months and the audit log hold."""

    list_display = ["team", "bought_at", "tao", "usd_paid", "venue", "reference"]
    list_filter = ["team"]


@admin.register(TaoTransfer)
class TaoTransferAdmin(ReadOnlyAdmin):
    """Recorded and corrected on the treasury page, where closed months and the audit log hold."""

    list_display = ["team", "sent_at", "tao", "balance_after", "reference"]
    list_filter = ["team"]


@admin.register(UsageEvent)
class UsageEventAdmin(ReadOnlyAdmin):
    list_display = [
        "event_id",
        "team",
        "occurred_at",
        "provider_name",
        "model_name",
        "task_type",
        "status",
        "cost_usd",
        "cost_source",
    ]
    list_filter = ["team", "status", "cost_source", "provider_name"]
    search_fields = ["event_id", "model_name", "task_type"]
    date_hierarchy = "occurred_at"
    list_select_related = ["team"]
    show_full_result_count = False


@admin.register(RawUsageRemoval)
class RawUsageRemovalAdmin(ReadOnlyAdmin):
    list_display = ["month", "removed_at", "events"]


@admin.register(UsageRollup)
class UsageRollupAdmin(ReadOnlyAdmin):
    list_display = [
        "hour",
        "team",
        "provider_name",
        "model_name",
        "task_type",
        "status",
        "requests",
        "cost_usd",
    ]
    list_filter = ["team", "status", "provider_name"]
    date_hierarchy = "hour"
    list_select_related = ["team"]
    show_full_result_count = False


@admin.register(Budget)
class BudgetAdmin(admin.ModelAdmin):
    list_display = ["team", "month", "provider", "task_type", "amount_usd", "amount_tao"]
    list_filter = ["team"]


@admin.register(UsageDailyRollup)
class UsageDailyRollupAdmin(ReadOnlyAdmin):
    list_display = ["day", "team", "provider_name", "model_name", "task_type", "status", "requests"]
    list_filter = ["team", "status", "provider_name"]
    date_hierarchy = "day"


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "team", "enabled", "cooldown_minutes"]
    list_filter = ["kind", "enabled", "team"]


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin):
    list_display = ["subject", "state", "team", "fired_at", "resolved_at"]
    list_filter = ["state", "team"]


@admin.register(AlertAcknowledgement)
class AlertAcknowledgementAdmin(ReadOnlyAdmin):
    list_display = ["alert", "team", "user", "at"]
    list_filter = ["team"]


@admin.register(AlertNotification)
class AlertNotificationAdmin(ReadOnlyAdmin):
    list_display = ["subject", "event", "status", "attempts", "sent_at"]
    list_filter = ["status", "event"]


@admin.register(AlertEmailReceipt)
class AlertEmailReceiptAdmin(ReadOnlyAdmin):
    list_display = ["recipient", "merge_key", "sent_at"]
    search_fields = ["recipient"]


@admin.register(AlertPreference)
class AlertPreferenceAdmin(ReadOnlyAdmin):
    list_display = ["user", "deliveries", "digest_sent_until"]


@admin.register(MonthClose)
class MonthCloseAdmin(ReadOnlyAdmin):
    list_display = ["team", "month", "closed_by", "closed_at", "reopened_at"]
    list_filter = ["team"]


@admin.register(ProviderInvoice)
class ProviderInvoiceAdmin(ReadOnlyAdmin):
    list_display = ["team", "month", "provider", "amount", "currency", "entered_at"]
    list_filter = ["team", "provider"]
