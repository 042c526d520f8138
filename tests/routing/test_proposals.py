import pytest

from routing.models import Model, RoutingRule, RoutingVersion
from routing.proposals import (
    DraftDiffers,
    failing_by_rule,
    proposal_apply,
    proposal_base,
    proposal_for_team,
    proposal_without,
    remaining_refs,
    spread,
)
from routing.publish import routing_publish
from routing.rules import rule_save

LLAMA = {"provider": "chutes", "model": "unsloth/Llama-3.3-70B-Instruct"}
DEEPSEEK = {"provider": "chutes", "model": "deepseek-ai/DeepSeek-V3"}
SONNET = {"provider": "anthropic", "model": "claude-sonnet-4-5"}
MINI = {"provider": "openai", "model": "gpt-5-mini"}


def _rule(task_type, targets, fallbacks=()):
    return {
        "task_type": task_type,
        "enabled": True,
        "description": "",
        "targets": [ref | {"weight": weight} for ref, weight in targets],
        "fallbacks": list(fallbacks),
    }


def test_spread_shares_in_whole_numbers_that_add_up():
    assert spread([60, 20], 20) == [15, 5]
    assert spread([1, 1, 1], 10) == [4, 3, 3]
    assert sum(spread([7, 3, 5], 33)) == 33


def test_it_moves_a_target_s_weight_to_the_other_targets_in_proportion():
    snapshot = [_rule("summarization", [(LLAMA, 60), (DEEPSEEK, 20), (SONNET, 20)])]
    proposal = proposal_without(snapshot, provider="anthropic")
    assert proposal.after[0]["targets"] == [LLAMA | {"weight": 75}, DEEPSEEK | {"weight": 25}]
    [change] = proposal.changes
    assert change.startswith("~ summarization: ") and "→" in change


def test_it_moves_only_the_named_model_of_a_provider():
    snapshot = [_rule("code", [(LLAMA, 50), (DEEPSEEK, 50)])]
    proposal = proposal_without(snapshot, provider="chutes", model=LLAMA["model"])
    assert proposal.after[0]["targets"] == [DEEPSEEK | {"weight": 100}]


def test_it_falls_back_to_the_first_unaffected_fallback_when_the_target_was_alone():
    snapshot = [_rule("extraction", [(LLAMA, 100)], fallbacks=[DEEPSEEK, SONNET])]
    proposal = proposal_without(snapshot, provider="chutes")
    assert proposal.after[0]["targets"] == [SONNET | {"weight": 100}]
    assert proposal.after[0]["fallbacks"] == [DEEPSEEK]


def test_it_reports_a_rule_with_nowhere_else_to_go():
    snapshot = [_rule("*", [(SONNET, 100)])]
    proposal = proposal_without(snapshot, provider="anthropic")
    assert proposal.stuck == ["*"]
    assert not proposal.changed


def test_it_leaves_rules_without_the_target_alone():
    snapshot = [_rule("*", [(SONNET, 100)]), _rule("code", [(LLAMA, 80), (MINI, 20)])]
    proposal = proposal_without(snapshot, provider="openai")
    assert proposal.after[0] is snapshot[0]
    assert len(proposal.changes) == 1


@pytest.fixture
def draft(team, ops_user, llama, deepseek, sonnet):
    rule_save(
        team=team,
        user=ops_user,
        task_type="*",
        targets=[{"model_id": sonnet.pk, "weight": 100}],
        fallbacks=[],
    )
    rule_save(
        team=team,
        user=ops_user,
        task_type="summarization",
        targets=[{"model_id": llama.pk, "weight": 80}, {"model_id": sonnet.pk, "weight": 20}],
        fallbacks=[deepseek.pk],
    )


def test_applying_a_proposal_changes_the_draft_but_publishes_nothing(team, ops_user, draft, llama):
    proposal = proposal_for_team(team, provider="anthropic")
    assert proposal_apply(team=team, user=ops_user, proposal=proposal) == 1
    rule = RoutingRule.objects.get(team=team, task_type="summarization")
    assert rule.targets == [{"model_id": llama.pk, "weight": 100}]
    assert RoutingRule.objects.get(team=team, task_type="*").targets[0]["weight"] == 100
    assert not RoutingVersion.objects.filter(team=team).exists()


def test_applying_keeps_fallbacks_as_model_ids(team, ops_user, draft, deepseek):
    proposal = proposal_for_team(team, provider="chutes")
    proposal_apply(team=team, user=ops_user, proposal=proposal)
    rule = RoutingRule.objects.get(team=team, task_type="summarization")
    sonnet = Model.objects.get(name="claude-sonnet-4-5")
    assert rule.targets == [{"model_id": sonnet.pk, "weight": 100}]
    assert rule.fallbacks == [deepseek.pk]


def test_failing_calls_find_the_rule_that_routes_their_task_type():
    snapshot = [
        _rule("*", [(DEEPSEEK, 100)]),
        _rule("code", [(DEEPSEEK, 50), (MINI, 50)]),
        _rule("summarization", [(LLAMA, 100)]),
    ]
    calls = {DEEPSEEK["model"]: ["code", "chat"], LLAMA["model"]: ["code"]}
    # "chat" has no rule of its own, so the default routes it; Llama is no target of "code".
    assert failing_by_rule(snapshot, provider="chutes", calls=calls) == {
        "code": {DEEPSEEK["model"]},
        "*": {DEEPSEEK["model"]},
    }


def test_a_scoped_proposal_moves_only_the_named_model_in_the_named_rules():
    snapshot = [
        _rule("code", [(DEEPSEEK, 50), (LLAMA, 25), (MINI, 25)]),
        _rule("extraction", [(DEEPSEEK, 100)], fallbacks=[SONNET]),
    ]
    proposal = proposal_without(
        snapshot, provider="chutes", only={"code": {DEEPSEEK["model"]}}, destinations={"code": MINI}
    )
    assert proposal.after[0]["targets"] == [LLAMA | {"weight": 25}, MINI | {"weight": 75}]
    assert proposal.after[1] is snapshot[1]


def test_a_destination_that_was_a_fallback_becomes_a_target():
    snapshot = [_rule("code", [(DEEPSEEK, 60), (LLAMA, 40)], fallbacks=[SONNET, MINI])]
    proposal = proposal_without(
        snapshot,
        provider="chutes",
        only={"code": {DEEPSEEK["model"]}},
        destinations={"code": SONNET},
    )
    assert proposal.after[0]["targets"] == [LLAMA | {"weight": 40}, SONNET | {"weight": 60}]
    assert proposal.after[0]["fallbacks"] == [MINI]


def test_remaining_refs_are_the_other_targets_then_the_fallbacks():
    rule = _rule("code", [(DEEPSEEK, 60), (LLAMA, 40)], fallbacks=[DEEPSEEK, SONNET])
    assert remaining_refs(rule, provider="chutes", models={DEEPSEEK["model"]}) == [LLAMA, SONNET]


def test_a_proposal_starts_from_the_live_version_once_one_is_published(team, ops_user, draft):
    assert proposal_base(team) == (proposal_for_team(team, provider="x").before, False)
    version = routing_publish(team=team, user=ops_user, comment="for the test")
    assert proposal_base(team) == (version.snapshot, True)


def test_applying_refuses_when_the_draft_edited_a_rule_it_changes(
    team, ops_user, draft, llama, sonnet
):
    routing_publish(team=team, user=ops_user, comment="for the test")
    base, _ = proposal_base(team)
    rule_save(
        team=team,
        user=ops_user,
        task_type="summarization",
        targets=[{"model_id": sonnet.pk, "weight": 100}],
        fallbacks=[],
        rule=RoutingRule.objects.get(team=team, task_type="summarization"),
    )
    proposal = proposal_without(base, provider="chutes")
    with pytest.raises(DraftDiffers) as refused:
        proposal_apply(team=team, user=ops_user, proposal=proposal)
    assert refused.value.task_types == ["summarization"]
    rule = RoutingRule.objects.get(team=team, task_type="summarization")
    assert rule.targets == [{"model_id": sonnet.pk, "weight": 100}]


def test_a_proposal_lists_its_change_as_table_rows_per_target(team, draft):
    proposal = proposal_for_team(team, provider="chutes")
    rows = [row for row in proposal.diff_rows if not row.get("setting")]
    assert {row["status"] for row in rows} >= {"removed"}
    assert all(row["task_type"] in {rule["task_type"] for rule in proposal.before} for row in rows)
