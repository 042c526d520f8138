"""The live dashboard process the scenario tests stop and start while a proxy keeps going."""

import httpx
import pytest

from dashboard.tokens import token_create
from tests.factories import ProviderKeyFactory

pytestmark = pytest.mark.litellm_proxy


def health(url: str) -> dict:
    answer = httpx.get(f"{url}/api/v1/health", timeout=5)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_it_stops_and_starts_again_on_the_same_port(dashboard_process):
    url = dashboard_process.url
    assert health(url)["database"] is True

    dashboard_process.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/api/v1/health", timeout=5)

    dashboard_process.start()
    assert dashboard_process.url == url
    assert health(url)["status"] == "ok"


def test_it_serves_what_the_test_wrote_to_a_token_made_in_the_test(dashboard_process, team):
    ProviderKeyFactory(team=team, secret="cpk_" + "7" * 40)
    token = token_create(team=team, name="proxy-1", scopes=["keys:read"])[1]

    answer = httpx.get(
        f"{dashboard_process.url}/api/v1/keys",
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    )

    assert answer.status_code == 200, answer.text
    assert [key["secret"] for key in answer.json()["keys"]] == ["cpk_" + "7" * 40]
