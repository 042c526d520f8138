from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import URLPattern, URLResolver, include, path

from billing import views as billing_views
from billing import views_simulate
from billing.ingest import api as billing_api
from dashboard import views, views_invitations, views_overview
from dashboard.forms import ThrottledAdminLoginForm
from routing import api as routing_api
from routing import views as routing_views
from routing import views_companion as routing_companion
from routing import views_fleet as routing_fleet
from routing import views_rules as routing_rules
from routing import views_yaml as routing_yaml

team_patterns: list[URLPattern | URLResolver] = [
    path("", views_overview.overview, name="overview"),
    path("overview/<slug:chart>.csv", views_overview.overview_csv, name="overview_csv"),
    path("routing/", routing_rules.routing_page, name="routing"),
    path("routing/try/", routing_rules.route_try, name="routing_try"),
    path("routing/fleet/", routing_fleet.fleet_panel, name="routing_fleet"),
    path("routing/rules/new/", routing_rules.rule_edit, name="routing_rule_new"),
    path("routing/rules/<int:rule_id>/edit/", routing_rules.rule_edit, name="routing_rule_edit"),
    path("routing/rules/rows/", routing_rules.rule_rows, name="routing_rule_rows"),
    path(
        "routing/rules/<int:rule_id>/rows/", routing_rules.rule_rows, name="routing_rule_rows_edit"
    ),
    path("routing/rules/new/check/", routing_rules.rule_check, name="routing_rule_check_new"),
    path("routing/rules/<int:rule_id>/check/", routing_rules.rule_check, name="routing_rule_check"),
    path("routing/versions/", routing_rules.versions_page, name="routing_versions"),
    path("routing/versions/diff/", routing_rules.version_diff, name="routing_version_diff"),
    path(
        "routing/versions/<int:number>/rollback/",
        routing_rules.version_rollback,
        name="routing_version_rollback",
    ),
    path("routing/simulate/", views_simulate.simulate_page, name="routing_simulate"),
    path("routing/draft.yaml", routing_yaml.draft_yaml, name="routing_draft_yaml"),
    path("routing/import/", routing_yaml.routing_import, name="routing_import"),
    path(
        "routing/litellm-companion.zip",
        routing_companion.companion_download,
        name="routing_companion_zip",
    ),
    path("keys/", routing_views.keys_page, name="keys"),
    path("keys/<int:key_id>/rotate/", routing_views.key_rotate_view, name="key_rotate"),
    path("keys/<int:key_id>/revoke/", routing_views.key_revoke_view, name="key_revoke"),
    path("keys/<int:key_id>/test/", routing_views.key_test_view, name="key_test"),
    path("usage/", billing_views.usage_explorer, name="usage"),
    path("usage.csv", billing_views.usage_csv, name="usage_csv"),
    path("usage/<int:event_pk>/", billing_views.usage_event_detail, name="usage_event"),
    path("", include("billing.urls_budgets")),
    path("", include("billing.alerts.urls")),
    path("", include("billing.alerts.urls_actions")),
    path("", include("billing.reports.urls")),
    path("", include("billing.reports.urls_invoices")),
    path("", include("billing.urls_team_prices")),
    path("audit/", views.audit_page, name="audit"),
    path("tokens/", views.tokens_page, name="tokens"),
    path("tokens/<int:token_id>/revoke/", views.token_revoke_confirm, name="token_revoke"),
    path("members/", views.members, name="members"),
    path("members/<int:membership_id>/role/", views.member_role, name="member_role"),
    path(
        "members/<int:membership_id>/remove/",
        views.member_remove_confirm,
        name="member_remove",
    ),
    path(
        "members/invitations/<int:pk>/revoke/",
        views_invitations.invitation_revoke_confirm,
        name="invitation_revoke",
    ),
    path(
        "members/invitations/<int:pk>/resend/",
        views_invitations.invitation_resend_view,
        name="invitation_resend",
    ),
    path("settings/", views.team_settings, name="team_settings"),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("invitations/<str:token>/", views_invitations.invitation_page, name="invitation"),
    path("t/<slug:team>/", include(team_patterns)),
    path("catalog/", include("billing.urls")),
    path("api/v1/health", views.health, name="api_health"),
    path("api/v1/usage", billing_api.usage, name="api_usage"),
    path("api/v1/scores", billing_api.scores, name="api_scores"),
    path("api/v1/keys", routing_api.keys, name="api_keys"),
    path("api/v1/routes", routing_api.routes, name="api_routes"),
    path("api/v1/routes/litellm.yaml", routing_api.routes_litellm, name="api_routes_litellm"),
    path("api/v1/proxy/heartbeat", routing_api.proxy_heartbeat, name="api_proxy_heartbeat"),
    path("admin/", admin.site.urls),
]

admin.site.login_form = ThrottledAdminLoginForm
admin.site.site_header = "LLM Spend administration"
admin.site.site_title = "LLM Spend admin"
