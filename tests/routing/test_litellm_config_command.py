import io
import os
import stat
import zipfile
from pathlib import Path

import pytest
import yaml
from django.core.management import CommandError, call_command
from django.urls import reverse

import integrations.litellm.llm_spend as llm_spend
from dashboard.audit_actions import AuditAction
from dashboard.models import AuditEvent, ProxyToken
from dashboard.tokens import token_authenticate

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def read_env(text: str) -> dict:
    return dict(line.split("=", 1) for line in text.splitlines())


def write(out, *args):
    stdout = io.StringIO()
    call_command(
        "litellm_config",
        "--team",
        "maven",
        "--dashboard-url",
        "https://spend.example.com/",
        "--out",
        str(out),
        *args,
        stdout=stdout,
    )
    return stdout.getvalue()


def test_it_writes_a_ready_proxy_set_up_with_a_fresh_token(team, tmp_path):
    printed = write(tmp_path / "proxy")
    out = tmp_path / "proxy"
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["model_list"] == []
    assert config["litellm_settings"]["callbacks"] == ["llm_spend.proxy_handler"]
    assert (out / "llm_spend.py").read_text() == Path(llm_spend.__file__).read_text()
    env = read_env((out / "proxy.env").read_text())
    assert env["LLM_SPEND_URL"] == "https://spend.example.com"
    assert (env["LLM_SPEND_SPOOL_DIR"], env["LLM_SPEND_POLL_SECONDS"]) == ("./spool", "10")
    assert env["LITELLM_LOCAL_MODEL_COST_MAP"] == "True" and len(env["LITELLM_MASTER_KEY"]) >= 40
    token = token_authenticate(env["LLM_SPEND_TOKEN"])
    assert token.team == team
    assert sorted(token.scopes) == ["keys:read", "routes:read", "usage:write"]
    assert stat.S_IMODE((out / "proxy.env").stat().st_mode) == 0o600
    assert "env $(cat proxy.env) litellm --config config.yaml" in printed
    assert env["LLM_SPEND_TOKEN"] not in printed
    assert AuditEvent.objects.filter(team=team, action=AuditAction.TOKEN_CREATED).count() == 1


def test_the_proxy_loads_the_written_handler(team, tmp_path, monkeypatch):
    from litellm.integrations.custom_logger import CustomLogger
    from litellm.proxy.types_utils.utils import get_instance_fn

    monkeypatch.delenv("LLM_SPEND_URL", raising=False)
    write(tmp_path)
    handler = get_instance_fn(
        "llm_spend.proxy_handler", config_file_path=str(tmp_path / "config.yaml")
    )
    assert isinstance(handler, CustomLogger)
    assert type(handler).__name__ == "LlmSpendHandler"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--team", "nope", "--dashboard-url", "https://x.example", "--out"], "No team"),
        (["--team", "maven", "--dashboard-url", "file:///etc", "--out"], "http:// or https://"),
        (
            ["--team", "maven", "--dashboard-url", "spend.example.com", "--out"],
            "http:// or https://",
        ),
    ],
)
def test_it_refuses_bad_arguments_and_creates_no_token(team, tmp_path, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("litellm_config", *args, str(tmp_path / "out"))
    assert not ProxyToken.objects.exists()
    assert not (tmp_path / "out").exists()


def test_it_refuses_a_directory_that_is_not_empty_unless_forced(team, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(CommandError, match="not empty"):
        write(tmp_path)
    assert not ProxyToken.objects.exists()
    write(tmp_path, "--force")
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert (tmp_path / "config.yaml").exists()


def download_url(team):
    return reverse("routing_companion_zip", kwargs={"team": team.slug})


def test_an_admin_confirms_then_downloads_the_companion(client, team, admin_user):
    client.force_login(admin_user)
    page = client.get(download_url(team))
    assert page.status_code == 200 and b"creates a new proxy token" in page.content
    assert not ProxyToken.objects.exists()
    response = client.post(download_url(team), {"dashboard_url": "https://spend.example.com"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert "no-cache" in response["Cache-Control"]
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert sorted(archive.namelist()) == [
        "maven-litellm/config.yaml",
        "maven-litellm/llm_spend.py",
        "maven-litellm/proxy.env",
    ]
    env = read_env(archive.read("maven-litellm/proxy.env").decode())
    assert token_authenticate(env["LLM_SPEND_TOKEN"]).team == team
    audit = AuditEvent.objects.get(team=team, action=AuditAction.TOKEN_CREATED)
    assert audit.actor == admin_user


def test_a_bad_dashboard_url_is_said_and_creates_no_token(client, team, admin_user):
    client.force_login(admin_user)
    response = client.post(download_url(team), {"dashboard_url": "javascript:alert(1)"})
    assert response.status_code == 400
    assert b"http:// or https://" in response.content
    assert not ProxyToken.objects.exists()


@pytest.mark.parametrize("role", ["ops", "finance", "viewer"])
def test_only_admins_may_download_it(client, team, users_by_role, role):
    client.force_login(users_by_role[role])
    assert client.get(download_url(team)).status_code == 403
    assert (
        client.post(download_url(team), {"dashboard_url": "https://x.example"}).status_code == 403
    )
    assert not ProxyToken.objects.exists()


def test_outsiders_get_404(client, team, outsider):
    client.force_login(outsider)
    assert (
        client.post(download_url(team), {"dashboard_url": "https://x.example"}).status_code == 404
    )
    assert not ProxyToken.objects.exists()


def test_the_routing_page_offers_the_download_to_admins_only(client, team, admin_user, ops_user):
    client.force_login(admin_user)
    assert (
        b'data-testid="companion-link"'
        in client.get(reverse("routing", kwargs={"team": team.slug})).content
    )
    client.force_login(ops_user)
    assert (
        b'data-testid="companion-link"'
        not in client.get(reverse("routing", kwargs={"team": team.slug})).content
    )
