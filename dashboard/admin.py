from django.contrib import admin, messages

from dashboard.models import (
    AuditEvent,
    Invitation,
    JobRun,
    LoginFailure,
    Membership,
    ProxyToken,
    SsoIdentity,
    Team,
)
from dashboard.tokens import token_revoke


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written by the app's own services, where their checks live: shown, never edited."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ImmutableAdmin(ReadOnlyAdmin):
    """Records that must outlive any clean-up, such as the audit log and published versions."""

    def has_delete_permission(self, request, obj=None):
        return False


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "time_zone", "baseline_model", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "team", "role", "granted_by_sso_group", "created_at"]
    list_filter = ["role", "team"]
    search_fields = ["user__username", "user__email", "team__name"]
    autocomplete_fields = ["user", "team"]


@admin.register(SsoIdentity)
class SsoIdentityAdmin(admin.ModelAdmin):
    """Made at single sign-on; deleting one makes the next sign-in match by e-mail again."""

    list_display = ["user", "email", "issuer", "subject", "created_at", "last_sign_in_at"]
    search_fields = ["user__username", "email", "subject"]
    readonly_fields = ["user", "issuer", "subject", "email", "created_at", "last_sign_in_at"]

    def has_add_permission(self, request):
        return False


@admin.register(Invitation)
class InvitationAdmin(ReadOnlyAdmin):
    """Sent, revoked and resent on the team's members page, where they are audited."""

    list_display = ["email", "team", "role", "invited_by", "created_at", "expires_at", "state"]
    list_filter = ["team", "role"]
    search_fields = ["email", "team__name", "team__slug"]
    list_select_related = ["team", "invited_by"]
    exclude = ["token_hash"]


@admin.register(LoginFailure)
class LoginFailureAdmin(admin.ModelAdmin):
    list_display = ["username", "ip_address", "created_at"]
    search_fields = ["username", "ip_address"]
    readonly_fields = ["username", "ip_address", "created_at"]

    def has_add_permission(self, request):
        return False


@admin.register(JobRun)
class JobRunAdmin(admin.ModelAdmin):
    list_display = ["name", "started_at", "finished_at", "outcome"]
    list_filter = ["name", "outcome"]
    readonly_fields = ["name", "started_at", "finished_at", "outcome", "detail"]

    def has_add_permission(self, request):
        return False


@admin.register(ProxyToken)
class ProxyTokenAdmin(admin.ModelAdmin):
    list_display = [
        "prefix",
        "name",
        "team",
        "scope_list",
        "created_at",
        "created_by",
        "last_used_at",
        "revoked_at",
        "revoked_by",
    ]
    list_filter = ["team", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix", "team__name", "team__slug"]
    list_select_related = ["team", "created_by", "revoked_by"]
    fields = [
        "team",
        "name",
        "prefix",
        "token_hash",
        "scopes",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
        "revoked_by",
    ]
    # Only the name may change here; scopes and revocation go through their own paths.
    readonly_fields = [field for field in fields if field != "name"]
    actions = ["revoke"]

    @admin.display(description="scopes")
    def scope_list(self, obj):
        return ", ".join(obj.scopes)

    # Tokens are made on the team's tokens page or with create_proxy_token, which show them once.
    def has_add_permission(self, request):
        return False

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset):
        revoked = sum(token_revoke(token=token, user=request.user) for token in queryset)
        self.message_user(request, f"Revoked {revoked} token(s).", messages.SUCCESS)


@admin.register(AuditEvent)
class AuditEventAdmin(ImmutableAdmin):
    """Read only: the log is written by dashboard.audit.audit_record and nothing else."""

    list_display = ["created_at", "team", "action", "actor_label", "target"]
    list_filter = ["action", "team"]
    search_fields = ["target", "actor__username", "token__prefix", "team__slug"]
    list_select_related = ["team", "actor", "token"]
    date_hierarchy = "created_at"

    @admin.display(description="who")
    def actor_label(self, obj):
        return obj.actor_label
