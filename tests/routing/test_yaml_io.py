import pytest
import yaml
from django.core.exceptions import ValidationError

from billing.catalog import load_catalog
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


@pytest.fixture(autouse=True)
def catalog(db):
    load_catalog()


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
