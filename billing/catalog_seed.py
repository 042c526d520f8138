"""The price catalog as the seed research (shared/seed, dated 2026-02-11) lists it.

Section 4, "Current Pricing Comparison (per 1M tokens)", gives input and output USD per
million tokens; section 1 adds the DeepSeek R1 Distill rate observed via OpenRouter/Chutes.
The research gives no cached-input or cache-write rates. For the Anthropic and OpenAI models
they come from the providers' own price lists instead (CACHE_RATES, each marked with its page
and the day it was read); the other providers' cached tokens are charged at the input rate.
Chutes rates are marked approximate ("~") in the research.
"""

from datetime import date
from decimal import Decimal

SEED_DATE = date(2026, 2, 11)
SECTION_4 = "Seed research 2026-02-11, section 4: Current Pricing Comparison (per 1M tokens)"
SECTION_1 = "Seed research 2026-02-11, section 1: Per-Token Pricing (via OpenRouter/Chutes)"

# Not from the seed research: the providers' price lists, as read on the day given.
ANTHROPIC_CACHE = (
    "cache rates not in the research: Anthropic price list, 5m cache writes and cache hits "
    "(platform.claude.com/docs/en/about-claude/pricing), read 2026-12-05"
)
OPENAI_CACHE = (
    "cache rates not in the research: OpenAI price list, cached input "
    "(openai.com/api/pricing), read 2026-12-05; no cache-write premium, so writes at input"
)
# (provider slug, model) -> cached-input and cache-write USD per million tokens, source.
# Anthropic: cache hits 0.1x input, 5-minute cache writes 1.25x input.
# OpenAI: cached input 0.1x input for the GPT-5 family; a cache write is an input token.
CACHE_RATES = {
    ("anthropic", "claude-opus-4-5"): ("0.50", "6.25", ANTHROPIC_CACHE),
    ("anthropic", "claude-sonnet-4-5"): ("0.30", "3.75", ANTHROPIC_CACHE),
    ("openai", "gpt-5.2"): ("0.175", "1.75", OPENAI_CACHE),
    ("openai", "gpt-5-mini"): ("0.025", "0.25", OPENAI_CACHE),
}

PROVIDERS = [
    # slug, name, base URL, billing currency, OpenAI-compatible
    ("chutes", "Chutes (Bittensor SN64)", "https://llm.chutes.ai/v1", "TAO", True),
    ("anthropic", "Anthropic", "https://api.anthropic.com", "USD", False),
    ("openai", "OpenAI", "https://api.openai.com/v1", "USD", True),
    ("openrouter", "OpenRouter", "https://openrouter.ai/api/v1", "USD", True),
    ("deepseek", "DeepSeek", "https://api.deepseek.com", "USD", True),
    (
        "google",
        "Google Gemini",
        "https://generativelanguage.googleapis.com/v1beta/openai",
        "USD",
        True,
    ),
]

# provider slug, model name as the provider spells it, display name,
# the row's label in the research, input and output USD per million tokens, source.
MODELS = [
    (
        "anthropic",
        "claude-opus-4-5",
        "Claude Opus 4.5",
        "Claude Opus 4.5",
        "5.00",
        "25.00",
        SECTION_4,
    ),
    (
        "anthropic",
        "claude-sonnet-4-5",
        "Claude Sonnet 4.5",
        "Claude Sonnet 4.5",
        "3.00",
        "15.00",
        SECTION_4,
    ),
    ("openai", "gpt-5.2", "GPT-5.2", "GPT-5.2", "1.75", "14.00", SECTION_4),
    ("openai", "gpt-5-mini", "GPT-5 Mini", "GPT-5 Mini", "0.25", "2.00", SECTION_4),
    ("google", "gemini-2.5-pro", "Gemini 2.5 Pro", "Gemini 2.5 Pro", "1.25", "10.00", SECTION_4),
    (
        "deepseek",
        "deepseek-chat",
        "DeepSeek V3 (direct)",
        "DeepSeek V3 (direct)",
        "0.28",
        "0.42",
        SECTION_4,
    ),
    (
        "chutes",
        "deepseek-ai/DeepSeek-V3",
        "DeepSeek V3 on Chutes",
        "Chutes (DeepSeek)",
        "0.35",
        "1.50",
        SECTION_4 + ", approximate",
    ),
    (
        "chutes",
        "unsloth/Llama-3.3-70B-Instruct",
        "Llama 3.3 70B on Chutes",
        "Chutes (Llama 70B)",
        "0.10",
        "0.40",
        SECTION_4 + ", approximate",
    ),
    (
        "chutes",
        "deepseek-ai/DeepSeek-R1-Distill-Llama-70B",
        "DeepSeek R1 Distill Llama 70B on Chutes",
        "DeepSeek R1 Distill Llama 70B",
        "0.07",
        "0.30",
        SECTION_1 + ", approximate",
    ),
]


def seed_prices() -> list[dict]:
    """Each seeded model's price row; `seed_source` is what every version of the seed wrote
    first in `source`, so a row the seed made is told from one staff added."""
    rows = []
    for provider, name, display_name, seed_label, input_rate, output_rate, source in MODELS:
        cached, write, cache_source = CACHE_RATES.get((provider, name), (None, None, ""))
        rows.append(
            {
                "provider": provider,
                "model": name,
                "display_name": display_name,
                "seed_label": seed_label,
                "input_per_mtok": Decimal(input_rate),
                "output_per_mtok": Decimal(output_rate),
                "cached_input_per_mtok": None if cached is None else Decimal(cached),
                "cache_write_per_mtok": None if write is None else Decimal(write),
                "seed_source": source,
                "source": f"{source}; {cache_source}" if cache_source else source,
            }
        )
    return rows
