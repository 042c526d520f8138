"""A usage export to import: canonical events as a proxy logs them, one JSON object a line.

Events are spread over the days before `end`, oldest first as a log is written, with the
routes, tasks, token sizes, errors, reported costs and quality scores of billing.bench.data.
Deterministic for a seed: the same arguments give the same bytes.
"""

import gzip
import json
import math
import random
from bisect import bisect_right
from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import accumulate
from pathlib import Path

from billing.bench.data import BEHAVIOUR, ERRORS, QUALITY, ROUTES, TASKS

# A few callers and features per team: what metadata carries in a real export.
FEATURES = ["chat-assistant", "code-review", "ticket-triage", "report-writer", "search"]
USERS = 40


def canonical_usage(
    events: int, *, days: int, end: datetime, seed: str = "import"
) -> Iterator[dict]:
    """`events` canonical events spread evenly at random over the `days` days before `end`."""
    rng = random.Random(seed)  # noqa: S311 - made-up data, not secrets
    lanes = [(task, route) for task in TASKS for route in ROUTES]
    cumulative = list(accumulate(task[1] * route[2] for task, route in lanes))
    span_ms = days * 86_400_000
    start = end - timedelta(days=days)
    # Sorted offsets from uniform draws: the gaps of a Poisson stream, without holding them all.
    offset = 0.0
    for number in range(events):
        offset += rng.expovariate(1) * span_ms / (events + 1)
        moment = start + timedelta(milliseconds=min(int(offset), span_ms - 1))
        task, route = lanes[bisect_right(cumulative, rng.random() * cumulative[-1])]
        yield _event(rng, number, moment, task, route)


def _event(rng: random.Random, number: int, moment: datetime, task, route) -> dict:
    provider, model, _ = route
    first_ms, ms_per_token, error_rate, cache_share, report_share = BEHAVIOUR[provider]
    input_tokens = max(1, int(task[2] * math.exp(0.8 * rng.gauss(0, 1))))
    output_tokens = max(1, int(task[3] * math.exp(0.7 * rng.gauss(0, 1))))
    ttft = int(first_ms * math.exp(0.5 * rng.gauss(0, 1)))
    event = {
        "id": f"{rng.getrandbits(128):032x}",
        "timestamp": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "provider": provider,
        "model": model,
        "task_type": task[0],
        "status": "success",
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "latency_ms": int(ttft + output_tokens * ms_per_token * rng.uniform(0.7, 1.3)),
        "ttft_ms": ttft,
        "metadata": {
            "user": f"user-{rng.randrange(USERS):02d}",
            "feature": FEATURES[number % len(FEATURES)],
        },
    }
    if rng.random() < error_rate:
        event.update(
            status="error",
            error_type=rng.choice(ERRORS),
            output_tokens=0,
            latency_ms=rng.randrange(200, 30_000),
        )
        del event["ttft_ms"]
        return event
    if rng.random() < cache_share:
        event["cached_input_tokens"] = int(input_tokens * rng.uniform(0.3, 0.8))
    if rng.random() < report_share:
        # Proxies report money as a decimal string so that no digit is lost.
        event["cost_usd"] = f"{(input_tokens * 3 + output_tokens * 15) / 1e6:.6f}"
    if rng.random() < 0.3:
        score = QUALITY[model] + int(rng.gauss(0, 80))
        event["quality_score"] = min(1000, max(0, score)) / 1000
    return event


def usage_jsonl_write(
    path: Path, *, events: int, days: int, end: datetime, team: str | None = None
) -> int:
    """Write the events to `path` (gzipped when it ends in .gz), each naming `team` if given.

    Returns the file's size in bytes.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8") as out:
        for event in canonical_usage(events, days=days, end=end):
            if team:
                event["team"] = team
            out.write(json.dumps(event, separators=(",", ":")))
            out.write("\n")
    return path.stat().st_size
