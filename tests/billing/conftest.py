import pytest

from dashboard.tokens import token_create
from tests.billing.rollout_setup import routing_publish_all_on_sonnet


@pytest.fixture
def usage_token(team):
    return token_create(team=team, name="proxy", scopes=["usage:write"])[1]


@pytest.fixture
def live(team, ops_user, catalog, clock):
    """Routing published for the rollout tests: everything on Sonnet, summarization in a rule
    of its own (tests/billing/rollout_setup.py)."""
    routing_publish_all_on_sonnet(team, ops_user)
    return team
