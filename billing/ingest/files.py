"""Importing usage events from a file: JSON Lines or CSV, gzipped or not, streamed in batches.

Validation, dedupe, pricing and rollups are usage_ingest's job. This module reads the rows,
turns CSV text into the JSON values the validator expects, sorts rows by team and writes the
rejected ones beside the file.
"""

import csv
import gzip
import io
import json
import queue
import re
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TextIO

from django.core.validators import slug_re
from django.db import OperationalError, connection, reset_queries

from billing.ingest.events import CANONICAL_FIELDS
from billing.ingest.payload import loads
from billing.ingest.store import usage_ingest
from dashboard.models import Team

CSV_COLUMNS = [*CANONICAL_FIELDS, "team"]
# Timestamps too: epoch seconds are numbers, and no ISO 8601 date-time looks like one.
NUMBER_FIELDS = frozenset(
    {
        "timestamp",
        "route_version",
        "input_tokens",
        "output_tokens",
        "cached_input_tokens",
        "cache_write_tokens",
        "latency_ms",
        "ttft_ms",
        "cost_usd",
        "quality_score",
    }
)
# Plain decimal notation only: "NaN", "1,000", "1_000" or "0x10" stay text and are rejected.
NUMBER = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
# What surrogateescape turns bytes that are not UTF-8 into.
NOT_UTF8 = re.compile("[\udc80-\udcff]")
# Events per usage_ingest call: a commit (and its foreign key checks) per 5,000 events costs
# less than one per 1,000, and 5,000 parsed events stay well under 100 MB.
BATCH_SIZE = 5_000
# Threads sending batches side by side on PostgreSQL (see _Batches).
SENDERS = 2
# PostgreSQL's SQLSTATE for "deadlock detected", and how many times such a batch is sent again.
DEADLOCK, DEADLOCK_RETRIES = "40P01", 3
# Rows between two calls of the progress callback.
PROGRESS_EVERY = 1_000
GZIP_MAGIC = b"\x1f\x8b"
MAX_LINE_CHARS = 10 * 1024 * 1024
SNIFF_CHARS = 64 * 1024
CSV_SUFFIXES = {".csv"}
JSONL_SUFFIXES = {".jsonl", ".ndjson", ".json"}


class ImportFileError(Exception):
    """The file cannot be imported at all (missing, unreadable, unknown columns...)."""


@dataclass
class Counts:
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0


@dataclass
class ImportSummary:
    path: Path
    rows: int = 0
    total: Counts = field(default_factory=Counts)
    teams: dict[str, Counts] = field(default_factory=dict)
    rejected_path: Path | None = None
    seconds: float = 0.0

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


@dataclass(slots=True)
class Row:
    line: int
    raw: object  # what the rejected file shows as "row"
    item: object = None  # the JSON value handed to usage_ingest
    errors: dict = field(default_factory=dict)
    raw_is_json: bool = False  # raw is a JSON line's own text, written back as it was

    def raw_json(self) -> str:
        if not self.raw_is_json:
            return json.dumps(self.raw)
        # Bytes that were not UTF-8 (read as lone surrogates) become JSON escapes, as in dumps.
        return NOT_UTF8.sub(lambda match: f"\\u{ord(match[0]):04x}", self.raw)


def usage_file_import(
    path, *, team: Team | None = None, progress: Callable[[int, int], None] | None = None
) -> ImportSummary:
    """Import every row of a JSON Lines or CSV file, gzipped or not, through usage_ingest.

    Without `team` each row names its team's slug in a "team" field; with it a row may only
    name that team. Rows go to usage_ingest in batches of BATCH_SIZE per team, so a row
    imported before is a duplicate. Rejected rows go to <path>.rejected.jsonl, and a stale one
    is removed when none is. `progress(done, total)` counts bytes of the file as stored.
    Raises ImportFileError when the file cannot be imported; batches sent before a read error
    stay imported.
    """
    started = time.monotonic()
    path = Path(path)
    compressed = _check_file(path)
    kind = _kind_of(path, compressed)
    size = path.stat().st_size
    summary = ImportSummary(path=path)
    rejected = _RejectedFile(path.with_name(f"{path.name}.rejected.jsonl"))
    with rejected, _opened(path, compressed, newline="" if kind == "csv" else None) as (raw, text):
        if kind == "csv":
            rows = _csv_rows(text, path, team_required=team is None)
        else:
            rows = _jsonl_rows(text)
        with _Batches(team, rejected, summary) as batches:
            for row in _guarded(rows, path):
                batches.add(row)
                if progress and summary.rows % PROGRESS_EVERY == 0:
                    # Reading ahead can reach the end of the file early: the bar ends after
                    # the rows.
                    progress(min(raw.tell(), size - 1), size)
            batches.finish()
    if progress:
        progress(size, size)
    summary.rejected_path = rejected.path if rejected.count else None
    summary.seconds = time.monotonic() - started
    return summary


def _check_file(path: Path) -> bool:
    """Whether the file is gzipped (by its magic bytes); raises when it cannot be read."""
    if not path.exists():
        raise ImportFileError(f"No file at {path}.")
    if not path.is_file():
        raise ImportFileError(f"{path} is not a file.")
    try:
        with path.open("rb") as raw:
            compressed = raw.read(2) == GZIP_MAGIC
    except OSError as error:
        raise ImportFileError(f"Cannot read {path}: {error.strerror}.") from None
    if not compressed and path.suffix.lower() == ".gz":
        raise ImportFileError(f"{path} ends in .gz but is not gzip (no gzip magic bytes).")
    return compressed


def _kind_of(path: Path, compressed: bool) -> str:
    """The kind of file, csv or jsonl: from the extension, else from its first character."""
    suffix = Path(path.name.lower().removesuffix(".gz")).suffix
    if suffix in CSV_SUFFIXES:
        return "csv"
    first = _first_character(path, compressed)
    if first == "[":
        raise ImportFileError(
            f"{path} holds a JSON array; import JSON Lines, one event per line "
            "(jq -c '.[]' converts it)."
        )
    return "jsonl" if suffix in JSONL_SUFFIXES or first == "{" else "csv"


def _first_character(path: Path, compressed: bool) -> str:
    try:
        with _opened(path, compressed, newline=None) as (_, text):
            while chunk := text.read(SNIFF_CHARS):
                if stripped := chunk.lstrip():
                    return stripped[0]
    except (OSError, EOFError, zlib.error) as error:
        raise ImportFileError(f"Cannot read {path}: {error}.") from None
    return ""


@contextmanager
def _opened(path: Path, compressed: bool, *, newline: str | None):
    """The raw file (for progress by bytes) and its text, decompressed when gzipped."""
    with path.open("rb") as raw:
        binary = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw
        # Bytes that are not UTF-8 reach the validator as lone surrogates, which it rejects.
        with io.TextIOWrapper(
            binary, encoding="utf-8-sig", errors="surrogateescape", newline=newline
        ) as text:
            yield raw, text


def _guarded(rows: Iterator[Row], path: Path) -> Iterator[Row]:
    """The rows, with a damaged file (truncated or corrupt gzip) as an ImportFileError."""
    line = 0
    try:
        for row in rows:
            line = row.line
            yield row
    except (OSError, EOFError, zlib.error) as error:
        if not line:
            raise ImportFileError(f"Cannot read {path}: {error}.") from None
        raise ImportFileError(
            f"Cannot read {path} after line {line:,}: {error}. Batches sent before stay "
            "imported; importing the file again skips them as duplicates."
        ) from None


def _jsonl_rows(text) -> Iterator[Row]:
    for number, line in _numbered_lines(text):
        if line is None:
            message = f"is longer than {MAX_LINE_CHARS:,} characters"
            yield Row(number, raw=None, errors={"line": message})
            continue
        stripped = line.strip()
        if not stripped:
            continue
        try:
            item = loads(stripped)
        except (ValueError, RecursionError) as error:
            yield Row(number, raw=line.rstrip("\n"), errors={"line": f"is not valid JSON: {error}"})
            continue
        row = Row(number, raw=stripped, item=item, raw_is_json=True)
        if not isinstance(item, dict):
            row.errors["event"] = "must be a JSON object"
        yield row


def _numbered_lines(text) -> Iterator[tuple[int, str | None]]:
    """Each line with its number, None for a line too long to hold in memory (skipped)."""
    number = 0
    while line := text.readline(MAX_LINE_CHARS):
        number += 1
        if len(line) < MAX_LINE_CHARS or line.endswith("\n"):
            yield number, line
            continue
        while (rest := text.readline(MAX_LINE_CHARS)) and not rest.endswith("\n"):
            pass
        yield number, None


def _csv_rows(text, path: Path, *, team_required: bool) -> Iterator[Row]:
    reader = csv.reader(text)
    header = None
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            if header is None:
                raise ImportFileError(f"The header of {path} is not valid CSV: {error}.") from None
            yield Row(start, raw=None, errors={"row": f"is not valid CSV: {error}"})
            continue
        if not any(cell.strip() for cell in cells):
            continue
        if header is None:
            header = _csv_header(cells, path, team_required=team_required)
        elif len(cells) != len(header):
            message = f"has {len(cells)} cells but the header has {len(header)} columns"
            yield Row(start, raw=cells, errors={"row": message})
        else:
            raw = dict(zip(header, cells, strict=True))
            item, errors = _csv_item(raw)
            yield Row(start, raw=raw, item=item, errors=errors)


def _csv_header(cells: list[str], path: Path, *, team_required: bool) -> list[str]:
    header = [cell.strip() for cell in cells]
    unknown = [name for name in header if name not in CSV_COLUMNS]
    if unknown:
        raise ImportFileError(
            f"{path} has unknown columns: {', '.join(map(repr, unknown))}. "
            f"Known columns: {', '.join(CSV_COLUMNS)}."
        )
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise ImportFileError(f"{path} repeats columns: {', '.join(repeated)}.")
    if team_required and "team" not in header:
        raise ImportFileError(f"{path} has no team column: name the team with --team.")
    return header


def _csv_item(raw: dict[str, str]) -> tuple[dict, dict[str, str]]:
    """The JSON item of a CSV row of text cells, and the errors of cells that cannot be one.

    An empty cell is a field left out; a number is a Decimal; metadata is JSON. Anything else
    stays text, so the validator rejects it with its own message.
    """
    item, errors = {}, {}
    for name, text in raw.items():
        cell = text.strip()
        if not cell:
            continue
        if name == "metadata":
            try:
                item[name] = loads(cell)
            except (ValueError, RecursionError) as error:
                errors[name] = f"is not valid JSON: {error}"
        elif name in NUMBER_FIELDS and NUMBER.fullmatch(cell):
            item[name] = Decimal(cell)
        else:
            item[name] = text
    return item, errors


class _RejectedFile:
    """<file>.rejected.jsonl, opened on the first rejected row; removed when there is none."""

    def __init__(self, path: Path):
        self.path, self.count = path, 0
        self._file: TextIO | None = None

    def write(self, row: Row) -> None:
        if self._file is None:
            try:
                self._file = self.path.open("w", encoding="utf-8")
            except OSError as error:
                raise ImportFileError(
                    f"Cannot write rejected rows to {self.path}: {error.strerror}."
                ) from None
        errors = json.dumps(row.errors)
        self._file.write(f'{{"line": {row.line}, "row": {row.raw_json()}, "errors": {errors}}}\n')
        self.count += 1

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        if self._file is not None:
            self._file.close()
        if not self.count:
            self.path.unlink(missing_ok=True)


class _Batches:
    """Rows waiting per team until a batch is full, then sent to usage_ingest and counted.

    On PostgreSQL, outside a transaction, SENDERS threads with their own connections send
    batches side by side, so that one batch's database work overlaps the next one's Python;
    results are counted in the order the batches were sent. Elsewhere, one batch at a time.
    """

    def __init__(self, team: Team | None, rejected: _RejectedFile, summary: ImportSummary):
        self.team, self.rejected, self.summary = team, rejected, summary
        self.teams: dict[str, Team | None] = {team.slug: team} if team else {}
        self.pending: dict[str, list[Row]] = {}
        parallel = connection.vendor == "postgresql" and not connection.in_atomic_block
        self.senders = _Senders(SENDERS) if parallel else None
        self.in_flight: deque[tuple[Future, Team, list[Row]]] = deque()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        # Batches already sent land even when reading fails: wait for them.
        if self.senders is not None:
            self.senders.close()

    def add(self, row: Row) -> None:
        self.summary.rows += 1
        team = None
        if isinstance(row.item, dict):
            team, error = self._team_of(row.item)
            if error:
                row.errors["team"] = error
        if row.errors:
            self._reject(row, team)
            return
        batch = self.pending.setdefault(team.slug, [])
        batch.append(row)
        if len(batch) >= BATCH_SIZE:
            self._send(team)

    def finish(self) -> None:
        for slug in list(self.pending):
            self._send(self.teams[slug])
        while self.in_flight:
            self._settle(*self.in_flight.popleft())

    def _team_of(self, item: dict) -> tuple[Team | None, str | None]:
        named = item.get("team")
        if isinstance(named, str):
            named = named.strip()
        if named is None or named == "":
            if self.team:
                return self.team, None
            return None, "is required without --team: the slug of the row's team"
        if not isinstance(named, str):
            return None, "must be a team slug"
        if self.team and named != self.team.slug:
            return None, f"is {named!r} but --team is {self.team.slug!r}"
        if named not in self.teams:
            valid = slug_re.match(named) is not None
            self.teams[named] = Team.objects.filter(slug=named).first() if valid else None
        team = self.teams[named]
        return (team, None) if team else (None, f"no team has the slug {named!r}")

    def _send(self, team: Team) -> None:
        rows = self.pending.pop(team.slug)
        items = [row.item for row in rows]
        if self.senders is None:
            self._count_result(team, rows, usage_ingest(team, items))
            # With DEBUG on, Django keeps the text of the last 9,000 queries: with rollup
            # arrays inlined, hundreds of MB over a long import.
            reset_queries()
            return
        while len(self.in_flight) >= SENDERS:
            self._settle(*self.in_flight.popleft())
        self.in_flight.append((self.senders.submit(team, items), team, rows))

    def _settle(self, future: Future, team: Team, rows: list[Row]) -> None:
        self._count_result(team, rows, future.result())

    def _count_result(self, team: Team, rows: list[Row], result) -> None:
        self._count(team, accepted=result.accepted, duplicates=result.duplicates)
        for rejection in result.rejected:
            row = rows[rejection["index"]]
            row.errors = rejection["errors"]
            self._reject(row, team)

    def _reject(self, row: Row, team: Team | None) -> None:
        self.rejected.write(row)
        self._count(team, rejected=1)

    def _count(self, team: Team | None, **counts: int) -> None:
        totals = [self.summary.total]
        if team is not None:
            totals.append(self.summary.teams.setdefault(team.slug, Counts()))
        for total in totals:
            for name, value in counts.items():
                setattr(total, name, getattr(total, name) + value)


class _Senders:
    """Threads calling usage_ingest, each on its own database connection."""

    def __init__(self, count: int):
        self.tasks: queue.Queue = queue.Queue()
        self.threads = [threading.Thread(target=self._work, daemon=True) for _ in range(count)]
        for thread in self.threads:
            thread.start()

    def submit(self, team: Team, items: list) -> Future:
        future: Future = Future()
        self.tasks.put((future, team, items))
        return future

    def close(self) -> None:
        for _ in self.threads:
            self.tasks.put(None)
        for thread in self.threads:
            thread.join()

    def _work(self) -> None:
        try:
            while (task := self.tasks.get()) is not None:
                future, team, items = task
                try:
                    future.set_result(_ingest_retrying_deadlocks(team, items))
                # Whatever failed is raised in the reading thread, when it counts the batch.
                except BaseException as error:
                    future.set_exception(error)
                reset_queries()
        finally:
            connection.close()


def _ingest_retrying_deadlocks(team: Team, items: list):
    """usage_ingest, sent again when PostgreSQL broke a deadlock by aborting it: two batches
    side by side that share event ids can each wait for the other's (the batch is atomic)."""
    retries = 0
    while True:
        try:
            return usage_ingest(team, items)
        except OperationalError as error:
            deadlock = getattr(error.__cause__, "sqlstate", None) == DEADLOCK
            if not deadlock or retries == DEADLOCK_RETRIES:
                raise
            retries += 1
