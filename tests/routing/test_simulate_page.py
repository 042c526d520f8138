"""The routing simulator page: real traffic replayed through the draft or a version."""

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from routing.publish import routing_publish
from routing.rules import rule_save

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
ROLES = ["admin", "ops", "finance", "viewer"]


pytestmark = pytest.mark.usefixtures("frozen_now")


@pytest.fixture
def traffic(team, sonnet, summaries_yesterday):
    team.baseline_model = sonnet
    team.save()


@pytest.fixture
def sonnet_published_llama_draft(team, admin_user, llama, sonnet):
    """Version 1 sends everything to Sonnet; the draft since then to Llama."""
    rule = rule_save(
        team=team,
        user=admin_user,
        task_type="*",
        targets=[{"model_id": sonnet.pk, "weight": 100}],
        fallbacks=[],
    )
    routing_publish(team=team, user=admin_user, comment="all sonnet")
    rule_save(
        team=team,
        user=admin_user,
        task_type="*",
        targets=[{"model_id": llama.pk, "weight": 100}],
        fallbacks=[],
        rule=rule,
    )


def _url(team):
    return reverse("routing_simulate", kwargs={"team": team.slug})


@pytest.mark.parametrize("role", ROLES)
def test_it_opens_the_simulator_to_every_role(client, users_by_role, team, role):
    client.force_login(users_by_role[role])
    assert client.get(_url(team)).status_code == 200


def test_it_hides_the_simulator_from_outsiders(client, outsider, team):
    client.force_login(outsider)
    assert client.get(_url(team)).status_code == 404


def test_it_projects_the_monthly_cost_of_the_draft(
    client, viewer_user, team, traffic, sonnet_published_llama_draft
):
    client.force_login(viewer_user)
    page = client.get(_url(team)).content.decode()
    # 100k input at $0.10/M + 50k output at $0.40/M in 30 days.
    assert "The draft (chosen)" in page
    assert "$0.03" in page


def test_it_projects_the_monthly_cost_of_a_version(
    client, viewer_user, team, traffic, sonnet_published_llama_draft
):
    client.force_login(viewer_user)
    page = client.get(_url(team), {"config": "v1", "window": "30"}).content.decode()
    assert "Version 1 (chosen)" in page
    assert "$1.05" in page
    assert "$0.03" not in page


def test_it_shows_the_saving_of_the_draft_against_the_published_version(
    client, viewer_user, team, traffic, sonnet_published_llama_draft
):
    client.force_login(viewer_user)
    page = client.get(_url(team)).content.decode()
    assert "saves $1.02 (97.1%)" in page


def test_it_scales_the_real_mix_with_thousands_separators(
    client, viewer_user, team, traffic, sonnet_published_llama_draft
):
    client.force_login(viewer_user)
    page = client.get(_url(team)).content.decode()
    assert "100,000" in page
    assert "$31,500.00" in page


def test_it_answers_htmx_with_the_results_fragment_only(
    client, viewer_user, team, traffic, sonnet_published_llama_draft
):
    client.force_login(viewer_user)
    response = client.get(_url(team), {"window": "7"}, headers={"HX-Request": "true"})
    page = response.content.decode()
    # The same 100 requests in 7 days instead of 30: a month holds more of them.
    assert "$0.13" in page
    assert "<html" not in page


def test_it_refuses_a_window_it_does_not_offer(client, viewer_user, team):
    client.force_login(viewer_user)
    response = client.get(_url(team), {"window": "12"})
    assert response.status_code == 400
    assert 'data-testid="simulate-errors"' in response.content.decode()


def test_it_asks_for_usage_when_the_window_has_none(client, viewer_user, team):
    client.force_login(viewer_user)
    assert "send usage first" in client.get(_url(team)).content.decode()


def test_it_notes_a_missing_baseline_with_a_settings_link_for_admins(
    client, admin_user, team, traffic, sonnet_published_llama_draft
):
    team.baseline_model = None
    team.save()
    client.force_login(admin_user)
    page = client.get(_url(team)).content.decode()
    assert 'data-testid="no-baseline"' in page
    assert reverse("team_settings", kwargs={"team": team.slug}) in page


def test_it_warns_of_traffic_no_rule_routes(client, viewer_user, team, admin_user, traffic, llama):
    rule_save(
        team=team,
        user=admin_user,
        task_type="coding",
        targets=[{"model_id": llama.pk, "weight": 100}],
        fallbacks=[],
    )
    client.force_login(viewer_user)
    page = client.get(_url(team)).content.decode()
    assert "summarization: no rule routes it" in page
