"""The site's URLs: dashboard's own pages (sign-in, teams, overview, audit, tokens, members,
settings) and each app's URLconf, which holds that app's pages and API endpoints."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import URLPattern, URLResolver, include, path

from dashboard import views, views_invitations, views_overview
from dashboard.forms import ThrottledAdminLoginForm

team_patterns: list[URLPattern | URLResolver] = [
    path("", views_overview.overview, name="overview"),
    path(
        "overview/month-bridge/",
        views_overview.overview_month_bridge,
        name="overview_month_bridge",
    ),
    # Before the charts' CSVs, whose slug would take "changes".
    path("overview/changes.csv", views_overview.overview_changes_csv, name="overview_changes_csv"),
    path("overview/<slug:chart>.csv", views_overview.overview_csv, name="overview_csv"),
    path("audit/", views.audit_page, name="audit"),
    path("tokens/", views.tokens_page, name="tokens"),
    path("tokens/<int:token_id>/revoke/", views.token_revoke_confirm, name="token_revoke"),
    path("members/", views.members, name="members"),
    path("members/<int:membership_id>/role/", views.member_role, name="member_role"),
    path("members/<int:membership_id>/remove/", views.member_remove_confirm, name="member_remove"),
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
    path("currency/", views.display_currency, name="display_currency"),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Single sign-on: oidc/authenticate/ and oidc/callback/ (dashboard/sso/views.py).
    path("oidc/", include("mozilla_django_oidc.urls")),
    path("invitations/<str:token>/", views_invitations.invitation_page, name="invitation"),
    path("t/<slug:team>/", include(team_patterns)),
    path("api/v1/health", views.health, name="api_health"),
    path("api/v1/openapi.json", views.openapi_json, name="api_openapi"),
    path("", include("routing.urls")),
    path("", include("billing.urls")),
    path("admin/", admin.site.urls),
]

admin.site.login_form = ThrottledAdminLoginForm
admin.site.site_header = "LLM Spend administration"
admin.site.site_title = "LLM Spend admin"
