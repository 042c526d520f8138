import json, time
import httpx
from django.core.management import call_command
from billing.models import UsageEvent
from routing.models import ProxyInstance
from tests.factories import ModelPriceFactory, ProviderFactory, ProviderKeyFactory
from tests.litellm_proxy.test_scenarios import chat

def test_scratch(dashboard_process, fake_upstream, litellm_proxy, team, ops_user, tmp_path):
    chutes = ProviderFactory(slug="chutes", name="Chutes", base_url=fake_upstream.base("/v1"))
    directory = tmp_path / "proxy"
    call_command("litellm_config", team=team.slug, dashboard_url=dashboard_process.url, out=str(directory))
    env = dict(line.split("=", 1) for line in (directory / "proxy.env").read_text().splitlines() if line)
    env["LLM_SPEND_POLL_SECONDS"] = "1"
    proxy = litellm_proxy(directory / "config.yaml", env=env, master_key=env["LITELLM_MASTER_KEY"])
    with httpx.Client(base_url=proxy.url, headers=proxy.headers, timeout=60) as client:
        for g in ["summarization", "default"]:
            a = chat(client, g)
            print(a.status_code, a.text[:300], a.headers.get("x-litellm-call-id"))
        body = {"model": "summarization", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
        a = client.post("/v1/chat/completions", json=body)
        print(a.status_code, a.text[:300])
    time.sleep(6)
    for e in UsageEvent.objects.values():
        print(e)
    print(list(ProxyInstance.objects.values()))
    print(proxy.log_tail())
    print((directory/"spool").iterdir and list((directory/"spool").iterdir()))
    dl = directory/"spool"/"dead-letter.jsonl"
    if dl.exists(): print(dl.read_text())
