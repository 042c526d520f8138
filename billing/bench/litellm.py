"""The LiteLLM benchmark: what a logger costs a real proxy, and ingest of plugin-shaped usage.

One fake upstream (fake_upstream.py) answers every proxy. Each mode is its own proxy
process: `bare` (no callback), `generic` (LiteLLM's generic HTTP logger posting to a local
sink that discards) and `plugin` (integrations/litellm/llm_spend.py against a live dashboard,
when that module exists and the database is PostgreSQL). The modes' requests run in
interleaved rounds, so a noisy neighbour on a shared machine slows all of them alike.
"""

import json
import os
import random
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
from cryptography.fernet import Fernet
from django.conf import settings
from django.db import connection

from billing.bench import ingest as bench
from billing.bench.dashboard_process import DashboardProcess
from billing.bench.fake_upstream import FakeUpstream
from billing.bench.litellm_proxy import (
    LiteLLMProxy,
    generic_logger_settings,
    openai_deployment,
    write_config,
)
from billing.bench.processes import database_url
from billing.bench.sink import Sink
from billing.models import ModelPrice, Status, UsageEvent
from integrations.litellm import llm_spend
from routing.keys import key_add
from routing.models import Model, Provider, ProxyInstance, RoutingRule
from routing.publish import routing_publish

PLUGIN = Path(settings.BASE_DIR) / "integrations/litellm/llm_spend.py"
BENCH_TEAM = "bench-litellm-plugin"
BENCH_PROVIDER = "bench-upstream"
UPSTREAM_MODEL = "gpt-bench"
UPSTREAM_KEY = "sk-bench-upstream-key-0001"
WARMUP_REQUESTS = 20
READY_SECONDS = 60
LANDED_SECONDS = 120
# The plugin's routes poll and heartbeat (10 s by default): shorter, so it is ready sooner.
PLUGIN_POLL_SECONDS = 2
SAMPLES = Path(settings.BASE_DIR) / "tests/data/litellm"
# Where the canonical bench's routes (bench.ROUTES) live, as the routes API would say.
ROUTE_BASES = [
    "https://llm.chutes.ai/v1",
    "https://llm.chutes.ai/v1",
    "https://api.anthropic.com",
    "https://api.openai.com/v1",
]
PROMPT = [{"role": "user", "content": "Summarise: the quick brown fox jumps over the lazy dog."}]


@dataclass
class ModeRun:
    name: str
    latencies_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0
    failures: int = 0
    # LiteLLM's call id of every answer (its x-litellm-call-id header; None when absent): the
    # plugin's usage events carry it as their id.
    call_ids: list[str | None] = field(default_factory=list)
    round_p50s: list[float] = field(default_factory=list)
    # CPU seconds used while this mode's requests ran: the proxy's event-loop thread, its other
    # threads (LiteLLM's and a logger's), and the dashboard's gunicorn (the plugin ships to it).
    cpu_loop: float = 0.0
    cpu_threads: float = 0.0
    cpu_dashboard: float = 0.0

    def cpu_ms_per_request(self, seconds: float) -> float:
        return seconds * 1000 / len(self.latencies_ms) if self.latencies_ms else 0.0

    @property
    def answered(self) -> int:
        return len(self.latencies_ms) + self.failures

    @property
    def requests_per_second(self) -> float:
        return len(self.latencies_ms) / self.seconds if self.seconds else 0.0

    def percentile(self, percent: int) -> float:
        return percentile(self.latencies_ms, percent)


def percentile(values: list[float], percent: int) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1]


def plugin_available() -> str:
    """Why the plugin mode cannot run, "" when it can."""
    if not PLUGIN.exists():
        return f"not available ({PLUGIN.relative_to(settings.BASE_DIR)} does not exist)"
    if connection.vendor != "postgresql":
        return "needs PostgreSQL for the live dashboard (set DATABASE_URL)"
    return ""


def send_requests(
    proxy: LiteLLMProxy,
    run: ModeRun,
    *,
    count: int,
    concurrency: int,
    progress: Callable[[], None] = lambda: None,
) -> None:
    """`count` chat completions through `proxy`, `concurrency` at a time; latencies into run."""
    shares = [count // concurrency + (n < count % concurrency) for n in range(concurrency)]
    lock = threading.Lock()
    latencies: list[float] = []

    def worker(share: int) -> None:
        with httpx.Client(base_url=proxy.url, headers=proxy.headers, timeout=60) as client:
            for _ in range(share):
                started = time.perf_counter()
                answer = client.post(
                    "/v1/chat/completions", json={"model": "default", "messages": PROMPT}
                )
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    run.call_ids.append(answer.headers.get("x-litellm-call-id"))
                    if answer.status_code == 200:
                        latencies.append(elapsed)
                    else:
                        run.failures += 1
                    progress()

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(worker, [share for share in shares if share]))
    run.seconds += time.perf_counter() - started
    run.latencies_ms += latencies
    if latencies:
        run.round_p50s.append(percentile(latencies, 50))


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(the main thread's, the other threads') CPU seconds of a process; (0, 0) once gone."""
    tick = os.sysconf("SC_CLK_TCK")
    main = others = 0.0
    with suppress(FileNotFoundError, ProcessLookupError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with suppress(FileNotFoundError, ProcessLookupError):
                fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
                used = (int(fields[11]) + int(fields[12])) / tick  # utime + stime
                if int(task.name) == pid:
                    main += used
                else:
                    others += used
    return main, others


def process_tree_cpu(pid: int) -> float:
    """CPU seconds of a process and its children (gunicorn's master and workers)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    pids = [pid] + ([int(p) for p in children.read_text().split()] if children.exists() else [])
    return sum(sum(cpu_seconds(one)) for one in pids)


def run_rounds(
    proxies: dict[str, LiteLLMProxy],
    *,
    requests: int,
    concurrency: int,
    rounds: int,
    progress: Callable[[int, int], None],
    dashboard_pid: int | None = None,
) -> dict[str, ModeRun]:
    runs = {name: ModeRun(name) for name in proxies}
    total, done = requests * len(proxies), 0

    def tick() -> None:
        nonlocal done
        done += 1
        progress(done, total)

    names = list(proxies)
    sizes = [requests // rounds + (n < requests % rounds) for n in range(rounds)]
    for number, size in enumerate(sizes):
        # Each round starts with the next mode, so none always runs first.
        for name in names[number % len(names) :] + names[: number % len(names)]:
            run, pid = runs[name], proxies[name].process.pid
            loop, threads = cpu_seconds(pid)
            dashboard = process_tree_cpu(dashboard_pid) if dashboard_pid else 0.0
            send_requests(proxies[name], run, count=size, concurrency=concurrency, progress=tick)
            loop_after, threads_after = cpu_seconds(pid)
            run.cpu_loop += loop_after - loop
            run.cpu_threads += threads_after - threads
            if dashboard_pid:
                run.cpu_dashboard += process_tree_cpu(dashboard_pid) - dashboard
    return runs


def wait_until_serving(proxy: LiteLLMProxy, team, version: int) -> None:
    """The plugin starts with no deployment: wait until its heartbeat says it applied `version`
    (it reports after applying), so no request is sent before it can be served."""
    deadline = time.monotonic() + READY_SECONDS
    applied = ProxyInstance.objects.filter(team=team, routing_version=version)
    while time.monotonic() < deadline:
        if applied.exists():
            return
        if not proxy.running:
            break
        time.sleep(0.2)
    reported = list(
        ProxyInstance.objects.filter(team=team).values("routing_version", "routing_error")
    )
    raise RuntimeError(
        f"the plugin did not report routing version {version} within {READY_SECONDS} s "
        f"(its heartbeats: {reported or 'none'})" + proxy.log_tail()
    )


def warm_up(proxy: LiteLLMProxy) -> ModeRun:
    run = ModeRun("warm-up")
    send_requests(proxy, run, count=WARMUP_REQUESTS, concurrency=2)
    return run


@dataclass
class PluginSetup:
    team: object
    version: int  # the routing version published for it
    dashboard_url: str = ""
    token: str = ""


def plugin_team(upstream: FakeUpstream) -> PluginSetup:
    """A bench team whose published routing sends `*` to the fake upstream, with one key."""
    team = bench.bench_team(BENCH_TEAM)
    RoutingRule.objects.filter(team=team).delete()
    provider, _ = Provider.objects.update_or_create(
        slug=BENCH_PROVIDER,
        defaults={
            "name": "Bench upstream",
            "base_url": upstream.base("/v1"),
            "openai_compatible": True,
        },
    )
    model, _ = Model.objects.get_or_create(provider=provider, name=UPSTREAM_MODEL)
    # Publishing needs a price for every routed model.
    ModelPrice.objects.get_or_create(
        model=model,
        effective_from=date(2020, 1, 1),
        defaults={"input_per_mtok": Decimal(1), "output_per_mtok": Decimal(2), "source": "bench"},
    )
    team.provider_keys.all().delete()
    ensure_encryption_keys()
    key_add(team=team, provider=provider, label="bench", secret=UPSTREAM_KEY, user=None)
    RoutingRule.objects.create(
        team=team, task_type="*", targets=[{"model_id": model.id, "weight": 100}]
    )
    version = routing_publish(team=team, user=None, comment="bench_litellm")
    return PluginSetup(team=team, version=version.number)


def remove_plugin_team() -> None:
    bench.bench_team(BENCH_TEAM).delete()
    ModelPrice.objects.filter(model__provider__slug=BENCH_PROVIDER).delete()
    Model.objects.filter(provider__slug=BENCH_PROVIDER).delete()
    Provider.objects.filter(slug=BENCH_PROVIDER).delete()


def ensure_encryption_keys() -> None:
    """Fernet keys this process and the DEBUG-off dashboard share, so both read the bench key."""
    if not settings.FIELD_ENCRYPTION_KEYS:
        # The demo's local key file is not for a DEBUG-off server: a key for this run only.
        settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]


def dashboard_process(log_dir: Path) -> DashboardProcess:
    """gunicorn on this database; provider keys readable by it and by this process."""
    ensure_encryption_keys()
    return DashboardProcess(
        database_url=database_url(connection.settings_dict),
        encryption_keys=list(settings.FIELD_ENCRYPTION_KEYS),
        log_dir=log_dir,
    )


def plugin_config(directory: Path, plugin: PluginSetup) -> tuple[Path, dict]:
    """The config `manage.py litellm_config` writes: no model_list, the plugin as callback."""
    config = write_config(
        directory, model_list=[], callbacks=["llm_spend.proxy_handler"], modules=[PLUGIN]
    )
    env = {
        "LLM_SPEND_URL": plugin.dashboard_url,
        "LLM_SPEND_TOKEN": plugin.token,
        "LLM_SPEND_SPOOL_DIR": str(directory / "spool"),
        "LLM_SPEND_POLL_SECONDS": str(PLUGIN_POLL_SECONDS),
    }
    return config, env


@dataclass
class Landed:
    """The plugin's usage events in the dashboard against the calls its proxy answered."""

    answered: int
    landed: int
    successes_answered: int
    successes_landed: int
    # Call ids answered whose event did not land, and events that landed for no answered call;
    # None when some answer had no x-litellm-call-id header (then only counts are compared).
    missing: list[str] | None
    unexpected: list[str] | None
    route_versions: list[int | None]
    shipped: int | None
    dead_lettered: int | None
    dropped: int | None

    @property
    def ok(self) -> bool:
        return (
            self.landed == self.answered
            and self.successes_landed == self.successes_answered
            and not self.missing
            and not self.unexpected
        )


def wait_for_landed(team, runs: list[ModeRun], *, version: int, poll_seconds: float) -> Landed:
    """Wait until as many usage events as the plugin's proxy answered calls landed for `team`
    (or the wait ran out), then compare them call id by call id."""
    answered = sum(run.answered for run in runs)
    events = UsageEvent.objects.filter(team=team)
    deadline = time.monotonic() + LANDED_SECONDS
    while events.count() < answered and time.monotonic() < deadline:
        time.sleep(0.5)
    # A heartbeat after the last shipment, for the plugin's own counters.
    time.sleep(poll_seconds + 1)
    call_ids = [call_id for run in runs for call_id in run.call_ids]
    landed_ids = set(events.values_list("event_id", flat=True))
    missing = unexpected = None
    if None not in call_ids:
        missing = sorted(set(call_ids) - landed_ids)
        unexpected = sorted(landed_ids - set(call_ids))
    instance = ProxyInstance.objects.filter(team=team).order_by("-last_seen_at").first()
    return Landed(
        answered=answered,
        landed=len(landed_ids),
        successes_answered=sum(len(run.latencies_ms) for run in runs),
        successes_landed=events.filter(status=Status.SUCCESS).count(),
        missing=missing,
        unexpected=unexpected,
        route_versions=sorted(
            set(events.values_list("route_version", flat=True)), key=lambda v: (v is None, v)
        ),
        shipped=instance.shipped if instance else None,
        dead_lettered=instance.dead_lettered if instance else None,
        dropped=instance.dropped if instance else None,
    )


def plugin_events(count: int, start: datetime) -> list[dict]:
    """The events the plugin itself builds (llm_spend.usage_event) from LiteLLM's own logging
    payloads (the recorded samples), for the canonical bench's routes, timestamps and tokens:
    the deployments' model_info come from the plugin's router_config, as in a running proxy."""
    routes = {
        "version": 7,
        "rules": [
            {
                "task_type": task,
                "targets": [
                    {"provider": provider, "model": model, "weight": 100, "api_base": base}
                ],
            }
            for (provider, model, task), base in zip(bench.ROUTES, ROUTE_BASES, strict=True)
        ],
    }
    keys = {provider: f"sk-bench-{provider}" for provider, _, _ in bench.ROUTES}
    deployments = {
        d["model_info"][llm_spend.MODEL_KEY]: d
        for d in llm_spend.router_config(routes, keys).model_list
    }
    success = json.loads((SAMPLES / "router_chutes_via_api_base.json").read_text())
    failure = json.loads((SAMPLES / "openai_rate_limited_failure.json").read_text())
    rng = random.Random(14)  # noqa: S311
    events = []
    for number in range(count):
        provider, model, task = bench.ROUTES[number % len(bench.ROUTES)]
        deployment = deployments[model]
        failed = number % 50 == 0
        begin = (start + timedelta(seconds=number)).timestamp()
        input_tokens = 3000 + number % 4000
        output_tokens = 1000 + number % 2500
        cached = (number % 7) * 100
        usage = {
            "prompt_tokens": input_tokens,
            "completion_tokens": output_tokens,
            "total_tokens": input_tokens + output_tokens,
            "prompt_tokens_details": {"cached_tokens": cached},
        }
        # Shallow copies: usage_event only reads the payload.
        payload = {
            **(failure if failed else success),
            "litellm_call_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "model": deployment["litellm_params"]["model"],
            "model_group": llm_spend.group_name(task),
            "custom_llm_provider": deployment["litellm_params"]["model"].split("/")[0],
            "startTime": begin,
            "completionStartTime": begin + (200 + number % 900) / 1000,
            "endTime": begin + (800 + number % 9000) / 1000,
            "stream": not failed,
        }
        if not failed:
            payload.update(
                prompt_tokens=input_tokens,
                completion_tokens=output_tokens,
                metadata={**success["metadata"], "usage_object": usage},
                # LiteLLM prices the providers it knows (not Chutes).
                response_cost=0.0 if provider == "chutes" else input_tokens * 3e-6,
            )
        kwargs = {
            "litellm_params": {
                "api_base": deployment["litellm_params"].get("api_base", ""),
                "metadata": {llm_spend.TASK_TYPE_KEY: task},
                "model_info": deployment["model_info"],
            }
        }
        events.append(llm_spend.usage_event(payload, kwargs=kwargs, instance_id="bench-proxy-1"))
    return events


def ingest_rates(url: str, *, events: int, batch: int, start: datetime, rounds: int) -> tuple:
    """(canonical bench events, the plugin's events) landed per second on the same server, in
    interleaved rounds after a warm-up of both kinds, as the proxy modes are run."""
    team = bench.bench_team("bench-litellm-warm-up")
    token = bench.new_token(team)
    warm_up = min(events, batch)
    bench.http_rate(url, token, bench.canonical_events(warm_up, start), batch, clients=2)
    bench.http_rate(url, token, plugin_events(warm_up, start), batch, clients=2)
    team.delete()
    kinds = {
        "canonical": bench.canonical_events(events, start),
        "plugin": plugin_events(events, start),
    }
    teams = {name: bench.bench_team(f"bench-litellm-{name}") for name in kinds}
    tokens = {name: bench.new_token(team) for name, team in teams.items()}
    rates = {name: bench.Rate(0, 0.0) for name in kinds}
    size = -(-events // rounds)
    for number in range(rounds):
        order = list(kinds) if number % 2 == 0 else list(reversed(kinds))
        for name in order:
            part = kinds[name][number * size : (number + 1) * size]
            if part:
                rate = bench.http_rate(url, tokens[name], part, batch)
                rates[name].events += rate.events
                rates[name].seconds += rate.seconds
    for team in teams.values():
        team.delete()
    return rates["canonical"], rates["plugin"]


def start_proxies(
    stack: ExitStack, work: Path, upstream: FakeUpstream, sink: Sink, plugin: PluginSetup | None
) -> tuple[dict[str, LiteLLMProxy], dict[str, ModeRun]]:
    """The modes' proxies, started and warmed up (the warm-up runs returned: the plugin's calls
    count in what must land); stopped when the stack closes."""
    deployment = [openai_deployment("default", UPSTREAM_MODEL, upstream.base("/v1"), UPSTREAM_KEY)]
    configs: dict[str, tuple[Path, dict]] = {
        "bare": (write_config(work / "bare", model_list=deployment), {}),
        "generic": (
            write_config(
                work / "generic",
                model_list=deployment,
                callbacks=["bench_sink"],
                callback_settings=generic_logger_settings("bench_sink", sink.url),
            ),
            {},
        ),
    }
    if plugin is not None:
        configs["plugin"] = plugin_config(work / "plugin", plugin)
    proxies = {}
    for name, (config, env) in configs.items():
        proxies[name] = LiteLLMProxy(config, env=env).launch()
        stack.callback(proxies[name].stop)
    for proxy in proxies.values():
        proxy.wait_healthy()
    if plugin is not None:
        wait_until_serving(proxies["plugin"], plugin.team, plugin.version)
    return proxies, {name: warm_up(proxy) for name, proxy in proxies.items()}
