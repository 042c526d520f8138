import pytest

from billing.costing import PriceBook
from dashboard.models import Role
from tests.factories import MembershipFactory, TeamFactory, UserFactory


@pytest.fixture(autouse=True)
def fresh_price_catalog():
    """Ingestion caches the catalog per process; every test starts from its own."""
    PriceBook.forget()
    yield
    PriceBook.forget()


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def team(db):
    return TeamFactory(slug="maven", name="Maven", time_zone="America/New_York")


@pytest.fixture
def other_team(db):
    return TeamFactory(slug="rival", name="Rival")


def _member(team, role):
    return MembershipFactory(team=team, user=UserFactory(username=f"{role}-user"), role=role).user


@pytest.fixture
def admin_user(team):
    return _member(team, Role.ADMIN)


@pytest.fixture
def ops_user(team):
    return _member(team, Role.OPS)


@pytest.fixture
def finance_user(team):
    return _member(team, Role.FINANCE)


@pytest.fixture
def viewer_user(team):
    return _member(team, Role.VIEWER)


@pytest.fixture
def outsider(other_team):
    """A member of another team only."""
    return MembershipFactory(
        team=other_team, user=UserFactory(username="outsider"), role=Role.ADMIN
    ).user


@pytest.fixture
def users_by_role(admin_user, ops_user, finance_user, viewer_user, outsider):
    return {
        "admin": admin_user,
        "ops": ops_user,
        "finance": finance_user,
        "viewer": viewer_user,
        "outsider": outsider,
    }
