import gzip
import json
from datetime import UTC, datetime, timedelta
from io import StringIO

from django.core.management import call_command

from billing.bench.ingest import IMPORT_SUMMARY
from billing.bench.usage_file import canonical_usage, usage_jsonl_write
from billing.ingest.events import event_from_json
from billing.models import UsageEvent

END = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_it_writes_one_event_a_line_that_validation_accepts(tmp_path):
    path = tmp_path / "usage.jsonl"
    usage_jsonl_write(path, events=300, days=3, end=END)
    events = _lines(path)
    assert len(events) == 300
    assert [event_from_json(event, now=END)[1] for event in events] == [{}] * 300


def test_its_events_are_oldest_first_inside_the_days_before_end():
    events = list(canonical_usage(500, days=3, end=END))
    moments = [datetime.fromisoformat(event["timestamp"]) for event in events]
    assert moments == sorted(moments)
    assert END - timedelta(days=3) <= moments[0] and moments[-1] < END


def test_its_events_have_distinct_ids():
    events = list(canonical_usage(2_000, days=1, end=END))
    assert len({event["id"] for event in events}) == 2_000


def test_it_names_the_team_on_every_line_when_given_one(tmp_path):
    path = tmp_path / "usage.jsonl"
    usage_jsonl_write(path, events=20, days=1, end=END, team="maven")
    assert {event["team"] for event in _lines(path)} == {"maven"}


def test_it_gzips_a_path_ending_in_gz(tmp_path):
    path = tmp_path / "usage.jsonl.gz"
    usage_jsonl_write(path, events=5, days=1, end=END)
    assert len(gzip.decompress(path.read_bytes()).splitlines()) == 5


def test_it_writes_the_same_bytes_for_the_same_arguments(tmp_path):
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    usage_jsonl_write(first, events=50, days=2, end=END)
    usage_jsonl_write(second, events=50, days=2, end=END)
    assert first.read_bytes() == second.read_bytes()


def test_import_usage_accepts_every_event_and_bench_reads_its_summary(tmp_path, team, catalog):
    path = tmp_path / "usage.jsonl"
    usage_jsonl_write(path, events=200, days=2, end=END)
    out = StringIO()
    call_command("import_usage", str(path), "--team", "maven", stdout=out)
    summary = IMPORT_SUMMARY.search(out.getvalue())
    assert (summary[1], summary[2]) == ("200", "200")
    assert UsageEvent.objects.filter(team=team).count() == 200
