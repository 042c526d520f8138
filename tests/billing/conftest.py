from datetime import UTC, datetime

import pytest
import time_machine

from billing.catalog import load_catalog
from dashboard.tokens import token_create

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.fixture
def catalog(db):
    load_catalog()


@pytest.fixture
def frozen_now():
    with time_machine.travel(NOW, tick=False):
        yield NOW


@pytest.fixture
def usage_token(team):
    return token_create(team=team, name="proxy", scopes=["usage:write"])[1]
