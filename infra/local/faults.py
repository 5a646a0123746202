"""Fault injection on the local stack: the failures a deployment meets, reproducible from a seed.

Set with `POST /_local/faults` (or `CDP_LOCAL_FAULTS`, the same JSON, when the stack starts),
read with `GET /_local/faults` (the plan and what was injected so far), cleared with
`DELETE /_local/faults`. Product code knows nothing of it: faults are applied by the local
runtime around handler invocations and around the AWS SDK calls those handlers make.

- `raw_write_failure_rate`: a write to the raw-events table (PutItem, BatchWriteItem,
  TransactWriteItems) fails as if DynamoDB and the SDK's own retries gave up (an
  InternalServerError reaches the caller), so ingest answers 5xx and the sender retries.
- `processor_death_before_commit_rate` / `processor_death_after_commit_rate`: the event
  processor's invocation dies (like a Lambda timeout or out-of-memory exit, nothing in the
  handler can catch it) just before or just after a commit write on the core table: the
  TransactWriteItems of a new person or claim, or any of the three single writes (marker,
  profile, timeline entry) of a known person's event, so a death can fall between them. The
  event source mapping sees a function error.
- `merge_step_failures` (with `merge_step`, an action name, or any step): that many identity
  workflow steps die right after doing their work; Step Functions retries them.
- `journey_step_failures` (with `journey_step_op`, an op name such as `send`, or any op): that
  many journey step invocations die right after doing their work (a send: after LINE accepted
  the message), before the state machine hears back; Step Functions retries the task.
- `poison_message_ids`: raw events (by messageId / webhookEventId) that reach the processor
  broken, every time (their stored payload is dropped from the stream record), so they fail
  until the mapping gives up on them.

Each decision is a hash of (seed, fault, key, n): the same write or commit (by its item keys)
meets the same outcome on its n-th attempt whatever the thread interleaving, so a run is
reproducible from its seed.
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from infra.local.lambda_runtime import FUNCTIONS_DIR, LambdaRuntime

EVENT_PROCESSOR = "event_processor"
IDENTITY_MERGE = "identity_merge"
JOURNEY_STEP = "journey_step"
RAW_WRITES = ("PutItem", "BatchWriteItem", "TransactWriteItems")


class FaultPlanError(ValueError):
    """A plan the stack cannot apply (unknown field, a rate outside [0, 1], a wrong type)."""


class InvocationDied(BaseException):
    """The function's process died mid-invocation. A BaseException: no handler code catches it."""


class FunctionCrashed(RuntimeError):
    """What the caller of a died invocation sees (in Lambda: a Runtime.ExitError function error)."""


@dataclass(frozen=True)
class FaultPlan:
    seed: int = 0
    raw_write_failure_rate: float = 0.0
    processor_death_before_commit_rate: float = 0.0
    processor_death_after_commit_rate: float = 0.0
    merge_step_failures: int = 0
    merge_step: str | None = None
    journey_step_failures: int = 0
    journey_step_op: str | None = None
    poison_message_ids: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def from_json(cls, data: Any) -> FaultPlan:
        if not isinstance(data, Mapping):
            raise FaultPlanError("the fault plan must be a JSON object")
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise FaultPlanError(f"unknown fault settings: {sorted(unknown)}")
        values: dict[str, Any] = dict(data)
        for name in (
            "raw_write_failure_rate",
            "processor_death_before_commit_rate",
            "processor_death_after_commit_rate",
        ):
            rate = values.get(name, 0.0)
            if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0.0 <= rate <= 1.0:
                raise FaultPlanError(f"{name} must be a number from 0 to 1")
            values[name] = float(rate)
        for name in ("seed", "merge_step_failures", "journey_step_failures"):
            number = values.get(name, 0)
            if isinstance(number, bool) or not isinstance(number, int) or number < 0:
                raise FaultPlanError(f"{name} must be a whole number, 0 or more")
        step = values.get("merge_step")
        if step is not None and not isinstance(step, str):
            raise FaultPlanError("merge_step must be a workflow action name or null")
        op = values.get("journey_step_op")
        if op is not None and not isinstance(op, str):
            raise FaultPlanError("journey_step_op must be a journey step op name or null")
        poison = values.get("poison_message_ids", [])
        if not isinstance(poison, list) or not all(isinstance(item, str) and item for item in poison):
            raise FaultPlanError("poison_message_ids must be a list of message ids")
        values["poison_message_ids"] = tuple(poison)
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        found = asdict(self)
        found["poison_message_ids"] = list(self.poison_message_ids)
        return found


class Faults:
    """The plan in force on one local stack, and what it has injected."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._plan = FaultPlan()
        self._attempts: Counter[tuple[str, str]] = Counter()
        self._merge_failures_left = 0
        self._journey_failures_left = 0
        self.injected: Counter[str] = Counter()
        self.raw_table: str | None = None
        self.core_table: str | None = None

    def configure(self, plan: FaultPlan) -> None:
        with self._lock:
            self._plan = plan
            self._attempts.clear()
            self._merge_failures_left = plan.merge_step_failures
            self._journey_failures_left = plan.journey_step_failures
            self.injected.clear()

    def clear(self) -> None:
        self.configure(FaultPlan())

    @property
    def plan(self) -> FaultPlan:
        return self._plan

    @property
    def active(self) -> bool:
        return self._plan != FaultPlan(seed=self._plan.seed)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"faults": self._plan.as_dict(), "injected": dict(self.injected)}

    def _decide(self, fault: str, key: str, rate: float) -> bool:
        if rate <= 0.0:
            return False
        with self._lock:
            attempt = self._attempts[(fault, key)]
            self._attempts[(fault, key)] += 1
        digest = hashlib.sha256(f"{self._plan.seed}:{fault}:{key}:{attempt}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64 < rate

    def _count(self, fault: str) -> None:
        with self._lock:
            self.injected[fault] += 1

    # around AWS SDK calls ----------------------------------------------------------------------
    def before_call(self, service: str, operation: str, params: Mapping[str, Any]) -> None:
        if service != "dynamodb":
            return
        plan = self._plan
        raw_write = operation in RAW_WRITES and self.raw_table in _tables(operation, params)
        if raw_write and self._decide("raw_write_failure", _write_key(operation, params), plan.raw_write_failure_rate):
            self._count("raw_write_failures")
            raise ClientError(
                {"Error": {"Code": "InternalServerError", "Message": "injected: the raw-event write failed"}},
                operation,
            )
        if self._is_commit(operation, params) and self._decide(
            "death_before_commit", _write_key(operation, params), plan.processor_death_before_commit_rate
        ):
            self._count("processor_deaths_before_commit")
            raise InvocationDied("injected: the processor died before its commit")

    def after_call(self, service: str, operation: str, params: Mapping[str, Any]) -> None:
        if (
            service == "dynamodb"
            and self._is_commit(operation, params)
            and self._decide(
                "death_after_commit", _write_key(operation, params), self._plan.processor_death_after_commit_rate
            )
        ):
            self._count("processor_deaths_after_commit")
            raise InvocationDied("injected: the processor died after its commit")

    def _is_commit(self, operation: str, params: Mapping[str, Any]) -> bool:
        return (
            operation in ("TransactWriteItems", "PutItem")
            and current_function() == EVENT_PROCESSOR
            and self.core_table in _tables(operation, params)
        )

    # around invocations -------------------------------------------------------------------------
    def before_invoke(self, name: str, event: dict[str, Any]) -> dict[str, Any]:
        """The event the function gets: poison records lose their stored payload."""
        poison = self._plan.poison_message_ids
        if name != EVENT_PROCESSOR or not poison or not isinstance(event.get("Records"), list):
            return event
        records = []
        for record in event["Records"]:
            if _message_id(record) in poison:
                record = copy.deepcopy(record)
                record["dynamodb"].get("NewImage", {}).pop("payload", None)
                self._count("poison_deliveries")
            records.append(record)
        return {**event, "Records": records}

    def after_invoke(self, name: str, event: dict[str, Any]) -> None:
        if name == JOURNEY_STEP:
            self._journey_step_died(event)
        if name != IDENTITY_MERGE:
            return
        step = self._plan.merge_step
        if step is not None and event.get("action") != step:
            return
        with self._lock:
            if self._merge_failures_left <= 0:
                return
            self._merge_failures_left -= 1
            self.injected["merge_step_failures"] += 1
        raise FunctionCrashed(f"injected: the {event.get('action')!r} step died after doing its work")

    def _journey_step_died(self, event: dict[str, Any]) -> None:
        op = self._plan.journey_step_op
        if op is not None and event.get("op") != op:
            return
        with self._lock:
            if self._journey_failures_left <= 0:
                return
            self._journey_failures_left -= 1
            self.injected["journey_step_failures"] += 1
        raise FunctionCrashed(f"injected: the journey step {event.get('op')!r} died after doing its work")


_current = threading.local()


def current_function() -> str | None:
    """The function whose invocation runs on this thread, if any."""
    return getattr(_current, "function", None)


class FaultInjectingRuntime(LambdaRuntime):
    """The local Lambda runtime with the stack's faults applied around each invocation."""

    def __init__(self, faults: Faults, functions_dir: Path = FUNCTIONS_DIR) -> None:
        super().__init__(functions_dir)
        self.faults = faults

    def invoke(self, name: str, event: dict[str, Any]) -> Any:
        previous = current_function()
        _current.function = name
        try:
            result = super().invoke(name, self.faults.before_invoke(name, event))
            self.faults.after_invoke(name, event)
            return result
        except InvocationDied as died:
            raise FunctionCrashed(str(died)) from None
        finally:
            _current.function = previous


def install_sdk_hook(faults: Faults) -> Callable[[], None]:
    """Wrap every botocore client call in this process with the faults' checks; returns the undo."""
    from botocore.client import BaseClient

    original = BaseClient._make_api_call

    def make_api_call(self: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
        if not faults.active:
            return original(self, operation_name, api_params)
        service = self.meta.service_model.service_name
        faults.before_call(service, operation_name, api_params)
        result = original(self, operation_name, api_params)
        faults.after_call(service, operation_name, api_params)
        return result

    BaseClient._make_api_call = make_api_call  # type: ignore[method-assign]

    def undo() -> None:
        BaseClient._make_api_call = original  # type: ignore[method-assign]

    return undo


def _tables(operation: str, params: Mapping[str, Any]) -> set[str]:
    if operation == "PutItem":
        return {str(params.get("TableName"))}
    if operation == "BatchWriteItem":
        return set(params.get("RequestItems", {}))
    if operation == "TransactWriteItems":
        return {str(next(iter(op.values())).get("TableName")) for op in params.get("TransactItems", []) if op}
    return set()


def _write_key(operation: str, params: Mapping[str, Any]) -> str:
    """What a write is about, the same on every attempt: its items' keys (pk and sk)."""
    items: list[Mapping[str, Any]] = []
    if operation == "PutItem":
        items = [params.get("Item", {})]
    elif operation == "BatchWriteItem":
        for requests in params.get("RequestItems", {}).values():
            items.extend(
                r.get("PutRequest", {}).get("Item") or r.get("DeleteRequest", {}).get("Key") or {} for r in requests
            )
    elif operation == "TransactWriteItems":
        for op in params.get("TransactItems", []):
            body = next(iter(op.values())) if op else {}
            items.append(body.get("Item") or body.get("Key") or {})
    keys = sorted(json.dumps([item.get("pk"), item.get("sk")], sort_keys=True) for item in items)
    return "|".join(keys)


def _message_id(record: Mapping[str, Any]) -> str | None:
    payload = record.get("dynamodb", {}).get("NewImage", {}).get("payload", {}).get("S")
    if not payload:
        return None
    try:
        parsed = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(parsed, dict):
        return None
    found = parsed.get("messageId") or parsed.get("webhookEventId")
    return str(found) if found is not None else None
