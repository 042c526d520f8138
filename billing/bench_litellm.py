"""The LiteLLM benchmark: what a logger costs a real proxy, and ingest of plugin-shaped usage.

One fake upstream (tests/litellm_proxy) answers every proxy. Each mode is its own proxy
process: `bare` (no callback), `generic` (LiteLLM's generic HTTP logger posting to a local
sink that discards) and `plugin` (integrations/litellm/llm_spend.py against a live dashboard,
when that module exists and the database is PostgreSQL). The modes' requests run in
interleaved rounds, so a noisy neighbour on a shared machine slows all of them alike.
"""

import random
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
from cryptography.fernet import Fernet
from django.conf import settings
from django.db import connection

from billing import bench
from billing.models import ModelPrice, UsageEvent
from routing.keys import key_add
from routing.models import Model, Provider, RoutingRule
from routing.publish import publish_routing
from tests.litellm_proxy.dashboard import DashboardProcess, database_url
from tests.litellm_proxy.fake_upstream import FakeUpstream
from tests.litellm_proxy.proxy import (
    LiteLLMProxy,
    generic_logger_settings,
    openai_deployment,
    write_config,
)
from tests.litellm_proxy.sink import Sink

PLUGIN = Path(settings.BASE_DIR) / "integrations/litellm/llm_spend.py"
BENCH_TEAM = "bench-litellm-plugin"
BENCH_PROVIDER = "bench-upstream"
UPSTREAM_MODEL = "gpt-bench"
UPSTREAM_KEY = "sk-bench-upstream-key-0001"
WARMUP_REQUESTS = 20
READY_SECONDS = 60
LANDED_SECONDS = 120
PROMPT = [{"role": "user", "content": "Summarise: the quick brown fox jumps over the lazy dog."}]


@dataclass
class ModeRun:
    name: str
    latencies_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0
    failures: int = 0

    @property
    def requests_per_second(self) -> float:
        return len(self.latencies_ms) / self.seconds if self.seconds else 0.0

    def percentile(self, percent: int) -> float:
        if len(self.latencies_ms) < 2:
            return self.latencies_ms[0] if self.latencies_ms else 0.0
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[percent - 1]


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

    def worker(share: int) -> None:
        with httpx.Client(base_url=proxy.url, headers=proxy.headers, timeout=60) as client:
            for _ in range(share):
                started = time.perf_counter()
                answer = client.post(
                    "/v1/chat/completions", json={"model": "default", "messages": PROMPT}
                )
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    if answer.status_code == 200:
                        run.latencies_ms.append(elapsed)
                    else:
                        run.failures += 1
                    progress()

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(worker, [share for share in shares if share]))
    run.seconds += time.perf_counter() - started


def run_rounds(
    proxies: dict[str, LiteLLMProxy],
    *,
    requests: int,
    concurrency: int,
    rounds: int,
    progress: Callable[[int, int], None],
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
            send_requests(
                proxies[name], runs[name], count=size, concurrency=concurrency, progress=tick
            )
    return runs


def wait_until_serving(proxy: LiteLLMProxy) -> int:
    """The plugin starts with no deployment: wait until it has applied the published routes.
    Returns the successful requests it took (one)."""
    deadline = time.monotonic() + READY_SECONDS
    with httpx.Client(base_url=proxy.url, headers=proxy.headers, timeout=30) as client:
        while time.monotonic() < deadline:
            answer = client.post(
                "/v1/chat/completions", json={"model": "default", "messages": PROMPT}
            )
            if answer.status_code == 200:
                return 1
            time.sleep(0.5)
    raise RuntimeError(
        f"the plugin's proxy served no request within {READY_SECONDS} s" + proxy.log_tail()
    )


def warm_up(proxy: LiteLLMProxy) -> None:
    send_requests(proxy, ModeRun("warm-up"), count=WARMUP_REQUESTS, concurrency=2)


def plugin_team(upstream: FakeUpstream):
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
    publish_routing(team=team, user=None, comment="bench_litellm")
    return team


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


def plugin_config(directory: Path, *, dashboard_url: str, token: str) -> tuple[Path, dict]:
    config = write_config(
        directory, model_list=[], callbacks=["llm_spend.proxy_handler"], modules=[PLUGIN]
    )
    env = {
        "LLM_SPEND_URL": dashboard_url,
        "LLM_SPEND_TOKEN": token,
        "LLM_SPEND_SPOOL_DIR": str(directory / "spool"),
        "LLM_SPEND_POLL_SECONDS": "2",
    }
    return config, env


def wait_for_landed(team, expected: int) -> int:
    """Successful calls the plugin shipped for `team`, once `expected` landed or the wait ran
    out (failed calls while it had no routes yet are shipped too, as errors: not counted)."""
    deadline = time.monotonic() + LANDED_SECONDS
    landed = 0
    successes = UsageEvent.objects.filter(team=team, status=UsageEvent.Status.SUCCESS)
    while time.monotonic() < deadline:
        landed = successes.count()
        if landed >= expected:
            break
        time.sleep(0.5)
    return landed


def plugin_shaped_events(count: int, start: datetime) -> list[dict]:
    """Canonical events with every field the plugin sends (issue 14's contract, point 4)."""
    rng = random.Random(14)  # noqa: S311
    events = []
    for number in range(count):
        provider, model, task = bench.ROUTES[number % len(bench.ROUTES)]
        failed = number % 50 == 0
        streaming = number % 3 == 0
        input_tokens = 0 if failed else 3000 + number % 4000
        event = {
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "timestamp": (start + timedelta(seconds=number)).isoformat(),
            "provider": provider,
            "model": model,
            "task_type": task,
            "route_version": 7,
            "status": "error" if failed else "success",
            "input_tokens": input_tokens,
            "output_tokens": 0 if failed else 1000 + number % 2500,
            "cached_input_tokens": 0 if failed else (number % 7) * 100,
            "cache_write_tokens": 0 if failed else (number % 5) * 50,
            "latency_ms": 800 + number % 9000,
            "metadata": {"proxy": "bench-proxy-1"},
        }
        if failed:
            event["error_type"] = "RateLimitError"
        if streaming and not failed:
            event["ttft_ms"] = 200 + number % 900
        if provider == "anthropic" and not failed:
            event["cost_usd"] = round(input_tokens * 3e-6, 6)
        events.append(event)
    return events


def ingest_rates(url: str, *, events: int, batch: int, start: datetime, rounds: int) -> tuple:
    """(canonical bench events, plugin-shaped events) landed per second on the same server, in
    interleaved rounds after a warm-up of both kinds, as the proxy modes are run."""
    team = bench.bench_team("bench-litellm-warm-up")
    token = bench.new_token(team)
    warm_up = min(events, batch)
    bench.http_rate(url, token, bench.canonical_events(warm_up, start), batch, clients=2)
    bench.http_rate(url, token, plugin_shaped_events(warm_up, start), batch, clients=2)
    team.delete()
    kinds = {
        "canonical": bench.canonical_events(events, start),
        "plugin-shaped": plugin_shaped_events(events, start),
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
    return rates["canonical"], rates["plugin-shaped"]


def start_proxies(
    stack: ExitStack, work: Path, upstream: FakeUpstream, sink: Sink, plugin: dict | None
) -> dict[str, LiteLLMProxy]:
    """The modes' proxies, started and warmed up; stopped when the stack closes."""
    deployment = [openai_deployment("default", UPSTREAM_MODEL, upstream.base("/v1"), UPSTREAM_KEY)]
    configs = {
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
        configs["plugin"] = plugin_config(work / "plugin", **plugin)
    proxies = {}
    for name, (config, env) in configs.items():
        proxies[name] = LiteLLMProxy(config, env=env).launch()
        stack.callback(proxies[name].stop)
    for proxy in proxies.values():
        proxy.wait_healthy()
    if "plugin" in proxies:
        wait_until_serving(proxies["plugin"])
    for proxy in proxies.values():
        warm_up(proxy)
    return proxies
