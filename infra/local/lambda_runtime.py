"""Run the functions/ handlers in-process the way Lambda calls them: event dict + context object."""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from infra.cdp_infra.routes import ADMIN_API, ADMIN_QUERY
from infra.local import aws_calls

FUNCTIONS_DIR = Path(__file__).resolve().parents[2] / "functions"
# The admin functions answer through a resolver that keeps the request being answered on shared
# objects (powertools' `current_event`): a Lambda container holds one request at a time, so
# locally they answer one at a time too (a browser sends several requests at once).
ONE_AT_A_TIME = frozenset({ADMIN_API, ADMIN_QUERY})
LOCAL_FUNCTION_PREFIX = "cdp-local-"  # the context's function name: cdp-local-<folder>


@dataclass(slots=True)
class LambdaContext:
    """The attributes of the real context object that handlers and powertools read."""

    function_name: str
    memory_limit_in_mb: int = 256
    timeout_seconds: float = 30.0
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:ap-northeast-1:123456789012:function:{self.function_name}"  # moto's account, as provisioned

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return "local"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self.started)) * 1000))


class LambdaRuntime:
    """Loads each function's handler module once (like a warm container) and invokes it."""

    def __init__(self, functions_dir: Path = FUNCTIONS_DIR) -> None:
        self._dir = functions_dir
        self._modules: dict[str, ModuleType] = {}
        self._lock = threading.Lock()
        self._serial = {name: threading.Lock() for name in ONE_AT_A_TIME}

    def module(self, name: str) -> ModuleType:
        with self._lock:
            if name not in self._modules:
                path = self._dir / name / "handler.py"
                spec = importlib.util.spec_from_file_location(f"cdp_function_{name}", path)
                if spec is None or spec.loader is None:
                    raise FileNotFoundError(path)
                module = importlib.util.module_from_spec(spec)
                # Imported like Lambda imports a handler: a module in sys.modules, so pydantic
                # models defined in it resolve their annotations against its namespace.
                sys.modules[spec.name] = module
                spec.loader.exec_module(module)
                self._modules[name] = module
            return self._modules[name]

    def invoke(self, name: str, event: dict[str, Any]) -> Any:
        serial = self._serial.get(name)
        with serial or contextlib.nullcontext(), aws_calls.running(name):  # its calls are its role's
            return self.module(name).lambda_handler(
                event, LambdaContext(function_name=f"{LOCAL_FUNCTION_PREFIX}{name}")
            )
