"""The routing page, the rule editor and publishing, for every role."""

import pytest
from django.urls import reverse

from routing.models import RoutingRule, RoutingVersion
from routing.publish import routing_publish
from routing.rules import rule_save

ROLES = ["admin", "ops", "finance", "viewer"]
EDITORS = ["admin", "ops"]


@pytest.fixture
def default_rule(team, admin_user, llama, deepseek, sonnet):
    return rule_save(
        team=team,
        user=admin_user,
        task_type="*",
        targets=[{"model_id": llama.pk, "weight": 70}, {"model_id": deepseek.pk, "weight": 30}],
        fallbacks=[sonnet.pk],
    )


@pytest.fixture
def other_rule(other_team, outsider, llama):
    return rule_save(
        team=other_team,
        user=outsider,
        task_type="*",
        targets=[{"model_id": llama.pk, "weight": 100}],
        fallbacks=[],
    )


def _url(name, team, **kwargs):
    return reverse(name, kwargs={"team": team.slug, **kwargs})


def _rule_data(task_type="*", targets=(), fallbacks=(), revision="", action="save"):
    return {
        "task_type": task_type,
        "enabled": "on",
        "description": "",
        "target_model": [model.pk for model, _ in targets],
        "target_weight": [weight for _, weight in targets],
        "fallback_model": [model.pk for model in fallbacks],
        "based_on_revision": revision,
        "action": action,
    }


def _login(client, users_by_role, role):
    client.force_login(users_by_role[role])
    return client


# Who may do what


@pytest.mark.parametrize("role", ROLES)
def test_it_shows_the_routing_page_to_every_role(client, users_by_role, team, default_rule, role):
    response = _login(client, users_by_role, role).get(_url("routing", team))
    assert response.status_code == 200
    assert "unsloth/Llama-3.3-70B-Instruct" in response.content.decode()


@pytest.mark.parametrize(("role", "sees"), [("admin", True), ("finance", False), ("viewer", False)])
def test_it_shows_edit_controls_only_to_editors(
    client, users_by_role, team, default_rule, role, sees
):
    page = _login(client, users_by_role, role).get(_url("routing", team)).content.decode()
    assert ("Add a rule" in page) is sees
    assert ("Publish as version" in page) is sees


@pytest.mark.parametrize("role", ["finance", "viewer"])
def test_it_refuses_publishing_to_readers(client, users_by_role, team, default_rule, role):
    client = _login(client, users_by_role, role)
    response = client.post(_url("routing_publish", team), {"comment": "x"})
    assert response.status_code == 403
    assert not RoutingVersion.objects.exists()


@pytest.mark.parametrize("role", ["finance", "viewer"])
@pytest.mark.parametrize("name", ["routing_rule_new", "routing_rule_check_new"])
def test_it_refuses_rule_editing_to_readers(client, users_by_role, team, catalog, role, name):
    client = _login(client, users_by_role, role)
    assert client.post(_url(name, team), _rule_data()).status_code == 403
    assert client.post(_url("routing_rule_rows", team), _rule_data()).status_code == 403


@pytest.mark.parametrize("role", ["finance", "viewer"])
def test_it_refuses_the_rule_form_to_readers(client, users_by_role, team, default_rule, role):
    client = _login(client, users_by_role, role)
    assert client.get(_url("routing_rule_new", team)).status_code == 403
    url = _url("routing_rule_edit", team, rule_id=default_rule.pk)
    assert client.get(url).status_code == 403


@pytest.mark.parametrize("role", EDITORS)
def test_it_opens_the_rule_form_for_editors(client, users_by_role, team, default_rule, role):
    client = _login(client, users_by_role, role)
    assert client.get(_url("routing_rule_new", team)).status_code == 200
    assert client.get(_url("routing_rule_edit", team, rule_id=default_rule.pk)).status_code == 200


@pytest.mark.parametrize("name", ["routing", "routing_rule_new", "routing_try", "routing_versions"])
def test_it_hides_the_routing_pages_from_outsiders(client, outsider, team, name):
    client.force_login(outsider)
    assert client.get(_url(name, team)).status_code == 404


def test_it_hides_a_rule_from_outsiders(client, outsider, team, default_rule):
    client.force_login(outsider)
    url = _url("routing_rule_edit", team, rule_id=default_rule.pk)
    assert client.post(url, _rule_data()).status_code == 404


def test_it_answers_404_for_an_unknown_team(client, admin_user):
    client.force_login(admin_user)
    assert client.get(reverse("routing_rule_new", kwargs={"team": "nope"})).status_code == 404


def test_it_answers_404_for_a_rule_of_another_team(client, admin_user, team, other_rule, llama):
    client.force_login(admin_user)
    url = _url("routing_rule_edit", team, rule_id=other_rule.pk)
    assert client.get(url).status_code == 404
    assert client.post(url, _rule_data(targets=[(llama, 100)])).status_code == 404
    other_rule.refresh_from_db()
    assert other_rule.revision == 1


# The page


def test_it_explains_rules_when_there_are_none(client, admin_user, team):
    client.force_login(admin_user)
    page = client.get(_url("routing", team)).content.decode()
    assert "No routing rules yet" in page
    assert "required before the first publish" in page


def test_it_draws_the_weights_of_each_target(client, admin_user, team, default_rule):
    client.force_login(admin_user)
    page = client.get(_url("routing", team)).content.decode()
    assert "width: 70%" in page
    assert "deepseek-ai/DeepSeek-V3 <strong>30%</strong>" in page


# Adding and editing rules


def test_it_adds_a_rule(client, admin_user, team, llama, deepseek):
    client.force_login(admin_user)
    data = _rule_data(targets=[(llama, 60), (deepseek, 40)])
    response = client.post(_url("routing_rule_new", team), data)
    assert response.status_code == 302
    rule = RoutingRule.objects.get(team=team)
    assert rule.targets == [
        {"model_id": llama.pk, "weight": 60},
        {"model_id": deepseek.pk, "weight": 40},
    ]
    assert rule.updated_by == admin_user


def test_it_refuses_weights_that_do_not_add_up_keeping_the_rows(
    client, admin_user, team, llama, deepseek
):
    client.force_login(admin_user)
    data = _rule_data(targets=[(llama, 60), (deepseek, 30)])
    response = client.post(_url("routing_rule_new", team), data)
    page = response.content.decode()
    assert response.status_code == 400
    assert "Weights add up to 90; they must add up to 100." in page
    assert page.count('data-testid="target-row"') == 2
    assert 'name="target_weight" value="30"' in page
    assert not RoutingRule.objects.exists()


def test_it_refuses_hundreds_of_fallback_rows(client, admin_user, team, llama, sonnet):
    client.force_login(admin_user)
    data = _rule_data(targets=[(llama, 100)], fallbacks=[sonnet] * 300)
    response = client.post(_url("routing_rule_new", team), data)
    assert response.status_code == 400
    assert "At most 20 targets and 20 fallbacks." in response.content.decode()
    assert not RoutingRule.objects.exists()


def test_it_checks_a_rule_as_it_is_typed(client, admin_user, team, llama):
    client.force_login(admin_user)
    data = _rule_data(targets=[(llama, 90)])
    response = client.post(_url("routing_rule_check_new", team), data, HTTP_HX_REQUEST="true")
    page = response.content.decode()
    assert response.status_code == 200
    assert page.startswith('<div id="rule-check"')
    assert "Weights add up to 90; they must add up to 100." in page


def test_it_warns_about_a_provider_without_a_key_in_the_check(client, admin_user, team, llama):
    client.force_login(admin_user)
    data = _rule_data(targets=[(llama, 100)])
    page = client.post(_url("routing_rule_check_new", team), data).content.decode()
    assert "Maven has no active Chutes (Bittensor SN64) key" in page


def test_it_adds_a_target_row_for_htmx(client, admin_user, team, llama):
    client.force_login(admin_user)
    data = _rule_data(targets=[(llama, 70)], action="add-target")
    page = client.post(_url("routing_rule_rows", team), data, HTTP_HX_REQUEST="true")
    page = page.content.decode()
    assert page.count('data-testid="target-row"') == 2
    assert 'name="target_weight" value="30"' in page


def test_it_removes_a_fallback_row_for_htmx(client, admin_user, team, llama, deepseek, sonnet):
    client.force_login(admin_user)
    data = _rule_data(
        targets=[(llama, 100)], fallbacks=[deepseek, sonnet], action="remove-fallback-0"
    )
    page = client.post(_url("routing_rule_rows", team), data, HTTP_HX_REQUEST="true")
    page = page.content.decode()
    assert page.count('data-testid="fallback-row"') == 1
    assert f'<option value="{sonnet.pk}" selected>' in page
    assert f'<option value="{deepseek.pk}" selected>' not in page


def test_it_moves_a_target_up_without_javascript(client, admin_user, team, llama, deepseek):
    client.force_login(admin_user)
    data = _rule_data(targets=[(llama, 60), (deepseek, 40)], action="up-target-1")
    response = client.post(_url("routing_rule_new", team), data)
    page = response.content.decode()
    assert response.status_code == 200
    assert page.index('value="40"') < page.index('value="60"')
    assert not RoutingRule.objects.exists()


def test_it_refuses_a_stale_edit_without_overwriting(
    client, admin_user, ops_user, team, default_rule, llama
):
    rule_save(
        team=team,
        user=ops_user,
        task_type="*",
        targets=[{"model_id": llama.pk, "weight": 100}],
        fallbacks=[],
        rule=default_rule,
    )
    client.force_login(admin_user)
    url = _url("routing_rule_edit", team, rule_id=default_rule.pk)
    response = client.post(url, _rule_data(targets=[(llama, 100)], revision=1))
    page = response.content.decode()
    assert response.status_code == 409
    assert "ops-user saved this rule" in page
    default_rule.refresh_from_db()
    assert (default_rule.revision, default_rule.updated_by) == (2, ops_user)


# Publishing


def test_it_refuses_to_publish_without_a_default_rule(client, admin_user, team, llama):
    rule_save(
        team=team,
        user=admin_user,
        task_type="summarize",
        targets=[{"model_id": llama.pk, "weight": 100}],
        fallbacks=[],
    )
    client.force_login(admin_user)
    response = client.post(_url("routing_publish", team), {"comment": "first"})
    assert response.status_code == 400
    assert "Add an enabled default rule (*) first" in response.content.decode()
    assert not RoutingVersion.objects.exists()


def test_it_publishes_version_1_and_the_banner_goes(client, admin_user, team, default_rule):
    client.force_login(admin_user)
    response = client.post(_url("routing_publish", team), {"comment": "first"}, follow=True)
    page = response.content.decode()
    assert "Published version 1" in page
    assert RoutingVersion.objects.get(team=team).number == 1
    assert 'data-testid="unpublished-changes"' not in page


def test_it_lists_a_change_made_after_publishing(
    client, admin_user, team, default_rule, llama, deepseek
):
    routing_publish(team=team, user=admin_user, comment="first")
    client.force_login(admin_user)
    url = _url("routing_rule_edit", team, rule_id=default_rule.pk)
    client.post(url, _rule_data(targets=[(llama, 50), (deepseek, 50)], revision=1))
    page = client.get(_url("routing", team)).content.decode()
    assert 'data-testid="unpublished-changes"' in page
    assert "chutes/unsloth/Llama-3.3-70B-Instruct 50%" in page


# Try it


def test_it_resolves_a_request_with_the_published_rules(
    client, viewer_user, admin_user, team, default_rule
):
    routing_publish(team=team, user=admin_user, comment="first")
    client.force_login(viewer_user)
    query = {"task_type": "summarize", "request_id": "req-1"}
    response = client.get(_url("routing_try", team), query, HTTP_HX_REQUEST="true")
    page = response.content.decode()
    assert page.startswith('<div id="try-result"')
    assert 'anthropic / claude-sonnet-4-5 <span class="muted">(fallback)</span>' in page
    assert "rule <code>*</code> (default)" in page


def test_it_says_when_nothing_is_published_to_try(client, admin_user, team, default_rule):
    client.force_login(admin_user)
    query = {"task_type": "summarize", "request_id": "req-1"}
    page = client.get(_url("routing_try", team), query, HTTP_HX_REQUEST="true").content.decode()
    assert "Nothing is published yet" in page


def test_adding_a_row_to_an_existing_rule_does_not_call_it_a_duplicate(
    client, admin_user, team, default_rule, llama
):
    client.force_login(admin_user)
    data = _rule_data(targets=[(llama, 100)], action="add-target")
    url = _url("routing_rule_rows_edit", team, rule_id=default_rule.pk)
    page = client.post(url, data, HTTP_HX_REQUEST="true").content.decode()
    assert "There is already a rule" not in page
    assert page.count('data-testid="target-row"') == 2


def test_a_refused_save_shows_each_problem_once(client, admin_user, team, llama, deepseek):
    client.force_login(admin_user)
    data = _rule_data(targets=[(llama, 70), (deepseek, 20)])
    page = client.post(_url("routing_rule_new", team), data).content.decode()
    assert page.count("Weights add up to 90; they must add up to 100.") == 1


# Errors on their rows, the running total, providers beside models


def test_a_bad_weight_is_marked_on_its_own_row(client, admin_user, team, llama, deepseek):
    client.force_login(admin_user)
    data = _rule_data(targets=[(llama, 100), (deepseek, 150)])
    page = client.post(_url("routing_rule_new", team), data).content.decode()
    assert 'value="150" id="target-1-weight" min="0"' in page
    assert 'aria-describedby="target-1-weight-errors" class="weight" aria-invalid="true">' in page
    assert (
        '<ul id="target-1-weight-errors" class="errorlist row-errors" '
        'data-errors-for="target-1-weight"><li>Weights are whole numbers from 0 to 100.</li></ul>'
    ) in page
    assert page.count('aria-invalid="true"') == 1


def test_a_repeated_fallback_is_marked_on_its_row(client, admin_user, team, llama, sonnet):
    client.force_login(admin_user)
    data = _rule_data(targets=[(llama, 100)], fallbacks=[sonnet, llama])
    page = client.post(_url("routing_rule_new", team), data).content.decode()
    errors = page.split('id="fallback-1-model-errors"')[1].split("</ul>")[0]
    assert "A fallback repeats a target: it would be tried twice." in errors
    assert '<select name="fallback_model" id="fallback-1-model"' in page


def test_a_rule_level_error_sits_at_the_top_of_the_form(client, admin_user, team, llama, deepseek):
    client.force_login(admin_user)
    data = _rule_data(targets=[(llama, 60), (deepseek, 30)])
    page = client.post(_url("routing_rule_new", team), data).content.decode()
    assert page.index("Weights add up to 90") < page.index('data-testid="target-row"')
    assert 'aria-invalid="true"' not in page


def test_the_live_check_sends_each_rows_errors_and_the_total(client, admin_user, team, llama):
    client.force_login(admin_user)
    data = _rule_data(targets=[(llama, -5)])
    response = client.post(_url("routing_rule_check_new", team), data, HTTP_HX_REQUEST="true")
    page = response.content.decode()
    errors = page.split('id="target-0-weight-errors"')[1].split("</ul>")[0]
    assert 'hx-swap-oob="true"' in errors
    assert "Weights are whole numbers from 0 to 100." in errors
    assert 'id="weight-total"' in page


def test_it_shows_the_running_weight_total(client, admin_user, team, llama, deepseek):
    client.force_login(admin_user)
    data = _rule_data(targets=[(llama, 60), (deepseek, 30)])
    page = client.post(_url("routing_rule_new", team), data).content.decode()
    assert "Total: <strong>90%</strong> of 100%" in page


def test_it_shows_the_weight_total_of_a_saved_rule(client, admin_user, team, default_rule):
    client.force_login(admin_user)
    page = client.get(_url("routing_rule_edit", team, rule_id=default_rule.pk)).content.decode()
    assert "Total: <strong>100%</strong></p>" in page


def test_it_shows_the_provider_with_each_model(client, admin_user, team, llama):
    client.force_login(admin_user)
    page = client.get(_url("routing_rule_new", team)).content.decode()
    assert f'<option value="{llama.pk}">chutes · unsloth/Llama-3.3-70B-Instruct</option>' in page


def test_row_errors_keep_their_rows_after_a_row_without_a_model(client, admin_user, team, llama):
    client.force_login(admin_user)
    data = _rule_data(targets=[(llama, 0), (llama, 150)])
    data["target_model"] = ["", llama.pk]
    page = client.post(_url("routing_rule_new", team), data).content.decode()
    model_errors = page.split('id="target-0-model-errors"')[1].split("</ul>")[0]
    weight_errors = page.split('id="target-1-weight-errors"')[1].split("</ul>")[0]
    assert "Choose a model in every target row, or remove the row." in model_errors
    assert "Weights are whole numbers from 0 to 100." in weight_errors


def test_a_bad_weight_is_marked_before_its_model_is_chosen(client, admin_user, team, llama):
    client.force_login(admin_user)
    data = _rule_data(targets=[(llama, 100), (llama, 150)])
    data["target_model"] = [llama.pk, ""]
    page = client.post(_url("routing_rule_new", team), data).content.decode()
    weight_errors = page.split('id="target-1-weight-errors"')[1].split("</ul>")[0]
    assert "Weights are whole numbers from 0 to 100." in weight_errors
