"""Raw usage retention: old, closed months of raw events go; everything built on them stays."""

import csv
import io
from datetime import UTC, date, datetime

import pytest
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from billing.ingest.store import usage_ingest
from billing.models import RawUsageRemoval, UsageEvent, UsageRollup
from billing.partitions import partition_months
from billing.reports.month_close import month_close, provider_totals
from billing.reprice import usage_reprice
from billing.retention import raw_usage_since, usage_raw_drop
from billing.rollups import rollups_for_hours, rollups_rebuild
from billing.tasks import drop_raw_usage
from dashboard.models import JobRun
from tests.factories import canonical_event

# Late November 2026: with two months of retention, September 2026 on is kept.
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
JULY, AUGUST, OCTOBER = date(2026, 7, 1), date(2026, 8, 1), date(2026, 10, 1)

pytestmark = pytest.mark.usefixtures("frozen_now")


def _send(team, id, at: datetime):
    return usage_ingest(team, [canonical_event(id=id, timestamp=at.isoformat())], now=NOW)


@pytest.fixture
def usage(team, catalog):
    """Two calls in July, one in August, one in October, for a team whose months are UTC's."""
    team.time_zone = "UTC"
    team.save()
    _send(team, "jul-1", datetime(2026, 7, 10, 9, tzinfo=UTC))
    _send(team, "jul-2", datetime(2026, 7, 31, 23, tzinfo=UTC))
    _send(team, "aug-1", datetime(2026, 8, 15, 9, tzinfo=UTC))
    _send(team, "oct-1", datetime(2026, 10, 5, 9, tzinfo=UTC))


def _close(team, user, *months):
    for month in months:
        month_close(team=team, month=month, user=user, report={}, now=NOW)


def _rollups(team):
    return sorted(UsageRollup.objects.filter(team=team).values_list("hour", "requests", "cost_usd"))


def test_without_the_setting_nothing_is_removed(team, finance_user, usage, settings):
    settings.USAGE_RAW_RETENTION_MONTHS = None
    _close(team, finance_user, JULY, AUGUST)
    result = usage_raw_drop()
    assert UsageEvent.objects.count() == 4
    assert "raw usage events are kept" in result.summary()


def test_closed_months_older_than_the_retention_lose_their_raw_events(team, finance_user, usage):
    _close(team, finance_user, JULY, AUGUST)
    result = usage_raw_drop(months=2)
    assert sorted(UsageEvent.objects.values_list("event_id", flat=True)) == ["oct-1"]
    assert result.removed == [(JULY, 2), (AUGUST, 1)]
    assert list(RawUsageRemoval.objects.values_list("month", "events")) == [(JULY, 2), (AUGUST, 1)]


def test_rollups_and_month_totals_stay_as_they_were(team, finance_user, usage):
    _close(team, finance_user, JULY, AUGUST)
    rollups, july = _rollups(team), provider_totals(team, JULY)
    usage_raw_drop(months=2)
    assert _rollups(team) == rollups
    assert provider_totals(team, JULY) == july


def test_a_month_within_the_retention_keeps_its_raw_events(team, finance_user, usage):
    _close(team, finance_user, JULY, AUGUST)
    usage_raw_drop(months=4)
    assert UsageEvent.objects.count() == 4


def test_a_month_some_team_has_not_closed_holds_it_and_every_later_month(
    team, other_team, finance_user, usage
):
    _send(other_team, "theirs", datetime(2026, 7, 12, tzinfo=UTC))
    _close(team, finance_user, JULY, AUGUST)
    result = usage_raw_drop(months=2)
    assert UsageEvent.objects.count() == 5
    assert result.held == JULY
    assert "rival (not closed: 2026-07)" in result.summary()


def test_a_team_ahead_of_utc_must_also_close_the_month_its_last_hours_fall_in(
    team, finance_user, usage
):
    team.time_zone = "Asia/Tokyo"  # 2026-07-31 23:00 UTC is August 1st there
    team.save()
    _close(team, finance_user, JULY)
    result = usage_raw_drop(months=2)
    assert result.held == JULY
    assert "2026-08" in result.summary()


def test_a_dry_run_says_what_would_go_and_removes_nothing(team, finance_user, usage):
    _close(team, finance_user, JULY, AUGUST)
    result = usage_raw_drop(months=2, dry_run=True)
    assert result.removed == [(JULY, 2), (AUGUST, 1)]
    assert UsageEvent.objects.count() == 4
    assert not RawUsageRemoval.objects.exists()


def test_an_event_of_a_removed_month_sent_again_is_still_a_duplicate(team, finance_user, usage):
    _close(team, finance_user, JULY, AUGUST)
    usage_raw_drop(months=2)
    result = _send(team, "jul-1", datetime(2026, 7, 10, 9, tzinfo=UTC))
    assert (result.accepted, result.duplicates) == (0, 1)
    assert _rollups(team)[0][1] == 1


def test_rebuilding_rollups_keeps_those_of_removed_months(team, finance_user, usage):
    _close(team, finance_user, JULY, AUGUST)
    rollups = _rollups(team)
    usage_raw_drop(months=2)
    rollups_rebuild()
    rollups_rebuild(team=team, since=datetime(2026, 7, 1, tzinfo=UTC))
    assert _rollups(team) == rollups
    assert raw_usage_since() == datetime(2026, 9, 1, tzinfo=UTC)


def test_recomputing_hours_of_a_removed_month_leaves_them_alone(team, finance_user, usage):
    _close(team, finance_user, JULY, AUGUST)
    rollups = _rollups(team)
    usage_raw_drop(months=2)
    rollups_for_hours(team, {datetime(2026, 7, 10, 9, tzinfo=UTC)})
    assert _rollups(team) == rollups


def test_the_rebuild_command_says_which_rollups_it_kept(team, finance_user, usage):
    _close(team, finance_user, JULY, AUGUST)
    usage_raw_drop(months=2)
    out = io.StringIO()
    call_command("rebuild_rollups", stdout=out)
    assert "Rollups before 2026-09 were kept as they are" in out.getvalue()


def test_the_command_s_dry_run_names_the_months_it_would_remove(
    team, finance_user, usage, settings
):
    settings.USAGE_RAW_RETENTION_MONTHS = 2
    _close(team, finance_user, JULY, AUGUST)
    out = io.StringIO()
    call_command("drop_raw_usage", "--dry-run", stdout=out)
    assert "would remove 2026-07 (2 events), 2026-08 (1 events)" in out.getvalue()
    assert UsageEvent.objects.count() == 4


def test_the_scheduled_job_records_a_held_month_as_degraded_naming_the_team(team, usage, settings):
    settings.USAGE_RAW_RETENTION_MONTHS = 2
    drop_raw_usage()
    run = JobRun.objects.get(name="drop_raw_usage")
    assert run.outcome == JobRun.Outcome.DEGRADED
    assert "maven (not closed: 2026-07)" in run.detail


@pytest.mark.skipif(connection.vendor != "postgresql", reason="partitions are PostgreSQL's")
def test_on_postgresql_the_month_s_partition_is_dropped(team, finance_user, usage):
    _close(team, finance_user, JULY, AUGUST)
    usage_raw_drop(months=2)
    with connection.cursor() as cursor:
        months = partition_months(cursor)
    assert JULY not in months
    assert OCTOBER in months


def _explorer(client, team, **params):
    response = client.get(reverse("usage", kwargs={"team": team.slug}), params)
    assert response.status_code == 200
    return response.content.decode()


def test_the_usage_explorer_says_when_a_month_s_raw_calls_are_gone(
    client, team, finance_user, usage
):
    _close(team, finance_user, JULY, AUGUST)
    usage_raw_drop(months=2)
    client.force_login(finance_user)
    page = _explorer(client, team, range="custom", start="2026-07-01", end="2026-07-31")
    assert "Raw calls of July 2026 were removed on 2026-11-26" in page
    assert "August 2026" not in page


def test_the_usage_explorer_says_nothing_of_months_outside_its_range(
    client, team, finance_user, usage
):
    _close(team, finance_user, JULY, AUGUST)
    usage_raw_drop(months=2)
    client.force_login(finance_user)
    page = _explorer(client, team, range="custom", start="2026-10-01", end="2026-10-31")
    assert "were removed" not in page


def test_the_usage_csv_ends_with_the_same_note(client, team, finance_user, usage):
    _close(team, finance_user, JULY, AUGUST)
    usage_raw_drop(months=2)
    client.force_login(finance_user)
    response = client.get(
        reverse("usage_csv", kwargs={"team": team.slug}),
        {"range": "custom", "start": "2026-07-01", "end": "2026-10-31"},
    )
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row[0][:30] for row in rows[-2:]] == [
        "# Raw calls of July 2026 were ",
        "# Raw calls of August 2026 wer",
    ]
    assert len(rows) == 1 + 1 + 2  # the header, October's call, the notes


def test_repricing_from_a_removed_month_on_leaves_its_rollups_alone(team, finance_user, usage):
    _close(team, finance_user, JULY, AUGUST)
    rollups = _rollups(team)
    usage_raw_drop(months=2)
    result = usage_reprice(since=datetime(2026, 7, 1, tzinfo=UTC))
    assert result.kept_before == datetime(2026, 9, 1, tzinfo=UTC)
    assert _rollups(team) == rollups
