import pytest

from dashboard.tokens import token_create


@pytest.fixture
def usage_token(team):
    return token_create(team=team, name="proxy", scopes=["usage:write"])[1]
