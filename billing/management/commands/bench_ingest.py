import json
from datetime import UTC, datetime, timedelta

from django.core.management.base import BaseCommand, CommandError

from billing.bench import ingest as bench
from billing.catalog import catalog_load

BENCH_TEAMS = [
    "bench-raw",
    "bench-http",
    "bench-http-2",
    "bench-litellm",
    "bench-litellm-2",
    "bench-memory",
]


class Command(BaseCommand):
    help = (
        "Benchmark ingestion on PostgreSQL: raw COPY + ON CONFLICT against end-to-end HTTP "
        "ingest through a live gunicorn, and peak memory for one 10 MB batch."
    )

    def add_arguments(self, parser):
        parser.add_argument("--events", type=int, default=20_000, help="Events per phase.")
        parser.add_argument("--batch", type=int, default=1_000, help="Canonical events a request.")
        parser.add_argument(
            "--litellm-batch",
            type=int,
            default=500,
            help="LiteLLM payloads a request (about 13.5 KB each: 1,000 would pass 10 MB).",
        )
        parser.add_argument("--workers", type=int, default=2, help="gunicorn workers.")

    def handle(self, *args, events, batch, litellm_batch, workers, **options):
        try:
            bench.require_postgresql()
        except RuntimeError as error:
            raise CommandError(str(error)) from None
        catalog_load()
        start = datetime.now(UTC) - timedelta(days=2)
        canonical = bench.canonical_events(events, start)
        say = self.stdout.write

        say(f"(a) raw COPY + INSERT ... ON CONFLICT of {events:,} prepared rows, {batch:,} a batch")
        raw = bench.raw_copy_rate(bench.bench_team("bench-raw"), canonical, batch)

        server = bench.Gunicorn(workers)
        try:
            say(f"(b) HTTP ingest of {events:,} canonical events, gunicorn with {workers} workers")
            team = bench.bench_team("bench-http")
            http = bench.http_rate(server.url, bench.new_token(team), canonical, batch)
            team = bench.bench_team("bench-http-2")
            http2 = bench.http_rate(server.url, bench.new_token(team), canonical, batch, clients=2)
            say(f"(c) HTTP ingest of {events:,} LiteLLM payloads, {litellm_batch:,} a request")
            team = bench.bench_team("bench-litellm")
            payloads = bench.litellm_payloads(events, start)
            litellm = bench.http_rate(server.url, bench.new_token(team), payloads, litellm_batch)
            team = bench.bench_team("bench-litellm-2")
            token = bench.new_token(team)
            litellm2 = bench.http_rate(server.url, token, payloads, litellm_batch, clients=2)
        finally:
            server.stop()

        say("(e) one 10 MB batch through a fresh single-worker gunicorn")
        server = bench.Gunicorn(1)
        try:
            team = bench.bench_team("bench-memory")
            body, count = bench.ten_mb_batch(start)
            [worker] = server.worker_pids()
            idle_mb = bench.peak_rss_mb(worker)
            bench.http_rate(server.url, bench.new_token(team), json.loads(body), count)
            peak_mb = bench.peak_rss_mb(worker)
        finally:
            server.stop()
        for slug in BENCH_TEAMS:
            bench.bench_team(slug).delete()

        def ratio(rate):
            return rate.per_second / raw.per_second

        rows = [
            ("(a) raw COPY + ON CONFLICT, 1 stream", raw, "rows/s"),
            (f"(b) HTTP canonical, {batch:,} a request, 1 sender", http, "events/s"),
            (f"    HTTP canonical, {batch:,} a request, 2 senders", http2, "events/s"),
            (f"(c) HTTP LiteLLM, {litellm_batch:,} a request, 1 sender", litellm, "events/s"),
            (f"    HTTP LiteLLM, {litellm_batch:,} a request, 2 senders", litellm2, "events/s"),
        ]
        say("")
        for label, rate, unit in rows:
            say(f"{label:<48} {rate.per_second:>9,.0f} {unit}")
        say(
            f"(d) ratios to (a): canonical {ratio(http):.2f} / {ratio(http2):.2f}, "
            f"LiteLLM {ratio(litellm):.2f} / {ratio(litellm2):.2f} (1 / 2 senders); "
            "target >= 0.50"
        )
        say(
            f"(e) one {len(body) / 1024 / 1024:.1f} MB batch ({count:,} LiteLLM payloads): "
            f"worker peak RSS {peak_mb:.0f} MB (idle {idle_mb:.0f} MB); target < 300 MB"
        )
