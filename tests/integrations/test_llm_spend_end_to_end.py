import asyncio
from collections import Counter

import litellm
import pytest
import respx

from integrations.litellm import llm_spend
from tests.integrations.conftest import DASHBOARD, KEYS, ROUTES_V7, accept_all, shipped_events

ASKED = ["summarization"] * 100 + ["translation"] * 60 + ["default"] * 40


async def wait_for_queued(writer, count: int) -> None:
    # LiteLLM runs its success callbacks as background tasks after each call returns.
    for _ in range(600):
        if writer.queue.qsize() >= count:
            return
        await asyncio.sleep(0.05)


@respx.mock
def test_200_calls_through_a_router_built_from_the_routes_are_all_shipped(
    plugin_settings, monkeypatch
):
    respx.get(f"{DASHBOARD}/api/v1/routes").respond(200, json=ROUTES_V7, headers={"ETag": '"v7"'})
    respx.get(f"{DASHBOARD}/api/v1/keys").respond(200, json=KEYS, headers={"ETag": '"k1"'})
    usage = respx.post(f"{DASHBOARD}/api/v1/usage").mock(side_effect=accept_all)
    router = litellm.Router(model_list=[])
    companion = llm_spend.Companion(
        plugin_settings, router_provider=lambda: router, extra_params={"mock_response": "done"}
    )
    handler = llm_spend.LlmSpendHandler(companion)
    monkeypatch.setattr(litellm, "callbacks", [handler])
    companion.poller.poll_once()

    async def calls():
        for asked in ASKED:
            data = {"model": asked, "messages": [{"role": "user", "content": "hello"}]}
            data = await handler.async_pre_call_hook(None, None, data, "completion")
            await router.acompletion(**data)
        await wait_for_queued(companion.writer, len(ASKED))

    asyncio.run(calls())
    while companion.writer.write_pending():
        pass
    companion.shipper.ship_until_empty()
    events = shipped_events(usage)
    assert len({event["id"] for event in events}) == len(events) == 200
    assert Counter(event["task_type"] for event in events) == {
        "summarization": 100,
        "translation": 60,
        "*": 40,
    }
    assert {event["route_version"] for event in events} == {7}
    assert {event["provider"] for event in events if event["task_type"] == "summarization"} == {
        "chutes"
    }
    assert {event["metadata"]["proxy"] for event in events} == {companion.instance_id}
    assert companion.spool.depth == 0 and companion.counters.shipped == 200
    companion.spool.close()


@pytest.fixture(autouse=True)
def quiet_litellm(monkeypatch):
    monkeypatch.setattr(litellm, "suppress_debug_info", True)
