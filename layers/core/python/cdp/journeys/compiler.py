"""A published journey version compiled to its own Step Functions state machine (ASL JSON).

Every node is a Task calling the journey step function (`journey_step`) with
`{"op", "node", "entered": $$.State.EnteredTime, "run": $.run}` and `ResultPath: $.step`, so the
run's input travels along and each answer replaces the previous one:
- entry: `Enter` (op enter) -> the start node;
- delay*: Task (op delay: `{"until"}`) -> Wait `TimestampPath: $.step.until` -> next;
- wait_for_event: `lambda:invoke.waitForTaskToken` (op wait, the token, `TimeoutSeconds`) ->
  `received` node; `States.Timeout` is caught -> `<node>.timed_out` (op timed_out) -> `timed_out`;
- condition / random_split: Task (`{"branch", "next"}`) -> Choice on `$.step.next`;
- send, action: Task -> next;
- exit: Task (op exit) -> `Done`.
A run that has ended (an exit rule won the race, an archive, the holdout) makes the step fail
with `RunEnded`, which every Task catches into `Stopped`: no Choice after a Task on the happy
path, so a node costs one transition (a delay two, a split its Choice more). A Task that still
fails after its retries is caught and recorded (`Record failure`: op exit, reason failed) before
the execution fails.
State names of nodes are the node ids (lower case); the compiler's own states are capitalised or
dotted, so they never collide with a node.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

from cdp.journeys.definition import (
    Action,
    ConditionSplit,
    DelayFor,
    DelayUntilTime,
    DelayUntilTimestamp,
    Exit,
    JourneyDefinition,
    Node,
    RandomSplit,
    Send,
    WaitForEvent,
    parse_duration,
    successors,
)
from cdp.journeys.model import PublishedVersion

ENTER = "Enter"
STOPPED = "Stopped"
DONE = "Done"
RECORD_FAILURE = "Record failure"
FAILED = "Failed"
RETRY_LATER = "RetryLater"  # the step function's "try again" (cdp.journeys.stepper)
RUN_ENDED = "RunEnded"  # the step function's "this run has ended" (cdp.journeys.stepper)
MAX_NAME = 80
# Errors of the Lambda service itself (throttling, a crashed or timed-out runtime): retried.
LAMBDA_ERRORS = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "Lambda.Unknown",
]
# A step refusing its input (a bad payload, a run or version that is not there) will refuse it again.
NOT_RETRYABLE = ["BadRequest", "NotFound", "Conflict", RUN_ENDED]
RETRY = [
    {"ErrorEquals": NOT_RETRYABLE, "MaxAttempts": 0},
    {
        # Any other failure is retried with the same input: the step function crashed or timed out
        # (possibly after its effect, which the retry finds done: the send key, events by id),
        # the store was throttled, or the send point asked for it (RetryLater).
        "ErrorEquals": [*LAMBDA_ERRORS, RETRY_LATER, "States.TaskFailed"],
        "IntervalSeconds": 2,
        "MaxAttempts": 3,
        "BackoffRate": 2,
    },
]
OPS = ("enter", "delay", "wait", "timed_out", "condition", "split", "send", "action", "exit")


def state_machine_name(prefix: str, journey_id: str, version: int) -> str:
    """`<prefix>-journey-<journey id>-v<version>`, at most 80 characters (the id hashed if longer)."""
    name = f"{prefix}-journey-{journey_id}-v{version}"
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(journey_id.encode()).hexdigest()[:16]
    name = f"{prefix}-journey-{digest}-v{version}"
    if len(name) > MAX_NAME:
        raise ValueError(f"the state machine name prefix {prefix!r} is too long")
    return name


def compile_version(version: PublishedVersion, step_function_arn: str) -> dict[str, Any]:
    """The version's state machine definition (ASL as a dict)."""
    return compile_definition(version.definition, step_function_arn, comment=_comment(version))


def compile_json(version: PublishedVersion, step_function_arn: str) -> str:
    return json.dumps(compile_version(version, step_function_arn), separators=(",", ":"), sort_keys=True)


def _comment(version: PublishedVersion) -> str:
    return f"Journey {version.journey_id} v{version.version}"[:256]


def compile_definition(definition: JourneyDefinition, step_function_arn: str, *, comment: str = "") -> dict[str, Any]:
    states: dict[str, Any] = {}
    states[ENTER] = _task(step_function_arn, "enter", None, next_state=definition.start)
    for node_id, node in definition.nodes.items():
        states.update(_node_states(step_function_arn, node_id, node))
    states[STOPPED] = {"Type": "Succeed", "Comment": "the run had ended (exit rule, holdout, archive)"}
    states[DONE] = {"Type": "Succeed"}
    states[RECORD_FAILURE] = {
        **_task(step_function_arn, "exit", None, next_state=FAILED, extra={"reason": "failed"}, catch=False),
        "ResultPath": "$.step",
    }
    states[FAILED] = {"Type": "Fail", "Error": "JourneyStepFailed", "Cause": "a journey step failed after its retries"}
    return {"Comment": comment, "StartAt": ENTER, "States": states}


def _after(state: str) -> str:
    return f"{state}.next"


def _node_states(arn: str, node_id: str, node: Node) -> dict[str, Any]:
    states: dict[str, Any] = {}
    if isinstance(node, DelayFor | DelayUntilTime | DelayUntilTimestamp):
        wait = f"{node_id}.wait"
        states[node_id] = _task(arn, "delay", node_id, next_state=wait)
        states[wait] = {"Type": "Wait", "TimestampPath": "$.step.until", "Next": node.next}
    elif isinstance(node, WaitForEvent):
        timed_out = f"{node_id}.timed_out"
        task = _task(arn, "wait", node_id, next_state=node.received, token=True)
        task["TimeoutSeconds"] = math.ceil(parse_duration(node.timeout).total_seconds())
        task["Catch"] = [
            {"ErrorEquals": ["States.Timeout"], "ResultPath": "$.error", "Next": timed_out},
            *task["Catch"],
        ]
        states[node_id] = task
        states[timed_out] = _task(arn, "timed_out", node_id, next_state=node.timed_out)
    elif isinstance(node, ConditionSplit | RandomSplit):
        op = "condition" if isinstance(node, ConditionSplit) else "split"
        states[node_id] = _task(arn, op, node_id, next_state=_after(node_id))
        states[_after(node_id)] = _branch_choice(successors(node))
    elif isinstance(node, Send | Action):
        states[node_id] = _task(arn, node.type, node_id, next_state=node.next)
    elif isinstance(node, Exit):
        states[node_id] = _task(arn, "exit", node_id, next_state=DONE, extra={"reason": "completed"})
    else:  # pragma: no cover - the definition's union is closed
        raise TypeError(f"no state for node type {type(node).__name__}")
    return states


def _task(
    arn: str,
    op: str,
    node_id: str | None,
    *,
    next_state: str,
    token: bool = False,
    extra: dict[str, Any] | None = None,
    catch: bool = True,
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "op": op,
        "node": node_id,
        "entered.$": "$$.State.EnteredTime",
        "execution.$": "$$.Execution.Id",
        "run.$": "$.run",
        **(extra or {}),
    }
    if token:
        payload["token.$"] = "$$.Task.Token"
        task: dict[str, Any] = {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
            "Parameters": {"FunctionName": arn, "Payload": payload},
        }
    else:
        # The function's ARN as the resource: its answer is the task's result as is.
        task = {"Type": "Task", "Resource": arn, "Parameters": payload}
    task.update({"ResultPath": "$.step", "Retry": RETRY, "Next": next_state})
    if catch:
        task["Catch"] = [
            {"ErrorEquals": [RUN_ENDED], "ResultPath": "$.error", "Next": STOPPED},
            {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": RECORD_FAILURE},
        ]
    return task


def _branch_choice(targets: list[str]) -> dict[str, Any]:
    rules: list[dict[str, Any]] = []
    for target in dict.fromkeys(targets):  # two branches may lead to one node
        rules.append({"Variable": "$.step.next", "StringEquals": target, "Next": target})
    # An answer naming no successor is a bug in the step function: recorded, then failed.
    return {"Type": "Choice", "Choices": rules, "Default": RECORD_FAILURE}


def transitions(definition: JourneyDefinition, path: list[str], *, timed_out: frozenset[str] = frozenset()) -> int:
    """State transitions of a run that goes through `path` (node ids in order): what the bench
    reports per node kind. `timed_out`: wait nodes on the path that timed out."""
    count = 1  # Enter
    for node_id in path:
        node = definition.nodes[node_id]
        if isinstance(node, DelayFor | DelayUntilTime | DelayUntilTimestamp):
            count += 2  # the Task and its Wait
        elif isinstance(node, WaitForEvent):
            count += 2 if node_id in timed_out else 1  # the timeout's own Task
        elif isinstance(node, Exit | ConditionSplit | RandomSplit):
            count += 2  # the Task and Done, or the Task and its branch Choice
        else:
            count += 1
    return count
