"""Lambda's Invoke API on the local stack, backed by the in-process runtime.

moto keeps the AWS side (Step Functions executions with their real definition, retries and
history); only the step that would start a Lambda container is routed here, to the handler in
functions/<folder>/. Two doors lead to Invoke: Step Functions task states, and plain
`lambda.invoke` calls (e.g. an asynchronous `InvocationType=Event` start of a worker).
"""

from __future__ import annotations

import io
import json
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from typing import Any

from infra.local.lambda_runtime import LOCAL_FUNCTION_PREFIX, LambdaRuntime

Invoke = Callable[[str, dict[str, Any]], Any]
ASYNC_RETRIES = 2  # Lambda's default for asynchronous invocations
ASYNC_RETRY_DELAY_SECONDS = 0.5


class LocalLambdaService:
    def __init__(self, runtime: LambdaRuntime, functions: Mapping[str, str]) -> None:
        """`functions`: function name or ARN -> functions/<folder>."""
        self._runtime = runtime
        self._functions = dict(functions)
        self.invocations: list[tuple[str, str]] = []  # (folder, action or type), for tests and benchmarks
        self.in_flight = 0  # asynchronous invocations not finished yet (drain waits for them)
        self._lock = threading.Lock()

    def register(self, functions: Mapping[str, str]) -> None:
        self._functions.update(functions)

    def folder(self, function_name: str) -> str | None:
        """By ARN, by function name, or by a qualified ARN (`...:function:name:alias`)."""
        name = function_name.split(":function:")[-1].split(":")[0]
        by_name = {arn.split(":function:")[-1]: folder for arn, folder in self._functions.items()}
        # The local runtime's context names a function `cdp-local-<folder>` (a function invoking itself).
        local = name.removeprefix(LOCAL_FUNCTION_PREFIX) if name.startswith(LOCAL_FUNCTION_PREFIX) else None
        own = local if local in set(self._functions.values()) else None
        return self._functions.get(function_name) or self._functions.get(name) or by_name.get(name) or own

    def call_async(self, folder: str, payload: dict[str, Any]) -> None:
        """`InvocationType=Event`: like Lambda, an error is retried twice, a minute apart in the
        cloud, a moment apart here."""
        for attempt in range(1 + ASYNC_RETRIES):
            _body, error = self.call(folder, payload)
            if error is None:
                return
            time.sleep(ASYNC_RETRY_DELAY_SECONDS * (attempt + 1))

    def start_async(self, folder: str, payload: dict[str, Any]) -> None:
        """An `InvocationType=Event` call on its own thread, counted until it ends (drain waits)."""
        with self._lock:
            self.in_flight += 1

        def run() -> None:
            try:
                self.call_async(folder, payload)
            finally:
                with self._lock:
                    self.in_flight -= 1

        threading.Thread(target=run, name=f"lambda-{folder}", daemon=True).start()

    def call(self, folder: str, payload: dict[str, Any]) -> tuple[bytes, str | None]:
        """Run the handler; (response payload, function error kind) like Lambda's Invoke."""
        with self._lock:
            self.invocations.append((folder, str(payload.get("action", ""))))
        try:
            result = self._runtime.invoke(folder, payload)
        except Exception as exc:
            error = {
                "errorType": type(exc).__name__,
                "errorMessage": str(exc),
                "stackTrace": traceback.format_exception(exc)[-5:],
            }
            return json.dumps(error).encode(), "Unhandled"
        return json.dumps(result).encode(), None

    # Step Functions task states -----------------------------------------------------------------
    def step_functions_client(self) -> Any:
        service = self

        class _Client:
            def invoke(self, **parameters: Any) -> dict[str, Any]:
                folder = service.folder(parameters["FunctionName"])
                if folder is None:
                    raise LookupError(f"no local function for {parameters['FunctionName']}")
                raw = parameters.get("Payload") or b"{}"
                payload = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
                body, error = service.call(folder, payload)
                response: dict[str, Any] = {"StatusCode": 200, "Payload": io.BytesIO(body)}
                if error:
                    response["FunctionError"] = error
                return response

        return _Client()

    # lambda.invoke through the moto endpoint -------------------------------------------------------
    def backend_invoke(self, original: Callable[..., Any]) -> Callable[..., Any]:
        service = self

        def invoke(
            backend: Any, function_name: str, qualifier: str | None, body: Any, headers: Any, response_headers: Any
        ) -> Any:
            folder = service.folder(function_name)
            if folder is None:
                return original(backend, function_name, qualifier, body, headers, response_headers)
            payload = json.loads(body or b"{}")
            if headers.get("X-Amz-Invocation-Type") == "Event":
                service.start_async(folder, payload)
                return b""
            result, error = service.call(folder, payload)
            if error:
                response_headers["x-amz-function-error"] = error
            return result

        return invoke


def install(local: LocalLambdaService) -> Callable[[], None]:
    """Route moto's Lambda invocations to `service`; returns the undo."""
    from moto.awslambda.models import LambdaBackend
    from moto.core.config import default_user_config
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    original_invoke = LambdaBackend.invoke
    original_client = lambda_eval_utils.boto_client_for
    original_config = dict(default_user_config.get("stepfunctions", {}))

    def client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        if service == "lambda":
            return local.step_functions_client()
        return original_client(region=region, service=service, state_credentials=state_credentials)

    patched = local.backend_invoke(original_invoke)
    LambdaBackend.invoke = lambda self, *args: patched(self, *args)  # type: ignore[method-assign]
    lambda_eval_utils.boto_client_for = client_for  # type: ignore[assignment]
    # A new dict, not the same one changed in place: moto's mock keeps a reference to the one it
    # started with and puts it back when it stops, so an in-place change would outlive `undo`.
    default_user_config["stepfunctions"] = {**original_config, "execute_state_machine": True}

    def undo() -> None:
        LambdaBackend.invoke = original_invoke  # type: ignore[method-assign]
        lambda_eval_utils.boto_client_for = original_client
        default_user_config["stepfunctions"] = original_config

    return undo
