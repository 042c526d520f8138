from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from tests.factories import ModelFactory, ProviderFactory


def test_it_saves_name_time_zone_and_baseline(admin_client, team):
    baseline = ModelFactory(name="claude-sonnet-4-5")
    url = reverse("team_settings", kwargs={"team": team.slug})
    admin_client.post(
        url, {"name": "Maven Labs", "time_zone": "Asia/Tokyo", "baseline_model": baseline.pk}
    )
    team.refresh_from_db()
    assert (team.name, team.time_zone, team.baseline_model) == (
        "Maven Labs",
        "Asia/Tokyo",
        baseline,
    )


def test_it_rejects_an_unknown_time_zone_and_keeps_what_was_typed(admin_client, team):
    url = reverse("team_settings", kwargs={"team": team.slug})
    response = admin_client.post(url, {"name": "Maven Labs", "time_zone": "Mars/Olympus"})
    page = response.content.decode()
    assert response.status_code == 400
    assert "is not a time zone" in page
    assert 'value="Maven Labs"' in page
    team.refresh_from_db()
    assert team.time_zone == "America/New_York"


def test_it_shows_dates_in_the_team_time_zone(admin_client, team, viewer_user):
    # 03:00 UTC on New Year's Day is still New Year's Eve in New York.
    team.memberships.filter(user=viewer_user).update(
        created_at=datetime(2026, 1, 1, 3, 0, tzinfo=UTC)
    )
    page = admin_client.get(reverse("members", kwargs={"team": team.slug})).content.decode()
    assert "2025-12-31" in page


def test_it_saves_the_target_share_band(admin_client, team):
    url = reverse("team_settings", kwargs={"team": team.slug})
    admin_client.post(
        url,
        {
            "name": "Maven",
            "time_zone": "America/New_York",
            "target_provider": "chutes",
            "target_share_min": 60,
            "target_share_max": 70,
        },
    )
    team.refresh_from_db()
    assert (team.target_provider, team.target_share_min, team.target_share_max) == (
        "chutes",
        60,
        70,
    )


@pytest.mark.parametrize(
    ("low", "high", "message"),
    [
        (70, 60, "from a lower to a higher percentage"),
        (60, "", "Give both ends of the target share"),
        (60, 140, "from a lower to a higher percentage"),
    ],
)
def test_it_rejects_a_target_share_that_is_not_a_range(admin_client, team, low, high, message):
    url = reverse("team_settings", kwargs={"team": team.slug})
    response = admin_client.post(
        url,
        {
            "name": "Maven",
            "time_zone": "America/New_York",
            "target_provider": "chutes",
            "target_share_min": low,
            "target_share_max": high,
        },
    )
    assert response.status_code == 400
    assert message in response.content.decode()
    team.refresh_from_db()
    assert team.target_share_min is None


def _save(admin_client, team, **fields):
    url = reverse("team_settings", kwargs={"team": team.slug})
    return admin_client.post(url, {"name": "Maven", "time_zone": "America/New_York", **fields})


def test_it_suggests_the_time_zone_meant(admin_client, team):
    page = _save(admin_client, team, time_zone="Europe/Berln").content.decode()
    assert "Did you mean “Europe/Berlin”?" in page
    assert 'value="Europe/Berln"' in page


def test_it_offers_the_time_zones_and_providers(admin_client, team):
    ProviderFactory(slug="anthropic")
    page = admin_client.get(reverse("team_settings", kwargs={"team": team.slug})).content.decode()
    assert '<option value="Europe/Berlin">' in page
    assert 'list="id_target_provider-options"' in page and '<option value="anthropic">' in page


def test_it_refuses_an_unknown_target_provider_with_a_suggestion(admin_client, team):
    ProviderFactory(slug="anthropic")
    response = _save(admin_client, team, target_provider="anthropik")
    assert response.status_code == 400
    assert "Did you mean “anthropic”?" in response.content.decode()
    team.refresh_from_db()
    assert team.target_provider == "chutes"


def test_it_accepts_a_provider_from_the_catalog(admin_client, team):
    ProviderFactory(slug="anthropic")
    assert _save(admin_client, team, target_provider="anthropic").status_code == 302
    team.refresh_from_db()
    assert team.target_provider == "anthropic"


def test_it_saves_the_quality_margin_for_pilots(admin_client, team):
    assert _save(admin_client, team, noninferiority_margin="0.05").status_code == 302
    team.refresh_from_db()
    assert team.noninferiority_margin == Decimal("0.05")


def test_it_refuses_a_quality_margin_above_half_a_point(admin_client, team):
    response = _save(admin_client, team, noninferiority_margin="0.8")
    assert response.status_code == 400
    assert b'value="0.8"' in response.content
