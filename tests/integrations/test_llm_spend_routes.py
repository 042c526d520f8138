import copy

import httpx
import litellm
import pytest
import respx

from integrations.litellm import llm_spend
from tests.integrations.conftest import DASHBOARD, KEYS, ROUTES_V7, keys_document, sample

ROUTES = f"{DASHBOARD}/api/v1/routes"
KEYS_URL = f"{DASHBOARD}/api/v1/keys"


@pytest.fixture
def router():
    return litellm.Router(model_list=[])


@pytest.fixture
def poller(client, router):
    return llm_spend.RoutesPoller(client, router_provider=lambda: router)


def deployments(router) -> list[tuple]:
    return sorted(
        (
            d["model_name"],
            d["litellm_params"]["model"],
            d["litellm_params"].get("api_base"),
            d["litellm_params"]["api_key"],
            d["litellm_params"].get("weight"),
            d["model_info"]["llm_spend_route_version"],
        )
        for d in llm_spend.deployments_of(router)
    )


def serve(routes=ROUTES_V7, keys=KEYS, routes_etag='"v7"', keys_etag='"k1"'):
    respx.get(ROUTES).respond(200, json=routes, headers={"ETag": routes_etag})
    respx.get(KEYS_URL).respond(200, json=keys, headers={"ETag": keys_etag})


@respx.mock
def test_a_new_version_rebuilds_the_router_with_weights_fallbacks_api_base_and_keys(poller, router):
    serve()
    poller.poll_once()
    assert deployments(router) == [
        ("default", "anthropic/claude-sonnet-4-5", None, "sk-ant-one", 20, 7),
        ("default", "openai/deepseek-ai/DeepSeek-V3", "https://llm.chutes.ai/v1", "cpk_one", 80, 7),
        ("default--fallback-1", "openai/gpt-4o-mini", None, "sk-openai-one", None, 7),
        (
            "summarization",
            "openai/unsloth/Llama-3.3-70B-Instruct",
            "https://llm.chutes.ai/v1",
            "cpk_one",
            100,
            7,
        ),
    ]
    assert router.settings().fallbacks == [{"default": ["default--fallback-1"]}]
    assert (poller.routing_version, poller.routing_error) == (7, "")
    assert poller.groups == {"default", "default--fallback-1", "summarization"}


@respx.mock
def test_applying_leaves_no_empty_price_fields_for_a_model_litellm_does_not_price(poller, router):
    # Empty fields make LiteLLM check each of them on every zero-cost call (Chutes): ~1.7 ms each.
    serve()
    poller.poll_once()
    chutes = litellm.model_cost.get("openai/deepseek-ai/DeepSeek-V3", {})
    assert None not in chutes.values()


@respx.mock
def test_an_unchanged_version_answered_304_rebuilds_nothing(poller, router):
    serve()
    poller.poll_once()
    respx.get(ROUTES).respond(304)
    keys = respx.get(KEYS_URL).respond(304)
    poller.poll_once()
    assert keys.calls.last.request.headers["If-None-Match"] == '"k1"'
    assert respx.calls[-2].request.headers["If-None-Match"] == '"v7"'
    assert poller.applies == 1 and poller.last_sync_at is not None


@respx.mock
def test_a_later_version_replaces_the_deployments(poller, router):
    serve()
    poller.poll_once()
    v8 = copy.deepcopy(ROUTES_V7) | {"version": 8}
    v8["rules"] = v8["rules"][:1]
    v8["rules"][0]["targets"] = [v8["rules"][0]["targets"][1] | {"weight": 100}]
    serve(routes=v8, routes_etag='"v8"')
    poller.poll_once()
    assert deployments(router) == [
        ("default", "anthropic/claude-sonnet-4-5", None, "sk-ant-one", 100, 8),
        ("default--fallback-1", "openai/gpt-4o-mini", None, "sk-openai-one", None, 8),
    ]
    assert poller.routing_version == 8


@pytest.mark.parametrize(
    "breakage",
    [
        lambda rules: rules[0]["targets"][0].pop("model"),
        lambda rules: rules[0]["targets"][0].update(weight="eighty"),
        lambda rules: rules.append("not a rule"),
    ],
)
@respx.mock
def test_a_config_it_cannot_apply_keeps_the_last_good_one_and_says_why(poller, router, breakage):
    serve()
    poller.poll_once()
    before = deployments(router)
    broken = copy.deepcopy(ROUTES_V7) | {"version": 8}
    breakage(broken["rules"])
    serve(routes=broken, routes_etag='"v8"', keys_etag='"k2"')
    poller.poll_once()
    assert deployments(router) == before
    assert poller.routing_version == 7
    assert poller.routing_error.startswith("version 8 not applied: ")
    assert router.settings().fallbacks == [{"default": ["default--fallback-1"]}]


def test_a_deployment_litellm_refuses_changes_nothing(router):
    good = llm_spend.router_config(ROUTES_V7, llm_spend.keys_by_provider(KEYS))
    llm_spend.apply_router_config(router, good)
    refused = llm_spend.RouterConfig(
        version=8,
        model_list=[{"model_name": "default", "litellm_params": {"model": "no-such-provider/x"}}],
        fallbacks=[],
    )
    with pytest.raises(llm_spend.RoutingConfigError, match="LiteLLM refuses version 8"):
        llm_spend.apply_router_config(router, refused)
    assert {d[5] for d in deployments(router)} == {7}
    assert router.settings().fallbacks == [{"default": ["default--fallback-1"]}]


@respx.mock
def test_a_rotated_key_reaches_the_deployments_within_one_poll(poller, router):
    serve()
    poller.poll_once()
    respx.get(ROUTES).respond(304)
    rotated = keys_document(chutes="cpk_two", anthropic="sk-ant-one", openai="sk-openai-one")
    respx.get(KEYS_URL).respond(200, json=rotated, headers={"ETag": '"k2"'})
    poller.poll_once()
    chutes_keys = {d[3] for d in deployments(router) if "chutes" in (d[2] or "")}
    assert chutes_keys == {"cpk_two"}


@respx.mock
def test_a_revoked_key_is_no_longer_used_and_is_reported(poller, router):
    serve()
    poller.poll_once()
    respx.get(ROUTES).respond(304)
    respx.get(KEYS_URL).respond(
        200,
        json=keys_document(anthropic="sk-ant-one", openai="sk-openai-one"),
        headers={"ETag": '"k3"'},
    )
    poller.poll_once()
    assert all(d[3] != "cpk_one" for d in deployments(router))
    assert {d[0] for d in deployments(router)} == {"default", "default--fallback-1"}
    assert "no active key for chutes" in poller.routing_error


@respx.mock
def test_nothing_is_applied_before_the_proxy_has_a_router(client):
    serve()
    routers = []
    poller = llm_spend.RoutesPoller(client, router_provider=lambda: routers[0] if routers else None)
    poller.poll_once()
    assert poller.routing_version is None
    routers.append(litellm.Router(model_list=[]))
    respx.get(ROUTES).respond(304)
    respx.get(KEYS_URL).respond(304)
    poller.poll_once()
    assert poller.routing_version == 7


@respx.mock
def test_a_token_without_keys_read_is_reported(poller, router):
    respx.get(ROUTES).respond(200, json=ROUTES_V7, headers={"ETag": '"v7"'})
    respx.get(KEYS_URL).respond(403, json={"error": "forbidden", "detail": ""})
    poller.poll_once()
    assert poller.routing_version is None
    assert "keys:read" in poller.routing_error


@respx.mock
def test_an_unreachable_dashboard_keeps_the_routes_running(poller, router):
    serve()
    poller.poll_once()
    synced = poller.last_sync_at
    respx.get(ROUTES).mock(side_effect=httpx.ConnectError("down"))
    poller.poll_once()
    assert (poller.routing_version, poller.routing_error, poller.last_sync_at) == (7, "", synced)
    assert len(deployments(router)) == 4


def test_an_unknown_group_goes_to_the_default_keeping_the_asked_task_type():
    groups = {"default", "summarization"}
    data = llm_spend.map_unknown_group({"model": "translation", "messages": []}, groups)
    assert data["model"] == "default"
    assert data["metadata"]["llm_spend_task_type"] == "translation"


def test_a_known_group_is_left_alone():
    data = llm_spend.map_unknown_group(
        {"model": "summarization", "metadata": {"a": 1}}, {"default", "summarization"}
    )
    assert data == {
        "model": "summarization",
        "metadata": {"a": 1, "llm_spend_task_type": "summarization"},
    }
    asked_default = llm_spend.map_unknown_group({"model": "default"}, {"default"})
    assert asked_default["metadata"]["llm_spend_task_type"] == "*"


def test_a_call_refused_before_any_routes_keeps_its_task_type_in_its_error_event():
    # Before the first sync the proxy has no model group at all: it answers 400 "Invalid model
    # name" and logs the failure with no model_group; the pre-call hook has run by then.
    data = llm_spend.map_unknown_group({"model": "summarization", "messages": []}, frozenset())
    payload = sample("openai_rate_limited_failure") | {
        "model": "summarization",
        "model_group": None,
        "custom_llm_provider": None,
        "error_information": {"error_class": "ProxyModelNotFoundError"},
    }
    kwargs = {"litellm_params": {"metadata": data["metadata"]}}

    event = llm_spend.usage_event(payload, kwargs=kwargs)

    assert data["model"] == "summarization"
    assert (event["task_type"], event["status"], event["error_type"]) == (
        "summarization",
        "error",
        "ProxyModelNotFoundError",
    )
    asked_default = llm_spend.map_unknown_group({"model": "default"}, frozenset())
    assert asked_default["metadata"]["llm_spend_task_type"] == "*"


def test_the_group_names_are_the_task_types():
    assert llm_spend.group_name("*") == "default"
    assert llm_spend.task_type_of_group("default--fallback-2") == "*"
    assert llm_spend.task_type_of_group("summarization--fallback-1") == "summarization"
