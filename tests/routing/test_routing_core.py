from collections import Counter

import pytest
import yaml
from django.core.exceptions import ValidationError

from billing.catalog import catalog_load
from dashboard.models import AuditEvent
from dashboard.tokens import token_create
from routing.litellm_config import litellm_config
from routing.models import Model, RoutingRule, RoutingVersion
from routing.publish import (
    diff_rows,
    draft_snapshot,
    publish_problems,
    routing_draft_reset,
    routing_publish,
    routing_rollback,
    snapshot_diff,
    unpublished_changes,
)
from routing.resolve import resolve_route
from routing.rules import StaleEdit, check_rule, rule_save


@pytest.fixture
def models(db):
    catalog_load()
    return {m.name: m for m in Model.objects.all()}


@pytest.fixture
def llama(models):
    return models["unsloth/Llama-3.3-70B-Instruct"]


@pytest.fixture
def sonnet(models):
    return models["claude-sonnet-4-5"]


def _save(team, user, task, targets, fallbacks=(), **kwargs):
    return rule_save(
        team=team, user=user, task_type=task, targets=targets, fallbacks=list(fallbacks), **kwargs
    )


@pytest.fixture
def draft(team, admin_user, llama, sonnet):
    _save(team, admin_user, "*", [{"model_id": sonnet.pk, "weight": 100}])
    return _save(
        team,
        admin_user,
        "summarization",
        [{"model_id": llama.pk, "weight": 80}, {"model_id": sonnet.pk, "weight": 20}],
    )


def test_weights_must_add_up_to_100(team, llama, sonnet):
    check = check_rule(
        team=team,
        task_type="x",
        fallbacks=[],
        targets=[{"model_id": llama.pk, "weight": 70}, {"model_id": sonnet.pk, "weight": 20}],
    )
    assert check.errors["targets"] == ["Weights add up to 90; they must add up to 100."]


def test_a_fallback_may_not_repeat_a_target(team, llama):
    check = check_rule(
        team=team,
        task_type="x",
        targets=[{"model_id": llama.pk, "weight": 100}],
        fallbacks=[llama.pk],
    )
    assert "repeats a target" in check.errors["fallbacks"][0]


def test_a_rule_has_a_bounded_number_of_fallbacks(team, llama, sonnet):
    check = check_rule(
        team=team,
        task_type="x",
        targets=[{"model_id": llama.pk, "weight": 100}],
        fallbacks=list(range(1, 500)),
    )
    assert check.errors["fallbacks"] == ["At most 20 targets and 20 fallbacks."]


def test_a_model_without_a_price_is_refused(team, models):
    bare = Model.objects.create(provider=models["claude-sonnet-4-5"].provider, name="claude-x")
    check = check_rule(
        team=team, task_type="x", targets=[{"model_id": bare.pk, "weight": 100}], fallbacks=[]
    )
    assert "has no price" in check.errors["targets"][0]


def test_a_task_type_may_have_one_rule_only(team, draft, llama):
    check = check_rule(
        team=team,
        task_type="summarization",
        fallbacks=[],
        targets=[{"model_id": llama.pk, "weight": 100}],
    )
    assert "already a rule" in check.errors["task_type"][0]


def test_it_warns_when_the_team_has_no_key_for_a_provider(team, llama):
    check = check_rule(
        team=team, task_type="x", targets=[{"model_id": llama.pk, "weight": 100}], fallbacks=[]
    )
    assert check.ok
    assert "no active Chutes (Bittensor SN64) key" in check.warnings[0]


def test_a_second_save_from_an_old_revision_is_refused(team, admin_user, ops_user, draft, llama):
    _save(
        team,
        ops_user,
        "summarization",
        [{"model_id": llama.pk, "weight": 100}],
        rule=draft,
        based_on_revision=draft.revision,
    )
    with pytest.raises(StaleEdit) as stale:
        _save(
            team,
            admin_user,
            "summarization",
            [{"model_id": llama.pk, "weight": 100}],
            rule=draft,
            based_on_revision=draft.revision,
        )
    assert stale.value.current.updated_by == ops_user


def test_publishing_needs_a_default_rule(team, admin_user, llama):
    _save(team, admin_user, "summarization", [{"model_id": llama.pk, "weight": 100}])
    assert "default rule" in publish_problems(team)[0]
    with pytest.raises(ValidationError):
        routing_publish(team=team, user=admin_user, comment="first")


def test_publishing_numbers_versions_and_audits(team, admin_user, draft, sonnet):
    first = routing_publish(team=team, user=admin_user, comment="first")
    _save(team, admin_user, "summarization", [{"model_id": sonnet.pk, "weight": 100}], rule=draft)
    second = routing_publish(team=team, user=admin_user, comment="again")
    assert (first.number, second.number) == (1, 2)
    assert AuditEvent.objects.filter(action="routing.published").count() == 2


def test_it_refuses_to_publish_an_unchanged_draft(team, admin_user, draft):
    routing_publish(team=team, user=admin_user, comment="first")
    with pytest.raises(ValidationError, match="Nothing to publish"):
        routing_publish(team=team, user=admin_user, comment="again")
    assert RoutingVersion.objects.filter(team=team).count() == 1


def test_it_refuses_to_publish_without_a_comment(team, admin_user, draft):
    with pytest.raises(ValidationError, match="comment is required"):
        routing_publish(team=team, user=admin_user, comment="   ")
    assert not RoutingVersion.objects.filter(team=team).exists()


def test_resetting_the_draft_makes_it_the_live_rules_again(team, admin_user, draft, sonnet, llama):
    live = routing_publish(team=team, user=admin_user, comment="first")
    _save(team, admin_user, "summarization", [{"model_id": sonnet.pk, "weight": 100}], rule=draft)
    _save(team, admin_user, "extract", [{"model_id": llama.pk, "weight": 100}])
    RoutingRule.objects.get(team=team, task_type="*").delete()
    routing_draft_reset(team=team, user=admin_user)
    assert draft_snapshot(team) == live.snapshot
    assert (
        RoutingRule.objects.get(team=team, task_type="summarization").revision == draft.revision + 2
    )
    assert AuditEvent.objects.filter(action="routing.draft_reset").count() == 1


def test_resetting_needs_a_published_version(team, admin_user, draft):
    with pytest.raises(ValidationError, match="Nothing is published"):
        routing_draft_reset(team=team, user=admin_user)


def test_a_rollback_may_reset_the_draft_to_the_old_rules(team, admin_user, draft, sonnet):
    first = routing_publish(team=team, user=admin_user, comment="first")
    _save(team, admin_user, "summarization", [{"model_id": sonnet.pk, "weight": 100}], rule=draft)
    second = routing_publish(team=team, user=admin_user, comment="second")
    routing_rollback(version=first, user=admin_user, reset_draft=True)
    assert draft_snapshot(team) == first.snapshot != second.snapshot


def test_a_rollback_leaves_the_draft_unless_asked(team, admin_user, draft, sonnet):
    first = routing_publish(team=team, user=admin_user, comment="first")
    _save(team, admin_user, "summarization", [{"model_id": sonnet.pk, "weight": 100}], rule=draft)
    second = routing_publish(team=team, user=admin_user, comment="second")
    routing_rollback(version=first, user=admin_user)
    assert draft_snapshot(team) == second.snapshot


def test_diff_rows_give_each_target_its_weight_before_and_after(team, admin_user, draft, models):
    deepseek = models["deepseek-ai/DeepSeek-V3"]
    old = routing_publish(team=team, user=admin_user, comment="first").snapshot
    llama_id = draft.targets[0]["model_id"]
    targets = [{"model_id": llama_id, "weight": 50}, {"model_id": deepseek.pk, "weight": 50}]
    _save(team, admin_user, "summarization", targets, rule=draft)
    _save(team, admin_user, "extract", [{"model_id": deepseek.pk, "weight": 100}])
    rows = diff_rows(old, draft_snapshot(team))
    assert [(r["task_type"], r["target"], r["before"], r["after"], r["status"]) for r in rows] == [
        ("extract", "chutes/deepseek-ai/DeepSeek-V3", None, 100, "added"),
        ("summarization", "chutes/unsloth/Llama-3.3-70B-Instruct", 80, 50, "changed"),
        ("summarization", "anthropic/claude-sonnet-4-5", 20, None, "removed"),
        ("summarization", "chutes/deepseek-ai/DeepSeek-V3", None, 50, "added"),
    ]
    assert rows[1]["delta"] == -30


def test_diff_rows_list_a_changed_fallback_and_nothing_for_an_unchanged_rule(
    team, admin_user, draft, models
):
    deepseek = models["deepseek-ai/DeepSeek-V3"]
    old = routing_publish(team=team, user=admin_user, comment="first").snapshot
    _save(team, admin_user, "summarization", draft.targets, fallbacks=[deepseek.pk], rule=draft)
    [row] = [r for r in diff_rows(old, draft_snapshot(team)) if r.get("setting")]
    assert (row["target"], row["before"], row["after"]) == (
        "fallbacks",
        "none",
        "chutes/deepseek-ai/DeepSeek-V3",
    )
    assert diff_rows(old, old) == []


def test_a_published_version_does_not_change_with_the_draft(team, admin_user, draft, sonnet):
    version = routing_publish(team=team, user=admin_user, comment="first")
    _save(team, admin_user, "summarization", [{"model_id": sonnet.pk, "weight": 100}], rule=draft)
    version.refresh_from_db()
    assert version.snapshot[1]["targets"][0]["model"] == "unsloth/Llama-3.3-70B-Instruct"
    assert unpublished_changes(team)[0].startswith("~ summarization")


def test_rollback_publishes_the_old_snapshot_as_a_new_version(team, admin_user, draft, sonnet):
    first = routing_publish(team=team, user=admin_user, comment="first")
    _save(team, admin_user, "summarization", [{"model_id": sonnet.pk, "weight": 100}], rule=draft)
    routing_publish(team=team, user=admin_user, comment="second")
    third = routing_rollback(version=first, user=admin_user)
    assert (third.number, third.snapshot, third.rollback_of) == (3, first.snapshot, first)
    assert AuditEvent.objects.filter(action="routing.rolled_back").exists()


def test_the_diff_says_what_changed(team, admin_user, draft, sonnet):
    old = routing_publish(team=team, user=admin_user, comment="first").snapshot
    _save(team, admin_user, "summarization", [{"model_id": sonnet.pk, "weight": 100}], rule=draft)
    new = routing_publish(team=team, user=admin_user, comment="second").snapshot
    [line] = snapshot_diff(old, new)
    assert "chutes/unsloth/Llama-3.3-70B-Instruct 80%" in line
    assert "anthropic/claude-sonnet-4-5 100%" in line


def test_resolution_splits_ids_by_weight(team, admin_user, draft):
    rules = routing_publish(team=team, user=admin_user, comment="x").snapshot
    picks = Counter(resolve_route(rules, "summarization", f"req-{n}")[0][0] for n in range(100_000))
    assert 19_000 <= picks["anthropic"] <= 21_000


def test_resolution_is_stable_for_a_request_id(team, admin_user, draft):
    rules = routing_publish(team=team, user=admin_user, comment="x").snapshot
    assert resolve_route(rules, "summarization", "req-7") == resolve_route(
        rules, "summarization", "req-7"
    )


def test_unknown_task_types_use_the_default_rule(team, admin_user, draft):
    rules = routing_publish(team=team, user=admin_user, comment="x").snapshot
    assert resolve_route(rules, "poetry", "req-1") == [("anthropic", "claude-sonnet-4-5")]


def test_fallbacks_follow_the_pick(team, admin_user, llama, sonnet):
    _save(team, admin_user, "*", [{"model_id": llama.pk, "weight": 100}], fallbacks=[sonnet.pk])
    rules = routing_publish(team=team, user=admin_user, comment="x").snapshot
    assert resolve_route(rules, "*", "r") == [
        ("chutes", "unsloth/Llama-3.3-70B-Instruct"),
        ("anthropic", "claude-sonnet-4-5"),
    ]


def _get(client, url, token, **headers):
    return client.get(url, HTTP_AUTHORIZATION=f"Bearer {token}", **headers)


def test_the_routes_api_serves_the_latest_version(client, team, admin_user, draft, routes_token):
    routing_publish(team=team, user=admin_user, comment="first")
    answer = _get(client, "/api/v1/routes", routes_token)
    body = answer.json()
    assert (body["version"], body["comment"]) == (1, "first")
    assert body["rules"][1]["targets"][0] == {
        "provider": "chutes",
        "model": "unsloth/Llama-3.3-70B-Instruct",
        "weight": 80,
        "api_base": "https://llm.chutes.ai/v1",
    }


def test_the_routes_api_answers_304_for_the_same_etag(
    client, team, admin_user, draft, routes_token
):
    routing_publish(team=team, user=admin_user, comment="first")
    etag = _get(client, "/api/v1/routes", routes_token)["ETag"]
    again = _get(client, "/api/v1/routes", routes_token, HTTP_IF_NONE_MATCH=etag)
    assert (again.status_code, again.content) == (304, b"")


def test_a_new_version_changes_the_etag(client, team, admin_user, draft, sonnet, routes_token):
    routing_publish(team=team, user=admin_user, comment="first")
    etag = _get(client, "/api/v1/routes", routes_token)["ETag"]
    _save(team, admin_user, "summarization", [{"model_id": sonnet.pk, "weight": 100}], rule=draft)
    routing_publish(team=team, user=admin_user, comment="second")
    assert _get(client, "/api/v1/routes", routes_token, HTTP_IF_NONE_MATCH=etag).status_code == 200


def test_the_routes_api_says_when_nothing_is_published(client, team, routes_token):
    response = _get(client, "/api/v1/routes", routes_token)
    assert (response.status_code, response.json()["error"]) == (404, "nothing published")


def test_the_routes_api_needs_the_routes_scope(client, team):
    _, token = token_create(team=team, name="proxy", scopes=["usage:write"])
    assert _get(client, "/api/v1/routes", token).status_code == 403


def test_the_litellm_config_has_weights_groups_and_fallbacks(team, admin_user, llama, sonnet):
    _save(team, admin_user, "*", [{"model_id": sonnet.pk, "weight": 100}])
    _save(
        team,
        admin_user,
        "summarization",
        [{"model_id": llama.pk, "weight": 80}, {"model_id": sonnet.pk, "weight": 20}],
    )
    rules = routing_publish(team=team, user=admin_user, comment="x").snapshot
    config = litellm_config(rules)
    chutes = config["model_list"][1]
    assert chutes == {
        "model_name": "summarization",
        "litellm_params": {
            "model": "openai/unsloth/Llama-3.3-70B-Instruct",
            "api_base": "https://llm.chutes.ai/v1",
            "api_key": "os.environ/CHUTES_API_KEY",
            "weight": 80,
        },
    }


def test_the_yaml_endpoint_loads_in_a_real_litellm_router(
    client, team, admin_user, llama, sonnet, routes_token, monkeypatch
):
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    monkeypatch.setenv("CHUTES_API_KEY", "cpk_test")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    litellm = pytest.importorskip("litellm")
    _save(team, admin_user, "*", [{"model_id": sonnet.pk, "weight": 100}])
    _save(
        team,
        admin_user,
        "summarization",
        [{"model_id": llama.pk, "weight": 80}, {"model_id": sonnet.pk, "weight": 20}],
    )
    _save(
        team,
        admin_user,
        "code_generation",
        [{"model_id": llama.pk, "weight": 100}],
        fallbacks=[sonnet.pk],
    )
    routing_publish(team=team, user=admin_user, comment="x")
    config = yaml.safe_load(_get(client, "/api/v1/routes/litellm.yaml", routes_token).content)
    router = litellm.Router(model_list=config["model_list"], **config["router_settings"])
    picks = Counter(
        router.get_available_deployment(model="summarization")["litellm_params"]["model"]
        for _ in range(2_000)
    )
    assert 1_500 <= picks["openai/unsloth/Llama-3.3-70B-Instruct"] <= 1_700
    assert {"code_generation": ["code_generation--fallback-1"]} in config["router_settings"][
        "fallbacks"
    ]


def test_saving_an_invalid_rule_is_refused(team, admin_user, llama):
    with pytest.raises(ValidationError):
        _save(team, admin_user, "x", [{"model_id": llama.pk, "weight": 100}], fallbacks=[llama.pk])
    assert not team.routing_rules.exists()
