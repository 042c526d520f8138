"""The LiteLLM companion set-up: config.yaml, llm_spend.py and proxy.env for a stock LiteLLM
proxy, with a fresh proxy token (for `manage.py litellm_config` and the Routing page download)."""

import io
import secrets
import string
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.utils import timezone

import integrations.litellm.llm_spend as llm_spend
from dashboard.models import Scope, Team
from dashboard.tokens import token_create

COMPANION_SCOPES = [Scope.USAGE_WRITE, Scope.ROUTES_READ, Scope.KEYS_READ]
PLUGIN_SOURCE = Path(llm_spend.__file__)
MASTER_KEY_CHARS = string.ascii_letters + string.digits

CONFIG_YAML = """\
# A stock LiteLLM proxy with the LLM Spend companion: routes, keys and fallbacks come live from
# {dashboard_url} (team {team}); usage goes back to it. No model list of its own.
# Run: cd THIS_DIR && env $(cat proxy.env) litellm --config config.yaml
model_list: []
litellm_settings:
  callbacks: ["llm_spend.proxy_handler"]
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
"""

RUN_COMMAND = "env $(cat proxy.env) litellm --config config.yaml"


def dashboard_url_check(url: str) -> str:
    """The dashboard's base URL, without a trailing slash; refuses anything but http(s)."""
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValidationError(
            f"The dashboard URL must start with http:// or https://, not {url!r}."
        )
    if any(char.isspace() for char in url):
        raise ValidationError("The dashboard URL cannot contain spaces.")
    return url


def companion_files(*, team: Team, dashboard_url: str, user=None) -> dict[str, str]:
    """The three files, by name. Creates (and audits) a proxy token for the team."""
    dashboard_url = dashboard_url_check(dashboard_url)
    name = f"litellm companion {timezone.now():%Y-%m-%d %H:%M}"
    _, token = token_create(team=team, name=name, scopes=list(COMPANION_SCOPES), user=user)
    master_key = "sk-" + "".join(secrets.choice(MASTER_KEY_CHARS) for _ in range(40))
    env = {
        "LLM_SPEND_URL": dashboard_url,
        "LLM_SPEND_TOKEN": token,
        "LLM_SPEND_SPOOL_DIR": "./spool",
        "LLM_SPEND_POLL_SECONDS": "10",
        "LITELLM_MASTER_KEY": master_key,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }
    return {
        "config.yaml": CONFIG_YAML.format(dashboard_url=dashboard_url, team=team.slug),
        "llm_spend.py": PLUGIN_SOURCE.read_text(encoding="utf-8"),
        "proxy.env": "".join(f"{key}={value}\n" for key, value in env.items()),
    }


def companion_zip(files: dict[str, str], *, folder: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(f"{folder}/{name}", text)
    return buffer.getvalue()
