"""LLM Spend companion for a stock LiteLLM proxy: live routing from the dashboard, lossless usage.

Loaded by the proxy through its config, with this file beside config.yaml:
``litellm_settings: {callbacks: ["llm_spend.proxy_handler"]}``. Configured by environment:

    LLM_SPEND_URL              the dashboard, e.g. https://spend.example.com
    LLM_SPEND_TOKEN            a proxy token with usage:write routes:read keys:read
    LLM_SPEND_SPOOL_DIR        where usage waits on disk for the dashboard (./llm_spend_spool)
    LLM_SPEND_POLL_SECONDS     how often routes and keys are polled and a heartbeat sent (10)
    LLM_SPEND_SPOOL_MAX_BYTES  the spool's cap; past it events are dropped, counted, logged (1 GB)

What it does:
- polls GET /api/v1/routes and GET /api/v1/keys (ETag / 304) and, when either changes, rebuilds the
  proxy router's deployments, weights and fallbacks in-process, all or nothing; a config it cannot
  apply leaves the last good one running and is reported in the heartbeat;
- maps a request for an unknown model group (task type) to the group ``default`` (the ``*`` rule),
  keeping the asked name as the task type;
- turns every success and failure into one compact canonical usage event, spools it durably
  (SQLite, synchronous=FULL: each commit is fsync'd) off the request path, and ships it in batches
  of up to 1,000 to POST /api/v1/usage, removing an event only once the answer accounts for it;
- reports to POST /api/v1/proxy/heartbeat every poll.

Standard library, httpx and litellm only, and litellm only once the proxy asks for the handler:
the dashboard imports this module for its naming rules (group names, provider prefixes).
"""

import asyncio
import atexit
import contextlib
import copy
import fcntl
import functools
import glob
import json
import logging
import os
import queue
import re
import secrets
import socket
import sqlite3
import sys
import threading
import time
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx

PLUGIN_VERSION = "1.0.0"
logger = logging.getLogger("llm_spend")

# Our provider slug -> LiteLLM's provider prefix. Providers LiteLLM does not know natively
# (Chutes) go through its "openai/" client with their own api_base.
LITELLM_PREFIX = {
    "openai": "openai",
    "anthropic": "anthropic",
    "openrouter": "openrouter",
    "deepseek": "deepseek",
    "google": "gemini",
}
# LiteLLM's provider names -> our slugs, for events whose deployment did not say.
OUR_PROVIDER = {
    "openai": "openai",
    "text-completion-openai": "openai",
    "anthropic": "anthropic",
    "openrouter": "openrouter",
    "deepseek": "deepseek",
    "gemini": "google",
    "vertex_ai": "google",
}
DEFAULT_GROUP = "default"
FALLBACK_SUFFIX = re.compile(r"--fallback-\d+$")
# How long a batch smaller than MAX_BATCH waits for more calls before it is shipped.
SHIP_LINGER_SECONDS = 1.0
MAX_BATCH = 1000
MAX_BACKOFF_SECONDS = 60.0
MAX_RETRY_AFTER_SECONDS = 600.0
DEFAULT_SPOOL_MAX_BYTES = 1024**3
DEAD_LETTER_FILE = "dead-letter.jsonl"
MAX_TASK_TYPE = 100  # the longest task type the dashboard stores
# The keys this module puts in a deployment's model_info and a request's metadata.
ROUTE_VERSION_KEY = "llm_spend_route_version"
PROVIDER_KEY = "llm_spend_provider"
MODEL_KEY = "llm_spend_model"
TASK_TYPE_KEY = "llm_spend_task_type"


# ---------------------------------------------------------------------------------------------
# Naming: shared with the dashboard's /api/v1/routes/litellm.yaml


def group_name(task_type: str) -> str:
    """The model group of a task type: the default rule (*) is the group 'default'."""
    return DEFAULT_GROUP if task_type == "*" else task_type


def fallback_group_name(group: str, number: int) -> str:
    return f"{group}--fallback-{number}"


def task_type_of_group(group: str) -> str:
    """The task type a model group serves: its fallback groups serve the same one."""
    group = FALLBACK_SUFFIX.sub("", group)
    return "*" if group == DEFAULT_GROUP else group


def litellm_params(provider: str, model: str, *, api_base: str, api_key: str) -> dict:
    """A deployment's litellm_params for one of our provider/model pairs. Providers LiteLLM knows
    keep its own endpoint; the others are reached as OpenAI-compatible at their api_base."""
    params = {"model": f"{LITELLM_PREFIX.get(provider, 'openai')}/{model}"}
    if provider not in LITELLM_PREFIX and api_base:
        params["api_base"] = api_base
    params["api_key"] = api_key
    return params


# ---------------------------------------------------------------------------------------------
# Settings


class SettingsError(ValueError):
    pass


@dataclass(frozen=True)
class Settings:
    url: str
    token: str
    spool_dir: str = "llm_spend_spool"
    poll_seconds: float = 10.0
    spool_max_bytes: int = DEFAULT_SPOOL_MAX_BYTES

    @classmethod
    def from_env(cls, environ=None) -> "Settings":
        environ = os.environ if environ is None else environ
        url = environ.get("LLM_SPEND_URL", "").strip().rstrip("/")
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
            raise SettingsError(f"LLM_SPEND_URL must be the dashboard's http(s) URL, not {url!r}")
        token = environ.get("LLM_SPEND_TOKEN", "").strip()
        if not token:
            raise SettingsError("LLM_SPEND_TOKEN is empty: create a proxy token in the dashboard")
        return cls(
            url=url,
            token=token,
            spool_dir=environ.get("LLM_SPEND_SPOOL_DIR", "").strip() or "llm_spend_spool",
            poll_seconds=_positive(environ, "LLM_SPEND_POLL_SECONDS", float, 10.0),
            spool_max_bytes=_positive(
                environ, "LLM_SPEND_SPOOL_MAX_BYTES", int, DEFAULT_SPOOL_MAX_BYTES
            ),
        )


def _positive(environ, name: str, kind, default):
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a positive number, not {raw!r}") from None
    if not value > 0:
        raise SettingsError(f"{name} must be a positive number, not {raw!r}")
    return value


def new_instance_id() -> str:
    host = re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname())[:60] or "proxy"
    return f"{host}-{os.getpid()}-{secrets.token_hex(2)}"


def utc_now() -> datetime:
    return datetime.now(UTC)


# ---------------------------------------------------------------------------------------------
# Counters and the durable spool


class Counters:
    """Cumulative since the plugin started, as the heartbeat reports them."""

    def __init__(self):
        self._lock = threading.Lock()
        self.shipped = 0
        self.dead_lettered = 0
        self.dropped = 0

    def add(self, name: str, count: int) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + count)


class Spool:
    """Events on disk until the dashboard accounts for them.

    One SQLite file per process (named by its instance id), WAL with synchronous=FULL, so every
    commit is fsync'd and survives kill -9. The process holds an flock on the file's .lock beside
    it while alive; a process that finds an unlocked spool file adopts it (a dead process's), moves
    its events into its own spool and deletes it, so every event is shipped by exactly one process.
    The connection is shared by the writer and shipper threads under a lock.
    """

    def __init__(
        self, directory: str, instance_id: str, *, max_bytes: int = DEFAULT_SPOOL_MAX_BYTES
    ):
        self.directory = directory
        self.max_bytes = max_bytes
        os.makedirs(directory, exist_ok=True)
        self.path = os.path.join(directory, f"spool-{instance_id}.db")
        self._lock = threading.Lock()
        self._lock_file = _hold_lock(self.path + ".lock")
        self._db = _open_db(self.path)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
            " id TEXT NOT NULL UNIQUE, body TEXT NOT NULL)"
        )
        self._db.commit()
        self._depth, self._bytes = self._db.execute(
            "SELECT count(*), coalesce(sum(length(body)), 0) FROM events"
        ).fetchone()

    @property
    def depth(self) -> int:
        return self._depth

    @property
    def bytes(self) -> int:
        return self._bytes

    def add_many(self, events: list[dict], *, capped: bool = True) -> int:
        """Commit the events (one transaction, fsync'd); returns how many the cap refused."""
        refused = 0
        with self._lock:
            added_depth = added_bytes = 0
            for event in events:
                body = json.dumps(event, separators=(",", ":"))
                if capped and self._bytes + added_bytes + len(body) > self.max_bytes:
                    refused += 1
                    continue
                cursor = self._db.execute(
                    "INSERT OR IGNORE INTO events (id, body) VALUES (?, ?)", (event["id"], body)
                )
                if cursor.rowcount:
                    added_depth += 1
                    added_bytes += len(body)
            self._db.commit()
            self._depth += added_depth
            self._bytes += added_bytes
        return refused

    def peek(self, limit: int = MAX_BATCH) -> list[tuple[int, dict]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, body FROM events ORDER BY seq LIMIT ?", (limit,)
            ).fetchall()
        return [(seq, json.loads(body)) for seq, body in rows]

    def remove(self, seqs: list[int]) -> None:
        if not seqs:
            return
        with self._lock:
            removed_depth = removed_bytes = 0
            for seq in seqs:
                row = self._db.execute("SELECT length(body) FROM events WHERE seq = ?", (seq,))
                size = row.fetchone()
                if size is not None:
                    self._db.execute("DELETE FROM events WHERE seq = ?", (seq,))
                    removed_depth += 1
                    removed_bytes += size[0]
            self._db.commit()
            self._depth -= removed_depth
            self._bytes -= removed_bytes

    def dead_letter(self, event: dict, reason) -> None:
        """Append the refused event and why to dead-letter.jsonl (fsync'd): never retried."""
        line = json.dumps(
            {"at": utc_now().isoformat(), "reason": reason, "event": event}, separators=(",", ":")
        )
        path = os.path.join(self.directory, DEAD_LETTER_FILE)
        with self._lock, open(path, "a", encoding="utf-8") as file:
            file.write(line + "\n")
            file.flush()
            os.fsync(file.fileno())

    def adopt_orphans(self) -> int:
        """Move the events of spool files no live process holds into this one; returns how many."""
        adopted = 0
        for path in sorted(glob.glob(os.path.join(self.directory, "spool-*.db"))):
            if path == self.path:
                continue
            try:
                lock_file = _hold_lock(path + ".lock")
            except BlockingIOError:
                continue  # its process is alive and ships it itself
            try:
                adopted += self._take_events_of(path)
                for leftover in (path, path + "-wal", path + "-shm", path + ".lock"):
                    with contextlib.suppress(FileNotFoundError):
                        os.remove(leftover)
            finally:
                lock_file.close()
        if adopted:
            logger.warning("LLM Spend: adopted %d unshipped events of a stopped proxy", adopted)
        return adopted

    def _take_events_of(self, path: str) -> int:
        orphan = _open_db(path)
        try:
            rows = orphan.execute("SELECT body FROM events ORDER BY seq").fetchall()
        except sqlite3.DatabaseError:
            rows = []  # created but never written
        finally:
            orphan.close()
        events = [json.loads(body) for (body,) in rows]
        # Adopted events were already kept once: the cap applies to new ones only.
        self.add_many(events, capped=False)
        return len(events)

    def close(self) -> None:
        with self._lock:
            self._db.close()
            self._lock_file.close()


def _open_db(path: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, check_same_thread=False, isolation_level="DEFERRED")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA busy_timeout=5000")
    return db


def _hold_lock(path: str):
    """An exclusive flock on path, held while the returned file is open (released on death)."""
    file = open(path, "a+")  # noqa: SIM115  # held open for the process's life
    try:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        file.close()
        raise
    return file


class SpoolWriter:
    """Takes events from the request path (an in-memory queue, never blocking) and commits them to
    the spool in small batches from its own thread."""

    def __init__(self, spool: Spool, counters: Counters, *, max_queue: int = 100_000):
        self.spool = spool
        self.counters = counters
        self.queue: queue.Queue = queue.Queue(maxsize=max_queue)
        self.written = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def put(self, event: dict) -> None:
        try:
            self.queue.put_nowait(event)
        except queue.Full:
            self.counters.add("dropped", 1)
            logger.error(
                "LLM Spend: the spool writer is behind; dropped usage event %s", event["id"]
            )

    def write_pending(self, wait: float = 0.0) -> int:
        """Commit what is queued (waiting up to `wait` seconds for a first event)."""
        batch = []
        try:
            batch.append(self.queue.get(timeout=wait) if wait else self.queue.get_nowait())
            while len(batch) < 500:
                batch.append(self.queue.get_nowait())
        except queue.Empty:
            pass
        if not batch:
            return 0
        try:
            refused = self.spool.add_many(batch)
        except sqlite3.Error as error:
            refused = len(batch)
            logger.error(
                "LLM Spend: cannot write the spool (%s): %d events dropped", error, refused
            )
        if refused:
            self.counters.add("dropped", refused)
            logger.error(
                "LLM Spend: the spool is full (%d of %d bytes): dropped %d usage events, "
                "%d dropped since start",
                self.spool.bytes,
                self.spool.max_bytes,
                refused,
                self.counters.dropped,
            )
        self.written.set()
        return len(batch)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="llm-spend-spool", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.write_pending(wait=0.5)

    def stop(self) -> None:
        """Write what is still queued, then stop the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        while self.write_pending():
            pass


# ---------------------------------------------------------------------------------------------
# Shipping


class Backoff:
    """1 s doubling to 60 s; a Retry-After the dashboard sends is honoured (within 10 minutes)."""

    def __init__(self):
        self.failures = 0

    def reset(self) -> None:
        self.failures = 0

    def next_delay(self, retry_after: float | None = None) -> float:
        self.failures += 1
        if retry_after is not None:
            return min(max(retry_after, 0.0), MAX_RETRY_AFTER_SECONDS)
        return min(2.0 ** (self.failures - 1), MAX_BACKOFF_SECONDS)


class RetryLater(Exception):
    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.retry_after = retry_after


def retry_after_seconds(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "").strip()
    try:
        return float(value) if value else None
    except ValueError:
        return None


class Shipper:
    """Sends the spool to POST /api/v1/usage in batches of up to 1,000 and removes only what the
    answer accounts for: accepted and duplicates removed, rejected ones dead-lettered (not retried);
    a whole batch refused as bad (400/413) is split to isolate the bad event; anything else (5xx,
    429, 401/403, network) keeps the batch and backs off."""

    def __init__(self, spool: Spool, client: httpx.Client, counters: Counters, *, sleep=time.sleep):
        self.spool = spool
        self.client = client
        self.counters = counters
        self.sleep = sleep
        self.backoff = Backoff()
        self.last_error = ""

    def ship_once(self, limit: int = MAX_BATCH) -> float | None:
        """Ship one batch. None when it went (or there was nothing), else seconds to wait."""
        batch = self.spool.peek(limit)
        if not batch:
            return None
        try:
            self._send(batch)
        except RetryLater as later:
            self.last_error = str(later)
            delay = self.backoff.next_delay(later.retry_after)
            logger.warning("LLM Spend: usage not shipped (%s); retrying in %.0f s", later, delay)
            return delay
        self.backoff.reset()
        self.last_error = ""
        return None

    def ship_until_empty(self) -> None:
        while self.spool.depth:
            delay = self.ship_once()
            if delay is not None:
                self.sleep(delay)

    def _send(self, batch: list[tuple[int, dict]]) -> None:
        try:
            response = self.client.post("/api/v1/usage", json=[event for _, event in batch])
        except httpx.HTTPError as error:
            raise RetryLater(f"{type(error).__name__}: {error}") from None
        if response.status_code in (400, 413):
            if len(batch) > 1:
                middle = len(batch) // 2
                self._send(batch[:middle])
                self._send(batch[middle:])
                return
            self._dead_letter(batch, {"status": response.status_code, "answer": _body(response)})
            return
        if response.status_code in (401, 403):
            logger.error(
                "LLM Spend: the dashboard refused LLM_SPEND_TOKEN (%s %s): usage is kept in "
                "the spool until a token with usage:write is configured",
                response.status_code,
                _body(response),
            )
            raise RetryLater(f"HTTP {response.status_code}")
        if response.status_code != 200:
            raise RetryLater(f"HTTP {response.status_code}", retry_after_seconds(response))
        self._account(batch, response)

    def _account(self, batch: list[tuple[int, dict]], response: httpx.Response) -> None:
        try:
            answer = response.json()
            accepted, duplicates = int(answer["accepted"]), int(answer["duplicates"])
            rejected = {int(item["index"]): item for item in answer["rejected"]}
        except (ValueError, KeyError, TypeError) as error:
            raise RetryLater(f"unreadable answer ({error})") from None
        for index, item in rejected.items():
            if 0 <= index < len(batch):
                self._dead_letter([batch[index]], item.get("errors"))
        kept = [seq for index, (seq, _) in enumerate(batch) if index not in rejected]
        if accepted + duplicates != len(kept):
            raise RetryLater(
                f"the answer accounts for {accepted + duplicates} of {len(kept)} events"
            )
        self.spool.remove(kept)
        self.counters.add("shipped", len(kept))

    def _dead_letter(self, rows: list[tuple[int, dict]], reason) -> None:
        for _, event in rows:
            self.spool.dead_letter(event, reason)
            logger.error(
                "LLM Spend: usage event %s rejected (%s): dead-lettered", event["id"], reason
            )
        self.spool.remove([seq for seq, _ in rows])
        self.counters.add("dead_lettered", len(rows))


def _body(response: httpx.Response):
    try:
        return response.json()
    except ValueError:
        return response.text[:500]


# ---------------------------------------------------------------------------------------------
# Usage events


def usage_event(payload: dict, *, kwargs: dict | None = None, instance_id: str = "") -> dict:
    """The compact canonical event of one call, from the StandardLoggingPayload LiteLLM hands its
    loggers (and, when given, the logging kwargs, which carry the deployment's model_info)."""
    kwargs = kwargs or {}
    params = _dict(kwargs.get("litellm_params"))
    metadata = {**_dict(params.get("litellm_metadata")), **_dict(params.get("metadata"))}
    model_info = _dict(params.get("model_info")) or _dict(metadata.get("model_info"))
    hidden = _dict(payload.get("hidden_params"))
    usage = _dict(_dict(payload.get("metadata")).get("usage_object"))
    details = _dict(usage.get("prompt_tokens_details"))
    start = _number(payload.get("startTime"))
    event = {
        "id": str(payload.get("litellm_call_id") or kwargs.get("litellm_call_id") or ""),
        "timestamp": datetime.fromtimestamp(start or time.time(), UTC).isoformat(),
        "provider": _event_provider(payload, params, metadata, hidden, model_info),
        "model": model_info.get(MODEL_KEY) or _model_without_prefix(payload, hidden),
        # A client may ask for any model name; one the dashboard refuses as too long would
        # dead-letter a call that was served and paid for.
        "task_type": _event_task_type(payload, metadata)[:MAX_TASK_TYPE],
        "route_version": model_info.get(ROUTE_VERSION_KEY),
        "status": "success" if payload.get("status", "success") == "success" else "error",
        "error_type": _error_type(payload, kwargs),
        "input_tokens": _count(payload.get("prompt_tokens"), usage.get("prompt_tokens")),
        "output_tokens": _count(payload.get("completion_tokens"), usage.get("completion_tokens")),
        "cached_input_tokens": _count(
            details.get("cached_tokens"), usage.get("cache_read_input_tokens")
        ),
        "cache_write_tokens": _count(
            usage.get("cache_creation_input_tokens"),
            details.get("cache_creation_tokens"),
            details.get("cache_write_tokens"),
        ),
        "latency_ms": _elapsed_ms(start, payload.get("endTime")),
        # LiteLLM sets completionStartTime = endTime on unstreamed calls: no time to first token.
        "ttft_ms": (
            _elapsed_ms(start, payload.get("completionStartTime"))
            if payload.get("stream") is True
            else None
        ),
        "cost_usd": _cost(payload),
        "metadata": {"proxy": instance_id} if instance_id else {},
    }
    return {key: value for key, value in event.items() if value not in (None, "")}


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _number(value) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, datetime):
        return value.timestamp()
    return None


def _count(*values) -> int:
    for value in values:
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            return int(value)
    return 0


def _elapsed_ms(start: float | None, end) -> int | None:
    end = _number(end)
    if start is None or end is None or end < start:
        return None
    return round((end - start) * 1000)


def _host(url) -> str:
    try:
        return (urlsplit(url).hostname or "") if isinstance(url, str) else ""
    except ValueError:
        return ""


def _event_provider(payload, params, metadata, hidden, model_info) -> str:
    bases = [
        params.get("api_base"),
        metadata.get("api_base"),
        hidden.get("api_base"),
        payload.get("api_base"),
    ]
    if any(_host(base) == "chutes.ai" or _host(base).endswith(".chutes.ai") for base in bases):
        return "chutes"
    if model_info.get(PROVIDER_KEY):
        return model_info[PROVIDER_KEY]
    litellm_provider = str(payload.get("custom_llm_provider") or "")
    return OUR_PROVIDER.get(litellm_provider, litellm_provider)


def _model_without_prefix(payload, hidden) -> str:
    model = str(hidden.get("litellm_model_name") or payload.get("model") or "")
    prefix = f"{payload.get('custom_llm_provider') or ''}/"
    return model[len(prefix) :] if prefix != "/" and model.startswith(prefix) else model


def _event_task_type(payload, metadata) -> str:
    if isinstance(metadata.get(TASK_TYPE_KEY), str):
        return metadata[TASK_TYPE_KEY]
    if payload.get("model_group"):
        return task_type_of_group(str(payload["model_group"]))
    for tag in payload.get("request_tags") or []:
        if isinstance(tag, str) and tag.startswith("task_type:"):
            return tag.removeprefix("task_type:")
    return ""


def _error_type(payload, kwargs) -> str | None:
    if payload.get("status", "success") == "success":
        return None
    error_class = _dict(payload.get("error_information")).get("error_class")
    if error_class:
        return str(error_class)
    exception = kwargs.get("exception")
    return type(exception).__name__ if exception is not None else "Error"


def _cost(payload) -> float | None:
    cost = _number(payload.get("response_cost"))
    # 0 means "not priced by the proxy" (LiteLLM knows no Chutes prices), not "free".
    return cost if cost and cost > 0 else None


# ---------------------------------------------------------------------------------------------
# Routing


class RoutingConfigError(ValueError):
    pass


@dataclass
class RouterConfig:
    version: int
    model_list: list[dict]
    fallbacks: list[dict]
    problems: list[str] = field(default_factory=list)

    @property
    def groups(self) -> set[str]:
        return {deployment["model_name"] for deployment in self.model_list}


def keys_by_provider(document: dict) -> dict[str, str]:
    """Each provider's newest active key (the keys API lists them newest first per provider)."""
    keys: dict[str, str] = {}
    for key in document.get("keys") or []:
        if isinstance(key, dict) and key.get("provider") and key.get("secret"):
            keys.setdefault(key["provider"], key["secret"])
    return keys


def router_config(routes: dict, keys: dict[str, str], *, extra_params=None) -> RouterConfig:
    """The deployments and fallbacks of a routes document. Raises RoutingConfigError for a document
    it cannot read; a target whose provider has no active key is left out (listed in problems), so
    a revoked key stops being used at once."""
    version = routes.get("version") if isinstance(routes, dict) else None
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise RoutingConfigError(f"the routes have no valid version ({version!r})")
    rules = routes.get("rules")
    if not isinstance(rules, list):
        raise RoutingConfigError("the routes have no list of rules")
    config = RouterConfig(version=version, model_list=[], fallbacks=[])
    missing: set[str] = set()

    def deployment(group: str, ref, weight: int | None) -> dict | None:
        provider, model = _reference(ref, group)
        if provider not in keys:
            missing.add(provider)
            return None
        params = litellm_params(
            provider, model, api_base=str(ref.get("api_base") or ""), api_key=keys[provider]
        )
        if weight is not None:
            params["weight"] = weight
        params.update(extra_params or {})
        info = {ROUTE_VERSION_KEY: version, PROVIDER_KEY: provider, MODEL_KEY: model}
        return {"model_name": group, "litellm_params": params, "model_info": info}

    for rule in rules:
        if not isinstance(rule, dict) or not isinstance(rule.get("task_type"), str):
            raise RoutingConfigError(f"a rule without a task type: {rule!r}"[:300])
        if rule.get("enabled", True) is False:
            continue
        group = group_name(rule["task_type"])
        targets, fallbacks = rule.get("targets"), rule.get("fallbacks") or []
        if not isinstance(targets, list) or not targets or not isinstance(fallbacks, list):
            raise RoutingConfigError(f"rule {rule['task_type']!r} has no list of targets")
        for target in targets:
            weight = target.get("weight") if isinstance(target, dict) else None
            if not isinstance(weight, int) or isinstance(weight, bool) or weight < 0:
                raise RoutingConfigError(f"rule {rule['task_type']!r}: bad weight {weight!r}")
            if weight and (made := deployment(group, target, weight)):
                config.model_list.append(made)
        fallback_groups = []
        for number, ref in enumerate(fallbacks, start=1):
            name = fallback_group_name(group, number)
            if made := deployment(name, ref, None):
                config.model_list.append(made)
                fallback_groups.append(name)
        if fallback_groups and group in config.groups:
            config.fallbacks.append({group: fallback_groups})
    if missing:
        config.problems.append(
            f"no active key for {', '.join(sorted(missing))}: its targets are left out"
        )
    if not config.model_list:
        raise RoutingConfigError(
            f"version {version} leaves no deployment to route to"
            + (f" ({config.problems[0]})" if config.problems else "")
        )
    return config


def _reference(ref, group: str) -> tuple[str, str]:
    if not isinstance(ref, dict):
        raise RoutingConfigError(f"group {group!r}: a target is not an object")
    provider, model = ref.get("provider"), ref.get("model")
    if not (isinstance(provider, str) and provider and isinstance(model, str) and model):
        raise RoutingConfigError(f"group {group!r}: a target without provider and model")
    return provider, model


def apply_router_config(router, config: RouterConfig) -> None:
    """Swap the router's deployments and fallbacks, all or nothing: the config is first loaded into
    a throwaway Router (which refuses what it cannot serve), then swapped in; if the fallbacks
    cannot be set after the deployments were, the previous deployments and fallbacks come back."""
    import litellm
    from litellm.router_api import ChangeSet

    try:
        litellm.Router(model_list=_copy(config.model_list), fallbacks=_copy(config.fallbacks))
    except Exception as error:
        raise RoutingConfigError(f"LiteLLM refuses version {config.version}: {error}") from error
    previous_list = copy.deepcopy([dict(entry) for entry in deployments_of(router)])
    previous_fallbacks = copy.deepcopy(router.settings().fallbacks or [])
    router.set_model_list(_copy(config.model_list))
    try:
        router.apply(ChangeSet(settings={"fallbacks": _copy(config.fallbacks)}))
    except Exception as error:
        router.set_model_list(previous_list)
        router.apply(ChangeSet(settings={"fallbacks": previous_fallbacks}))
        raise RoutingConfigError(f"LiteLLM refuses the fallbacks: {error}") from error
    finally:
        drop_empty_price_fields(litellm.model_cost, config.model_list)


def drop_empty_price_fields(model_cost: dict, model_list: list[dict]) -> None:
    """Registering a deployment a second time (the throwaway Router, every later apply) fills the
    price-map entry of a model LiteLLM does not price (Chutes) with some 200 empty fields, and
    from then on every call of it whose cost is zero checks them all on the proxy's event loop
    (about 1.7 ms a call with LiteLLM 1.110.2). Empty fields mean nothing: drop them."""
    for entry in model_list:
        name = entry.get("litellm_params", {}).get("model", "")
        for key in {name, name.partition("/")[2]} - {""}:
            fields = model_cost.get(key)
            if isinstance(fields, dict) and None in fields.values():
                model_cost[key] = {f: value for f, value in fields.items() if value is not None}


def deployments_of(router) -> list[dict]:
    return list(router.registry().all())


def _copy(value):
    return json.loads(json.dumps(value))


def proxy_router():
    """The running proxy's router, once the proxy has built it."""
    proxy_server = sys.modules.get("litellm.proxy.proxy_server")
    return getattr(proxy_server, "llm_router", None)


class RoutesPoller:
    """Polls the routes and the keys (ETag / 304) and applies a new routing version or key set to
    the router. What it last applied keeps running when a new one cannot be."""

    def __init__(self, client: httpx.Client, *, router_provider=proxy_router, extra_params=None):
        self.client = client
        self.router_provider = router_provider
        self.extra_params = extra_params
        self.routes: dict | None = None
        self.keys: dict[str, str] = {}
        self.routes_etag = self.keys_etag = ""
        self.routing_version: int | None = None
        self.routing_error = ""
        self.last_sync_at: datetime | None = None
        self.groups: frozenset[str] = frozenset()
        self.applies = 0
        self._applied: tuple | None = None
        self._failed: tuple | None = None
        # Set by the companion: runs the swap on the proxy's event loop.
        self.apply_in_loop: Callable | None = None

    def poll_once(self) -> None:
        try:
            self._fetch_routes()
            self._fetch_keys()
        except httpx.HTTPError as error:
            logger.warning("LLM Spend: cannot reach the dashboard for routes: %s", error)
            return
        except RoutingConfigError as error:
            self.routing_error = str(error)
            logger.error("LLM Spend: %s", error)
            return
        self.last_sync_at = utc_now()
        if self.routes is None:
            return
        state = (self.routes_etag, self.keys_etag)
        if state in (self._applied, self._failed):
            return
        router = self.router_provider()
        if router is None:
            return  # the proxy has not built its router yet: next poll
        try:
            config = router_config(self.routes, self.keys, extra_params=self.extra_params)
            (self.apply_in_loop or _call)(functools.partial(apply_router_config, router, config))
        except RoutingConfigError as error:
            self._failed = state
            self.routing_error = f"version {self.routes.get('version')} not applied: {error}"
            logger.error(
                "LLM Spend: %s; version %s keeps running", self.routing_error, self.routing_version
            )
            return
        self._applied, self._failed = state, None
        self.routing_version = config.version
        self.routing_error = "; ".join(config.problems)
        self.groups = frozenset(d["model_name"] for d in deployments_of(router))
        self.applies += 1
        logger.info(
            "LLM Spend: routing version %s applied (%d deployments)",
            config.version,
            len(config.model_list),
        )

    def _fetch_routes(self) -> None:
        headers = {"If-None-Match": self.routes_etag} if self.routes_etag else {}
        response = self.client.get("/api/v1/routes", headers=headers)
        if response.status_code == 304:
            return
        if response.status_code == 404:
            self.routing_error = "nothing published yet"
            return
        if response.status_code != 200:
            raise RoutingConfigError(f"GET /api/v1/routes answered {response.status_code}")
        try:
            self.routes = response.json()
        except ValueError:
            raise RoutingConfigError("GET /api/v1/routes answered no JSON") from None
        self.routes_etag = response.headers.get("ETag", "") or secrets.token_hex(8)

    def _fetch_keys(self) -> None:
        headers = {"If-None-Match": self.keys_etag} if self.keys_etag else {}
        response = self.client.get("/api/v1/keys", headers=headers)
        if response.status_code == 304:
            return
        if response.status_code != 200:
            raise RoutingConfigError(
                f"GET /api/v1/keys answered {response.status_code}: the token needs keys:read"
            )
        try:
            self.keys = keys_by_provider(response.json())
        except (ValueError, AttributeError):
            raise RoutingConfigError("GET /api/v1/keys answered no key list") from None
        # Without an ETag every answer counts as a change.
        self.keys_etag = response.headers.get("ETag", "") or secrets.token_hex(8)


def _call(function):
    return function()


def map_unknown_group(data: dict, groups) -> dict:
    """A request for a model group the router does not have goes to 'default' (the * rule), keeping
    the name it asked for as its task type. Every request gets its task type in its metadata, also
    one the proxy will refuse (no routes applied yet): its error event keeps what it asked for."""
    asked = data.get("model")
    if not isinstance(asked, str) or not asked:
        return data
    metadata_key = "litellm_metadata" if "litellm_metadata" in data else "metadata"
    metadata = data.get(metadata_key)
    if not isinstance(metadata, dict):
        metadata = data[metadata_key] = {}
    if asked not in groups and DEFAULT_GROUP in groups:
        metadata.setdefault(TASK_TYPE_KEY, asked)
        data["model"] = DEFAULT_GROUP
    else:
        metadata.setdefault(TASK_TYPE_KEY, task_type_of_group(asked))
    return data


# ---------------------------------------------------------------------------------------------
# Heartbeat and the companion that runs it all


def litellm_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("litellm")
    except PackageNotFoundError:
        return ""


def heartbeat_payload(
    *, instance_id: str, poller: RoutesPoller, spool: Spool, counters: Counters
) -> dict:
    return {
        "instance_id": instance_id,
        "host": socket.gethostname()[:200],
        "litellm_version": litellm_version()[:50],
        "plugin_version": PLUGIN_VERSION,
        "routing_version": poller.routing_version,
        # The dashboard refuses a heartbeat whose error is over 2,000 characters.
        "routing_error": poller.routing_error[:2000],
        "last_sync_at": poller.last_sync_at.isoformat() if poller.last_sync_at else None,
        "spool_depth": spool.depth,
        "spool_bytes": spool.bytes,
        "shipped": counters.shipped,
        "dead_lettered": counters.dead_lettered,
        "dropped": counters.dropped,
    }


def dashboard_client(settings: Settings) -> httpx.Client:
    return httpx.Client(
        base_url=settings.url,
        headers={
            "Authorization": f"Bearer {settings.token}",
            "User-Agent": f"llm-spend-litellm/{PLUGIN_VERSION}",
        },
        timeout=httpx.Timeout(15.0, connect=5.0),
    )


class Companion:
    """Everything the plugin runs: the spool and its writer, the shipper, the routes poller and
    the heartbeat, each background loop on its own daemon thread."""

    def __init__(self, settings: Settings, *, router_provider=proxy_router, extra_params=None):
        self.settings = settings
        self.instance_id = new_instance_id()
        self.counters = Counters()
        self.spool = Spool(settings.spool_dir, self.instance_id, max_bytes=settings.spool_max_bytes)
        self.writer = SpoolWriter(self.spool, self.counters)
        self.shipper = Shipper(self.spool, dashboard_client(settings), self.counters)
        self.sync_client = dashboard_client(settings)
        self.poller = RoutesPoller(
            self.sync_client, router_provider=router_provider, extra_params=extra_params
        )
        self.loop: asyncio.AbstractEventLoop | None = None
        self._stop = threading.Event()

    def record(self, event: dict) -> None:
        if not event.get("id"):
            self.counters.add("dropped", 1)
            logger.error("LLM Spend: a call without LiteLLM's call id cannot be recorded: dropped")
            return
        self.writer.put(event)

    def send_heartbeat(self) -> None:
        payload = heartbeat_payload(
            instance_id=self.instance_id,
            poller=self.poller,
            spool=self.spool,
            counters=self.counters,
        )
        try:
            response = self.sync_client.post("/api/v1/proxy/heartbeat", json=payload)
        except httpx.HTTPError as error:
            logger.warning("LLM Spend: heartbeat not sent: %s", error)
            return
        if response.status_code != 200:
            logger.warning(
                "LLM Spend: heartbeat answered %s %s", response.status_code, _body(response)
            )

    def sync_once(self) -> None:
        self.poller.poll_once()
        self.send_heartbeat()

    def start(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.loop = asyncio.get_running_loop()
        self.poller.apply_in_loop = self._in_proxy_loop
        self.spool.adopt_orphans()
        self.writer.start()
        for name, target in (
            ("llm-spend-ship", self._ship_loop),
            ("llm-spend-sync", self._sync_loop),
        ):
            threading.Thread(target=target, name=name, daemon=True).start()
        atexit.register(self.stop)
        logger.info("LLM Spend companion %s started as %s", PLUGIN_VERSION, self.instance_id)

    def stop(self) -> None:
        self._stop.set()
        self.writer.stop()

    def _in_proxy_loop(self, function):
        """Run the router swap on the proxy's event loop, between requests, when it runs one."""
        loop = self.loop
        if loop is None or not loop.is_running():
            return function()

        async def run():
            return function()

        return asyncio.run_coroutine_threadsafe(run(), loop).result(timeout=60)

    def _ship_loop(self) -> None:
        while not self._stop.is_set():
            delay = self.shipper.ship_once()
            if delay is not None:
                self._stop.wait(delay)
            elif self.spool.depth < MAX_BATCH:
                # A part batch waits a moment for company: a POST per call costs the proxy CPU.
                self._stop.wait(SHIP_LINGER_SECONDS)

    def _sync_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.sync_once()
            except Exception:
                logger.exception("LLM Spend: routes sync failed")
            self._stop.wait(self.settings.poll_seconds)


# ---------------------------------------------------------------------------------------------
# The LiteLLM callback. litellm is imported only when the proxy asks for the handler.


@functools.cache
def _handler_class():
    from litellm.integrations.custom_logger import CustomLogger

    class LlmSpendHandler(CustomLogger):
        """The callback config.yaml names: maps unknown groups to the default one before a call,
        and hands each success and failure to the companion, which spools it off the request
        path."""

        def __init__(self, companion: Companion | None = None, **kwargs):
            super().__init__(**kwargs)
            self.companion = companion

        def start_from_env(self) -> "LlmSpendHandler":
            try:
                settings = Settings.from_env()
            except SettingsError as error:
                logger.error("LLM Spend companion not started: %s", error)
                return self
            self.companion = Companion(settings)
            self.companion.start()
            return self

        async def async_pre_call_hook(self, user_api_key_dict, cache, data, call_type):
            if self.companion is not None:
                map_unknown_group(data, self.companion.poller.groups)
            return data

        def _record(self, kwargs) -> None:
            if self.companion is None:
                return
            try:
                payload = _dict(kwargs.get("standard_logging_object"))
                event = usage_event(payload, kwargs=kwargs, instance_id=self.companion.instance_id)
            except Exception:
                logger.exception("LLM Spend: cannot build the usage event of a call")
                return
            self.companion.record(event)

        def log_success_event(self, kwargs, response_obj, start_time, end_time):
            self._record(kwargs)

        def log_failure_event(self, kwargs, response_obj, start_time, end_time):
            self._record(kwargs)

        async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
            self._record(kwargs)

        async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):
            self._record(kwargs)

    return LlmSpendHandler


RUNNING = "llm_spend._running"


@functools.cache
def _proxy_handler():
    # The proxy executes this file afresh each time a config names it: one companion per process.
    running = getattr(sys.modules.get(RUNNING), "handler", None)
    if running is not None and running.companion is not None:
        return running
    handler = _handler_class()().start_from_env()
    holder = types.ModuleType(RUNNING)
    holder.handler = handler  # type: ignore[attr-defined]
    sys.modules[RUNNING] = holder
    return handler


def __getattr__(name: str):
    if name == "LlmSpendHandler":
        return _handler_class()
    if name == "proxy_handler":
        return _proxy_handler()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
