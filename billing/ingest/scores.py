"""Quality scores that arrive after their events: attached, and the rollups kept exact."""

import logging
from decimal import Decimal

from django.db import transaction

from billing.ingest.events import Invalid, parse_score, parse_text
from billing.ingest.payload import LineError
from billing.ingest.store import UNREADABLE, IngestResult, id_of_item
from billing.models import UsageEvent
from billing.rollups import hour_of, rollups_for_hours

logger = logging.getLogger(__name__)


def _score_from_json(item) -> tuple[dict | None, dict[str, str]]:
    if not isinstance(item, dict):
        return None, {"score": "must be a JSON object"}
    errors, clean = {}, {}
    fields = (
        ("event_id", parse_text, 255, True),
        ("score", _required_score),
        ("evaluator", parse_text, 100, False),
        ("comment", parse_text, 2000, False),
    )
    for name, parse, *args in fields:
        try:
            clean[name] = parse(item.get(name), *args)
        except Invalid as error:
            errors[name] = str(error)
    if errors:
        return None, errors
    clean["evaluator"], clean["comment"] = clean["evaluator"] or "", clean["comment"] or ""
    return clean, {}


def _required_score(value) -> Decimal:
    if value is None:
        raise Invalid("is required")
    return parse_score(value)


def _read_score(index: int, item) -> tuple[dict | None, dict[str, str]]:
    """_score_from_json, with anything it did not foresee as this item's error, not a 500."""
    try:
        return _score_from_json(item)
    except Exception:
        logger.exception("Could not read score %d of a batch", index)
        return None, {"score": UNREADABLE}


def scores_record(team, items: list) -> IngestResult:
    """Attach each score to the team's event. The same score again is a duplicate."""
    result = IngestResult()
    valid: dict[str, tuple[int, dict]] = {}
    for index, item in enumerate(items):
        if isinstance(item, LineError):
            result.rejected.append({"index": index, "id": None, "errors": {"line": item.message}})
            continue
        score, errors = _read_score(index, item)
        if errors:
            result.rejected.append({"index": index, "id": id_of_item(item), "errors": errors})
        else:
            # A later score for the same event in one batch replaces the earlier one.
            if score["event_id"] in valid:
                result.duplicates += 1
            valid[score["event_id"]] = (index, score)
    with transaction.atomic():
        events = {
            event.event_id: event
            for event in UsageEvent.objects.select_for_update().filter(
                team=team, event_id__in=list(valid)
            )
        }
        hours, changed = set(), []
        for event_id, (index, score) in valid.items():
            event = events.get(event_id)
            if event is None:
                result.rejected.append(
                    {"index": index, "id": event_id, "errors": {"event_id": "no such event"}}
                )
                continue
            new = (Decimal(score["score"]), score["evaluator"], score["comment"])
            if (event.quality_score, event.quality_evaluator, event.quality_comment) == new:
                result.duplicates += 1
                continue
            event.quality_score, event.quality_evaluator, event.quality_comment = new
            changed.append(event)
            hours.add(hour_of(event.occurred_at))
        UsageEvent.objects.bulk_update(
            changed, ["quality_score", "quality_evaluator", "quality_comment"], batch_size=500
        )
        rollups_for_hours(team, hours)
    result.accepted = len(changed)
    result.rejected.sort(key=lambda rejection: rejection["index"])
    return result
