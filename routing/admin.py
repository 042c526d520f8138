from django.contrib import admin

from routing.models import Model, Provider


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "billing_currency", "openai_compatible", "base_url"]
    search_fields = ["name", "slug"]


@admin.register(Model)
class ModelAdmin(admin.ModelAdmin):
    list_display = ["name", "provider", "display_name", "enabled"]
    list_filter = ["provider", "enabled"]
    search_fields = ["name", "display_name"]
