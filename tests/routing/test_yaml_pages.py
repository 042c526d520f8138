"""The draft downloaded as YAML, and YAML imported into the draft."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from routing.models import RoutingRule
from routing.rules import rule_save
from routing.yaml_io import import_routing_yaml

ROLES = ["admin", "ops", "finance", "viewer"]

SEED_SHAPE = """providers:
  default: chutes
  default_model: unsloth/Llama-3.3-70B-Instruct
routing:
  - task_type: summarization
    provider: chutes
    model: unsloth/Llama-3.3-70B-Instruct
"""


def _url(name, team):
    return reverse(name, kwargs={"team": team.slug})


@pytest.mark.parametrize(("role", "status"), [("admin", 200), ("ops", 200), ("finance", 403)])
def test_it_opens_the_import_page_to_routing_editors_only(
    client, users_by_role, team, role, status
):
    client.force_login(users_by_role[role])
    assert client.get(_url("routing_import", team)).status_code == status


def test_it_refuses_the_import_page_to_viewers(client, viewer_user, team):
    client.force_login(viewer_user)
    assert client.get(_url("routing_import", team)).status_code == 403


def test_it_refuses_an_import_from_a_viewer(client, viewer_user, team, catalog):
    client.force_login(viewer_user)
    response = client.post(_url("routing_import", team), {"text": SEED_SHAPE})
    assert response.status_code == 403
    assert not RoutingRule.objects.exists()


@pytest.mark.parametrize("name", ["routing_import", "routing_draft_yaml"])
def test_it_hides_the_yaml_pages_from_outsiders(client, outsider, team, name):
    client.force_login(outsider)
    assert client.get(_url(name, team)).status_code == 404


def test_it_shows_the_example_shape_on_the_import_page(client, ops_user, team):
    client.force_login(ops_user)
    page = client.get(_url("routing_import", team)).content.decode()
    assert "default_model: unsloth/Llama-3.3-70B-Instruct" in page


@pytest.mark.parametrize("role", ROLES)
def test_it_lets_every_role_download_the_draft(client, users_by_role, team, role):
    client.force_login(users_by_role[role])
    assert client.get(_url("routing_draft_yaml", team)).status_code == 200


def test_it_downloads_the_draft_as_a_yaml_attachment(client, viewer_user, team):
    client.force_login(viewer_user)
    response = client.get(_url("routing_draft_yaml", team))
    assert response["Content-Type"] == "application/yaml"
    assert response["Content-Disposition"] == 'attachment; filename="maven-routing-draft.yaml"'


def test_it_downloads_yaml_another_team_can_import(
    client, viewer_user, team, other_team, admin_user, llama, deepseek, sonnet
):
    rule_save(
        team=team,
        user=admin_user,
        task_type="*",
        targets=[{"model_id": llama.pk, "weight": 70}, {"model_id": deepseek.pk, "weight": 30}],
        fallbacks=[sonnet.pk],
    )
    client.force_login(viewer_user)
    text = client.get(_url("routing_draft_yaml", team)).content.decode()
    result = import_routing_yaml(team=other_team, user=admin_user, text=text)
    assert result.created == ["*"]
    assert RoutingRule.objects.get(team=other_team).targets[1]["weight"] == 30


def test_it_lists_an_unknown_model_and_keeps_the_text(client, ops_user, team, catalog):
    client.force_login(ops_user)
    text = SEED_SHAPE.replace("model: unsloth/Llama-3.3-70B-Instruct\n", "model: llama-9000\n")
    response = client.post(_url("routing_import", team), {"text": text})
    page = response.content.decode()
    assert response.status_code == 400
    assert "chutes has no model llama-9000" in page
    assert "model: llama-9000" in page
    assert not RoutingRule.objects.exists()


def test_it_imports_pasted_yaml_and_redirects_to_the_rules(client, ops_user, team, catalog):
    client.force_login(ops_user)
    response = client.post(_url("routing_import", team), {"text": SEED_SHAPE})
    assert response.status_code == 302
    assert response["Location"] == _url("routing", team)
    rules = RoutingRule.objects.filter(team=team).values_list("task_type", flat=True)
    assert sorted(rules) == ["*", "summarization"]


def test_it_reports_what_the_import_created(client, ops_user, team, catalog):
    client.force_login(ops_user)
    response = client.post(_url("routing_import", team), {"text": SEED_SHAPE}, follow=True)
    assert "Imported: 2 created, 0 updated" in response.content.decode()


def test_it_shows_import_warnings_as_messages(client, ops_user, team, catalog):
    client.force_login(ops_user)
    text = SEED_SHAPE.replace("  default_model: unsloth/Llama-3.3-70B-Instruct\n", "")
    response = client.post(_url("routing_import", team), {"text": text}, follow=True)
    assert "No default rule (*)" in response.content.decode()


def test_it_prefers_the_uploaded_file_to_the_text(client, ops_user, team, catalog):
    client.force_login(ops_user)
    upload = SimpleUploadedFile("rules.yaml", SEED_SHAPE.encode(), "application/yaml")
    response = client.post(_url("routing_import", team), {"text": "nonsense: [", "file": upload})
    assert response.status_code == 302
    assert RoutingRule.objects.filter(team=team, task_type="summarization").exists()


def test_it_asks_for_yaml_when_the_form_is_empty(client, ops_user, team):
    client.force_login(ops_user)
    response = client.post(_url("routing_import", team), {"text": "  "})
    assert response.status_code == 400
    assert "Paste the YAML or choose a file." in response.content.decode()


def test_it_refuses_an_alias_bomb_with_a_short_answer_and_keeps_the_text(
    client, ops_user, team, catalog
):
    client.force_login(ops_user)
    text = 'a0: &a0 ["lol"]\n' + "".join(
        f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 9)}]\n" for n in range(1, 7)
    )
    text += "routing:\n  - task_type: *a6\n"
    response = client.post(_url("routing_import", team), {"text": text})
    page = response.content.decode()
    assert response.status_code == 400
    assert "anchors and aliases" in page
    assert "a6: &amp;a6" in page
    assert len(response.content) < 50_000


@pytest.mark.parametrize(
    "text",
    [
        "routing:\n  - task_type: a\n    provider: chutes\n    model: m\n    fallbacks: 7\n",
        "routing: " + "[" * 5000 + "]" * 5000,
    ],
)
def test_it_answers_a_form_error_to_a_bad_shape(client, ops_user, team, catalog, text):
    client.force_login(ops_user)
    response = client.post(_url("routing_import", team), {"text": text})
    assert response.status_code == 400
    assert 'data-testid="import-problems"' in response.content.decode()


def test_it_states_the_limits_on_the_import_page(client, ops_user, team):
    client.force_login(ops_user)
    page = client.get(_url("routing_import", team)).content.decode()
    assert "no anchors or aliases" in page
    assert "At most 256 KB, 200 rules" in page
