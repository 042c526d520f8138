"""Routing's pages under /t/<team>/ (rules, versions, YAML, fleet, companion, provider keys) and
what the proxy reads under /api/v1/. Included at the site root by dashboard.urls."""

from django.urls import URLPattern, URLResolver, include, path

from routing import api, views_companion, views_fleet, views_keys, views_rules, views_yaml

team_patterns: list[URLPattern | URLResolver] = [
    path("routing/", views_rules.routing_page, name="routing"),
    path("routing/publish/", views_rules.publish_confirm, name="routing_publish"),
    path("routing/draft/reset/", views_rules.draft_reset, name="routing_draft_reset"),
    path("routing/try/", views_rules.route_try, name="routing_try"),
    path("routing/fleet/", views_fleet.fleet_panel, name="routing_fleet"),
    path("routing/rules/new/", views_rules.rule_edit, name="routing_rule_new"),
    path("routing/rules/<int:rule_id>/edit/", views_rules.rule_edit, name="routing_rule_edit"),
    path("routing/rules/rows/", views_rules.rule_rows, name="routing_rule_rows"),
    path("routing/rules/<int:rule_id>/rows/", views_rules.rule_rows, name="routing_rule_rows_edit"),
    path("routing/rules/new/check/", views_rules.rule_check, name="routing_rule_check_new"),
    path("routing/rules/<int:rule_id>/check/", views_rules.rule_check, name="routing_rule_check"),
    path("routing/versions/", views_rules.versions_page, name="routing_versions"),
    path("routing/versions/diff/", views_rules.version_diff, name="routing_version_diff"),
    path(
        "routing/versions/<int:number>/rollback/",
        views_rules.version_rollback,
        name="routing_version_rollback",
    ),
    path("routing/draft.yaml", views_yaml.draft_yaml, name="routing_draft_yaml"),
    path("routing/import/", views_yaml.routing_import, name="routing_import"),
    path(
        "routing/litellm-companion.zip",
        views_companion.companion_download,
        name="routing_companion_zip",
    ),
    path("keys/", views_keys.keys_page, name="keys"),
    path("keys/<int:key_id>/rotate/", views_keys.key_rotate_view, name="key_rotate"),
    path("keys/<int:key_id>/revoke/", views_keys.key_revoke_view, name="key_revoke"),
    path("keys/<int:key_id>/test/", views_keys.key_test_view, name="key_test"),
]

api_patterns: list[URLPattern | URLResolver] = [
    path("keys", api.keys, name="api_keys"),
    path("routes", api.routes, name="api_routes"),
    path("routes/litellm.yaml", api.routes_litellm, name="api_routes_litellm"),
    path("proxy/heartbeat", api.proxy_heartbeat, name="api_proxy_heartbeat"),
]

urlpatterns = [
    path("t/<slug:team>/", include(team_patterns)),
    path("api/v1/", include(api_patterns)),
]
