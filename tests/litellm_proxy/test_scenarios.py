"""Issue 14's scenarios, each against a real LiteLLM proxy loading the real companion plugin.

Every proxy is set up as `manage.py litellm_config` writes it (config.yaml with `model_list: []`
and the plugin as its callback, llm_spend.py beside it, proxy.env with a fresh token), polling
every second, in front of the fake upstream (the catalog's OpenAI-compatible provider `chutes`
has its base URL there), against the dashboard in its own gunicorn process on the PostgreSQL
test database. The test publishes, rolls back and rotates keys through the dashboard's own
functions on that database, and reads what landed from it.

Each test starts its own proxy: the database is flushed after every test (so the proxy's token
is gone), and a proxy start costs about 10 s on a 2-core machine.
"""

import json
import sqlite3
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from billing.models import UsageEvent
from integrations.litellm import llm_spend
from routing.keys import key_rotate
from routing.models import Model, ProviderKey, ProxyInstance, RoutingRule, RoutingVersion
from routing.publish import publish_routing, rollback_routing
from routing.rules import rule_save
from tests.factories import ModelPriceFactory, ProviderFactory, ProviderKeyFactory
from tests.litellm_proxy.fake_upstream import Usage
from tests.litellm_proxy.proxy import LiteLLMProxy

pytestmark = pytest.mark.litellm_proxy

POLL_SECONDS = 1
CONCURRENCY = 8
FIRST_KEY = "cpk_" + "1" * 40
SECOND_KEY = "cpk_" + "2" * 40
# Models of the catalog's chutes, as the upstream sees them asked for.
MAIN, SMALL, BROKEN = "deepseek-ai/DeepSeek-V3", "unsloth/Llama-3.3-70B-Instruct", "vendor/odd-1"


@dataclass
class Stack:
    """The dashboard process, the fake upstream and one proxy set up as litellm_config does."""

    team: object
    user: object
    dashboard: object
    upstream: object
    proxy: LiteLLMProxy
    directory: Path
    models: dict[str, Model] = field(default_factory=dict)

    @property
    def spool_dir(self) -> Path:
        return self.directory / "spool"

    def logs(self) -> str:
        return self.proxy.log_tail() + self.dashboard.log_tail(2000)

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
        return publish_routing(team=self.team, user=self.user, comment=f"{task_type} {weights}")

    def landed(self) -> int:
        return UsageEvent.objects.filter(team=self.team).count()


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


def wait_applied(stack: Stack, version: RoutingVersion) -> None:
    """The proxy runs `version` by its second sync after the publish. A sync whose routes answer
    left the dashboard just before the publish is the one that may miss it."""
    syncs = Syncs(stack.team)

    def applied() -> bool:
        syncs.look()
        return version.number in syncs.after(version.published_at)

    stack.wait_for(applied, what=f"heartbeat reporting version {version.number}", every=0.05)
    reported = syncs.after(version.published_at)
    assert reported.index(version.number) < 2, (
        f"version {version.number} applied only at sync {reported.index(version.number) + 1} "
        f"after the publish (versions reported: {reported})"
    )


def split(upstream) -> dict[str, float]:
    """Each model's share of the calls the upstream saw, in percent."""
    counts = upstream.counts("model")
    total = sum(counts.values())
    return {model: 100 * count / total for model, count in counts.items()}


@pytest.fixture
def stack(dashboard_process, fake_upstream, litellm_proxy, team, ops_user, tmp_path):
    chutes = ProviderFactory(slug="chutes", name="Chutes", base_url=fake_upstream.base("/v1"))
    models = {
        name: ModelPriceFactory(model__provider=chutes, model__name=name).model
        for name in (MAIN, SMALL, BROKEN)
    }
    ProviderKeyFactory(team=team, provider=chutes, label="prod", secret=FIRST_KEY)
    directory = tmp_path / "proxy"
    call_command(
        "litellm_config", team=team.slug, dashboard_url=dashboard_process.url, out=str(directory)
    )
    env = dict(
        line.split("=", 1) for line in (directory / "proxy.env").read_text().splitlines() if line
    )
    env["LLM_SPEND_POLL_SECONDS"] = str(POLL_SECONDS)
    stack = Stack(
        team=team,
        user=ops_user,
        dashboard=dashboard_process,
        upstream=fake_upstream,
        proxy=None,
        directory=directory,
        models=models,
    )
    stack.publish("*", {MAIN: 100})
    stack.proxy = litellm_proxy(
        directory / "config.yaml", env=env, master_key=env["LITELLM_MASTER_KEY"]
    )
    stack.wait_for(
        lambda: ProxyInstance.objects.filter(team=team, routing_version=1).exists(),
        what="proxy running routing version 1",
    )
    return stack


def test_a_published_split_is_followed_live_and_so_are_a_change_and_a_rollback(stack):
    upstream = stack.upstream
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

    rollback = rollback_routing(version=eighty_twenty, user=stack.user)
    wait_applied(stack, rollback)
    upstream.reset()
    stack.send(["summarization"] * 1000)
    third = split(upstream)

    assert abs(first[MAIN] - 80) <= 4 and abs(first[SMALL] - 20) <= 4, first
    # 1,000 calls at 50/50 stray by 1.6 points (one standard deviation); 5 is over three of them.
    assert abs(second[MAIN] - 50) <= 5, second
    assert abs(third[MAIN] - 80) <= 4 and abs(third[SMALL] - 20) <= 4, third
    assert stack.proxy.starts == 1


def test_the_routing_page_names_the_proxy_and_the_versions_it_runs(stack):
    proxy = ProxyInstance.objects.get(team=stack.team)
    browser = Client()
    browser.force_login(stack.user)
    session = browser.cookies[settings.SESSION_COOKIE_NAME].value

    answer = httpx.get(
        f"{stack.dashboard.url}/t/{stack.team.slug}/routing/fleet/",
        headers={"HX-Request": "true", "Cookie": f"{settings.SESSION_COOKIE_NAME}={session}"},
        timeout=10,
    )

    assert answer.status_code == 200, answer.text[:500]
    row = answer.text.split(f'data-proxy="{proxy.instance_id}"', 1)[1].split("</tr>", 1)[0]
    assert proxy.instance_id in row
    assert f"1.110.2 / {llm_spend.PLUGIN_VERSION}" in row
    assert "✓ v1" in row


def test_usage_made_while_the_dashboard_is_down_lands_once_it_is_back(stack):
    version = RoutingVersion.objects.get(team=stack.team, number=1)
    stack.dashboard.stop()

    answers = stack.send(["summarization"] * 250 + ["translation"] * 250)
    stack.dashboard.start()
    stack.wait_for(lambda: stack.landed() >= 500, what="500 usage events", seconds=90)

    events = UsageEvent.objects.filter(team=stack.team)
    assert set(events.values_list("event_id", flat=True)) == call_ids(answers)
    assert Counter(events.values_list("task_type", "route_version")) == {
        ("summarization", version.number): 250,
        ("translation", version.number): 250,
    }


def test_events_spooled_at_a_kill_9_land_once_after_the_restart(stack):
    shipped = stack.send(["summarization"] * 100)
    stack.wait_for(lambda: stack.landed() == 100, what="the first 100 events landed")
    stack.dashboard.stop()
    spooled_answers = stack.send(["summarization"] * 200)
    stack.wait_for(lambda: spooled(stack.spool_dir) == 200, what="200 events in the spool")

    stack.proxy.kill_9()
    stack.dashboard.start()
    stack.proxy.start()
    stack.wait_for(lambda: stack.landed() >= 300, what="300 usage events", seconds=60)

    landed = list(UsageEvent.objects.filter(team=stack.team).values_list("event_id", flat=True))
    assert sorted(landed) == sorted(call_ids(shipped) | call_ids(spooled_answers))
    assert spooled(stack.spool_dir) == 0


def test_an_event_the_dashboard_rejects_is_dead_lettered_and_the_rest_of_its_batch_lands(stack):
    # An OpenAI-compatible server that reports more cached prompt tokens than prompt tokens:
    # the dashboard refuses such an event (its cached tokens would be priced twice).
    stack.upstream.usage_for(BROKEN, Usage(input_tokens=100, cached_input_tokens=150))
    version = stack.publish("extraction", {BROKEN: 100})
    wait_applied(stack, version)
    stack.dashboard.stop()
    good = stack.send(["summarization"] * 49)
    (bad,) = stack.send(["extraction"])
    stack.wait_for(lambda: spooled(stack.spool_dir) == 50, what="50 events in the spool")

    stack.dashboard.start()
    dead_letters = stack.spool_dir / llm_spend.DEAD_LETTER_FILE
    stack.wait_for(dead_letters.exists, what="dead-letter file", seconds=60)
    stack.wait_for(lambda: stack.landed() >= 49, what="49 usage events")

    lines = [json.loads(line) for line in dead_letters.read_text().splitlines()]
    assert [line["event"]["id"] for line in lines] == [bad.headers["x-litellm-call-id"]]
    assert "cached_input_tokens" in lines[0]["reason"]
    landed = UsageEvent.objects.filter(team=stack.team).values_list("event_id", flat=True)
    assert set(landed) == call_ids(good)


def test_a_rotated_key_reaches_the_upstream_within_two_polls_and_the_old_one_never_again(stack):
    upstream = stack.upstream
    stack.send(["summarization"] * 20)
    assert set(upstream.counts("api_key")) == {FIRST_KEY}
    key = ProviderKey.objects.get(team=stack.team, revoked_at__isnull=True)
    syncs = Syncs(stack.team)

    key_rotate(key=key, secret=SECOND_KEY, user=stack.user)
    rotated_at = timezone.now()
    with httpx.Client(base_url=stack.proxy.url, headers=stack.proxy.headers, timeout=60) as client:

        def new_key_seen() -> bool:
            # One call at a time: the upstream sees them in the order they were made.
            syncs.look()
            assert chat(client, "summarization").status_code == 200
            return upstream.requests[-1].api_key == SECOND_KEY

        stack.wait_for(new_key_seen, what="call with the rotated key", every=0)
        syncs.look()
        for _ in range(100):
            assert chat(client, "summarization").status_code == 200
    stack.send(["summarization"] * 200)

    assert len(syncs.after(rotated_at)) <= 2, syncs.after(rotated_at)
    keys = [seen.api_key for seen in upstream.requests]
    first_new = keys.index(SECOND_KEY)
    assert Counter(keys[first_new:]) == {SECOND_KEY: len(keys) - first_new}
    assert set(keys[:first_new]) == {FIRST_KEY}
