from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from billing.audit_actions import BillingAuditAction
        from dashboard.audit_actions import register_audit_actions

        register_audit_actions(BillingAuditAction)
