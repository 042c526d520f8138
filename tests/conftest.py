import socket
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from billing.catalog import catalog_load
from billing.costing import PriceBook
from billing.ingest.store import usage_ingest
from dashboard.models import Role
from tests.factories import MembershipFactory, TeamFactory, UserFactory, canonical_event

# Under pytest-xdist (`make test` runs `-n auto`), the tests of these folders run one after
# another on one worker: the real Celery workers share one Redis database (beat publishes to the
# default queue), and two real LiteLLM proxies with their dashboards would crowd two cores.
# (xdist's own xdist_group mark no longer takes effect with pytest 9.2, hence a scheduler.)
SERIAL_GROUPS = {"tests/integration/": "redis-worker", "tests/litellm_proxy/": "litellm-proxy"}


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class SerialGroupsScheduling(LoadScopeScheduling):
        """Every test on its own, but a serial group's tests as one unit of work."""

        def _split_scope(self, nodeid: str) -> str:
            for folder, group in SERIAL_GROUPS.items():
                if nodeid.startswith(folder):
                    return group
            return nodeid

    return SerialGroupsScheduling(config, log)


# Where `clock` stops time for a test module that sets no NOW of its own.
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


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
def clock(request):
    """Time stopped at the test module's NOW; clock.shift(...) and clock.move_to(...) move it."""
    with time_machine.travel(getattr(request.module, "NOW", NOW), tick=False) as traveller:
        yield traveller


@pytest.fixture
def frozen_now(clock):
    """The moment `clock` stopped at."""
    return timezone.now()


@pytest.fixture
def catalog(db):
    """The seed catalog: providers, models and list prices."""
    catalog_load()


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
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def superuser_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "x"))
    return client


@pytest.fixture
def users_by_role(admin_user, ops_user, finance_user, viewer_user, outsider):
    return {
        "admin": admin_user,
        "ops": ops_user,
        "finance": finance_user,
        "viewer": viewer_user,
        "outsider": outsider,
    }


# example.com's address: public, so outbound requests to it are allowed.
PUBLIC_ADDRESS = "93.184.215.14"


@pytest.fixture
def dns(monkeypatch):
    """Name resolution without the network: dns["host"] = ["10.0.0.5", ...] sets a name's
    addresses; other names resolve to PUBLIC_ADDRESS, numeric hosts to what they spell."""
    answers: dict[str, list[str]] = {"localhost": ["127.0.0.1", "::1"]}
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        try:
            return real_getaddrinfo(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)
        except socket.gaierror:
            pass
        if host not in answers and "." not in host:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (
                socket.AF_INET6 if ":" in address else socket.AF_INET,
                socket.SOCK_STREAM,
                socket.IPPROTO_TCP,
                "",
                (address, port, 0, 0) if ":" in address else (address, port),
            )
            for address in answers.get(host, [PUBLIC_ADDRESS])
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


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
