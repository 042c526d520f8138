"""A published routing version as a LiteLLM proxy config (model_list, router_settings)."""

import yaml

from routing.models import Provider

# Our provider slug -> LiteLLM's provider prefix. OpenAI-compatible providers LiteLLM does not
# know natively (Chutes) go through its "openai/" client with their own api_base.
LITELLM_PREFIX = {
    "openai": "openai",
    "anthropic": "anthropic",
    "openrouter": "openrouter",
    "deepseek": "deepseek",
    "google": "gemini",
}
NATIVE_BASES = {"openai", "anthropic", "openrouter", "deepseek", "google"}


def key_variable(provider_slug: str) -> str:
    return f"{provider_slug.upper().replace('-', '_')}_API_KEY"


def _params(ref: dict, providers: dict[str, Provider]) -> dict:
    slug = ref["provider"]
    prefix = LITELLM_PREFIX.get(slug, "openai")
    params = {"model": f"{prefix}/{ref['model']}"}
    provider = providers.get(slug)
    if slug not in NATIVE_BASES and provider is not None and provider.base_url:
        params["api_base"] = provider.base_url
    params["api_key"] = f"os.environ/{key_variable(slug)}"
    return params


def group_name(task_type: str) -> str:
    return "default" if task_type == "*" else task_type


def litellm_config(rules: list[dict]) -> dict:
    """model_list with one entry per target (its weight), a group per fallback model,
    and router_settings.fallbacks from each task type's group to its fallback groups."""
    providers = {provider.slug: provider for provider in Provider.objects.all()}
    model_list, fallbacks = [], []
    for rule in rules:
        if not rule.get("enabled", True):
            continue
        group = group_name(rule["task_type"])
        for target in rule["targets"]:
            if target["weight"] > 0:
                params = _params(target, providers) | {"weight": target["weight"]}
                model_list.append({"model_name": group, "litellm_params": params})
        fallback_groups = []
        for number, ref in enumerate(rule["fallbacks"], start=1):
            name = f"{group}--fallback-{number}"
            model_list.append({"model_name": name, "litellm_params": _params(ref, providers)})
            fallback_groups.append(name)
        if fallback_groups:
            fallbacks.append({group: fallback_groups})
    router_settings = {"routing_strategy": "simple-shuffle"}
    if fallbacks:
        router_settings["fallbacks"] = fallbacks
    return {"model_list": model_list, "router_settings": router_settings}


def litellm_yaml(rules: list[dict], *, version: int) -> str:
    header = (
        f"# LLM Spend routing version {version}, as a LiteLLM proxy config.\n"
        "# Task types are model groups; the default rule (*) is the group 'default'.\n"
        "# Keys come from environment variables (or from GET /api/v1/keys).\n"
    )
    return header + yaml.safe_dump(litellm_config(rules), sort_keys=False)
