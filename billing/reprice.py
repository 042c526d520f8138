"""Pricing stored events again, after a price was added or corrected."""

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Q

from billing.costing import PRICED_COLUMNS, PriceBook, TaoBook, price_event, priced_columns
from billing.models import UsageEvent
from billing.retention import raw_usage_since
from billing.rollups import rollups_rebuild

CHUNK = 2_000


@dataclass
class RepriceResult:
    examined: int = 0
    changed: int = 0
    rollups: int = 0
    # Events and rollups before this moment were left alone: retention removed their months.
    kept_before: datetime | None = None


def usage_reprice(*, since: datetime, team=None, model=None, progress=None) -> RepriceResult:
    """Recompute catalog costs (and what follows from them) for events from `since` on.

    Each event records the price row it was priced with (a list price or the team's own).
    Reported costs stay as reported. With `model`, only its events and those the catalog could
    not resolve yet (they may be this model now). Rollups of the period are rebuilt from the
    repriced events.
    """
    result = RepriceResult()
    raw_since = raw_usage_since()
    if raw_since is not None and since < raw_since:
        # Months whose raw events retention removed keep their rollups as they are: repricing
        # the few late events stored there since would leave their rollups behind.
        since = result.kept_before = raw_since
    events = UsageEvent.objects.filter(occurred_at__gte=since)
    if team is not None:
        events = events.filter(team=team)
    if model is not None:
        events = events.filter(Q(model=model) | Q(model__isnull=True))
    total = events.count()
    book = PriceBook()
    with transaction.atomic():
        for start in range(0, total, CHUNK):
            chunk = list(events.order_by("occurred_at", "id")[start : start + CHUNK])
            tao = TaoBook.around([event.occurred_at for event in chunk])
            changed = [event for event in chunk if _reprice(event, book, tao)]
            UsageEvent.objects.bulk_update(changed, PRICED_COLUMNS, batch_size=500)
            result.examined += len(chunk)
            result.changed += len(changed)
            if progress:
                progress(result.examined, total)
        result.rollups = rollups_rebuild(team=team, since=since)
    return result


def _reprice(event: UsageEvent, book: PriceBook, tao: TaoBook) -> bool:
    reported_model = event.metadata.get("reported_model") or event.model_name
    resolved = book.resolve(event.provider_name, reported_model)
    pricing = price_event(event, resolved, book, tao, team_id=event.team_id)
    new = priced_columns(resolved, pricing)
    if all(getattr(event, name) == value for name, value in new.items()):
        return False
    for name, value in new.items():
        setattr(event, name, value)
    return True
