from datetime import date
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from billing.models import AlertKind, AlertRule, Budget, ModelPrice, TaoPrice
from dashboard.models import Membership, Role, Team
from routing.models import Model, Provider

PASSWORD = "correct horse battery staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.django.Password(PASSWORD)


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team

    slug = factory.Sequence(lambda n: f"team-{n}")
    name = factory.Sequence(lambda n: f"Team {n}")
    time_zone = "UTC"


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    team = factory.SubFactory(TeamFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.VIEWER


class ProviderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Provider
        django_get_or_create = ["slug"]

    slug = factory.Sequence(lambda n: f"provider-{n}")
    name = factory.LazyAttribute(lambda provider: provider.slug.title())
    base_url = "https://api.example.com/v1"
    billing_currency = "USD"
    openai_compatible = True


class ModelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Model

    provider = factory.SubFactory(ProviderFactory)
    name = factory.Sequence(lambda n: f"model-{n}")


class ModelPriceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelPrice

    model = factory.SubFactory(ModelFactory)
    effective_from = date(2026, 1, 1)
    input_per_mtok = Decimal("1.000000")
    output_per_mtok = Decimal("4.000000")
    source = "test"


class TaoPriceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TaoPrice

    at = factory.LazyFunction(timezone.now)
    usd = Decimal(400)
    source = "test"


class BudgetFactory(factory.django.DjangoModelFactory):
    """A monthly budget for every month (month=None), all providers and task types."""

    class Meta:
        model = Budget

    team = factory.SubFactory(TeamFactory)
    amount_usd = Decimal(100)


class AlertRuleFactory(factory.django.DjangoModelFactory):
    """A global rule (team=None) unless given a team."""

    class Meta:
        model = AlertRule

    team = None
    kind = AlertKind.ERROR_RATE
    name = factory.LazyAttribute(lambda rule: f"{rule.kind} rule")


class ProxyTokenFactory(factory.django.DjangoModelFactory):
    """A token row with a hash no token matches: for lists and revocation, not authentication
    (use dashboard.tokens.token_create for a token that works)."""

    class Meta:
        model = "dashboard.ProxyToken"

    team = factory.SubFactory(TeamFactory)
    name = factory.Sequence(lambda n: f"proxy-{n}")
    prefix = factory.Sequence(lambda n: f"lsp_{n:08d}")
    token_hash = "0" * 64
    scopes = factory.LazyFunction(lambda: ["usage:write", "routes:read"])


def canonical_event(**overrides) -> dict:
    """A valid canonical usage event, as a proxy would post it."""
    event = {
        "id": "evt-1",
        "timestamp": "2026-11-20T10:15:00Z",
        "provider": "anthropic",
        "model": "claude-sonnet-4-5",
        "task_type": "summarization",
        "status": "success",
        "input_tokens": 5000,
        "output_tokens": 2000,
        "latency_ms": 1800,
    }
    event.update(overrides)
    return {key: value for key, value in event.items() if value is not None}


def event_at(id, at, **overrides) -> dict:
    """A canonical event at `at` for 1,000 input and 500 output tokens."""
    return canonical_event(
        id=id, timestamp=at.isoformat(), input_tokens=1000, output_tokens=500, **overrides
    )


class ProviderKeyFactory(factory.django.DjangoModelFactory):
    """A key added through routing.keys.key_add, so it is really encrypted, masked and audited.
    Pass secret=... to know the secret: the row only holds its ciphertext."""

    class Meta:
        model = "routing.ProviderKey"

    team = factory.SubFactory(TeamFactory)
    provider = factory.SubFactory(
        ProviderFactory, slug="chutes", name="Chutes", base_url="https://llm.chutes.ai/v1"
    )
    label = factory.Sequence(lambda n: f"key-{n}")
    secret = factory.Sequence(lambda n: f"cpk_{n:040d}")
    user = None

    @classmethod
    def _create(cls, model_class, *, team, provider, label, secret, user=None):
        from routing.keys import key_add

        return key_add(team=team, provider=provider, label=label, secret=secret, user=user)
