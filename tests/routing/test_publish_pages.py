"""Publishing through a confirmation, resetting the draft to live, and rollback with a reset."""

import re
from datetime import UTC, datetime

import pytest
from django.urls import reverse

from dashboard.models import AuditEvent
from routing.models import RoutingRule, RoutingVersion
from routing.publish import draft_snapshot, routing_publish
from routing.rules import rule_save

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
READERS = ["finance", "viewer"]
WRITE_PAGES = ["routing_publish", "routing_draft_reset"]


@pytest.fixture
def live_rule(team, admin_user, sonnet):
    """Version 1 sends everything to Sonnet."""
    rule = rule_save(
        team=team,
        user=admin_user,
        task_type="*",
        targets=[{"model_id": sonnet.pk, "weight": 100}],
        fallbacks=[],
    )
    routing_publish(team=team, user=admin_user, comment="all sonnet")
    return rule


@pytest.fixture
def llama_draft(team, admin_user, live_rule, llama, sonnet):
    """The draft since version 1: 70% Llama, 30% Sonnet."""
    targets = [{"model_id": llama.pk, "weight": 70}, {"model_id": sonnet.pk, "weight": 30}]
    return rule_save(
        team=team, user=admin_user, task_type="*", targets=targets, fallbacks=[], rule=live_rule
    )


def _url(name, team, **kwargs):
    return reverse(name, kwargs={"team": team.slug, **kwargs})


@pytest.mark.parametrize("name", [*WRITE_PAGES, "routing_publish_cost"])
def test_it_hides_the_pages_from_outsiders(client, outsider, team, llama_draft, name):
    client.force_login(outsider)
    assert client.get(_url(name, team)).status_code == 404


@pytest.mark.parametrize("role", READERS)
@pytest.mark.parametrize("name", WRITE_PAGES)
def test_it_refuses_the_write_pages_to_readers(
    client, users_by_role, team, llama_draft, role, name
):
    client.force_login(users_by_role[role])
    assert client.get(_url(name, team)).status_code == 403
    assert client.post(_url(name, team), {"comment": "x"}).status_code == 403
    assert RoutingVersion.objects.filter(team=team).count() == 1
    assert RoutingRule.objects.get(team=team).targets == llama_draft.targets


def test_the_confirmation_shows_the_diff_and_loads_the_cost(client, ops_user, team, llama_draft):
    client.force_login(ops_user)
    page = client.get(_url("routing_publish", team)).content.decode()
    assert 'data-testid="diff-table"' in page
    assert "chutes/unsloth/Llama-3.3-70B-Instruct" in page
    assert _url("routing_publish_cost", team) in page
    assert "Publish as version 2" in page


def test_it_requires_a_comment_and_keeps_what_was_typed(client, ops_user, team, llama_draft):
    client.force_login(ops_user)
    response = client.post(_url("routing_publish", team), {"comment": ""})
    assert response.status_code == 400
    assert "the comment is required" in response.content.decode()
    long_comment = "pilot <b>70%</b> " + "x" * 500
    response = client.post(_url("routing_publish", team), {"comment": long_comment})
    assert response.status_code == 400
    assert "pilot &lt;b&gt;70%&lt;/b&gt;" in response.content.decode()
    assert RoutingVersion.objects.filter(team=team).count() == 1


def test_it_publishes_with_the_comment(client, ops_user, team, llama_draft):
    client.force_login(ops_user)
    response = client.post(_url("routing_publish", team), {"comment": "pilot Llama"}, follow=True)
    assert "Published version 2." in response.content.decode()
    assert RoutingVersion.objects.get(team=team, number=2).comment == "pilot Llama"


def test_it_does_not_publish_a_draft_changed_since_the_confirmation(
    client, ops_user, team, llama_draft, llama
):
    client.force_login(ops_user)
    page = client.get(_url("routing_publish", team)).content.decode()
    reviewed = re.search(r'name="reviewed" value="(\w+)"', page).group(1)
    rule_save(team=team, user=ops_user, task_type="*", fallbacks=[], rule=llama_draft,
              targets=[{"model_id": llama.pk, "weight": 100}])  # fmt: skip
    data = {"comment": "pilot", "reviewed": reviewed}
    response = client.post(_url("routing_publish", team), data)
    assert response.status_code == 409
    assert "The draft changed since you opened this page" in response.content.decode()
    assert 'value="pilot"' in response.content.decode()
    assert RoutingVersion.objects.filter(team=team).count() == 1


def test_an_unchanged_draft_has_nothing_to_publish(client, ops_user, team, live_rule):
    client.force_login(ops_user)
    assert "Publish as version" not in client.get(_url("routing", team)).content.decode()
    page = client.get(_url("routing_publish", team)).content.decode()
    assert "Nothing to publish" in page
    assert "Publish as version" not in page
    response = client.post(_url("routing_publish", team), {"comment": "again"})
    assert response.status_code == 400
    assert "Nothing to publish" in response.content.decode()
    assert RoutingVersion.objects.filter(team=team).count() == 1


def test_the_routing_page_marks_the_draft_against_live(client, viewer_user, team, llama_draft):
    client.force_login(viewer_user)
    page = client.get(_url("routing", team)).content.decode()
    assert 'data-testid="unpublished-changes"' in page
    assert 'data-testid="diff-table"' in page
    assert "changed, not live" in page
    assert "anthropic/claude-sonnet-4-5 <strong>100%</strong>" in page  # the live rule
    assert "Reset the draft to live" not in page


def test_an_editor_resets_the_draft_to_live(client, ops_user, team, live_rule, llama_draft):
    client.force_login(ops_user)
    confirm = client.get(_url("routing_draft_reset", team)).content.decode()
    assert "Reset the draft to the live version 1?" in confirm
    response = client.post(_url("routing_draft_reset", team), follow=True)
    assert "The draft is version 1 again." in response.content.decode()
    assert draft_snapshot(team) == RoutingVersion.objects.get(team=team).snapshot
    assert AuditEvent.objects.filter(action="routing.draft_reset").count() == 1


def test_a_rollback_offers_to_reset_the_draft_and_does_by_default(
    client, ops_user, team, llama_draft
):
    routing_publish(team=team, user=ops_user, comment="llama")
    rule_save(team=team, user=ops_user, task_type="extract", targets=llama_draft.targets,
              fallbacks=[])  # fmt: skip
    client.force_login(ops_user)
    url = _url("routing_version_rollback", team, number=1)
    page = client.get(url).content.decode()
    assert 'name="reset_draft" value="on" checked' in page
    response = client.post(url, {"reset_draft": "on"}, follow=True)
    assert "The draft is those rules too." in response.content.decode()
    assert draft_snapshot(team) == RoutingVersion.objects.get(team=team, number=1).snapshot


@pytest.mark.usefixtures("frozen_now")
def test_the_cost_fragment_says_what_the_draft_saves(
    client, viewer_user, team, llama_draft, summaries_yesterday
):
    client.force_login(viewer_user)
    page = client.get(_url("routing_publish_cost", team), HTTP_HX_REQUEST="true").content.decode()
    assert 'data-testid="publish-cost"' in page
    assert "It saves $" in page
