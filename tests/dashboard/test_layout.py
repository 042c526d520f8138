"""The base layout every page shares: htmx without a CDN, CSRF once, plotly.js from the package."""

import json
import re

from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.urls import reverse


def test_it_loads_htmx_from_our_own_static_files(client, viewer_user, team):
    client.force_login(viewer_user)
    page = client.get(reverse("overview", kwargs={"team": team.slug})).content.decode()
    scripts = re.findall(r'<script[^>]+src="([^"]+)"', page)
    assert any("htmx" in src for src in scripts)
    assert all(src.startswith("/static/") for src in scripts)


def test_it_sets_the_csrf_token_once_on_the_body(client, viewer_user, team):
    client.force_login(viewer_user)
    page = client.get(reverse("overview", kwargs={"team": team.slug})).content.decode()
    headers = re.search(r"<body hx-headers='([^']+)'", page).group(1)
    assert json.loads(headers)["X-CSRFToken"]


def test_it_finds_plotly_js_in_the_plotly_package():
    path = finders.find("vendor/plotly.min.js")
    assert path is not None
    assert path.endswith("plotly/package_data/plotly.min.js")


def test_collectstatic_ships_plotly_js_and_nothing_else_of_the_package(settings, tmp_path):
    settings.STATIC_ROOT = tmp_path
    call_command("collectstatic", "--no-input", verbosity=0)
    assert (tmp_path / "vendor" / "plotly.min.js").stat().st_size > 1_000_000
    assert [p.name for p in (tmp_path / "vendor").iterdir()] == ["plotly.min.js"]


def test_it_shows_messages_after_an_action(client, admin_user, team, viewer_user):
    client.force_login(admin_user)
    membership = team.memberships.get(user=viewer_user)
    url = reverse("member_role", kwargs={"team": team.slug, "membership_id": membership.pk})
    page = client.post(url, {"role": "ops"}, follow=True).content.decode()
    assert f"{viewer_user.username} is now ops" in page


def test_the_switcher_links_to_the_same_section_of_each_team(client, team, other_team, admin_user):
    team.memberships.model.objects.create(team=other_team, user=admin_user, role="viewer")
    client.force_login(admin_user)
    page = client.get(reverse("usage", kwargs={"team": team.slug})).content.decode()
    assert 'href="/t/rival/usage/"' in page


def test_the_switcher_takes_a_month_s_report_to_the_other_team_s_reports(
    client, team, other_team, admin_user
):
    team.memberships.model.objects.create(team=other_team, user=admin_user, role="finance")
    client.force_login(admin_user)
    url = reverse("report", kwargs={"team": team.slug, "month": "2026-10"})
    assert 'href="/t/rival/reports/"' in client.get(url).content.decode()


def test_the_switcher_falls_back_to_the_overview_for_pages_a_team_lacks(
    client, team, other_team, admin_user
):
    team.memberships.model.objects.create(team=other_team, user=admin_user, role="viewer")
    client.force_login(admin_user)
    page = client.get(reverse("home")).content.decode()
    assert 'href="/t/rival/"' in page


def test_an_htmx_request_without_a_session_reloads_on_the_sign_in_page(client, db):
    response = client.get(reverse("catalog"), {"provider": "chutes"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert response["HX-Redirect"].startswith(reverse("login"))


def test_the_catalog_keeps_the_navigation_of_the_last_team_opened(client, ops_user, team):
    client.force_login(ops_user)
    client.get(reverse("overview", kwargs={"team": team.slug}))
    page = client.get(reverse("catalog")).content.decode()
    assert f'href="/t/{team.slug}/routing/"' in page


def test_the_overview_offers_the_baseline_setting_to_admins_only(
    client, admin_user, ops_user, team
):
    url = reverse("overview", kwargs={"team": team.slug})
    settings_link = reverse("team_settings", kwargs={"team": team.slug})
    client.force_login(admin_user)
    assert settings_link in client.get(url).content.decode()
    client.force_login(ops_user)
    assert settings_link not in client.get(url).content.decode()
