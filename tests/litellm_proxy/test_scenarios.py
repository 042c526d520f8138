"""Issue 14's scenarios, against a real LiteLLM proxy loading the real companion plugin.

The proxy is set up as `manage.py litellm_config` writes it (config.yaml with `model_list: []`
and the plugin as its callback, llm_spend.py beside it, proxy.env with a fresh token), polling
every second, in front of the fake upstream (the catalog's OpenAI-compatible provider `chutes`
has its base URL there), against the dashboard in its own gunicorn process on the PostgreSQL
test database. The tests publish, roll back and rotate keys through the dashboard's own
functions on that database, and read what landed from it.

A proxy start costs about 10 s on 2 cores, so the module shares one proxy, dashboard process
and upstream. The database is flushed after each test as usual; each test's data is made
afresh around the proxy's token row, and the proxy follows within its next polls.
"""

import json
import secrets
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test import Client, override_settings
from django.utils import timezone

from billing.bench.dashboard_process import DashboardProcess
from billing.bench.fake_upstream import FakeUpstream, Usage
from billing.bench.litellm_proxy import LiteLLMProxy
from billing.bench.processes import database_url
from billing.models import UsageEvent
from dashboard.models import ProxyToken, Role
from integrations.litellm import llm_spend
from routing.keys import key_rotate
from routing.models import Model, ProviderKey, ProxyInstance, RoutingRule, RoutingVersion
from routing.publish import latest_version, routing_publish, routing_rollback
from routing.rules import rule_save
from tests.factories import (
    MembershipFactory,
    ModelPriceFactory,
    ProviderFactory,
    ProviderKeyFactory,
    TeamFactory,
    UserFactory,
)

pytestmark = pytest.mark.litellm_proxy

POLL_SECONDS = 1
CONCURRENCY = 8
# Models of the catalog's chutes, as the upstream sees them asked for.
TEAM = "maven"
MAIN, SMALL, BROKEN = "deepseek-ai/DeepSeek-V3", "unsloth/Llama-3.3-70B-Instruct", "vendor/odd-1"


def new_secret() -> str:
    return "cpk_" + secrets.token_hex(20)


@dataclass
class Stack:
    """The dashboard process, the fake upstream and one proxy set up as litellm_config does."""

    team: object
    user: object
    dashboard: DashboardProcess
    upstream: FakeUpstream
    directory: Path
    models: dict[str, Model] = field(default_factory=dict)
    proxy: LiteLLMProxy | None = None

    @property
    def spool_dir(self) -> Path:
        return self.directory / "spool"

    def logs(self) -> str:
        return (self.proxy.log_tail() if self.proxy else "") + self.dashboard.log_tail(2000)

    def wait_for(self, condition, *, what: str, seconds: float = 30, every: float = 0.1):
        """condition()'s first true value; fails naming `what`, with the logs, after `seconds`."""
        deadline = time.monotonic() + seconds
        while True:
            value = condition()
            if value:
                return value
            if time.monotonic() > deadline:
                pytest.fail(f"Still no {what} after {seconds:.0f} s." + self.logs(), pytrace=False)
            time.sleep(every)

    def send(self, groups: list[str]) -> list[httpx.Response]:
        """One chat completion per group, CONCURRENCY at a time; every one must succeed."""
        with (
            httpx.Client(
                base_url=self.proxy.url,
                headers=self.proxy.headers,
                timeout=60,
                limits=httpx.Limits(max_connections=CONCURRENCY),
            ) as client,
            ThreadPoolExecutor(CONCURRENCY) as pool,
        ):
            answers = list(pool.map(lambda group: chat(client, group), groups))
        failed = [answer for answer in answers if answer.status_code != 200]
        if failed:
            pytest.fail(
                f"{len(failed)} of {len(answers)} calls failed; the first: "
                f"{failed[0].status_code} {failed[0].text[:500]}" + self.logs(),
                pytrace=False,
            )
        return answers

    def publish(self, task_type: str, weights: dict[str, int]) -> RoutingVersion:
        """Save the task type's draft rule with these model weights, then publish the draft."""
        targets = [
            {"model_id": self.models[name].pk, "weight": weight} for name, weight in weights.items()
        ]
        rule = RoutingRule.objects.filter(team=self.team, task_type=task_type).first()
        rule_save(
            team=self.team, user=self.user, task_type=task_type, targets=targets, fallbacks=[],
            rule=rule,
        )  # fmt: skip
        return routing_publish(team=self.team, user=self.user, comment=f"{task_type} {weights}")

    def instance(self) -> ProxyInstance | None:
        """The running proxy's heartbeat row (a restarted proxy is a new instance)."""
        return ProxyInstance.objects.filter(team=self.team).order_by("-first_seen_at").first()

    def landed(self, ids: set[str]) -> list[UsageEvent]:
        return list(UsageEvent.objects.filter(team=self.team, event_id__in=ids))


def chat(client: httpx.Client, group: str) -> httpx.Response:
    body = {"model": group, "messages": [{"role": "user", "content": "Say hello."}]}
    return client.post("/v1/chat/completions", json=body)


def call_ids(answers: list[httpx.Response]) -> set[str]:
    return {answer.headers["x-litellm-call-id"] for answer in answers}


def spooled(directory: Path) -> int:
    """Events waiting in the proxy's spool files, read as another process would."""
    total = 0
    for path in directory.glob("spool-*.db"):
        # Read-only: connecting must not create a file the proxy just adopted and deleted.
        with (
            suppress(sqlite3.Error),
            closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db,
        ):
            total += db.execute("SELECT count(*) FROM events").fetchone()[0]
    return total


class Syncs:
    """The proxy's syncs as its heartbeats report them: last_sync_at -> the routing version it
    ran after that sync (a sync polls the routes and keys, applies, then sends the heartbeat)."""

    def __init__(self, team):
        self.team = team
        self.seen: dict[datetime, int | None] = {}

    def look(self) -> None:
        rows = ProxyInstance.objects.filter(team=self.team, last_sync_at__isnull=False)
        for synced_at, version in rows.values_list("last_sync_at", "routing_version"):
            self.seen.setdefault(synced_at, version)

    def after(self, moment: datetime) -> list[int | None]:
        return [self.seen[at] for at in sorted(self.seen) if at > moment]


def wait_applied(stack: Stack, version: RoutingVersion, *, syncs: int = 1) -> None:
    """Wait for `syncs` heartbeats reporting `version` after its publish, and check the proxy ran
    it by its second sync after the publish (a sync whose routes answer left the dashboard just
    before the publish is the one that may miss it)."""
    watched = Syncs(stack.team)

    def applied() -> bool:
        watched.look()
        return watched.after(version.published_at).count(version.number) >= syncs

    stack.wait_for(applied, what=f"heartbeat reporting version {version.number}", every=0.05)
    reported = watched.after(version.published_at)
    assert reported.index(version.number) < 2, (
        f"version {version.number} applied only at sync {reported.index(version.number) + 1} "
        f"after the publish (versions reported: {reported})"
    )


def split(upstream) -> dict[str, float]:
    """Each model's share of the calls the upstream saw, in percent."""
    counts = upstream.counts("model")
    total = sum(counts.values())
    return {model: 100 * count / total for model, count in counts.items()}


@dataclass
class World:
    """What outlives a test: the processes, and the proxy token written into proxy.env."""

    dashboard: DashboardProcess
    upstream: FakeUpstream
    proxy: LiteLLMProxy
    directory: Path
    token: dict


@pytest.fixture(scope="module")
def world(proxy_modules, django_db_setup, django_db_blocker, tmp_path_factory):
    """One dashboard process, upstream and proxy for the module. The database is flushed after
    each test: the token row the proxy was configured with is put back by each test's stack."""
    with django_db_blocker.unblock():
        if connection.vendor != "postgresql":
            pytest.skip(
                "the live dashboard process needs the test database on PostgreSQL "
                "(set DATABASE_URL=postgresql://...)"
            )
        # One Fernet key for this process and the server, so both read the provider keys.
        keys = [Fernet.generate_key().decode()]
        with override_settings(FIELD_ENCRYPTION_KEYS=keys), FakeUpstream() as upstream:
            directory = tmp_path_factory.mktemp("scenarios")
            dashboard = DashboardProcess(
                database_url=database_url(connection.settings_dict),
                encryption_keys=keys,
                log_dir=directory,
            )
            proxy = None
            try:
                dashboard.start()
                proxy, token = _configured_proxy(dashboard, directory / "proxy")
                call_command("flush", interactive=False, verbosity=0)
                proxy.start()
                yield World(dashboard, upstream, proxy, directory / "proxy", token)
            finally:
                if proxy is not None:
                    proxy.stop()
                dashboard.stop()


def _configured_proxy(dashboard: DashboardProcess, directory: Path) -> tuple[LiteLLMProxy, dict]:
    """A proxy (not started) as `manage.py litellm_config` sets it up, polling every second,
    and the fields of the token row it made."""
    team = TeamFactory(slug=TEAM)
    call_command("litellm_config", team=team.slug, dashboard_url=dashboard.url, out=str(directory))
    env = dict(
        line.split("=", 1) for line in (directory / "proxy.env").read_text().splitlines() if line
    )
    env["LLM_SPEND_POLL_SECONDS"] = str(POLL_SECONDS)
    token = ProxyToken.objects.filter(team=team).values("name", "prefix", "token_hash", "scopes")
    proxy = LiteLLMProxy(directory / "config.yaml", env=env, master_key=env["LITELLM_MASTER_KEY"])
    return proxy, token.get()


@pytest.fixture
def stack(world, transactional_db) -> Iterator[Stack]:
    """The team of the proxy's token, its catalog (chutes at the fake upstream), a key and
    routing version 1 (* to MAIN), once the proxy has synced them; the upstream's record cleared."""
    world.proxy.resume()  # paused by the previous test's teardown
    for process in (world.dashboard, world.proxy):
        if not process.running:  # a failed test may have left it down
            process.start()
    team = TeamFactory(slug=TEAM, name="Maven")
    ProxyToken.objects.create(team=team, **world.token)
    user = MembershipFactory(team=team, user=UserFactory(username="ops"), role=Role.OPS).user
    chutes = ProviderFactory(slug="chutes", name="Chutes", base_url=world.upstream.base("/v1"))
    models = {
        name: ModelPriceFactory(model__provider=chutes, model__name=name).model
        for name in (MAIN, SMALL, BROKEN)
    }
    ProviderKeyFactory(team=team, provider=chutes, label="prod", secret=new_secret())
    stack = Stack(
        team=team, user=user, dashboard=world.dashboard, upstream=world.upstream,
        proxy=world.proxy, directory=world.directory, models=models,
    )  # fmt: skip
    wait_applied(stack, stack.publish("*", {MAIN: 100}), syncs=2)
    world.upstream.reset()
    yield stack
    # The proxy keeps calling between tests (config polls, usage shipping): pause it and let the
    # requests in flight finish, so the flush after the test does not race one (TRUNCATE against
    # any query can deadlock). Its token stays: refused calls would push the companion's
    # shipping backoff into the next test.
    world.proxy.pause()
    _wait_until_no_other_session_is_busy()


def _wait_until_no_other_session_is_busy(timeout: float = 15, quiet: float = 0.5) -> None:
    """Until no other session of the test database has been busy for `quiet` seconds (a request
    the proxy sent just before its pause may still be waiting for the dashboard to take it)."""
    deadline = time.monotonic() + timeout
    quiet_since = time.monotonic()
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND backend_type = 'client backend' "
                "AND state <> 'idle'"
            )
            if cursor.fetchone()[0]:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= quiet:
                return
            time.sleep(0.1)


def test_a_published_split_is_followed_live_and_so_are_a_change_and_a_rollback(stack):
    upstream, starts = stack.upstream, stack.proxy.starts
    eighty_twenty = stack.publish("summarization", {MAIN: 80, SMALL: 20})
    wait_applied(stack, eighty_twenty)
    upstream.reset()
    stack.send(["summarization"] * 1000)
    first = split(upstream)

    fifty_fifty = stack.publish("summarization", {MAIN: 50, SMALL: 50})
    wait_applied(stack, fifty_fifty)
    upstream.reset()
    stack.send(["summarization"] * 1000)
    second = split(upstream)

    rollback = routing_rollback(version=eighty_twenty, user=stack.user)
    wait_applied(stack, rollback)
    upstream.reset()
    stack.send(["summarization"] * 1000)
    third = split(upstream)

    assert abs(first[MAIN] - 80) <= 4 and abs(first[SMALL] - 20) <= 4, first
    # 1,000 calls at 50/50 stray by 1.6 points (one standard deviation); 5 is over three of them.
    assert abs(second[MAIN] - 50) <= 5, second
    assert abs(third[MAIN] - 80) <= 4 and abs(third[SMALL] - 20) <= 4, third
    assert stack.proxy.starts == starts


def test_the_routing_page_names_the_proxy_and_the_versions_it_runs(stack):
    instance = stack.instance()
    browser = Client()
    browser.force_login(stack.user)
    session = browser.cookies[settings.SESSION_COOKIE_NAME].value

    answer = httpx.get(
        f"{stack.dashboard.url}/t/{stack.team.slug}/routing/fleet/",
        headers={"HX-Request": "true", "Cookie": f"{settings.SESSION_COOKIE_NAME}={session}"},
        timeout=10,
    )

    assert answer.status_code == 200, answer.text[:500]
    # One proxy process, one companion: the proxy executes llm_spend.py afresh per config load.
    assert answer.text.count("<tr data-proxy=") == 1
    row = answer.text.split(f'<tr data-proxy="{instance.instance_id}"', 1)[1].split("</tr>")[0]
    assert instance.instance_id in row
    assert f"{llm_spend.litellm_version()} / {llm_spend.PLUGIN_VERSION}" in row
    assert f"✓ v{latest_version(stack.team).number}" in row


def test_usage_made_while_the_dashboard_is_down_lands_once_it_is_back(stack):
    version = latest_version(stack.team).number
    stack.dashboard.stop()

    answers = stack.send(["summarization"] * 250 + ["translation"] * 250)
    stack.dashboard.start()
    ids = call_ids(answers)
    stack.wait_for(lambda: len(stack.landed(ids)) == 500, what="500 usage events", seconds=90)

    events = UsageEvent.objects.filter(team=stack.team, event_id__in=ids)
    assert events.count() == 500
    assert Counter(events.values_list("task_type", "route_version")) == {
        ("summarization", version): 250,
        ("translation", version): 250,
    }


def test_events_spooled_at_a_kill_9_land_once_after_the_restart(stack):
    started = timezone.now()
    shipped = call_ids(stack.send(["summarization"] * 100))
    stack.wait_for(lambda: len(stack.landed(shipped)) == 100, what="the first 100 events")
    stack.dashboard.stop()
    spooled_ids = call_ids(stack.send(["summarization"] * 200))
    stack.wait_for(lambda: spooled(stack.spool_dir) >= 200, what="200 events in the spool")

    stack.proxy.kill_9()
    stack.dashboard.start()
    stack.proxy.start()
    ids = shipped | spooled_ids
    stack.wait_for(lambda: len(stack.landed(ids)) == 300, what="300 usage events", seconds=60)
    stack.wait_for(lambda: spooled(stack.spool_dir) == 0, what="an empty spool")

    since = UsageEvent.objects.filter(team=stack.team, occurred_at__gte=started)
    assert sorted(since.values_list("event_id", flat=True)) == sorted(ids)


def test_an_event_the_dashboard_rejects_is_dead_lettered_and_the_rest_of_its_batch_lands(stack):
    # An OpenAI-compatible server that reports more cached prompt tokens than prompt tokens:
    # the dashboard refuses such an event (its cached tokens would be priced twice).
    stack.upstream.usage_for(BROKEN, Usage(input_tokens=100, cached_input_tokens=150))
    version = stack.publish("extraction", {BROKEN: 100})
    wait_applied(stack, version)
    dead_letters = stack.spool_dir / llm_spend.DEAD_LETTER_FILE
    stack.dashboard.stop()
    good = call_ids(stack.send(["summarization"] * 49))
    (bad,) = call_ids(stack.send(["extraction"]))
    stack.wait_for(lambda: spooled(stack.spool_dir) >= 50, what="50 events in the spool")

    stack.dashboard.start()
    stack.wait_for(dead_letters.exists, what="dead-letter file", seconds=60)
    stack.wait_for(lambda: len(stack.landed(good)) == 49, what="49 usage events")

    lines = [json.loads(line) for line in dead_letters.read_text().splitlines()]
    assert [line["event"]["id"] for line in lines] == [bad]
    assert "cached_input_tokens" in lines[0]["reason"]
    assert stack.landed({bad}) == []


def test_a_rotated_key_reaches_the_upstream_within_two_polls_and_the_old_one_never_again(stack):
    upstream = stack.upstream
    key = ProviderKey.objects.get(team=stack.team, revoked_at__isnull=True)
    stack.send(["summarization"] * 20)
    (old,) = upstream.counts("api_key")
    syncs, new = Syncs(stack.team), new_secret()

    key_rotate(key=key, secret=new, user=stack.user)
    rotated_at = timezone.now()
    with httpx.Client(base_url=stack.proxy.url, headers=stack.proxy.headers, timeout=60) as client:

        def new_key_seen() -> bool:
            # One call at a time: the upstream sees them in the order they were made.
            syncs.look()
            assert chat(client, "summarization").status_code == 200
            return upstream.requests[-1].api_key == new

        stack.wait_for(new_key_seen, what="call with the rotated key", every=0)
        syncs.look()
        for _ in range(100):
            assert chat(client, "summarization").status_code == 200
    stack.send(["summarization"] * 200)

    assert len(syncs.after(rotated_at)) <= 2, syncs.after(rotated_at)
    keys = [seen.api_key for seen in upstream.requests]
    first_new = keys.index(new)
    assert set(keys[:first_new]) == {old}
    assert Counter(keys[first_new:]) == {new: len(keys) - first_new}
