import pytest

from dashboard.tokens import token_create
from routing.models import Model, Provider


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
