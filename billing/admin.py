from django.contrib import admin

from billing.models import ModelPrice


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
