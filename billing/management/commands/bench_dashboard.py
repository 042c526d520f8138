from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.utils import timezone

from billing.bench.data import fill_usage
from billing.bench.overview import (
    BENCH_USER,
    overview_figures,
    overview_page,
    page_client,
    same_figures,
    timed,
)
from billing.catalog import catalog_load
from billing.models import UsageEvent
from billing.overview.cube import RAW, ROLLUPS
from dashboard.models import Team
from dashboard.progress import ProgressBar
from routing.models import Model

TARGET_P95_MS = 250
TARGET_SPEEDUP = 50


class Command(BaseCommand):
    help = (
        "Benchmark the overview page: fill one team with EVENTS usage events over DAYS days "
        "(COPY on PostgreSQL, then rollups), time the full page from rollups RUNS times, and "
        "the same figures computed from raw events."
    )

    def add_arguments(self, parser):
        parser.add_argument("--events", type=int, default=10_000_000)
        parser.add_argument("--days", type=int, default=90)
        parser.add_argument("--runs", type=int, default=30, help="Timed page views (rollups).")
        parser.add_argument(
            "--raw-runs",
            type=int,
            default=5,
            help="Timed computations from raw events (each scans every event of the range).",
        )
        parser.add_argument("--team", default="bench-dashboard", help="Slug of the bench team.")
        parser.add_argument(
            "--reuse",
            action="store_true",
            help="Keep the team's usage when it already holds exactly EVENTS events.",
        )
        parser.add_argument("--keep", action="store_true", help="Keep the bench team afterwards.")

    def handle(self, *args, events, days, runs, raw_runs, team, reuse, keep, **options):
        if events < 1 or days < 1 or runs < 1 or raw_runs < 1:
            raise CommandError("--events, --days, --runs and --raw-runs must be at least 1.")
        say = self.stdout.write
        if connection.vendor != "postgresql":
            say(self.style.WARNING("Not PostgreSQL: the targets are for PostgreSQL; figures only."))
        catalog_load()
        bench_team = _bench_team(team)
        now = timezone.now()
        if reuse and UsageEvent.objects.filter(team=bench_team).count() == events:
            say(f"Reusing {events:,} events of team {team}.")
        else:
            say(f"Filling team {team} with {events:,} events over {days} days")
            fill = fill_usage(
                bench_team,
                events=events,
                days=days,
                end=now,
                progress=ProgressBar(self.stdout, "Events"),
            )
            say(
                f"  {fill.events:,} events in {fill.events_seconds:.1f} s "
                f"({fill.events / fill.events_seconds:,.0f}/s); "
                f"{fill.rollups:,} rollup rows in {fill.rollups_seconds:.1f} s"
            )
        range_days = min(days, 90)
        query = f"range={range_days}d"
        if not same_figures(bench_team, days=range_days, now=now):
            raise CommandError("Rollups and raw events disagree: run rollups_rebuild first.")
        say(f"Timing the overview of the last {range_days} days")
        client, url = page_client(bench_team)
        page = timed(
            overview_page(client, url, query), runs, ProgressBar(self.stdout, "Page (rollups)")
        )
        figures = timed(
            overview_figures(bench_team, days=range_days, now=now, source=ROLLUPS),
            runs,
            ProgressBar(self.stdout, "Figures (rollups)"),
        )
        raw = timed(
            overview_figures(bench_team, days=range_days, now=now, source=RAW),
            raw_runs,
            ProgressBar(self.stdout, "Figures (raw events)"),
        )
        if not keep:
            bench_team.delete()
            client.logout()
            get_user_model().objects.filter(username=BENCH_USER).delete()

        say("")
        say(f"Overview of {range_days} days, {events:,} events ({connection.vendor})")
        for label, timing in [
            (f"full page from rollups  ({runs} runs)", page),
            (f"figures from rollups    ({runs} runs)", figures),
            (f"figures from raw events ({raw_runs} runs)", raw),
        ]:
            say(f"  {label}: p50 {timing.p50:9.1f} ms  p95 {timing.p95:9.1f} ms")
        speedup = raw.p50 / page.p50
        met_p95 = "met" if page.p95 < TARGET_P95_MS else "NOT met"
        met_speedup = "met" if speedup >= TARGET_SPEEDUP else "NOT met"
        say(f"  page p95 {page.p95:.1f} ms (target < {TARGET_P95_MS} ms): {met_p95}")
        say(
            f"  raw figures / full page at p50: {speedup:,.0f}x "
            f"(target >= {TARGET_SPEEDUP}x): {met_speedup}"
        )


def _bench_team(slug: str) -> Team:
    team, _ = Team.objects.get_or_create(slug=slug, defaults={"name": "Bench dashboard"})
    if team.baseline_model_id is None:
        team.baseline_model = Model.objects.filter(name="claude-sonnet-4-5").first()
        team.target_share_min, team.target_share_max = 55, 70
        team.save()
    return team
