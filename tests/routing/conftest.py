from datetime import timedelta

import pytest

from billing.ingest.store import usage_ingest
from dashboard.tokens import token_create
from routing.models import Model, Provider
from tests.factories import canonical_event


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
def summaries_yesterday(team, request):
    """100 summarization calls (1,000 tokens in, 500 out) the day before the module's NOW."""
    now = request.module.NOW
    events = [
        canonical_event(
            id=f"e{n}",
            timestamp=(now - timedelta(days=1, minutes=n)).isoformat(),
            task_type="summarization",
            input_tokens=1000,
            output_tokens=500,
        )
        for n in range(100)
    ]
    usage_ingest(team, events, now=now)
