"""Counting what happened to the usage events proxies sent: accepted, duplicate or rejected.

The counts only ever grow, so /metrics exposes them as Prometheus counters. They are added
after a batch's own transaction, so a failure here costs a count, never the batch.
"""

import logging

from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from billing.models import IngestTally

logger = logging.getLogger(__name__)


def ingest_tally_add(team, *, accepted: int, duplicates: int, rejected: int) -> None:
    """Add a batch's outcome to the team's tally, creating the row on its first batch.

    An UPDATE with F() expressions adds in the database, so concurrent batches never overwrite
    each other's counts; two first batches racing to create the row meet the unique team key,
    and the loser adds to the winner's row instead.
    """
    if not (accepted or duplicates or rejected):
        return
    counts = {"accepted": accepted, "duplicates": duplicates, "rejected": rejected}
    if _add(team, counts):
        return
    try:
        with transaction.atomic():
            IngestTally.objects.create(team=team, **counts)
    except IntegrityError:
        _add(team, counts)


def _add(team, counts: dict[str, int]) -> bool:
    added = {name: F(name) + value for name, value in counts.items()}
    return IngestTally.objects.filter(team=team).update(**added, updated_at=timezone.now()) == 1


def ingest_tally_record(team, result) -> None:
    """ingest_tally_add for a usage batch's IngestResult; a failure is logged, never raised:
    the batch is stored already and its answer must still reach the proxy."""
    try:
        ingest_tally_add(
            team,
            accepted=result.accepted,
            duplicates=result.duplicates,
            rejected=len(result.rejected),
        )
    except DatabaseError:
        logger.exception("Could not add a usage batch to team %s's ingest tally", team.pk)
