import pytest

from dashboard.tokens import token_create
from routing.models import Model, Provider
from routing.publish import routing_publish
from routing.rules import rule_save


@pytest.fixture(autouse=True)
def no_real_dns(dns):
    """Provider hosts resolve to a public address unless a test says otherwise."""
    return dns


@pytest.fixture
def chutes(catalog):
    return Provider.objects.get(slug="chutes")


@pytest.fixture
def llama(catalog):
    return Model.objects.get(provider__slug="chutes", name="unsloth/Llama-3.3-70B-Instruct")


@pytest.fixture
def deepseek(catalog):
    return Model.objects.get(provider__slug="chutes", name="deepseek-ai/DeepSeek-V3")


@pytest.fixture
def sonnet(catalog):
    return Model.objects.get(provider__slug="anthropic", name="claude-sonnet-4-5")


@pytest.fixture
def routes_token(team):
    return token_create(team=team, name="proxy", scopes=["routes:read"])[1]


@pytest.fixture
def published(team, admin_user, llama, sonnet):
    """Version 1: every task to Llama on Chutes, falling back to Sonnet."""
    rule_save(
        team=team,
        user=admin_user,
        task_type="*",
        targets=[{"model_id": llama.pk, "weight": 100}],
        fallbacks=[sonnet.pk],
    )
    return routing_publish(team=team, user=admin_user, comment="first")
