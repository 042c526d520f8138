import json
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from billing.bench import ingest as bench
from billing.bench.ingest_report import Figure, report_lines
from billing.bench.overview import BENCH_USER
from billing.bench.prefill import usage_prefill, usage_prefill_clear, usage_settle
from billing.catalog import catalog_load
from dashboard.models import Team

BENCH_TEAMS = [
    "bench-raw",
    "bench-http",
    "bench-http-2",
    "bench-spread-2",
    "bench-litellm-2",
    "bench-litellm-spread-2",
    "bench-import",
    "bench-memory",
]
PREFILL_TEAM = "bench-prefilled"
# The import target: a file of this many events over this many days.
IMPORT_TARGET_EVENTS, IMPORT_TARGET_DAYS = 1_000_000, 90


class Command(BaseCommand):
    help = (
        "Benchmark ingestion on PostgreSQL in one run: the lean and same-table COPY limits, "
        "HTTP ingest through a live gunicorn (canonical and LiteLLM, live and spread over "
        "days), import_usage of a generated file, the live rate with millions of events "
        "stored (--prefill), and peak memory for one 10 MB batch; each with its target."
    )

    def add_arguments(self, parser):
        parser.add_argument("--events", type=int, default=20_000, help="Events per HTTP phase.")
        parser.add_argument("--batch", type=int, default=1_000, help="Canonical events a request.")
        parser.add_argument(
            "--litellm-batch",
            type=int,
            default=500,
            help="LiteLLM payloads a request (about 13.5 KB each: 1,000 would pass 10 MB).",
        )
        parser.add_argument("--workers", type=int, default=2, help="gunicorn workers.")
        parser.add_argument(
            "--spread-days", type=int, default=30, help="Days a spread (backfill) batch spans."
        )
        parser.add_argument(
            "--import-events",
            type=int,
            default=200_000,
            help="Events of the JSON Lines file import_usage imports (0 skips the phase).",
        )
        parser.add_argument(
            "--import-days",
            type=int,
            help="Days the imported file spans; by default as dense as 1,000,000 events over "
            "90 days (issue 17's target), 18 days for the default 200,000 events.",
        )
        parser.add_argument(
            "--prefill",
            type=float,
            default=0,
            help="Millions of events stored for a team before its live rate and overview are "
            "measured again (0 skips the phase).",
        )
        parser.add_argument(
            "--overview-runs", type=int, default=30, help="Timed overview views (--prefill)."
        )

    def handle(self, *args, **options):
        try:
            bench.require_postgresql()
        except RuntimeError as error:
            raise CommandError(str(error)) from None
        if options["events"] < 1 or options["import_events"] < 0 or options["prefill"] < 0:
            raise CommandError("--events must be at least 1; --import-events and --prefill 0+.")
        catalog_load()
        now = datetime.now(UTC)
        # Every phase's events fall in these days (an import's too, 90 by default).
        days = max(options["spread_days"], options["import_days"] or 90) + 2
        bench.tao_quotes_store(now - timedelta(days=days), now)
        try:
            figures = self._measure(**options)
        finally:
            for slug in BENCH_TEAMS:
                bench.bench_team(slug).delete()
            bench.tao_quotes_clear()
        self.stdout.write("")
        self.stdout.write(
            f"Ingest benchmark: {options['events']:,} events a phase, {options['batch']:,} "
            f"canonical events or {options['litellm_batch']:,} LiteLLM payloads a request, "
            f"gunicorn with {options['workers']} workers"
        )
        for line in report_lines(figures):
            self.stdout.write(line)

    def _measure(self, *, events, batch, litellm_batch, workers, spread_days, **options):
        say = self.stdout.write
        now = datetime.now(UTC)
        live_start = now - timedelta(days=2)
        spread_start = now - timedelta(days=spread_days, hours=1)
        canonical = bench.canonical_events(events, live_start)
        spread = bench.canonical_events(events, spread_start, days=spread_days)
        figures: dict[str, Figure] = {}

        def rate(key: str, label: str, measured: bench.Rate) -> None:
            figures[key] = Figure(label, measured.per_second, "ev/s")

        say(f"COPY + INSERT ... ON CONFLICT of {events:,} prepared rows, {batch:,} a batch")
        rate(
            "lean_copy",
            "lean COPY limit (lean table, 1 stream)",
            bench.lean_copy_rate(canonical, batch),
        )
        team = bench.bench_team("bench-raw")
        rate(
            "same_table_copy",
            "same-table COPY limit (usage table, 1 stream)",
            bench.same_table_copy_rate(team, canonical, batch),
        )

        server = bench.Gunicorn(workers)
        try:
            say(f"HTTP ingest, {events:,} events a phase")
            for key, slug, items, size, clients, label in [
                ("http_live_1", "bench-http", canonical, batch, 1, "HTTP canonical live, 1 sender"),
                (
                    "http_live_2",
                    "bench-http-2",
                    canonical,
                    batch,
                    2,
                    "HTTP canonical live, 2 senders",
                ),
                (
                    "http_spread_2",
                    "bench-spread-2",
                    spread,
                    batch,
                    2,
                    f"HTTP canonical spread {spread_days} days, 2 senders",
                ),
            ]:
                token = bench.new_token(bench.bench_team(slug))
                rate(key, label, bench.http_rate(server.url, token, items, size, clients=clients))
            for key, slug, days, label in [
                ("litellm_live_2", "bench-litellm-2", None, "HTTP LiteLLM live, 2 senders"),
                (
                    "litellm_spread_2",
                    "bench-litellm-spread-2",
                    spread_days,
                    f"HTTP LiteLLM spread {spread_days} days, 2 senders",
                ),
            ]:
                start = live_start if days is None else spread_start
                payloads = bench.litellm_payloads(events, start, days=days)
                token = bench.new_token(bench.bench_team(slug))
                measured = bench.http_rate(server.url, token, payloads, litellm_batch, clients=2)
                rate(key, label, measured)
                del payloads
            if options["prefill"]:
                self._prefilled(figures, server, canonical, batch, **options)
        finally:
            server.stop()

        if options["import_events"]:
            self._import(figures, options["import_events"], options["import_days"])

        say("One 10 MB batch through a fresh single-worker gunicorn")
        server = bench.Gunicorn(1)
        try:
            team = bench.bench_team("bench-memory")
            body, count = bench.ten_mb_batch(live_start)
            [worker] = server.worker_pids()
            idle_mb = bench.peak_rss_mb(worker)
            bench.http_rate(server.url, bench.new_token(team), json.loads(body), count)
            peak_mb = bench.peak_rss_mb(worker)
        finally:
            server.stop()
        figures["batch_rss"] = Figure(
            f"{len(body) / 1024**2:.1f} MB batch ({count:,} LiteLLM payloads), worker peak RSS",
            peak_mb,
            "MB",
            note=f"idle {idle_mb:.0f} MB",
        )
        return figures

    def _prefilled(self, figures, server, canonical, batch, *, prefill, overview_runs, **_):
        events = round(prefill * 1_000_000)
        team, _created = Team.objects.get_or_create(
            slug=PREFILL_TEAM, defaults={"name": "Benchmark prefilled"}
        )
        user_model = get_user_model()
        had_user = user_model.objects.filter(username=BENCH_USER).exists()
        try:
            usage_prefill_clear(team)
            self.stdout.write(f"Storing {events:,} events over 12 months for {PREFILL_TEAM}")
            filled = usage_prefill(team, events=events, end=datetime.now(UTC))
            self.stdout.write(
                f"  {filled.events:,} events in {filled.events_seconds:.1f} s, "
                f"{filled.rollups:,} rollup rows in {filled.rollups_seconds:.1f} s"
            )
            settled = usage_settle()
            self.stdout.write(f"  checkpoint, vacuum and analyze in {settled:.1f} s")
            stored = f"{events:,} events stored"
            measured = bench.http_rate(
                server.url, bench.new_token(team), canonical, batch, clients=2
            )
            figures["prefilled_live_2"] = Figure(
                f"HTTP canonical live, 2 senders, {stored}", measured.per_second, "ev/s"
            )
            timing = bench.overview_timing(team, runs=overview_runs)
            figures["prefilled_overview_p95"] = Figure(
                f"overview p95 (90 days), {stored}",
                timing.p95,
                "ms",
                note=f"p50 {timing.p50:.0f} ms, {overview_runs} runs",
            )
        finally:
            usage_prefill_clear(team)
            team.delete()
            if not had_user:
                user_model.objects.filter(username=BENCH_USER).delete()

    def _import(self, figures, events, days):
        days = days or max(1, round(IMPORT_TARGET_DAYS * events / IMPORT_TARGET_EVENTS))
        self.stdout.write(f"import_usage of {events:,} events over {days} days, in a child process")
        team = bench.bench_team("bench-import")
        with tempfile.TemporaryDirectory() as directory:
            run = bench.import_run(team, events=events, days=days, directory=Path(directory))
        label = f"import_usage, {events:,} events over {days} days ({run.file_mb:,.0f} MB)"
        figures["import_rate"] = Figure(label, run.rate.per_second, "ev/s")
        figures["import_rss"] = Figure("import_usage peak RSS", run.peak_rss_mb, "MB")
