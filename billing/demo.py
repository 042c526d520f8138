"""Demo usage: 90 days of believable traffic, landed through the same ingest as real usage.

Everything it makes is marked: events carry metadata {"demo": true} and ids starting with
"demo-", TAO prices have the source "demo". The mix follows the seed research: about 60%
simple tasks routed mostly to Chutes, 40% complex ones to Claude and GPT, ~5K input and
~2K output tokens on average with long tails.
"""

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from billing.ingest.store import usage_ingest
from billing.models import TaoPrice, TaoQuote, UsageEvent
from billing.tao_feed import far_note, median

DEMO_SOURCE = "demo"
BATCH = 1_000

# task type -> [(provider, model, weight)]; the simple ones lean on Chutes.
SIMPLE_TASKS = {
    "summarization": [
        ("chutes", "unsloth/Llama-3.3-70B-Instruct", 70),
        ("chutes", "deepseek-ai/DeepSeek-V3", 20),
        ("anthropic", "claude-sonnet-4-5-20250929", 10),
    ],
    "extraction": [
        ("chutes", "unsloth/Llama-3.3-70B-Instruct", 60),
        ("chutes", "deepseek-ai/DeepSeek-R1-Distill-Llama-70B", 25),
        ("openai", "gpt-5-mini", 15),
    ],
    "code_completion": [
        ("chutes", "deepseek-ai/DeepSeek-V3", 80),
        ("openai", "gpt-5-mini", 20),
    ],
}
COMPLEX_TASKS = {
    "complex_analysis": [
        ("anthropic", "claude-sonnet-4-5-20250929", 70),
        ("anthropic", "claude-opus-4-5-20251101", 10),
        ("chutes", "deepseek-ai/DeepSeek-V3", 20),
    ],
    "financial_reasoning": [
        ("anthropic", "claude-sonnet-4-5-20250929", 50),
        ("openai", "gpt-5.2", 50),
    ],
    "code_generation": [
        ("anthropic", "claude-sonnet-4-5-20250929", 45),
        ("openai", "gpt-5.2", 25),
        ("chutes", "deepseek-ai/DeepSeek-V3", 30),
    ],
}
# provider -> (median latency ms, error rate)
PROVIDER_BEHAVIOUR = {"chutes": (2400, 0.03), "anthropic": (4200, 0.01), "openai": (3100, 0.015)}
ERRORS = [
    "RateLimitError (429)",
    "APIConnectionError",
    "Timeout (504)",
    "InternalServerError (500)",
]
# model -> typical quality score of its answers
QUALITY = {
    "unsloth/Llama-3.3-70B-Instruct": 0.74,
    "deepseek-ai/DeepSeek-R1-Distill-Llama-70B": 0.77,
    "deepseek-ai/DeepSeek-V3": 0.82,
    "gpt-5-mini": 0.8,
    "gpt-5.2": 0.89,
    "claude-sonnet-4-5-20250929": 0.9,
    "claude-opus-4-5-20251101": 0.93,
}
# The catalog's rates, so a proxy-reported cost looks like what LiteLLM would report.
REPORTED_RATES = {
    "claude-sonnet-4-5-20250929": (Decimal(3), Decimal(15)),
    "claude-opus-4-5-20251101": (Decimal(5), Decimal(25)),
    "gpt-5.2": (Decimal("1.75"), Decimal(14)),
    "gpt-5-mini": (Decimal("0.25"), Decimal(2)),
}


@dataclass
class DemoProfile:
    tasks_per_weekday: int
    growth_per_day: float = 0.004


def _weighted(rng: random.Random, options):
    return rng.choices(options, weights=[weight for *_, weight in options])[0]


def _lognormal(rng: random.Random, mean: float, sigma: float) -> float:
    return rng.lognormvariate(math.log(mean) - sigma**2 / 2, sigma)


def day_events(team, day, profile: DemoProfile, days_ago: int) -> list[dict]:
    """One day of a team's calls, the same every time for the same team and day."""
    rng = random.Random(f"{team.slug}-{day.isoformat()}")
    weekend = day.weekday() >= 5
    volume = profile.tasks_per_weekday * (0.35 if weekend else 1.0)
    volume *= (1 - profile.growth_per_day) ** days_ago * rng.uniform(0.85, 1.15)
    events = []
    midnight = datetime.combine(day, time(0), tzinfo=team.zone)
    for number in range(max(1, round(volume))):
        # Busy during the team's working hours, quiet at night.
        hour = (
            min(23.99, max(0.0, rng.gauss(13.5, 3.5)))
            if rng.random() < 0.85
            else rng.uniform(0, 24)
        )
        moment = midnight + timedelta(hours=hour)
        simple = rng.random() < 0.6
        task = rng.choice(list(SIMPLE_TASKS if simple else COMPLEX_TASKS))
        provider, model, _ = _weighted(rng, (SIMPLE_TASKS | COMPLEX_TASKS)[task])
        events.append(_event(rng, team, day, number, moment, task, provider, model))
    return events


def _event(rng, team, day, number, moment, task, provider, model) -> dict:
    median_ms, error_rate = PROVIDER_BEHAVIOUR[provider]
    input_tokens = int(_lognormal(rng, 5000, 0.9))
    output_tokens = int(_lognormal(rng, 2000, 0.8))
    latency = _lognormal(rng, median_ms, 0.5) + output_tokens * rng.uniform(2, 6)
    if provider == "chutes" and rng.random() < 0.04:
        latency += rng.uniform(8_000, 25_000)  # a cold start
    event = {
        "id": f"demo-{team.slug}-{day:%Y%m%d}-{number:05d}",
        "timestamp": moment.astimezone(UTC).isoformat(),
        "provider": provider,
        "model": model,
        "task_type": task,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "latency_ms": int(latency),
        "metadata": {"demo": True},
    }
    event.update(_who(event["id"], task))
    if rng.random() < 0.5:
        event["ttft_ms"] = int(latency * rng.uniform(0.08, 0.3))
    if provider == "anthropic" and rng.random() < 0.45:
        event["cached_input_tokens"] = int(input_tokens * rng.uniform(0.3, 0.8))
        event["cache_write_tokens"] = int((input_tokens - event["cached_input_tokens"]) * 0.3)
    if rng.random() < error_rate:
        event.update(status="error", error_type=rng.choice(ERRORS), output_tokens=0)
        event["latency_ms"] = int(rng.uniform(200, 30_000))
        event.pop("ttft_ms", None)
    elif rng.random() < 0.35:
        quality = QUALITY[model] + rng.gauss(0, 0.08)
        event["quality_score"] = Decimal(str(round(min(1.0, max(0.0, quality)), 3)))
    if model in REPORTED_RATES and rng.random() < 0.7:
        event["cost_usd"] = _reported_cost(rng, event, *REPORTED_RATES[model])
    return event


# Which of the proxy's keys made a call (by task), and the customer it was for: a few heavy
# customers and a long tail, as chargeback by customer usually looks.
KEY_ALIASES = {
    "extraction": "batch-jobs",
    "code_completion": "ide-plugin",
    "code_generation": "ide-plugin",
}
END_USERS = [f"customer-{number:02d}" for number in range(1, 13)]
END_USER_WEIGHTS = [1 / number for number in range(1, 13)]


def _who(event_id: str, task: str) -> dict:
    # Its own random source, so the rest of the demo draws what it drew before.
    rng = random.Random(f"{event_id}-who")
    who = {"api_key_alias": KEY_ALIASES.get(task, "prod-web")}
    if rng.random() < 0.7:
        who["end_user"] = rng.choices(END_USERS, weights=END_USER_WEIGHTS)[0]
    return who


def _reported_cost(rng, event, input_rate: Decimal, output_rate: Decimal) -> Decimal:
    """What LiteLLM would report: list prices, with now and then a cost that is off."""
    tokens_in = Decimal(event["input_tokens"]) * input_rate
    tokens_out = Decimal(event["output_tokens"]) * output_rate
    cost = (tokens_in + tokens_out) / 1_000_000
    if rng.random() < 0.02:
        cost *= Decimal(str(round(rng.uniform(1.1, 1.4), 2)))
    return cost.quantize(Decimal("1e-9"))


def demo_tao_prices(start: datetime, end: datetime) -> int:
    """TAO/USD every 15 minutes: a random walk around $146 with one sharp spike, each point the
    median of three sources' quotes (demo_tao_quotes)."""
    rng = random.Random(f"tao-{start.date().isoformat()}")
    spreads = random.Random(f"tao-quotes-{start.date().isoformat()}")
    existing = set(TaoPrice.objects.filter(source=DEMO_SOURCE).values_list("at", flat=True))
    spike_at = end - timedelta(days=9, hours=5)
    price, moment, rows = 146.0, start.replace(minute=0, second=0, microsecond=0), []
    while moment <= end:
        price *= math.exp(rng.gauss(0, 0.004))
        hours_from_spike = (moment - spike_at).total_seconds() / 3600
        spike = 1 + (0.28 * math.exp(-hours_from_spike / 30) if hours_from_spike >= 0 else 0)
        if moment not in existing:
            usd = Decimal(str(round(price * spike, 4)))
            rows.append(TaoPrice(at=moment, usd=usd, source=DEMO_SOURCE))
        moment += timedelta(minutes=15)
    # Without ignore_conflicts, so that the rows get their ids for their quotes.
    TaoPrice.objects.bulk_create(rows, batch_size=2_000)
    quotes = [quote for price in rows for quote in demo_tao_quotes(price, spreads)]
    TaoQuote.objects.bulk_create(quotes, batch_size=2_000, ignore_conflicts=True)
    return len(rows)


DEMO_QUOTE_SOURCES = ("coingecko", "kraken", "coinbase")
# About one point in two hundred has one source 3% off, kept and not used, as the feed does.
DEMO_OUTLIER_CHANCE = 0.005


def demo_tao_quotes(price: TaoPrice, rng: random.Random) -> list[TaoQuote]:
    """Three sources' quotes whose median is the price: one at it, two a few hundredths of a
    percent either side; now and then one of those two 3% off instead, noted and not used."""
    names = list(DEMO_QUOTE_SOURCES)
    rng.shuffle(names)
    gap = (price.usd * Decimal(str(round(rng.uniform(0.0002, 0.003), 5)))).quantize(
        Decimal("0.0001")
    )
    values = [price.usd, price.usd + gap, price.usd - gap]
    far = rng.random() < DEMO_OUTLIER_CHANCE
    if far:
        off = Decimal(str(round(rng.choice((-1, 1)) * rng.uniform(0.028, 0.035), 4)))
        values[0] = (price.usd * (1 + off)).quantize(Decimal("0.0001"))
    quotes = [
        TaoQuote(polled_at=price.at, source=name, usd=usd, used=True, price=price)
        for name, usd in zip(names, values, strict=True)
    ]
    if far:
        quotes[0].used = False
        quotes[0].note = far_note(values[0], median(values), used=False)
    for quote in quotes:
        if quote.source == "coingecko":
            quote.at = price.at - timedelta(seconds=rng.randint(20, 240))
    return quotes


def demo_usage_seed(
    team,
    profile: DemoProfile,
    *,
    days: int,
    now: datetime,
    routes: Sequence[tuple[datetime, int]] = (),
    progress=None,
) -> int:
    """Land the demo days the team does not have yet; returns how many events were added.

    With `routes` (publish times and version numbers), each call says it was routed by the
    version live when it was made, as a proxy running it reports them."""
    latest = (
        UsageEvent.objects.filter(team=team, event_id__startswith="demo-")
        .order_by("-occurred_at")
        .values_list("occurred_at", flat=True)
        .first()
    )
    today = now.astimezone(team.zone).date()
    first_day = today - timedelta(days=days - 1)
    if latest is not None:
        first_day = max(first_day, latest.astimezone(team.zone).date())
    added, pending = 0, []
    total_days = (today - first_day).days + 1
    for step in range(total_days):
        day = first_day + timedelta(days=step)
        for event in day_events(team, day, profile, (today - day).days):
            moment = datetime.fromisoformat(event["timestamp"])
            if moment > now:
                continue
            live = [number for published_at, number in sorted(routes) if published_at <= moment]
            if live:
                event["route_version"] = live[-1]
            pending.append(event)
        if len(pending) >= BATCH or step == total_days - 1:
            added += usage_ingest(team, pending, now=now).accepted
            pending = []
        if progress:
            progress(step + 1, total_days)
    return added
