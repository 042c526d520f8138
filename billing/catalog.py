"""The price catalog: loading the seed, reading current prices, adding models and prices.

The catalog (providers, models, list prices) is shared by every team, so only site staff
change it. A team that pays a negotiated price records its own team price, which prices only
its usage. A price from a day already begun changes costs already computed: only staff may
record one, with a reason, and then run the `reprice` command this module words for them.
"""

import shlex
from dataclasses import dataclass
from datetime import UTC, date, datetime

from django.db import transaction
from django.utils import timezone

from billing.audit_actions import BillingAuditAction
from billing.catalog_seed import PROVIDERS, SEED_DATE, seed_prices
from billing.costing import PriceBook
from billing.models import ModelPrice, TeamModelPrice
from dashboard.audit import audit_record
from routing.models import Model, Provider

RATE_NAMES = ["input_per_mtok", "output_per_mtok", "cached_input_per_mtok", "cache_write_per_mtok"]


@dataclass
class CatalogLoadResult:
    providers_created: int = 0
    models_created: int = 0
    prices_created: int = 0
    prices_updated: int = 0

    def __str__(self):
        text = (
            f"{self.providers_created} providers, {self.models_created} models and "
            f"{self.prices_created} prices added"
        )
        if self.prices_updated:
            text += (
                f"; {self.prices_updated} seeded prices updated (run `manage.py reprice "
                f"--since {SEED_DATE.isoformat()}` to price stored calls again)"
            )
        return text


@transaction.atomic
def catalog_load() -> CatalogLoadResult:
    """Add the seed providers, models and prices that are missing, and bring the price rows the
    seed itself made up to date with it. Never changes providers, models, team prices or a price
    row staff added."""
    result = CatalogLoadResult()
    providers = {}
    for slug, name, base_url, currency, openai_compatible in PROVIDERS:
        providers[slug], created = Provider.objects.get_or_create(
            slug=slug,
            defaults={
                "name": name,
                "base_url": base_url,
                "billing_currency": currency,
                "openai_compatible": openai_compatible,
            },
        )
        result.providers_created += created
    for row in seed_prices():
        model, created = Model.objects.get_or_create(
            provider=providers[row["provider"]],
            name=row["model"],
            defaults={"display_name": row["display_name"]},
        )
        result.models_created += created
        seeded = {name: row[name] for name in [*RATE_NAMES, "source"]}
        price, created = ModelPrice.objects.get_or_create(
            model=model, effective_from=SEED_DATE, defaults=seeded
        )
        result.prices_created += created
        if not created and _is_seeded(price, row) and _differs(price, seeded):
            ModelPrice.objects.filter(pk=price.pk).update(**seeded)
            result.prices_updated += 1
    PriceBook.forget()
    return result


def _is_seeded(price: ModelPrice, row: dict) -> bool:
    return price.created_by_id is None and price.source.startswith(row["seed_source"])


def _differs(price: ModelPrice, fields: dict) -> bool:
    return any(getattr(price, name) != value for name, value in fields.items())


@dataclass
class CatalogRow:
    model: Model
    price: ModelPrice | None
    upcoming: ModelPrice | None


def catalog_rows(*, provider: Provider | None = None, on: date | None = None) -> list[CatalogRow]:
    """Every model with the price in force on the day (today in UTC) and the next scheduled one."""
    on = on or timezone.now().date()
    models = Model.objects.select_related("provider")
    if provider is not None:
        models = models.filter(provider=provider)
    models = list(models)
    current: dict[int, ModelPrice] = {}
    upcoming: dict[int, ModelPrice] = {}
    prices = ModelPrice.objects.filter(model__in=models).order_by("model_id", "effective_from")
    for price in prices:
        if price.effective_from <= on:
            current[price.model_id] = price
        else:
            upcoming.setdefault(price.model_id, price)
    return [CatalogRow(model, current.get(model.id), upcoming.get(model.id)) for model in models]


def price_add(*, model: Model, user, **rates) -> ModelPrice:
    """A new effective-dated list price row; the rows before it stay as they were."""
    price = ModelPrice.objects.create(model=model, created_by=user, **rates)
    PriceBook.forget()
    return price


def is_backdated(day: date, *, now: datetime | None = None) -> bool:
    """Whether a price from `day` would change costs already computed: it starts before
    today (UTC), the day whose events may already be in."""
    now = now or timezone.now()
    return day < now.astimezone(UTC).date()


def needs_reprice(day: date, *, now: datetime | None = None) -> bool:
    """Whether events already stored may be priced by a price from `day` (today included)."""
    now = now or timezone.now()
    return day <= now.astimezone(UTC).date()


def reprice_command(*, since: date, model: Model, team=None) -> str:
    """The `manage.py reprice` command that prices the events a new price covers again."""
    words = ["python", "manage.py", "reprice", "--since", since.isoformat()]
    if team is not None:
        words += ["--team", team.slug]
    words += ["--model", str(model)]
    return shlex.join(words)


def model_from_label(label: str) -> Model | None:
    """The catalog model written as provider/model (the model name may hold slashes)."""
    provider_slug, _, name = label.partition("/")
    return (
        Model.objects.select_related("provider")
        .filter(provider__slug=provider_slug, name=name)
        .first()
    )


def price_in_force(*, team, model: Model, day: date) -> ModelPrice | TeamModelPrice | None:
    """What prices the team's calls to the model on the day: its own price, else the list's."""
    own = (
        TeamModelPrice.objects.filter(team=team, model=model, effective_from__lte=day)
        .order_by("-effective_from", "-id")
        .first()
    )
    if own is not None:
        return own
    return (
        ModelPrice.objects.filter(model=model, effective_from__lte=day)
        .order_by("-effective_from")
        .first()
    )


def price_summary(price: ModelPrice | TeamModelPrice | None) -> str:
    """A price row in one line, for the audit log."""
    if price is None:
        return "no price"
    kind = "team price" if price.is_team_price else "list price"
    rates = ", ".join(
        f"{name.removesuffix('_per_mtok').replace('_', ' ')} "
        + ("as input" if (value := getattr(price, name)) is None else f"${value.normalize():f}")
        for name in RATE_NAMES
    )
    return f"{kind} from {price.effective_from.isoformat()}: {rates} per 1M tokens"


@transaction.atomic
def team_price_add(*, team, model: Model, user, **fields) -> TeamModelPrice:
    """A new row of the team's own price for the model; earlier rows stay as they were.

    A row from the same day as an earlier one corrects it. Audited with the price it replaces
    on that day (the team's earlier one, or the list price).
    """
    old = price_in_force(team=team, model=model, day=fields["effective_from"])
    price = TeamModelPrice.objects.create(team=team, model=model, created_by=user, **fields)
    audit_record(
        team=team,
        action=BillingAuditAction.TEAM_PRICE_ADDED,
        actor=user,
        target=f"{model} from {price.effective_from.isoformat()}",
        detail={
            "old": price_summary(old),
            "new": price_summary(price),
            "reason": price.reason,
        },
    )
    # Again after commit, in case a batch reloaded the book before the row was visible.
    PriceBook.forget()
    transaction.on_commit(PriceBook.forget)
    return price


@dataclass
class TeamPriceRow:
    price: TeamModelPrice
    state: str  # "in force", "upcoming", "replaced" or "corrected"
    list_price: ModelPrice | None


def team_price_rows(team, *, on: date | None = None) -> list[TeamPriceRow]:
    """The team's own prices, newest first per model, each with its state on the day and the
    list price in force on that day for comparison."""
    on = on or timezone.now().date()
    prices = list(
        TeamModelPrice.objects.filter(team=team)
        .select_related("model__provider", "created_by")
        .order_by("model__provider__slug", "model__name", "-effective_from", "-id")
    )
    model_ids = {price.model_id for price in prices}
    list_prices: dict[int, ModelPrice] = {}
    for price in ModelPrice.objects.filter(model_id__in=model_ids).in_force_on(on):
        list_prices.setdefault(price.model_id, price)
    rows, seen_days, current = [], set(), set()
    for price in prices:
        key = (price.model_id, price.effective_from)
        if key in seen_days:
            state = "corrected"
        elif price.effective_from > on:
            state = "upcoming"
        elif price.model_id in current:
            state = "replaced"
        else:
            state = "in force"
            current.add(price.model_id)
        seen_days.add(key)
        rows.append(TeamPriceRow(price, state, list_prices.get(price.model_id)))
    return rows
