"""Journey runs, waits, admissions and handled bus events in the core table.

Items (pk / sk):
- `JRUN#<run_id>` / `RUN`: the run (cdp.journeys.runs.Run); gsi1 `JRUNS#<journey_id>` /
  `<entered_at>#<run_id>` lists a journey's runs. Every write is one field-level UpdateItem
  (maps `branches`, `sent`, `clicked` are set key by key; `path` is appended to), conditional
  where the port asks for once-only semantics, so the step function, the event consumer and the
  starter write one run at the same time without losing a field.
- `JPERSON#<profile_id>` / `<journey_id>#<run_id>`: the person's runs (status kept as a hint; the
  run item decides), written in the same transaction as the run.
- `JWAIT#<profile_id>#<event>` / `<correlation or *>#<run_id>`: a wait and its task token, gone
  after its timeout (`expires_at` TTL); gsi1 `JWAITS#<profile_id>` finds a person's waits (merges).
- `JENTRY#<journey_id>#<profile_id>` / `-` or `<entry key>`: admission records (cdp.journeys.admission).
- `JSEEN#<envelope id>` / `SEEN`: a bus event the journey consumer handled (a redelivery is skipped).
Read only: `JOURNEYS` / `LIVE`, the live journeys' listing (its `events`, for the processor).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cdp.adapters.dynamodb.errors import (
    CONDITIONAL_CHECK_FAILED,
    TRANSACTION_CANCELED,
    TRANSACTION_CONFLICT,
    error_code,
    unavailable,
)
from cdp.clock import epoch_seconds, iso_from_ms
from cdp.errors import StoreUnavailable
from cdp.journeys.admission import (
    PERSON,
    READMITTED,
    Decision,
    EntryRecord,
    decide,
    live_runs,
    merged,
    record_key,
    remembered,
    unmerged,
)
from cdp.journeys.definition import Reentry
from cdp.journeys.ports import EntryRequest, Wait
from cdp.journeys.runs import ACTIVE, EXITED, MAX_PATH, Run, Step
from cdp.ports import Clock

RUN_PREFIX = "JRUN#"
PERSON_PREFIX = "JPERSON#"
WAIT_PREFIX = "JWAIT#"
ENTRY_PREFIX = "JENTRY#"
SEEN_PREFIX = "JSEEN#"
# Every key prefix this module writes (IAM LeadingKeys grants).
KEY_PREFIXES = (RUN_PREFIX, PERSON_PREFIX, WAIT_PREFIX, ENTRY_PREFIX, SEEN_PREFIX)
RUN_SK = "RUN"
RUNS_INDEX_PREFIX = "JRUNS#"
WAITS_INDEX_PREFIX = "JWAITS#"
GSI1 = "gsi1"
TTL_ATTRIBUTE = "expires_at"
WAIT_TTL_GRACE = timedelta(days=1)  # a wait outlives its timeout a little: the Catch removes it first
SEEN_TTL = timedelta(days=2)  # EventBridge retries an event for at most 24 hours
BATCH_GET = 100
MAX_RACES = 8

_LOST_RACE = (CONDITIONAL_CHECK_FAILED, TRANSACTION_CANCELED, TRANSACTION_CONFLICT)


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: float | int) -> dict[str, str]:
    return {"N": str(value)}


def run_key(run_id: str) -> dict[str, Any]:
    return {"pk": _s(RUN_PREFIX + run_id), "sk": _s(RUN_SK)}


def person_key(profile_id: str, journey_id: str, run_id: str) -> dict[str, Any]:
    return {"pk": _s(PERSON_PREFIX + profile_id), "sk": _s(f"{journey_id}#{run_id}")}


def _person_item(run: Run) -> dict[str, Any]:
    return {
        **person_key(run.profile_id, run.journey_id, run.run_id),
        "run_id": _s(run.run_id),
        "journey_id": _s(run.journey_id),
        "entered_at": _s(run.entered_at),
        "status": _s(run.status),
    }


def _step_item(step: Step) -> dict[str, Any]:
    item: dict[str, Any] = {"node": _s(step.node), "at": _s(step.at)}
    if step.outcome is not None:
        item["outcome"] = _s(step.outcome)
    return {"M": item}


def _step_token(step: Step) -> str:
    return f"{step.node}@{step.at}"


def _strings(item: dict[str, Any] | None) -> dict[str, str]:
    return {key: value["S"] for key, value in (item or {}).get("M", {}).items()}


def run_item(run: Run) -> dict[str, Any]:
    item: dict[str, Any] = {
        **run_key(run.run_id),
        "gsi1pk": _s(RUNS_INDEX_PREFIX + run.journey_id),
        "gsi1sk": _s(f"{run.entered_at}#{run.run_id}"),
        "run_id": _s(run.run_id),
        "journey_id": _s(run.journey_id),
        "version": _n(run.version),
        "profile_id": _s(run.profile_id),
        "entry_key": _s(run.entry_key),
        "entered_at": _s(run.entered_at),
        "status": _s(run.status),
        "path": {"L": [_step_item(step) for step in run.path]},
        "branches": {"M": {key: _s(value) for key, value in run.branches.items()}},
        "sent": {"M": {key: _s(value) for key, value in run.sent.items()}},
        "clicked": {"M": {key: _s(value) for key, value in run.clicked.items()}},
        "entry": _s(json.dumps(run.entry, ensure_ascii=False, separators=(",", ":"), default=str)),
    }
    if run.path:
        item["step_keys"] = {"SS": sorted({_step_token(step) for step in run.path})}
    optional = {
        "node": run.node,
        "node_since": run.node_since,
        "converted_at": run.converted_at,
        "exited_at": run.exited_at,
        "exit_reason": run.exit_reason,
        "execution_arn": run.execution_arn,
        "entered_as": run.entered_as,
    }
    item.update({name: _s(value) for name, value in optional.items() if value is not None})
    if run.waiting is not None:
        item["waiting"] = _s(json.dumps(run.waiting, separators=(",", ":")))
    if run.conversion_value is not None:
        item["conversion_value"] = _n(run.conversion_value)
    return item


def run_from_item(item: dict[str, Any]) -> Run:
    def text(name: str) -> str | None:
        value = item.get(name)
        return value["S"] if value else None

    path = tuple(
        Step(
            node=step["M"]["node"]["S"],
            at=step["M"]["at"]["S"],
            outcome=step["M"]["outcome"]["S"] if "outcome" in step["M"] else None,
        )
        for step in item.get("path", {}).get("L", [])
    )
    waiting = text("waiting")
    value = item.get("conversion_value")
    return Run(
        run_id=item["run_id"]["S"],
        journey_id=item["journey_id"]["S"],
        version=int(item["version"]["N"]),
        profile_id=item["profile_id"]["S"],
        entry_key=item["entry_key"]["S"],
        entered_at=item["entered_at"]["S"],
        status=item["status"]["S"],
        node=text("node"),
        node_since=text("node_since"),
        waiting=json.loads(waiting) if waiting else None,
        path=path,
        branches=_strings(item.get("branches")),
        sent=_strings(item.get("sent")),
        clicked=_strings(item.get("clicked")),
        converted_at=text("converted_at"),
        conversion_value=float(value["N"]) if value else None,
        exited_at=text("exited_at"),
        exit_reason=text("exit_reason"),
        execution_arn=text("execution_arn"),
        entry=json.loads(item["entry"]["S"]) if "entry" in item else {},
        entered_as=text("entered_as"),
    )


class _Table:
    """The few DynamoDB calls the stores share, with errors translated once."""

    def __init__(self, client: Any, table_name: str) -> None:
        self.client = client
        self.name = table_name

    def update(self, doing: str, **request: Any) -> dict[str, Any] | None:
        """UpdateItem; None when its condition failed."""
        try:
            answer: dict[str, Any] = self.client.update_item(TableName=self.name, **request)
        except ClientError as exc:
            if error_code(exc) in (CONDITIONAL_CHECK_FAILED, TRANSACTION_CONFLICT):
                return None
            raise unavailable(exc, doing) from exc
        except BotoCoreError as exc:
            raise unavailable(exc, doing) from exc
        return answer

    def transact(self, doing: str, items: list[dict[str, Any]]) -> bool:
        """TransactWriteItems; False when a condition failed or it met another transaction."""
        try:
            self.client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if error_code(exc) in _LOST_RACE:
                return False
            raise unavailable(exc, doing) from exc
        except BotoCoreError as exc:
            raise unavailable(exc, doing) from exc
        return True

    def get(self, key: dict[str, Any], doing: str) -> dict[str, Any] | None:
        try:
            item: dict[str, Any] | None = self.client.get_item(TableName=self.name, Key=key, ConsistentRead=True).get(
                "Item"
            )
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, doing) from exc
        return item

    def put(self, item: dict[str, Any], doing: str, condition: str | None = None) -> bool:
        request: dict[str, Any] = {"TableName": self.name, "Item": item}
        if condition:
            request["ConditionExpression"] = condition
        try:
            self.client.put_item(**request)
        except ClientError as exc:
            if error_code(exc) == CONDITIONAL_CHECK_FAILED:
                return False
            raise unavailable(exc, doing) from exc
        except BotoCoreError as exc:
            raise unavailable(exc, doing) from exc
        return True

    def put_request(self, doing: str, request: dict[str, Any]) -> bool:
        """PutItem with its own condition and values; False when the condition failed."""
        try:
            self.client.put_item(TableName=self.name, **request)
        except ClientError as exc:
            if error_code(exc) in (CONDITIONAL_CHECK_FAILED, TRANSACTION_CONFLICT):
                return False
            raise unavailable(exc, doing) from exc
        except BotoCoreError as exc:
            raise unavailable(exc, doing) from exc
        return True

    def delete(self, key: dict[str, Any], doing: str, **conditions: Any) -> bool:
        try:
            self.client.delete_item(TableName=self.name, Key=key, **conditions)
        except ClientError as exc:
            if error_code(exc) == CONDITIONAL_CHECK_FAILED:
                return False
            raise unavailable(exc, doing) from exc
        except BotoCoreError as exc:
            raise unavailable(exc, doing) from exc
        return True

    def query(self, doing: str, *, limit: int | None = None, **request: Any) -> Iterator[dict[str, Any]]:
        seen = 0
        while True:
            try:
                answer = self.client.query(TableName=self.name, **request)
            except (ClientError, BotoCoreError) as exc:
                raise unavailable(exc, doing) from exc
            for item in answer.get("Items", []):
                yield item
                seen += 1
                if limit is not None and seen >= limit:
                    return
            if "LastEvaluatedKey" not in answer:
                return
            request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def batch_get(self, keys: Sequence[dict[str, Any]], doing: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for start in range(0, len(keys), BATCH_GET):
            wanted: dict[str, Any] = {"Keys": list(keys[start : start + BATCH_GET]), "ConsistentRead": True}
            for attempt in range(6):
                try:
                    answer = self.client.batch_get_item(RequestItems={self.name: wanted})
                except (ClientError, BotoCoreError) as exc:
                    raise unavailable(exc, doing) from exc
                found.extend(answer.get("Responses", {}).get(self.name, []))
                left = answer.get("UnprocessedKeys", {}).get(self.name)
                if not left:
                    break
                wanted = left
                time.sleep(0.05 * 2**attempt)  # throttled: back off before asking for the rest
            else:
                raise StoreUnavailable(f"{doing} failed: unprocessed keys")
        return found


class DynamoRunStore:
    """cdp.journeys.runs.RunStore on the core table."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._table = _Table(client, table_name)

    def get(self, run_id: str) -> Run | None:
        item = self._table.get(run_key(run_id), "reading a journey run")
        return run_from_item(item) if item else None

    def put_new(self, run: Run) -> bool:
        """The run, then its person lookup item (rewritten when the run existed: a crash between
        the two writes heals on the retry). Two single-item writes, not a transaction: half the
        write units, and a lookup item's status is only a hint (the run item decides)."""
        created = self._table.put(run_item(run), "storing a journey run", "attribute_not_exists(pk)")
        current = run if created else self.get(run.run_id)
        if current is not None:
            self._table.put(_person_item(current), "storing a journey run's lookup")
        return created

    def set_execution(self, run_id: str, execution_arn: str) -> None:
        self._set(run_id, {"execution_arn": _s(execution_arn)}, "recording a run's execution")

    def reach(self, run_id: str, step: Step, *, waiting: dict[str, Any] | None = None) -> bool:
        token = _step_token(step)
        values: dict[str, Any] = {
            ":step": {"L": [_step_item(step)]},
            ":empty": {"L": []},
            ":node": _s(step.node),
            ":at": _s(step.at),
            ":token": _s(token),
            ":tokens": {"SS": [token]},
        }
        expression = "SET #path = list_append(if_not_exists(#path, :empty), :step), #node = :node, node_since = :at"
        if waiting is not None:
            expression += ", waiting = :waiting"
            values[":waiting"] = _s(json.dumps(waiting, separators=(",", ":")))
        else:
            expression += " REMOVE waiting"
        answer = self._table.update(
            "moving a journey run",
            Key=run_key(run_id),
            UpdateExpression=expression + " ADD step_keys :tokens",
            ConditionExpression="attribute_exists(pk) AND NOT contains(step_keys, :token)",
            ExpressionAttributeNames={"#path": "path", "#node": "node"},
            ExpressionAttributeValues=values,
            ReturnValues="UPDATED_NEW",
        )
        if answer is None:
            return False
        length = len(answer.get("Attributes", {}).get("path", {}).get("L", []))
        if length > MAX_PATH:  # a loop: keep the newest steps (a concurrent trim makes this one a no-op)
            drop = length - MAX_PATH
            self._table.update(
                "trimming a journey run's path",
                Key=run_key(run_id),
                UpdateExpression="REMOVE " + ", ".join(f"#path[{index}]" for index in range(drop)),
                ConditionExpression="size(#path) = :length",
                ExpressionAttributeNames={"#path": "path"},
                ExpressionAttributeValues={":length": _n(length)},
            )
        return True

    def set_waiting(self, run_id: str, waiting: dict[str, Any] | None) -> None:
        if waiting is None:
            self._table.update(
                "recording a run's wait",
                Key=run_key(run_id),
                UpdateExpression="REMOVE waiting",
                ConditionExpression="attribute_exists(pk)",
            )
            return
        self._set(run_id, {"waiting": _s(json.dumps(waiting, separators=(",", ":")))}, "recording a run's wait")

    def record_branch(self, run_id: str, node: str, branch: str) -> None:
        self._set_entry(run_id, "branches", node, branch, once=False)

    def record_send(self, run_id: str, node: str, outcome: str) -> None:
        self._set_entry(run_id, "sent", node, outcome, once=False)

    def record_click(self, run_id: str, node: str, at: str) -> bool:
        return self._set_entry(run_id, "clicked", node, at, once=True)

    def record_conversion(self, run_id: str, at: str, value: float | None) -> bool:
        values: dict[str, Any] = {":at": _s(at)}
        expression = "SET converted_at = :at"
        if value is not None:
            expression += ", conversion_value = :value"
            values[":value"] = _n(value)
        answer = self._table.update(
            "recording a conversion",
            Key=run_key(run_id),
            UpdateExpression=expression,
            ConditionExpression="attribute_exists(pk) AND attribute_not_exists(converted_at)",
            ExpressionAttributeValues=values,
        )
        return answer is not None

    def finish(self, run_id: str, reason: str, at: str) -> bool:
        table = self._table.name
        for _attempt in range(MAX_RACES):
            run = self.get(run_id)
            if run is None or run.status != ACTIVE:
                return False
            finished = self._table.transact(
                "ending a journey run",
                [
                    {
                        "Update": {
                            "TableName": table,
                            "Key": run_key(run_id),
                            "UpdateExpression": "SET #status = :exited, exit_reason = :reason, exited_at = :at "
                            "REMOVE waiting",
                            "ConditionExpression": "#status = :active AND profile_id = :profile",
                            "ExpressionAttributeNames": {"#status": "status"},
                            "ExpressionAttributeValues": {
                                ":exited": _s(EXITED),
                                ":active": _s(ACTIVE),
                                ":reason": _s(reason),
                                ":at": _s(at),
                                ":profile": _s(run.profile_id),
                            },
                        }
                    },
                    {
                        "Update": {
                            "TableName": table,
                            "Key": person_key(run.profile_id, run.journey_id, run_id),
                            "UpdateExpression": "SET #status = :exited, run_id = :run, journey_id = :journey, "
                            "entered_at = :entered",
                            "ExpressionAttributeNames": {"#status": "status"},
                            "ExpressionAttributeValues": {
                                ":exited": _s(EXITED),
                                ":run": _s(run_id),
                                ":journey": _s(run.journey_id),
                                ":entered": _s(run.entered_at),
                            },
                        }
                    },
                ],
            )
            if finished:
                return True
        raise StoreUnavailable(f"ending journey run {run_id} lost {MAX_RACES} races")

    def active_for(self, profile_id: str, journey_id: str | None = None) -> list[Run]:
        return [run for run in self._of_person(profile_id, journey_id, active_only=True) if run.status == ACTIVE]

    def recent_for(self, profile_id: str, journey_id: str | None = None) -> list[Run]:
        return self._of_person(profile_id, journey_id, active_only=False)

    def reassign(self, from_profile: str, to_profile: str, run_ids: Collection[str] | None = None) -> list[Run]:
        table = self._table.name
        moved: list[Run] = []
        for entry in list(self._person_items(from_profile, None)):
            run_id, journey_id = entry["run_id"]["S"], entry["journey_id"]["S"]
            if run_ids is not None and run_id not in run_ids:
                continue
            target = {**entry, **person_key(to_profile, journey_id, run_id)}
            self._table.transact(
                "moving a journey run to the surviving profile",
                [
                    {
                        "Update": {
                            "TableName": table,
                            "Key": run_key(run_id),
                            "UpdateExpression": "SET profile_id = :to",
                            "ConditionExpression": "profile_id = :from",
                            "ExpressionAttributeValues": {":to": _s(to_profile), ":from": _s(from_profile)},
                        }
                    },
                    {"Put": {"TableName": table, "Item": target}},
                    {"Delete": {"TableName": table, "Key": person_key(from_profile, journey_id, run_id)}},
                ],
            )
            run = self.get(run_id)
            if run is not None and run.profile_id == to_profile:
                # Moved now or by an earlier attempt that died before deleting the old lookup item.
                self._table.delete(person_key(from_profile, journey_id, run_id), "removing a moved run's lookup")
                self._table.put(target, "recording a moved run's lookup")
                moved.append(run)
        return moved

    def of_journey(self, journey_id: str, *, limit: int | None = None) -> list[Run]:
        items = self._table.query(
            "listing a journey's runs",
            limit=limit,
            IndexName=GSI1,
            KeyConditionExpression="gsi1pk = :pk",
            ExpressionAttributeValues={":pk": _s(RUNS_INDEX_PREFIX + journey_id)},
            ScanIndexForward=False,
        )
        return [run_from_item(item) for item in items]

    def statuses(self, run_ids: Sequence[str]) -> dict[str, str]:
        """Each existing run's status (admission prunes ended runs with it)."""
        if not run_ids:
            return {}
        items = self._table.batch_get([run_key(run_id) for run_id in run_ids], "reading journey runs' status")
        return {item["run_id"]["S"]: item["status"]["S"] for item in items}

    def _person_items(self, profile_id: str, journey_id: str | None) -> Iterator[dict[str, Any]]:
        condition = "pk = :pk"
        values: dict[str, Any] = {":pk": _s(PERSON_PREFIX + profile_id)}
        if journey_id is not None:
            condition += " AND begins_with(sk, :journey)"
            values[":journey"] = _s(journey_id + "#")
        return self._table.query(
            "listing a person's journey runs",
            KeyConditionExpression=condition,
            ExpressionAttributeValues=values,
            ConsistentRead=True,
        )

    def _of_person(self, profile_id: str, journey_id: str | None, *, active_only: bool) -> list[Run]:
        entries = [
            item
            for item in self._person_items(profile_id, journey_id)
            if not active_only or item.get("status", {}).get("S") == ACTIVE
        ]
        keys = [run_key(item["run_id"]["S"]) for item in entries]
        runs = [run_from_item(item) for item in self._table.batch_get(keys, "reading a person's journey runs")]
        # The lookup item may lag a merge: the run item says whose it is.
        mine = [run for run in runs if run.profile_id == profile_id]
        return sorted(mine, key=lambda run: (run.entered_at, run.run_id), reverse=True)

    def _set(self, run_id: str, fields: Mapping[str, Any], doing: str) -> None:
        names = {f"#f{index}": name for index, name in enumerate(fields)}
        values = {f":v{index}": value for index, value in enumerate(fields.values())}
        self._table.update(
            doing,
            Key=run_key(run_id),
            UpdateExpression="SET " + ", ".join(f"#f{index} = :v{index}" for index in range(len(fields))),
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def _set_entry(self, run_id: str, field: str, node: str, value: str, *, once: bool) -> bool:
        condition = "attribute_exists(pk)"
        if once:
            condition += " AND attribute_not_exists(#field.#node)"
        answer = self._table.update(
            f"recording a run's {field}",
            Key=run_key(run_id),
            UpdateExpression="SET #field.#node = :value",
            ConditionExpression=condition,
            ExpressionAttributeNames={"#field": field, "#node": node},
            ExpressionAttributeValues={":value": _s(value)},
        )
        return answer is not None


def wait_key(profile_id: str, event: str, correlation: str | None, run_id: str) -> dict[str, Any]:
    return {"pk": _s(f"{WAIT_PREFIX}{profile_id}#{event}"), "sk": _s(f"{correlation or '*'}#{run_id}")}


def _wait_item(wait: Wait) -> dict[str, Any]:
    expires = datetime.fromisoformat(wait.expires_at.replace("Z", "+00:00")) + WAIT_TTL_GRACE
    item: dict[str, Any] = {
        **wait_key(wait.profile_id, wait.event, wait.correlation, wait.run_id),
        "gsi1pk": _s(WAITS_INDEX_PREFIX + wait.profile_id),
        "gsi1sk": _s(f"{wait.event}#{wait.correlation or '*'}#{wait.run_id}"),
        "run_id": _s(wait.run_id),
        "journey_id": _s(wait.journey_id),
        "node": _s(wait.node),
        "profile_id": _s(wait.profile_id),
        "event": _s(wait.event),
        "where": _s(json.dumps(wait.where, separators=(",", ":"))),
        "task_token": _s(wait.task_token),
        "timeout_at": _s(wait.expires_at),
        TTL_ATTRIBUTE: _n(int(expires.timestamp())),
    }
    if wait.correlation is not None:
        item["correlation"] = _s(wait.correlation)
    return item


def _wait_from_item(item: dict[str, Any]) -> Wait:
    return Wait(
        run_id=item["run_id"]["S"],
        journey_id=item["journey_id"]["S"],
        node=item["node"]["S"],
        profile_id=item["profile_id"]["S"],
        event=item["event"]["S"],
        correlation=item["correlation"]["S"] if "correlation" in item else None,
        where=json.loads(item["where"]["S"]),
        task_token=item["task_token"]["S"],
        expires_at=item["timeout_at"]["S"],
    )


class DynamoWaitStore:
    """cdp.journeys.ports.WaitStore on the core table."""

    def __init__(self, client: Any, table_name: str, clock: Clock | None = None) -> None:
        self._table = _Table(client, table_name)
        self._clock = clock

    def register(self, wait: Wait) -> None:
        self._table.put(_wait_item(wait), "registering a journey wait")

    def waiting_for(self, profile_id: str, event: str) -> list[Wait]:
        items = self._table.query(
            "reading journey waits",
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": _s(f"{WAIT_PREFIX}{profile_id}#{event}")},
            ConsistentRead=True,
        )
        waits = [_wait_from_item(item) for item in items]
        if self._clock is None:
            return waits
        # TTL deletes lag by up to days: a wait past its timeout is gone for the runtime already.
        now = iso_from_ms(self._clock.now_ms())
        return [wait for wait in waits if epoch_seconds(wait.expires_at) + 60 >= epoch_seconds(now)]

    def remove(self, wait: Wait) -> None:
        """Remove the wait unless it was registered again with another token (a retried task)."""
        self._table.delete(
            wait_key(wait.profile_id, wait.event, wait.correlation, wait.run_id),
            "removing a journey wait",
            ConditionExpression="task_token = :token",
            ExpressionAttributeValues={":token": _s(wait.task_token)},
        )

    def reassign(self, from_profile: str, to_profile: str, run_ids: Collection[str] | None = None) -> list[Wait]:
        items = list(
            self._table.query(
                "listing a person's journey waits",
                IndexName=GSI1,
                KeyConditionExpression="gsi1pk = :pk",
                ExpressionAttributeValues={":pk": _s(WAITS_INDEX_PREFIX + from_profile)},
            )
        )
        moved: list[Wait] = []
        for item in items:
            wait = _wait_from_item(item)
            if run_ids is not None and wait.run_id not in run_ids:
                continue
            survivor = Wait(**{**_fields(wait), "profile_id": to_profile})
            self._table.put(_wait_item(survivor), "moving a journey wait")
            self.remove(wait)
            moved.append(survivor)
        return moved


def _fields(wait: Wait) -> dict[str, Any]:
    return {name: getattr(wait, name) for name in Wait.__dataclass_fields__}


def entry_key(journey_id: str, profile_id: str, record: str) -> dict[str, Any]:
    return {"pk": _s(f"{ENTRY_PREFIX}{journey_id}#{profile_id}"), "sk": _s(record)}


def _entry_record(item: dict[str, Any] | None) -> EntryRecord:
    if not item:
        return EntryRecord()
    return EntryRecord(
        occurrences=int(item["occurrences"]["N"]),
        causes={key: int(value["N"]) for key, value in item.get("causes", {}).get("M", {}).items()},
        last_run_id=item["last_run_id"]["S"] if "last_run_id" in item else None,
        last_entered_at=item["last_entered_at"]["S"] if "last_entered_at" in item else None,
        active={key: value["S"] for key, value in item.get("active", {}).get("M", {}).items()},
        revision=int(item["revision"]["N"]),
        merged_from=frozenset(item.get("merged_from", {}).get("SS", [])),
    )


def _entry_put(table: str, key: dict[str, Any], before: EntryRecord, after: EntryRecord) -> dict[str, Any]:
    item: dict[str, Any] = {
        **key,
        "occurrences": _n(after.occurrences),
        "causes": {"M": {cause: _n(number) for cause, number in after.causes.items()}},
        "active": {"M": {run_id: _s(at) for run_id, at in after.active.items()}},
        "revision": _n(after.revision),
    }
    if after.last_run_id is not None:
        item["last_run_id"] = _s(after.last_run_id)
    if after.last_entered_at is not None:
        item["last_entered_at"] = _s(after.last_entered_at)
    if after.merged_from:
        item["merged_from"] = {"SS": sorted(after.merged_from)}
    put: dict[str, Any] = {"TableName": table, "Item": item}
    if before.revision:
        put["ConditionExpression"] = "revision = :revision"
        put["ExpressionAttributeValues"] = {":revision": _n(before.revision)}
    else:
        put["ConditionExpression"] = "attribute_not_exists(pk)"
    return put


class DynamoAdmissions:
    """cdp.journeys.starter.Admissions: the JENTRY records, compare-and-set."""

    def __init__(self, client: Any, table_name: str, runs: DynamoRunStore, clock: Clock) -> None:
        self._table = _Table(client, table_name)
        self._runs = runs
        self._clock = clock

    def admit(
        self, request: EntryRequest, reentry: Reentry, max_concurrent_runs: int, run_id_of: Callable[[int], str]
    ) -> Decision:
        record = record_key(request, reentry)
        person_at = entry_key(request.journey_id, request.profile_id, PERSON)
        keyed_at = entry_key(request.journey_id, request.profile_id, record) if record != PERSON else None
        for _attempt in range(MAX_RACES):
            person = _entry_record(self._table.get(person_at, "reading a journey admission"))
            keyed = _entry_record(self._table.get(keyed_at, "reading a journey admission")) if keyed_at else None
            now_ms = self._clock.now_ms()
            now = datetime.fromtimestamp(now_ms / 1000, tz=UTC)
            statuses: dict[str, str | None] = dict.fromkeys(person.active)
            statuses.update(self._runs.statuses(list(person.active)))
            live = live_runs(person, statuses, now)
            decision = decide(request, reentry, max_concurrent_runs, person=person, keyed=keyed, live_runs=live)
            if not decision.admitted or decision.reason == READMITTED:
                return decision
            run_id = run_id_of(decision.occurrence)
            admitted_at = iso_from_ms(now_ms)
            active = {key: value for key, value in person.active.items() if key in live}
            active[run_id] = admitted_at
            person_after = EntryRecord(
                occurrences=person.occurrences + 1,
                causes=person.causes
                if keyed is not None
                else remembered(person.causes, request.cause_id, decision.occurrence),
                last_run_id=run_id,
                last_entered_at=request.entered_at,
                active=active,
                revision=person.revision + 1,
            )
            writes = [_entry_put(self._table.name, person_at, person, person_after)]
            if keyed is not None and keyed_at is not None:
                keyed_after = EntryRecord(
                    occurrences=keyed.occurrences + 1,
                    causes=remembered(keyed.causes, request.cause_id, decision.occurrence),
                    last_run_id=run_id,
                    last_entered_at=request.entered_at,
                    revision=keyed.revision + 1,
                )
                writes.append(_entry_put(self._table.name, keyed_at, keyed, keyed_after))
            if len(writes) == 1:  # one record: a conditional put (half a transaction's write units)
                single = {key: value for key, value in writes[0].items() if key != "TableName"}
                if self._table.put_request("admitting a journey entry", single):
                    return decision
            elif self._table.transact("admitting a journey entry", [{"Put": put} for put in writes]):
                return decision
        raise StoreUnavailable(f"admitting {request.profile_id} to journey {request.journey_id} lost {MAX_RACES} races")

    def merge(self, journey_id: str, from_profile: str, to_profile: str) -> int:
        """A merge: fold the merged-away person's admission records of the journey into the
        survivor's (compare-and-set, once per merged-away person); returns how many changed."""
        return self._fold(
            journey_id,
            from_profile,
            to_profile,
            lambda current, record: merged(current, record, from_profile),
            "merging",
        )

    def unmerge(self, journey_id: str, survivor: str, restored: str, returned_runs: Collection[str]) -> int:
        """An unmerge: take the restored person's records out of the survivor's (compare-and-set,
        once: the survivor's record forgets the restored id); returns how many changed."""
        return self._fold(
            journey_id,
            restored,
            survivor,
            lambda current, record: unmerged(current, record, restored, returned_runs),
            "unmerging",
        )

    def _fold(
        self,
        journey_id: str,
        source: str,
        target: str,
        combine: Callable[[EntryRecord, EntryRecord], EntryRecord | None],
        doing: str,
    ) -> int:
        """Each of `source`'s admission records of the journey combined into `target`'s record
        of the same key (None from `combine`: done already)."""
        items = self._table.query(
            f"reading admissions for {doing}",
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": _s(f"{ENTRY_PREFIX}{journey_id}#{source}")},
            ConsistentRead=True,
        )
        changed = 0
        for item in items:
            record, key = _entry_record(item), entry_key(journey_id, target, item["sk"]["S"])
            for _attempt in range(MAX_RACES):
                current = _entry_record(self._table.get(key, "reading a journey admission"))
                after = combine(current, record)
                if after is None:
                    break
                put = {k: v for k, v in _entry_put(self._table.name, key, current, after).items() if k != "TableName"}
                if self._table.put_request(f"{doing} journey admissions", put):
                    changed += 1
                    break
            else:
                raise StoreUnavailable(f"{doing} admissions of {source} lost {MAX_RACES} races")
        return changed


class DynamoEventMarks:
    """Bus events the journey consumer handled, by envelope id, kept SEEN_TTL."""

    def __init__(self, client: Any, table_name: str, clock: Clock) -> None:
        self._table = _Table(client, table_name)
        self._clock = clock

    def seen(self, event_id: str) -> bool:
        return self._table.get(self._key(event_id), "reading a handled event") is not None

    def mark(self, event_id: str) -> None:
        expires = self._clock.now_ms() // 1000 + int(SEEN_TTL.total_seconds())
        self._table.put({**self._key(event_id), TTL_ATTRIBUTE: _n(expires)}, "recording a handled event")

    @staticmethod
    def _key(event_id: str) -> dict[str, Any]:
        # A segment change's id names the person (`<segment>:<profile>:<action>:...`): kept as a
        # digest, so an erased person's id is not left behind in a mark (others are event ids).
        if ":" in event_id:
            event_id = "h-" + hashlib.sha256(event_id.encode()).hexdigest()
        return {"pk": _s(SEEN_PREFIX + event_id), "sk": _s("SEEN")}
