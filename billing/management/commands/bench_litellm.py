import tempfile
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from billing.bench import litellm as bl
from billing.bench.fake_upstream import FakeUpstream
from billing.bench.litellm_proxy import missing_proxy_modules
from billing.bench.sink import Sink
from billing.catalog import catalog_load
from dashboard.progress import ProgressBar
from dashboard.tokens import token_create

TARGET_ADDED_P50_MS = 1.0
TARGET_THROUGHPUT = 0.95
# "Equal" within the same 5 % the throughput target allows: noise on a shared machine.
TARGET_INGEST = 0.95


class Command(BaseCommand):
    help = (
        "Benchmark a real LiteLLM proxy in front of a local fake upstream: requests/s and "
        "p50/p95 latency with no logger, with LiteLLM's generic HTTP logger and with our plugin; "
        "then ingest events/s of the events our plugin builds against the canonical ingest bench."
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
            dashboard = plugin = None
            if postgresql:
                catalog_load()
                dashboard = bl.dashboard_process(work)
                stack.callback(dashboard.stop)
                dashboard.start()
            if not plugin_reason:
                plugin = bl.plugin_team(upstream)
                stack.callback(bl.remove_plugin_team)
                plugin.dashboard_url = dashboard.url
                plugin.token = token_create(
                    team=plugin.team,
                    name="bench_litellm",
                    scopes=["usage:write", "routes:read", "keys:read"],
                )[1]
            say(
                "Starting the proxies (bare, generic HTTP logger" + (", plugin)" if plugin else ")")
            )
            proxies, warm_ups = bl.start_proxies(stack, work, upstream, sink, plugin)
            for name, proxy in proxies.items():
                say(f"  {name}: started in {proxy.start_seconds:.1f} s")
            if plugin is not None:
                say(f"  plugin: routing version {plugin.version} applied (its heartbeat says)")
            say(f"{requests:,} requests per mode, {concurrency} in flight, {rounds} rounds")
            runs = bl.run_rounds(
                proxies,
                requests=requests,
                concurrency=concurrency,
                rounds=rounds,
                progress=ProgressBar(self.stdout, "Requests"),
                dashboard_pid=dashboard.process.pid if dashboard else None,
            )
            landed = None
            if plugin is not None:
                say("Waiting for the plugin's usage to land in the dashboard")
                landed = bl.wait_for_landed(
                    plugin.team,
                    [warm_ups["plugin"], runs["plugin"]],
                    version=plugin.version,
                    poll_seconds=bl.PLUGIN_POLL_SECONDS,
                )
            rates = None
            if postgresql:
                say(f"Ingest: {ingest_events:,} events per kind, {batch:,} a request")
                start = datetime.now(UTC) - timedelta(days=2)
                rates = bl.ingest_rates(
                    dashboard.url, events=ingest_events, batch=batch, start=start, rounds=rounds
                )
        self._report(runs, plugin_reason, sink, landed, rates, concurrency)
        if landed is not None and not landed.ok:
            raise CommandError(
                "The plugin's usage did not all land: "
                f"{landed.landed:,} events for {landed.answered:,} calls answered"
            )

    def _report(self, runs, plugin_reason, sink, landed, rates, concurrency):
        say = self.stdout.write
        say("")
        say(
            f"{'mode':<10} {'requests/s':>11} {'p50 ms':>8} {'p95 ms':>8} {'failed':>7}"
            f"  {'CPU ms/request: loop':>20} {'threads':>8} {'dashboard':>9}   p50 per round (ms)"
        )
        for run in runs.values():
            say(
                f"{run.name:<10} {run.requests_per_second:>11,.1f} {run.percentile(50):>8.2f} "
                f"{run.percentile(95):>8.2f} {run.failures:>7,}  "
                f"{run.cpu_ms_per_request(run.cpu_loop):>20.2f} "
                f"{run.cpu_ms_per_request(run.cpu_threads):>8.2f} "
                f"{run.cpu_ms_per_request(run.cpu_dashboard):>9.2f}   "
                + " ".join(f"{p50:.2f}" for p50 in run.round_p50s)
            )
        say(
            "(CPU while each mode's requests ran: the proxy's event-loop thread, its other "
            "threads, the dashboard's gunicorn; the machine's cores are shared by all of them)"
        )
        bare = runs["bare"]
        added = {}
        for name in ["generic", "plugin"]:
            if name not in runs:
                say(f"{name}: {plugin_reason}")
                continue
            run = runs[name]
            added[name] = (
                run.requests_per_second / bare.requests_per_second,
                run.percentile(50) - bare.percentile(50),
                run.percentile(95) - bare.percentile(95),
            )
            ratio, p50, p95 = added[name]
            say(
                f"{name} vs bare: throughput {ratio:.3f}, added p50 {p50:+.2f} ms, "
                f"added p95 {p95:+.2f} ms"
            )
        say(
            f"generic logger: {sink.items:,} payloads reached the sink in {sink.posts:,} posts "
            "(it flushes every 5 s: the last batch may not have been sent)"
        )
        if landed is not None:
            self._report_landed(landed)
        if rates is None:
            say("ingest: needs PostgreSQL (set DATABASE_URL), skipped")
        else:
            canonical, plugin = rates
            say(
                f"ingest: canonical bench {canonical.per_second:,.0f} events/s, the plugin's "
                f"events {plugin.per_second:,.0f} events/s "
                f"({canonical.events:,} of each, batches interleaved)"
            )
        self._summary(added, landed, rates, concurrency, plugin_reason)

    def _report_landed(self, landed):
        say = self.stdout.write
        say(
            f"plugin usage: {landed.landed:,} events landed for {landed.answered:,} calls "
            f"answered ({landed.successes_landed:,} successes for {landed.successes_answered:,} "
            f"answered 200); route versions {landed.route_versions}"
        )
        if landed.missing is None:
            say("  (some answers had no x-litellm-call-id: compared by count only)")
        else:
            say(
                f"  by call id: {len(landed.missing):,} answered but not landed "
                f"{landed.missing[:3]}, {len(landed.unexpected):,} landed but not answered "
                f"{landed.unexpected[:3]}"
            )
        say(
            f"  its heartbeat: shipped {landed.shipped}, dead-lettered {landed.dead_lettered}, "
            f"dropped {landed.dropped}"
        )

    def _summary(self, added, landed, rates, concurrency, plugin_reason):
        rows = []
        for name in ["plugin", "generic"]:
            if name not in added:
                rows.append((f"{name} vs bare", plugin_reason, "", "-"))
                continue
            ratio, p50, p95 = added[name]
            plugin = name == "plugin"
            rows += [
                (
                    f"{name}: added p50 latency",
                    f"{p50:+.2f} ms",
                    f"< {TARGET_ADDED_P50_MS:.0f} ms" if plugin else "",
                    _met(p50 < TARGET_ADDED_P50_MS) if plugin else "-",
                ),
                (f"{name}: added p95 latency", f"{p95:+.2f} ms", "", "-"),
                (
                    f"{name}: throughput / bare",
                    f"{ratio:.3f}",
                    f">= {TARGET_THROUGHPUT:.2f}" if plugin else "",
                    _met(ratio >= TARGET_THROUGHPUT) if plugin else "-",
                ),
            ]
        if landed is not None:
            rows.append(
                (
                    "plugin: usage landed / calls",
                    f"{landed.landed:,} / {landed.answered:,}",
                    "all, same ids",
                    _met(landed.ok),
                )
            )
        if rates is not None:
            canonical, plugin = rates
            ratio = plugin.per_second / canonical.per_second
            rows.append(
                (
                    "ingest: plugin's events / canonical",
                    f"{ratio:.3f}",
                    f"equal (>= {TARGET_INGEST:.2f})",
                    _met(ratio >= TARGET_INGEST),
                )
            )
        say = self.stdout.write
        say("")
        say(f"Summary ({concurrency} in flight)")
        say(f"{'':<36} {'measured':>15}  {'target':<18} met")
        for label, measured, target, met in rows:
            say(f"{label:<36} {measured:>15}  {target:<18} {met}")


def _met(ok: bool) -> str:
    return "yes" if ok else "NO"
