"""Run a real LiteLLM proxy (the version in uv.lock) as a separate process on loopback.

`write_config(directory, model_list=..., callbacks=[...], modules=[path, ...])` writes
`config.yaml` and copies callback modules beside it: the proxy imports a module named in
`litellm_settings.callbacks` from the config's own directory by file path
(litellm.proxy.types_utils.utils.get_instance_fn), so neither the working directory nor
PYTHONPATH matter. Such a module is not put in sys.modules under its name.

`LiteLLMProxy(config).start()` waits for `/health/liveliness`; `stop()` sends SIGTERM then
SIGKILL; `kill_9()` kills it at once (the process group, so nothing of it survives);
`start()` again reuses the same port. The proxy's output goes to `proxy-N.log` beside the
config, and its tail is in every failure message.
"""

import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from contextlib import suppress
from importlib.util import find_spec
from pathlib import Path

import httpx
import yaml

from billing.bench.processes import (
    free_port,
    kill_group,
    log_tail,
    signal_group,
    start_logged,
    stop_group,
)

# Modules the proxy imports at start (fastapi, uvicorn...) that `litellm` alone does not bring:
# `litellm[proxy]` does not resolve from our index, so the dev group names them one by one.
PROXY_MODULES = [
    "litellm",
    "fastapi",
    "uvicorn",
    "backoff",
    "apscheduler",
    "multipart",
    "jwt",
    "email_validator",
    "orjson",
    "websockets",
    "rq",
    "uvloop",
    "nacl",
    "boto3",
    "semver",
    "expression",
    "fastapi_sso",
    "mcp",
    "soundfile",
]
START_SECONDS = 90
# Variables of ours or of the machine that the proxy would act on: LiteLLM reads DATABASE_URL
# (Prisma) and REDIS_*; provider keys would leak into deployments that name none.
SCRUBBED_PREFIXES = ("DATABASE_", "REDIS_", "OPENAI_", "ANTHROPIC_", "LITELLM_", "GENERIC_LOGGER")
SCRUBBED = {"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"}


class ProxyError(RuntimeError):
    pass


def missing_proxy_modules() -> list[str]:
    """The proxy's runtime modules that are not installed (empty when it can run)."""
    return [name for name in PROXY_MODULES if find_spec(name) is None]


def write_config(
    directory: Path,
    *,
    model_list: list[dict],
    callbacks: list[str] = (),
    modules: list[Path] = (),
    litellm_settings: dict | None = None,
    router_settings: dict | None = None,
    general_settings: dict | None = None,
    callback_settings: dict | None = None,
) -> Path:
    """Write directory/config.yaml and copy each callback module file beside it."""
    directory.mkdir(parents=True, exist_ok=True)
    for module in modules:
        shutil.copy(module, directory / Path(module).name)
    settings = {"drop_params": True, **(litellm_settings or {})}
    if callbacks:
        settings["callbacks"] = list(callbacks)
    config = {"model_list": model_list, "litellm_settings": settings}
    if router_settings:
        config["router_settings"] = router_settings
    if general_settings:
        config["general_settings"] = general_settings
    if callback_settings:
        config["callback_settings"] = callback_settings
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def proxy_environment(master_key: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in SCRUBBED and not name.startswith(SCRUBBED_PREFIXES)
    }
    env.update(
        {
            "LITELLM_MASTER_KEY": master_key,
            # The price map ships inside litellm; without this it is fetched from the network.
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "LITELLM_LOG": "ERROR",
            "LITELLM_TELEMETRY_DISABLED": "true",
            "LITELLM_DONT_SHOW_FEEDBACK_BOX": "true",
            "DISABLE_ADMIN_UI": "true",
            "NO_PROXY": "127.0.0.1,localhost",
            "PYTHONUNBUFFERED": "1",
            **(extra or {}),
        }
    )
    return env


class LiteLLMProxy:
    """One proxy process for one config; start(), stop(), kill_9() and start() again."""

    def __init__(
        self,
        config: Path,
        *,
        env: dict[str, str] | None = None,
        port: int | None = None,
        master_key: str | None = None,
    ):
        self.config = Path(config)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.master_key = master_key or "sk-" + secrets.token_hex(20)[:37]
        self.env = proxy_environment(self.master_key, env)
        self.process: subprocess.Popen | None = None
        self.log: Path | None = None
        self.starts = 0
        self.start_seconds = 0.0

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.master_key}"}

    def start(self, timeout: float = START_SECONDS) -> "LiteLLMProxy":
        return self.launch().wait_healthy(timeout)

    def launch(self) -> "LiteLLMProxy":
        """Start the process without waiting for it (several start side by side faster)."""
        if self.process and self.process.poll() is None:
            raise ProxyError("the proxy is already running")
        self.log = self.config.parent / f"proxy-{self.starts}.log"
        self.starts += 1
        command = [
            sys.executable, "-m", "litellm.proxy.proxy_cli",
            "--config", str(self.config),
            "--host", "127.0.0.1", "--port", str(self.port),
            "--num_workers", "1",
        ]  # fmt: skip
        self._launched_at = time.monotonic()
        self.process = start_logged(command, log=self.log, cwd=self.config.parent, env=self.env)
        return self

    def wait_healthy(self, timeout: float = START_SECONDS) -> "LiteLLMProxy":
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise ProxyError(
                    f"the proxy exited ({self.process.returncode}) before it was healthy"
                    + self.log_tail()
                )
            with suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/health/liveliness", timeout=1).status_code == 200:
                    self.start_seconds = time.monotonic() - self._launched_at
                    return self
            if time.monotonic() > deadline:
                self.kill_9()
                raise ProxyError(
                    f"the proxy was not healthy within {timeout:.0f} s" + self.log_tail()
                )
            time.sleep(0.2)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def pause(self) -> None:
        """SIGSTOP to the process group: it sends nothing until resume()."""
        if self.process is not None:
            signal_group(self.process, signal.SIGSTOP)

    def resume(self) -> None:
        if self.process is not None:
            signal_group(self.process, signal.SIGCONT)

    def stop(self) -> None:
        """SIGTERM (uvicorn's graceful shutdown, loggers' shutdown hooks), then SIGKILL."""
        if self.process is not None:
            self.resume()  # a paused process would not act on SIGTERM
            stop_group(self.process)

    def kill_9(self) -> None:
        """As a crash: SIGKILL to the whole process group, no shutdown hook runs."""
        if self.process is not None:
            kill_group(self.process)

    def log_tail(self, chars: int = 4000) -> str:
        return log_tail(self.log, f"Proxy log {self.log}", chars)

    def __enter__(self) -> "LiteLLMProxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def generic_logger_settings(name: str, endpoint: str) -> dict:
    """callback_settings making `name` (listed in callbacks) LiteLLM's generic HTTP logger.
    With 1.110.2 the bare name "generic_api" plus GENERIC_LOGGER_ENDPOINT stays a string on
    the proxy and no logger is made; a named entry of callback_type generic_api is."""
    return {name: {"callback_type": "generic_api", "endpoint": endpoint, "headers": {}}}


def openai_deployment(group: str, model: str, api_base: str, api_key: str, **params) -> dict:
    """A model_list entry routing `group` to an OpenAI-compatible `api_base` (e.g. chutes)."""
    return {
        "model_name": group,
        "litellm_params": {
            "model": f"openai/{model}",
            "api_base": api_base,
            "api_key": api_key,
            **params,
        },
    }


def anthropic_deployment(group: str, model: str, api_base: str, api_key: str, **params) -> dict:
    return {
        "model_name": group,
        "litellm_params": {
            "model": f"anthropic/{model}",
            "api_base": api_base,
            "api_key": api_key,
            **params,
        },
    }
