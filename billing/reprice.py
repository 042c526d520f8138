"""Pricing stored events again, after a price was added or corrected."""

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from billing.costing import PriceBook, TaoBook, price_event
from billing.models import UsageEvent
from billing.rollups import rebuild_rollups

PRICED_FIELDS = [
    "provider_name",
    "model_name",
    "provider",
    "model",
    "price",
    "catalog_cost_usd",
    "cost_usd",
    "cost_source",
    "cost_disagreement",
    "tao_amount",
    "tao_price_usd",
    "tao_missing",
]
CHUNK = 2_000


@dataclass
class RepriceResult:
    examined: int = 0
    changed: int = 0
    rollups: int = 0


def reprice_events(*, since: datetime, team=None, progress=None) -> RepriceResult:
    """Recompute catalog costs (and what follows from them) for events from `since` on.

    Each event records the price row it was priced with. Reported costs stay as reported.
    Rollups of the period are rebuilt from the repriced events.
    """
    events = UsageEvent.objects.filter(occurred_at__gte=since)
    if team is not None:
        events = events.filter(team=team)
    total = events.count()
    result = RepriceResult()
    book = PriceBook()
    with transaction.atomic():
        for start in range(0, total, CHUNK):
            chunk = list(events.order_by("occurred_at", "id")[start : start + CHUNK])
            tao = TaoBook(chunk[0].occurred_at, chunk[-1].occurred_at)
            changed = [event for event in chunk if _reprice(event, book, tao)]
            UsageEvent.objects.bulk_update(changed, PRICED_FIELDS, batch_size=500)
            result.examined += len(chunk)
            result.changed += len(changed)
            if progress:
                progress(result.examined, total)
        result.rollups = rebuild_rollups(team=team, since=since)
    return result


def _reprice(event: UsageEvent, book: PriceBook, tao: TaoBook) -> bool:
    reported_model = event.metadata.get("reported_model") or event.model_name
    resolved = book.resolve(event.provider_name, reported_model)
    pricing = price_event(event, resolved, book, tao)
    new = {
        "provider_name": resolved.provider_name,
        "model_name": resolved.model_name,
        "provider_id": resolved.provider.pk if resolved.provider else None,
        "model_id": resolved.model.pk if resolved.model else None,
        "price_id": pricing.price.pk if pricing.price else None,
        "catalog_cost_usd": pricing.catalog_cost_usd,
        "cost_usd": pricing.cost_usd,
        "cost_source": pricing.cost_source,
        "cost_disagreement": pricing.cost_disagreement,
        "tao_amount": pricing.tao_amount,
        "tao_price_usd": pricing.tao_price_usd,
        "tao_missing": pricing.tao_missing,
    }
    if all(getattr(event, name) == value for name, value in new.items()):
        return False
    for name, value in new.items():
        setattr(event, name, value)
    return True
