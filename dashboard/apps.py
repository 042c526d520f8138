from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "dashboard"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from dashboard.audit_actions import AuditAction, register_audit_actions

        register_audit_actions(AuditAction)
