"""A published routing version as a LiteLLM proxy config (model_list, router_settings)."""

import yaml

# The companion plugin (no Django import) is the one source of the naming rules, so the YAML
# served here and the router the plugin builds always agree.
from integrations.litellm.llm_spend import fallback_group_name, group_name, litellm_params
from routing.models import Provider


def key_variable(provider_slug: str) -> str:
    return f"{provider_slug.upper().replace('-', '_')}_API_KEY"


def _params(ref: dict, providers: dict[str, Provider]) -> dict:
    slug = ref["provider"]
    provider = providers.get(slug)
    return litellm_params(
        slug,
        ref["model"],
        api_base=provider.base_url if provider is not None else "",
        api_key=f"os.environ/{key_variable(slug)}",
    )


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
            name = fallback_group_name(group, number)
            model_list.append({"model_name": name, "litellm_params": _params(ref, providers)})
            fallback_groups.append(name)
        if fallback_groups:
            fallbacks.append({group: fallback_groups})
    router_settings: dict[str, object] = {"routing_strategy": "simple-shuffle"}
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
