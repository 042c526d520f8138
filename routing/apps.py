from django.apps import AppConfig


class RoutingConfig(AppConfig):
    name = "routing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from dashboard.audit_actions import register_audit_actions
        from routing.audit_actions import RoutingAuditAction

        register_audit_actions(RoutingAuditAction)
