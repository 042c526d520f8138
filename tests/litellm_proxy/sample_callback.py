"""A test-only LiteLLM callback module, loaded by a real proxy from beside its config.yaml.

It proves the two things the companion plugin relies on: the proxy imports a module named in
`litellm_settings.callbacks` and calls its logger once per request, and code in that module
can swap the running router's deployments with `llm_router.set_model_list(...)`.

- Every finished call appends `<status> <litellm_call_id> <model_group>` to
  $SAMPLE_CALLBACK_CALLS.
- A daemon thread watches $SAMPLE_CALLBACK_MODEL_LIST (a JSON model list) and, when its
  content changes, hands it to the running router; then appends `applied <n>` to
  $SAMPLE_CALLBACK_CALLS.
"""

import json
import os
import threading
import time
from pathlib import Path

from litellm.integrations.custom_logger import CustomLogger

POLL_SECONDS = 0.2


class SampleLogger(CustomLogger):
    def __init__(self):
        super().__init__()
        self.calls = Path(os.environ["SAMPLE_CALLBACK_CALLS"])
        self.lock = threading.Lock()

    def _append(self, line: str) -> None:
        with self.lock, self.calls.open("a") as file:
            file.write(line + "\n")

    def _log(self, status: str, kwargs: dict) -> None:
        payload = kwargs.get("standard_logging_object") or {}
        self._append(f"{status} {kwargs.get('litellm_call_id')} {payload.get('model_group')}")

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        self._log("success", kwargs)

    async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):
        self._log("failure", kwargs)


def _watch_model_list(path: Path, logger: SampleLogger) -> None:
    applied = None
    while True:
        time.sleep(POLL_SECONDS)
        # Imported here: the proxy module is still loading when this module is imported.
        from litellm.proxy import proxy_server

        router = proxy_server.llm_router
        if router is None or not path.exists():
            continue
        text = path.read_text()
        if text == applied:
            continue
        model_list = json.loads(text)
        router.set_model_list(model_list)
        applied = text
        logger._append(f"applied {len(model_list)}")


proxy_handler = SampleLogger()
if os.environ.get("SAMPLE_CALLBACK_MODEL_LIST"):
    threading.Thread(
        target=_watch_model_list,
        args=(Path(os.environ["SAMPLE_CALLBACK_MODEL_LIST"]), proxy_handler),
        name="sample-callback-model-list",
        daemon=True,
    ).start()
