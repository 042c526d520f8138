import gzip
import json
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import OperationalError, connection

from billing.ingest import files as importing
from billing.models import UsageEvent, UsageRollup
from tests.factories import canonical_event

pytestmark = pytest.mark.usefixtures("catalog", "frozen_now")

LITELLM_SAMPLE = Path(__file__).resolve().parents[1] / "data" / "litellm" / "openai_success.json"
HEADER = "id,timestamp,provider,model,input_tokens,output_tokens,cost_usd,metadata,team\n"


def _import(path, *args) -> str:
    out = StringIO()
    call_command("import_usage", str(path), *args, stdout=out)
    return out.getvalue()


def _jsonl(tmp_path, *items, name="usage.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join(json.dumps(item) + "\n" for item in items))
    return path


def _csv(tmp_path, *rows, name="usage.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + "".join(row + "\n" for row in rows))
    return path


def _rejected(path) -> list[dict]:
    rejected = path.with_name(f"{path.name}.rejected.jsonl")
    return [json.loads(line) for line in rejected.read_text().splitlines()]


def test_it_imports_jsonl_events_priced_from_the_catalog(tmp_path, team):
    _import(_jsonl(tmp_path, canonical_event(), canonical_event(id="evt-2")), "--team", "maven")
    costs = set(UsageEvent.objects.filter(team=team).values_list("event_id", "catalog_cost_usd"))
    # Claude Sonnet 4.5: 5,000 in at $3/M + 2,000 out at $15/M.
    assert costs == {("evt-1", Decimal("0.045")), ("evt-2", Decimal("0.045"))}


def test_it_converts_csv_numbers_and_metadata(tmp_path, team):
    row = 'c-1,2026-11-20T10:15:00Z,anthropic,claude-sonnet-4-5,5000,2000,0.0451,"{""run"": 7}",'
    _import(_csv(tmp_path, row), "--team", "maven")
    event = UsageEvent.objects.get(event_id="c-1")
    assert (event.input_tokens, event.output_tokens) == (5000, 2000)
    assert event.reported_cost_usd == Decimal("0.0451")
    assert event.metadata == {"run": 7}


def test_it_converts_csv_cells_to_decimals_and_leaves_the_rest_as_text():
    item, errors = importing._csv_item(
        {"input_tokens": "12", "cost_usd": "1.5", "output_tokens": "abc", "ttft_ms": " "}
    )
    assert item == {"input_tokens": Decimal(12), "cost_usd": Decimal("1.5"), "output_tokens": "abc"}
    assert errors == {}


def test_it_rejects_a_csv_number_that_is_text_with_the_validators_message(tmp_path, team):
    path = _csv(tmp_path, "c-1,2026-11-20T10:15:00Z,anthropic,claude-sonnet-4-5,abc,1,,,")
    _import(path, "--team", "maven")
    assert _rejected(path)[0]["errors"] == {"input_tokens": "must be a number"}


def test_it_rejects_csv_metadata_that_is_not_json(tmp_path, team):
    path = _csv(tmp_path, "c-1,2026-11-20T10:15:00Z,anthropic,claude-sonnet-4-5,1,1,,{run,")
    _import(path, "--team", "maven")
    assert _rejected(path)[0]["errors"]["metadata"].startswith("is not valid JSON")


def test_it_reads_gzipped_jsonl_by_its_magic_bytes_without_a_gz_extension(tmp_path, team):
    path = tmp_path / "usage.export"
    path.write_bytes(gzip.compress(json.dumps(canonical_event()).encode()))
    _import(path, "--team", "maven")
    assert UsageEvent.objects.filter(event_id="evt-1").exists()


def test_it_reads_gzipped_csv(tmp_path, team):
    row = "c-1,2026-11-20T10:15:00Z,anthropic,claude-sonnet-4-5,10,10,,,maven\n"
    path = tmp_path / "usage.csv.gz"
    path.write_bytes(gzip.compress((HEADER + row).encode()))
    _import(path)
    assert UsageEvent.objects.filter(event_id="c-1").exists()


def test_it_counts_a_second_import_as_duplicates_and_changes_nothing(tmp_path, team):
    path = _jsonl(tmp_path, canonical_event(), canonical_event(id="evt-2"))
    _import(path, "--team", "maven")
    rollups = list(UsageRollup.objects.order_by("pk").values())
    out = _import(path, "--team", "maven")
    assert "0 accepted, 2 duplicates, 0 rejected" in out
    assert list(UsageRollup.objects.order_by("pk").values()) == rollups


def test_it_writes_rejected_rows_with_their_line_numbers_and_errors(tmp_path, team):
    bad = "c-2,2026-11-20T10:15:00Z,anthropic,,1,1,,,maven"
    path = _csv(tmp_path, "c-1,2026-11-20T10:15:00Z,anthropic,claude-sonnet-4-5,1,1,,,maven", bad)
    _import(path)
    [rejected] = _rejected(path)
    assert (rejected["line"], rejected["errors"]) == (3, {"model": "is required"})
    assert rejected["row"]["id"] == "c-2"
    assert UsageEvent.objects.filter(event_id="c-1").exists()


def test_it_rejects_a_line_that_is_not_json(tmp_path, team):
    path = tmp_path / "usage.jsonl"
    path.write_text(json.dumps(canonical_event()) + "\n\nnot json\n")
    _import(path, "--team", "maven")
    [rejected] = _rejected(path)
    assert (rejected["line"], rejected["row"]) == (3, "not json")
    assert rejected["errors"]["line"].startswith("is not valid JSON")
    assert UsageEvent.objects.count() == 1


def test_it_removes_a_stale_rejected_file_when_nothing_is_rejected(tmp_path, team):
    path = _jsonl(tmp_path, canonical_event())
    stale = tmp_path / "usage.jsonl.rejected.jsonl"
    stale.write_text("{}\n")
    _import(path, "--team", "maven")
    assert not stale.exists()


def test_it_lands_rows_in_the_team_their_team_field_names(tmp_path, team, other_team):
    path = _jsonl(tmp_path, canonical_event(team="maven"), canonical_event(team="rival"))
    out = _import(path)
    assert UsageEvent.objects.filter(team=team).count() == 1
    assert UsageEvent.objects.filter(team=other_team).count() == 1
    assert "  rival: 1 accepted, 0 duplicates, 0 rejected" in out


def test_it_rejects_a_row_naming_another_team_than_the_team_option(tmp_path, team, other_team):
    path = _jsonl(tmp_path, canonical_event(team="rival"))
    _import(path, "--team", "maven")
    assert _rejected(path)[0]["errors"] == {"team": "is 'rival' but --team is 'maven'"}
    assert not UsageEvent.objects.exists()


def test_it_rejects_a_row_naming_an_unknown_team(tmp_path, team):
    path = _jsonl(tmp_path, canonical_event(team="nobody"))
    _import(path)
    assert _rejected(path)[0]["errors"] == {"team": "no team has the slug 'nobody'"}


def test_it_rejects_a_row_without_a_team_when_no_team_option_is_given(tmp_path, team):
    path = _jsonl(tmp_path, canonical_event())
    _import(path)
    assert set(_rejected(path)[0]["errors"]) == {"team"}


def test_it_sends_ingest_events_batches_per_team(tmp_path, team, monkeypatch):
    sizes = []
    ingest = importing.usage_ingest
    monkeypatch.setattr(importing, "BATCH_SIZE", 2)
    monkeypatch.setattr(
        importing, "usage_ingest", lambda t, items: sizes.append(len(items)) or ingest(t, items)
    )
    _import(_jsonl(tmp_path, *(canonical_event(id=f"e-{n}") for n in range(5))), "--team", "maven")
    assert sizes == [2, 2, 1]


def test_it_refuses_unknown_csv_columns(tmp_path, team):
    path = tmp_path / "usage.csv"
    path.write_text("id,colour\n1,red\n")
    with pytest.raises(CommandError, match=r"unknown columns: 'colour'\. Known columns: id, "):
        _import(path, "--team", "maven")


def test_it_refuses_a_missing_file(tmp_path, team):
    with pytest.raises(CommandError, match="No file at"):
        _import(tmp_path / "nowhere.jsonl", "--team", "maven")


def test_it_refuses_a_corrupt_gzip(tmp_path, team):
    path = tmp_path / "usage.jsonl.gz"
    path.write_bytes(gzip.compress(json.dumps(canonical_event()).encode())[:-12])
    with pytest.raises(CommandError, match="Cannot read"):
        _import(path, "--team", "maven")


def test_it_refuses_an_unknown_team_option(tmp_path, team):
    with pytest.raises(CommandError, match="No team has the slug 'nobody'"):
        _import(_jsonl(tmp_path, canonical_event()), "--team", "nobody")


def test_it_refuses_a_json_array_file(tmp_path, team):
    path = tmp_path / "usage.json"
    path.write_text(json.dumps([canonical_event()]))
    with pytest.raises(CommandError, match="JSON array"):
        _import(path, "--team", "maven")


def test_it_reports_the_counts_in_the_summary(tmp_path, team):
    path = _jsonl(tmp_path, canonical_event(), canonical_event(), canonical_event(id="x", model=""))
    out = _import(path, "--team", "maven")
    assert "3 rows read: 1 accepted, 1 duplicates, 1 rejected in " in out
    assert f"Rejected rows and their errors: {path}.rejected.jsonl" in out


def test_it_imports_a_litellm_payload_line(tmp_path, team):
    path = tmp_path / "litellm.ndjson"
    path.write_text(json.dumps(json.loads(LITELLM_SAMPLE.read_text())) + "\n")
    _import(path, "--team", "maven")
    event = UsageEvent.objects.get()
    assert (event.provider_name, event.model_name) == ("openai", "gpt-4o-mini")
    assert event.reported_cost_usd == Decimal("0.0000135")


def test_it_rejects_bytes_that_are_not_utf8_and_writes_them_as_escapes(tmp_path, team):
    path = tmp_path / "usage.jsonl"
    path.write_bytes(b'{"id": "e", "timestamp": "2026-11-20T10:15:00Z", "model": "claude-\xff"}')
    _import(path, "--team", "maven")
    [rejected] = _rejected(path)
    assert rejected["row"]["model"] == "claude-\udcff"
    assert rejected["errors"] == {"model": "must be valid Unicode (no lone surrogates)"}


def test_it_reports_progress_in_bytes_of_the_file_up_to_its_size(tmp_path, team, monkeypatch):
    monkeypatch.setattr(importing, "PROGRESS_EVERY", 1)
    path = _jsonl(tmp_path, *(canonical_event(id=f"e-{n}") for n in range(3)))
    calls = []
    importing.usage_file_import(path, team=team, progress=lambda *call: calls.append(call))
    size = path.stat().st_size
    assert [total for _, total in calls] == [size] * len(calls)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    assert calls[-1] == (size, size)


def test_it_keeps_no_query_log_of_sent_batches_with_debug_on(tmp_path, team, settings):
    settings.DEBUG = True
    path = _jsonl(tmp_path, canonical_event(), canonical_event(id="evt-2"))
    importing.usage_file_import(path, team=team)
    assert connection.queries == []


@pytest.mark.skipif(connection.vendor != "postgresql", reason="batches go side by side on PG")
def test_it_counts_every_batch_sent_side_by_side(tmp_path, team, monkeypatch, transactional_db):
    monkeypatch.setattr(importing, "BATCH_SIZE", 2)
    events = [canonical_event(id=f"e-{n}") for n in range(7)] + [canonical_event(id="e-0")]
    summary = importing.usage_file_import(_jsonl(tmp_path, *events), team=team)
    assert (summary.total.accepted, summary.total.duplicates) == (7, 1)
    assert UsageRollup.objects.get(team=team).requests == 7


class _Deadlock(Exception):
    sqlstate = "40P01"


def test_it_sends_a_batch_again_when_postgresql_broke_a_deadlock(team, monkeypatch):
    calls = []

    def deadlocked_once(team, items):
        calls.append(items)
        if len(calls) == 1:
            raise OperationalError("deadlock detected") from _Deadlock()
        return "landed"

    monkeypatch.setattr(importing, "usage_ingest", deadlocked_once)
    assert importing._ingest_retrying_deadlocks(team, [1]) == "landed"
    assert calls == [[1], [1]]


def test_it_raises_other_database_errors_at_once(team, monkeypatch):
    def failing(team, items):
        raise OperationalError("server closed the connection")

    monkeypatch.setattr(importing, "usage_ingest", failing)
    with pytest.raises(OperationalError):
        importing._ingest_retrying_deadlocks(team, [1])
