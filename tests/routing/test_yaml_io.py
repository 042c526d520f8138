import tracemalloc

import pytest
import yaml
from django.core.exceptions import ValidationError

from routing.models import RoutingRule
from routing.yaml_io import export_routing_yaml, import_routing_yaml

SEED_SHAPE = """
providers:
  default: chutes
  default_model: unsloth/Llama-3.3-70B-Instruct
routing:
  - task_type: summarization
    provider: chutes
    model: unsloth/Llama-3.3-70B-Instruct
  - task_type: code_generation
    targets:
      - {provider: chutes, model: deepseek-ai/DeepSeek-V3, weight: 80}
      - {provider: anthropic, model: claude-sonnet-4-5, weight: 20}
    fallbacks:
      - {provider: openai, model: gpt-5-mini}
"""

pytestmark = pytest.mark.usefixtures("catalog")


def test_it_creates_draft_rules_from_the_seed_shape(team, admin_user):
    result = import_routing_yaml(team=team, user=admin_user, text=SEED_SHAPE)
    assert sorted(result.created) == ["*", "code_generation", "summarization"]
    rule = RoutingRule.objects.get(team=team, task_type="code_generation")
    assert [t["weight"] for t in rule.targets] == [80, 20]
    assert len(rule.fallbacks) == 1


def test_it_lists_every_unknown_model(team, admin_user):
    text = SEED_SHAPE.replace("deepseek-ai/DeepSeek-V3", "deepseek-v3").replace(
        "gpt-5-mini", "gpt-9"
    )
    with pytest.raises(ValidationError) as error:
        import_routing_yaml(team=team, user=admin_user, text=text)
    messages = " ".join(error.value.messages)
    assert "chutes has no model deepseek-v3" in messages
    assert "openai has no model gpt-9" in messages
    assert not RoutingRule.objects.exists()


def test_it_refuses_what_is_not_yaml(team, admin_user):
    with pytest.raises(ValidationError, match="not valid YAML"):
        import_routing_yaml(team=team, user=admin_user, text="routing: [unclosed")


def test_it_refuses_weights_that_do_not_add_up(team, admin_user):
    with pytest.raises(ValidationError, match="add up to 90"):
        import_routing_yaml(
            team=team, user=admin_user, text=SEED_SHAPE.replace("weight: 20", "weight: 10")
        )


def test_it_warns_when_the_file_has_no_default_rule(team, admin_user):
    text = SEED_SHAPE.replace("  default_model: unsloth/Llama-3.3-70B-Instruct\n", "")
    result = import_routing_yaml(team=team, user=admin_user, text=text)
    assert any("No default rule" in warning for warning in result.warnings)


def test_importing_again_updates_the_rules(team, admin_user):
    import_routing_yaml(team=team, user=admin_user, text=SEED_SHAPE)
    result = import_routing_yaml(team=team, user=admin_user, text=SEED_SHAPE)
    assert result.created == [] and len(result.updated) == 3


def test_the_draft_downloads_in_the_same_shape_and_loads_again(team, other_team, admin_user):
    import_routing_yaml(team=team, user=admin_user, text=SEED_SHAPE)
    exported = export_routing_yaml(team)
    document = yaml.safe_load(exported)
    assert document["providers"] == {"default": "chutes"}
    assert {
        "task_type": "summarization",
        "provider": "chutes",
        "model": "unsloth/Llama-3.3-70B-Instruct",
    } in document["routing"]
    import_routing_yaml(team=other_team, user=admin_user, text=exported)
    assert export_routing_yaml(other_team) == exported


def _alias_bomb(levels: int) -> str:
    lines = ['a0: &a0 ["lol"]']
    for level in range(1, levels):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 9) + "]")
    return "\n".join(lines) + f"\nrouting:\n  - task_type: *a{levels - 1}\n"


def test_it_refuses_an_alias_bomb_before_expanding_it(team, admin_user):
    tracemalloc.start()
    try:
        with pytest.raises(ValidationError) as error:
            import_routing_yaml(team=team, user=admin_user, text=_alias_bomb(7))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "anchors and aliases" in " ".join(error.value.messages)
    assert len(" ".join(error.value.messages)) < 500
    assert peak < 5_000_000


def test_it_refuses_shared_aliases_without_asking_the_catalog(
    team, admin_user, django_assert_max_num_queries
):
    text = "t: &t {provider: chutes, model: nope}\nrouting:\n" + "".join(
        f"  - task_type: t{i}\n    targets: [{', '.join(['*t'] * 20)}]\n" for i in range(40)
    )
    with django_assert_max_num_queries(0), pytest.raises(ValidationError, match="aliases"):
        import_routing_yaml(team=team, user=admin_user, text=text)


def test_it_looks_every_model_up_in_one_query(team, admin_user, django_assert_max_num_queries):
    rows = "".join(
        f"  - task_type: t{i}\n    provider: chutes\n    model: unknown-{i % 7}\n"
        for i in range(100)
    )
    with django_assert_max_num_queries(2), pytest.raises(ValidationError) as error:
        import_routing_yaml(team=team, user=admin_user, text="routing:\n" + rows)
    assert "chutes has no model unknown-6" in " ".join(error.value.messages)


def test_it_refuses_an_anchor_even_without_an_alias(team, admin_user):
    text = SEED_SHAPE.replace("  - task_type: summarization", "  - &s task_type: summarization")
    with pytest.raises(ValidationError, match="anchors and aliases"):
        import_routing_yaml(team=team, user=admin_user, text=text)


def test_it_refuses_fallbacks_that_are_not_a_list(team, admin_user):
    text = "routing:\n  - task_type: a\n    provider: chutes\n    model: m\n    fallbacks: 7\n"
    with pytest.raises(ValidationError, match=r"routing\[0\]\.fallbacks: must be a list"):
        import_routing_yaml(team=team, user=admin_user, text=text)


@pytest.mark.parametrize(
    "text", ["routing:\n" + "- " * 5000 + "x\n", "routing: " + "[" * 5000 + "]" * 5000]
)
def test_it_refuses_deep_nesting(team, admin_user, text):
    # libyaml stops flow nesting itself, at 1,000 levels; block nesting is stopped here at 10.
    with pytest.raises(ValidationError, match=r"nested more than 10 deep|maximum nesting depth"):
        import_routing_yaml(team=team, user=admin_user, text=text)


def test_it_refuses_a_file_over_the_size_cap(team, admin_user):
    text = SEED_SHAPE + "#" * (256 * 1024)
    with pytest.raises(ValidationError, match="larger than 256 KB"):
        import_routing_yaml(team=team, user=admin_user, text=text)


def test_it_refuses_a_file_of_too_many_values(team, admin_user):
    text = "routing: [" + "a, " * 20_001 + "]"
    with pytest.raises(ValidationError, match="more than 20,000 values"):
        import_routing_yaml(team=team, user=admin_user, text=text)


def test_it_refuses_yaml_tags(team, admin_user):
    with pytest.raises(ValidationError, match="tags"):
        import_routing_yaml(team=team, user=admin_user, text="routing: !!set {a, b}\n")


def test_it_refuses_a_list_where_a_model_name_belongs(team, admin_user):
    text = SEED_SHAPE.replace("model: gpt-5-mini", "model: [gpt-5-mini, gpt-5]")
    with pytest.raises(ValidationError, match=r"fallbacks\[0\]\.model: must be text"):
        import_routing_yaml(team=team, user=admin_user, text=text)
    assert not RoutingRule.objects.exists()


def test_it_refuses_keys_outside_the_exported_shape(team, admin_user):
    text = SEED_SHAPE.replace("    provider: chutes\n", "    provider: chutes\n    weigth: 3\n", 1)
    with pytest.raises(ValidationError, match=r"routing\[0\]: unknown key weigth"):
        import_routing_yaml(team=team, user=admin_user, text=text)


def test_it_refuses_more_rules_than_the_cap(team, admin_user):
    rows = "".join(f"  - {{task_type: t{i}, provider: chutes, model: m}}\n" for i in range(201))
    with pytest.raises(ValidationError, match="at most 200 rules"):
        import_routing_yaml(team=team, user=admin_user, text="routing:\n" + rows)


def test_it_refuses_a_weight_out_of_range(team, admin_user):
    with pytest.raises(ValidationError, match=r"targets\[1\]\.weight: must be a whole number"):
        import_routing_yaml(
            team=team, user=admin_user, text=SEED_SHAPE.replace("weight: 20", "weight: 1e400")
        )


def test_it_quotes_only_a_short_prefix_of_a_bad_value(team, admin_user):
    long_name = "x" * 150
    text = SEED_SHAPE.replace("model: gpt-5-mini", f"model: {long_name}")
    with pytest.raises(ValidationError) as error:
        import_routing_yaml(team=team, user=admin_user, text=text)
    messages = " ".join(error.value.messages)
    assert "openai has no model " + "x" * 40 + "…" in messages
    assert "x" * 41 not in messages


def test_it_refuses_a_value_yaml_cannot_construct(team, admin_user):
    with pytest.raises(ValidationError, match="not valid YAML"):
        import_routing_yaml(team=team, user=admin_user, text="routing: [{task_type: 2001-13-45}]")


def test_a_real_draft_round_trips_unchanged(team, other_team, admin_user, llama, deepseek, sonnet):
    import_routing_yaml(team=team, user=admin_user, text=SEED_SHAPE)
    rule = RoutingRule.objects.get(team=team, task_type="summarization")
    rule.enabled, rule.description = False, "Cheap: summaries tolerate a small model."
    rule.save()
    exported = export_routing_yaml(team)
    import_routing_yaml(team=other_team, user=admin_user, text=exported)
    assert export_routing_yaml(other_team) == exported
    copy = RoutingRule.objects.get(team=other_team, task_type="summarization")
    assert (copy.enabled, copy.description) == (False, rule.description)
