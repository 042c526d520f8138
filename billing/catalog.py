"""The price catalog: loading the seed, reading current prices, adding models and prices."""

from dataclasses import dataclass
from datetime import date

from django.db import transaction
from django.utils import timezone

from billing.catalog_seed import PROVIDERS, SEED_DATE, seed_prices
from billing.costing import PriceBook
from billing.models import ModelPrice
from routing.models import Model, Provider


@dataclass
class CatalogLoadResult:
    providers_created: int = 0
    models_created: int = 0
    prices_created: int = 0

    def __str__(self):
        return (
            f"{self.providers_created} providers, {self.models_created} models and "
            f"{self.prices_created} prices added"
        )


@transaction.atomic
def load_catalog() -> CatalogLoadResult:
    """Add the seed providers, models and prices that are missing; never changes existing rows."""
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
        _, created = ModelPrice.objects.get_or_create(
            model=model,
            effective_from=SEED_DATE,
            defaults={
                "input_per_mtok": row["input_per_mtok"],
                "output_per_mtok": row["output_per_mtok"],
                "source": row["source"],
            },
        )
        result.prices_created += created
    PriceBook.forget()
    return result


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
    current, upcoming = {}, {}
    prices = ModelPrice.objects.filter(model__in=models).order_by("model_id", "effective_from")
    for price in prices:
        if price.effective_from <= on:
            current[price.model_id] = price
        else:
            upcoming.setdefault(price.model_id, price)
    return [CatalogRow(model, current.get(model.id), upcoming.get(model.id)) for model in models]


def price_add(*, model: Model, user, **rates) -> ModelPrice:
    """A new effective-dated price row; the rows before it stay as they were."""
    price = ModelPrice.objects.create(model=model, created_by=user, **rates)
    PriceBook.forget()
    return price
