from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from billing.bench.overview import Timing
from dashboard.models import Team


def test_the_p95_of_thirty_runs_is_the_twenty_ninth_fastest():
    assert Timing([float(n) for n in range(1, 31)]).p95 == 29.0
    assert Timing([float(n) for n in range(1, 31)]).p50 == 15.5


@pytest.mark.django_db(transaction=True)
def test_bench_dashboard_times_the_page_against_raw_events_and_cleans_up(catalog):
    out = StringIO()
    call_command(
        "bench_dashboard",
        "--events",
        "600",
        "--days",
        "3",
        "--runs",
        "2",
        "--raw-runs",
        "1",
        stdout=out,
    )
    output = out.getvalue()
    assert "600 events in" in output
    assert "full page from rollups  (2 runs): p50" in output
    assert "figures from raw events (1 runs): p50" in output
    assert "raw figures / full page at p50:" in output
    assert not Team.objects.filter(slug="bench-dashboard").exists()
    assert not get_user_model().objects.filter(username="bench-dashboard").exists()


def test_bench_dashboard_refuses_zero_runs(db):
    with pytest.raises(CommandError, match="at least 1"):
        call_command("bench_dashboard", "--runs", "0")
