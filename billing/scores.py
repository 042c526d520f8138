"""Quality scores that arrive after their events: attached, and the rollups kept exact."""

from decimal import Decimal

from django.db import transaction

from billing.events import Invalid, clean_string, parse_score
from billing.ingest import IngestResult, id_of_item
from billing.models import UsageEvent
from billing.payload import LineError
from billing.rollups import hour_of, rollups_for_hours


def _score_from_json(item) -> tuple[dict | None, dict[str, str]]:
    if not isinstance(item, dict):
        return None, {"score": "must be a JSON object"}
    errors, clean = {}, {}
    event_id = item.get("event_id")
    if not isinstance(event_id, str) or not event_id.strip():
        errors["event_id"] = "is required and must be a string"
    else:
        clean["event_id"] = event_id.strip()
    try:
        if item.get("score") is None:
            raise Invalid("is required")
        clean["score"] = parse_score(item["score"])
    except Invalid as error:
        errors["score"] = str(error)
    for name, limit in (("evaluator", 100), ("comment", 2000)):
        value = item.get(name) or ""
        try:
            if not isinstance(value, str):
                raise Invalid("must be a string")
            if len(value) > limit:
                raise Invalid(f"must be at most {limit} characters")
            clean[name] = clean_string(value.strip())
        except Invalid as error:
            errors[name] = str(error)
    return (None, errors) if errors else (clean, {})


def record_scores(team, items: list) -> IngestResult:
    """Attach each score to the team's event. The same score again is a duplicate."""
    result = IngestResult()
    valid: dict[str, tuple[int, dict]] = {}
    for index, item in enumerate(items):
        if isinstance(item, LineError):
            result.rejected.append({"index": index, "id": None, "errors": {"line": item.message}})
            continue
        score, errors = _score_from_json(item)
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
