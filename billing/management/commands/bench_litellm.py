import tempfile
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from billing import bench_litellm as bl
from billing.catalog import load_catalog
from dashboard.progress import ProgressBar
from dashboard.tokens import token_create
from tests.litellm_proxy.fake_upstream import FakeUpstream
from tests.litellm_proxy.proxy import missing_proxy_modules
from tests.litellm_proxy.sink import Sink

TARGET_ADDED_P50_MS = 1.0
TARGET_THROUGHPUT = 0.95


class Command(BaseCommand):
    help = (
        "Benchmark a real LiteLLM proxy in front of a local fake upstream: requests/s and "
        "p50/p95 latency with no logger, with LiteLLM's generic HTTP logger and with our plugin; "
        "then ingest events/s of plugin-shaped usage against the canonical ingest bench."
    )

    def add_arguments(self, parser):
        parser.add_argument("--requests", type=int, default=2_000, help="Requests per mode.")
        parser.add_argument("--concurrency", type=int, default=8, help="Requests in flight.")
        parser.add_argument(
            "--rounds", type=int, default=4, help="Interleaved rounds the requests are cut into."
        )
        parser.add_argument(
            "--ingest-events", type=int, default=20_000, help="Events per ingest phase."
        )
        parser.add_argument("--batch", type=int, default=1_000, help="Events per ingest request.")

    def handle(self, *args, requests, concurrency, rounds, ingest_events, batch, **options):
        if min(requests, concurrency, rounds, ingest_events, batch) < 1:
            raise CommandError("Every number must be at least 1.")
        missing = missing_proxy_modules()
        if missing:
            raise CommandError(
                f"The LiteLLM proxy's modules are missing: {', '.join(missing)}. Run `uv sync`."
            )
        say = self.stdout.write
        plugin_reason = bl.plugin_available()
        postgresql = connection.vendor == "postgresql"
        with ExitStack() as stack:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-litellm-")))
            upstream = stack.enter_context(FakeUpstream())
            sink = stack.enter_context(Sink())
            dashboard = plugin = team = None
            if postgresql:
                load_catalog()
                dashboard = bl.dashboard_process(work)
                stack.callback(dashboard.stop)
                dashboard.start()
            if not plugin_reason:
                team = bl.plugin_team(upstream)
                stack.callback(bl.remove_plugin_team)
                token = token_create(
                    team=team,
                    name="bench_litellm",
                    scopes=["usage:write", "routes:read", "keys:read"],
                )[1]
                plugin = {"dashboard_url": dashboard.url, "token": token}
            say(
                "Starting the proxies (bare, generic HTTP logger" + (", plugin)" if plugin else ")")
            )
            proxies = bl.start_proxies(stack, work, upstream, sink, plugin)
            for name, proxy in proxies.items():
                say(f"  {name}: started in {proxy.start_seconds:.1f} s")
            say(f"{requests:,} requests per mode, {concurrency} in flight, {rounds} rounds")
            runs = bl.run_rounds(
                proxies,
                requests=requests,
                concurrency=concurrency,
                rounds=rounds,
                progress=ProgressBar(self.stdout, "Requests"),
            )
            landed = None
            if team is not None:
                sent = requests + bl.WARMUP_REQUESTS + 1
                landed = bl.wait_for_landed(team, sent)
            rates = None
            if postgresql:
                say(f"Ingest: {ingest_events:,} events per phase, {batch:,} a request")
                start = datetime.now(UTC) - timedelta(days=2)
                rates = bl.ingest_rates(
                    dashboard.url, events=ingest_events, batch=batch, start=start, rounds=rounds
                )
        self._report(runs, plugin_reason, sink, landed, rates)

    def _report(self, runs, plugin_reason, sink, landed, rates):
        say = self.stdout.write
        say("")
        say(f"{'mode':<10} {'requests/s':>11} {'p50 ms':>8} {'p95 ms':>8} {'failed':>7}")
        for run in runs.values():
            say(
                f"{run.name:<10} {run.requests_per_second:>11,.1f} {run.percentile(50):>8.2f} "
                f"{run.percentile(95):>8.2f} {run.failures:>7,}"
            )
        bare = runs["bare"]
        for name in ["generic", "plugin"]:
            if name not in runs:
                say(f"{name}: {plugin_reason}")
                continue
            run = runs[name]
            ratio = run.requests_per_second / bare.requests_per_second
            say(
                f"{name} vs bare: throughput {ratio:.2f}, added p50 "
                f"{run.percentile(50) - bare.percentile(50):+.2f} ms, added p95 "
                f"{run.percentile(95) - bare.percentile(95):+.2f} ms"
                + (
                    f" (targets: >= {TARGET_THROUGHPUT:.2f}, < {TARGET_ADDED_P50_MS:.0f} ms p50)"
                    if name == "plugin"
                    else ""
                )
            )
        say(
            f"generic logger: {sink.items:,} payloads reached the sink in {sink.posts:,} posts "
            "(it flushes every 5 s: the last batch may not have been sent)"
        )
        if landed is not None:
            say(f"plugin: {landed:,} usage events landed in the dashboard")
        if rates is None:
            say("ingest: needs PostgreSQL (set DATABASE_URL), skipped")
            return
        canonical, shaped = rates
        ratio = shaped.per_second / canonical.per_second
        say(
            f"ingest: canonical bench {canonical.per_second:,.0f} events/s, plugin-shaped "
            f"{shaped.per_second:,.0f} events/s, ratio {ratio:.2f} (target: equal)"
        )
