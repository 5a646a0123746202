"""What one event costs on AWS: capacity units per event on each path, and US$ per 1,000,000 events.

The real handlers run on in-process moto (the synthesized stack provisioned as `make serve` does)
while a botocore hook on each client records every DynamoDB call with its items. Units are
computed here from the items' real sizes (tests/bench/capacity.py); moto's ConsumedCapacity is not
used. Before a write, the item's current image is read with a separate, unhooked client, because
a write bills by the larger of the old and new images.

Paths: the LINE webhook and the ingest API (one raw-event put each), the event processor for a
person seen before, a new person and an event that makes two profiles one (plus the merge
workflow it starts), the real-time segment evaluator fed with the processor's `profile.updated`
events, and the archive writer fed with the core table's stream.

Lambda duration: the handler's time in-process minus the time spent inside AWS calls (that is
moto's time), plus an assumed same-region latency per call (LATENCY_MS). Stream batches and
request batching follow the deployment's settings and the traffic rate (`invocation_sizes`).

Prices: ap-northeast-1 list prices (PRICES_AS_OF); check the pricing pages before budgeting.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from cdp.settings import ENV_PUBLISH_EVENT_RECEIVED

from tests.bench import capacity

PRICES_AS_OF = "2025-06 (DynamoDB on-demand after the 2024-11-01 price cut)"
REGION = "ap-northeast-1"
# US$, ap-northeast-1 (Tokyo) list prices, first pricing tier.
PRICES = {
    "apigw_rest_per_million_requests": 4.25,
    "apigw_http_per_million_requests": 1.29,  # for comparison: the HTTP API type
    "lambda_arm64_per_gb_second": 0.0000133334,
    "lambda_per_million_requests": 0.20,
    "dynamodb_on_demand_per_million_wru": 0.715,  # 1.4269 before the Nov 2024 cut
    "dynamodb_on_demand_per_million_rru": 0.1425,  # 0.285 before the Nov 2024 cut
    "dynamodb_provisioned_per_wcu_hour": 0.000742,
    "dynamodb_provisioned_per_rcu_hour": 0.0001484,
    "dynamodb_storage_per_gb_month": 0.285,
    "dynamodb_streams_per_million_read_requests": 0.228,  # not charged when Lambda reads the stream
    "eventbridge_per_million_custom_events": 1.00,  # per 64 KB chunk of an entry
    "s3_standard_per_thousand_puts": 0.0047,
    "s3_standard_per_thousand_gets": 0.00037,
    "s3_standard_per_gb_month": 0.025,
    "stepfunctions_standard_per_thousand_transitions": 0.025,
    "cloudwatch_logs_ingestion_per_gb": 0.76,
    "cloudwatch_logs_storage_per_gb_month": 0.033,
}
# Assumed same-region round trip of each call from Lambda (p50, ms); moto's own time is removed.
LATENCY_MS = {
    "dynamodb.GetItem": 4.0,
    "dynamodb.PutItem": 5.0,
    "dynamodb.UpdateItem": 5.0,
    "dynamodb.DeleteItem": 5.0,
    "dynamodb.BatchGetItem": 6.0,
    "dynamodb.BatchWriteItem": 8.0,
    "dynamodb.Query": 6.0,
    "dynamodb.TransactWriteItems": 12.0,
    "dynamodb.TransactGetItems": 8.0,
    "events.PutEvents": 15.0,
    "stepfunctions.StartExecution": 25.0,
    "s3.PutObject": 40.0,
}
DEFAULT_LATENCY_MS = 10.0
# START and REPORT lines Lambda writes itself at system log level INFO (its default); none at WARN.
PLATFORM_LOG_BYTES_PER_INVOCATION = 330
MERGE_STATE_TRANSITIONS = 6  # infra/cdp_infra/identity_workflows.py: a merge that fits one move step
# Provisioned capacity is bought for the peak: the average rate times this factor.
PROVISIONED_PEAK_FACTOR = 3.0
# How 1,000,000 ingested events arrive and what they are (the costed mix).
MIX = {
    "line_share": 0.5,  # the rest arrives through the ingest API
    "line_events_per_delivery": 1.0,  # LINE sends one event per webhook call for most chats
    "partner_events_per_request": 10.0,  # SDK batches (analytics.js with batching, RudderStack)
    "new_person_share": 0.05,  # events that create a profile
    "merge_share": 0.002,  # events that make two profiles one
}
RAW_EVENT_TTL_DAYS = 30  # infra/cdp_infra/constants.py
APPLIED_MARKER_TTL_DAYS = 35  # cdp.adapters.dynamodb.profile_store
ITEM_OVERHEAD_BYTES = 100  # DynamoDB stores 100 bytes of index overhead per item
STREAM_BATCH = {"event_processor": (100, 1.0), "archive_writer": (1000, 30.0)}  # (max records, window s)


@dataclass
class Tally:
    """Everything one path consumed while it was measured."""

    events: int = 0
    invocations: int = 0
    wall_s: float = 0.0
    aws_s: float = 0.0
    meter_s: float = 0.0  # the meter's own work (reading images), not the handler's
    calls: Counter[str] = field(default_factory=Counter)
    wru: float = 0.0
    rru: float = 0.0
    gsi_wru: float = 0.0
    cancelled_wru: float = 0.0
    transact_items: int = 0
    eventbridge_events: int = 0
    sfn_starts: int = 0
    s3_puts: int = 0
    s3_put_bytes: int = 0
    log_bytes: int = 0
    stream_records: int = 0  # items written (each a record on the table's stream)
    timeline_bytes: int = 0  # timeline entries written (what stays stored per event)
    item_bytes: dict[str, list[int]] = field(default_factory=dict)

    def latency_ms(self, parallel: int = 1) -> float:
        total = sum(LATENCY_MS.get(name, DEFAULT_LATENCY_MS) * count for name, count in self.calls.items())
        return total / parallel

    def per_event(self, parallel: int = 1) -> dict[str, Any]:
        n = max(self.events, 1)
        own_ms = max(0.0, (self.wall_s - self.aws_s - self.meter_s) * 1000)
        return {
            "events": self.events,
            "invocations": self.invocations,
            "dynamodb_calls": {name: round(count / n, 3) for name, count in sorted(self.calls.items())},
            "wru": round(self.wru / n, 3),
            "rru": round(self.rru / n, 3),
            "gsi_wru": round(self.gsi_wru / n, 3),
            "cancelled_wru": round(self.cancelled_wru / n, 3),
            "transact_items": round(self.transact_items / n, 3),
            "eventbridge_events": round(self.eventbridge_events / n, 3),
            "sfn_starts": round(self.sfn_starts / n, 4),
            "s3_puts": round(self.s3_puts / n, 4),
            "s3_put_bytes": round(self.s3_put_bytes / n, 1),
            "log_bytes": round(self.log_bytes / n, 1),
            "stream_records": round(self.stream_records / n, 3),
            "timeline_bytes": round(self.timeline_bytes / n, 1),
            "own_ms": round(own_ms / n, 3),
            "aws_latency_ms": round(self.latency_ms(parallel) / n, 3),
            "item_bytes": {
                kind: {"mean": round(sum(sizes) / len(sizes)), "max": max(sizes)}
                for kind, sizes in sorted(self.item_bytes.items())
            },
        }


def _kind(key: dict[str, Any]) -> str:
    """A readable item kind from its key: PROFILE, EVENT, APPLIED, ID, MERGE, RAW, SEGMENT ..."""
    pk = str(next(iter(key.get("pk", {}).values()), ""))
    sk = str(next(iter(key.get("sk", {}).values()), "")) if "sk" in key else ""
    if "sk" not in key:
        return "RAW"
    if pk.startswith("PROFILE#"):
        return sk.split("#", 1)[0]
    return pk.split("#", 1)[0]


class Meter:
    """Botocore hooks that price every call of the hooked clients into the current path's tally."""

    def __init__(self, side_client: Any) -> None:
        self._side = side_client  # unhooked: reads images without being counted
        self._shapes: dict[str, tuple[tuple[str, ...], dict[str, tuple[tuple[str, ...], dict[str, Any]]]]] = {}
        self._lock = threading.Lock()
        self.tallies: dict[str, Tally] = {}
        self.current: str | None = None
        self.published: list[dict[str, Any]] = []  # EventBridge entries, for the segment evaluator
        self.workflows: list[dict[str, Any]] = []  # Step Functions inputs, for the merge steps

    @contextlib.contextmanager
    def path(self, name: str, *, events: int, invocations: int = 1) -> Iterator[Tally]:
        tally = self.tallies.setdefault(name, Tally())
        previous, self.current = self.current, name
        start = time.perf_counter()
        try:
            yield tally
        finally:
            tally.wall_s += time.perf_counter() - start
            tally.events += events
            tally.invocations += invocations
            self.current = previous

    def _tally(self) -> Tally | None:
        return self.tallies.setdefault(self.current, Tally()) if self.current else None

    def attach(self, client: Any) -> None:
        service = client.meta.service_model.service_id.hyphenize()
        label = {"eventbridge": "events", "sfn": "stepfunctions"}.get(service, service)
        client.meta.events.register(f"provide-client-params.{service}.*", self._before(label))
        client.meta.events.register(f"after-call.{service}.*", self._after(label))

    # table shapes ------------------------------------------------------------------------------
    def _shape(self, table: str) -> tuple[tuple[str, ...], dict[str, tuple[tuple[str, ...], dict[str, Any]]]]:
        if table not in self._shapes:
            description = self._side.describe_table(TableName=table)["Table"]
            keys = tuple(k["AttributeName"] for k in description["KeySchema"])
            indexes = {
                index["IndexName"]: (tuple(k["AttributeName"] for k in index["KeySchema"]), index["Projection"])
                for index in description.get("GlobalSecondaryIndexes", [])
            }
            self._shapes[table] = (keys, indexes)
        return self._shapes[table]

    def _image(self, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self._side.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
        return item

    def _key(self, table: str, item: dict[str, Any]) -> dict[str, Any]:
        return {name: item[name] for name in self._shape(table)[0]}

    # hooks --------------------------------------------------------------------------------------
    def _before(self, service: str) -> Any:
        def hook(params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
            if self.current is None:
                return
            entered = time.perf_counter()
            name = f"{service}.{model.name}"
            pending: dict[str, Any] = {"name": name, "params": params}
            if service == "dynamodb":
                pending["writes"] = self._old_images(model.name, params)
            pending["started"] = time.perf_counter()
            context["cost_meter"] = pending
            tally = self._tally()
            if tally is not None:
                with self._lock:
                    tally.meter_s += pending["started"] - entered

        return hook

    def _after(self, service: str) -> Any:
        def hook(parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
            pending = context.pop("cost_meter", None)
            tally = self._tally()
            if pending is None or tally is None:
                return
            entered = time.perf_counter()
            with self._lock:
                tally.aws_s += entered - pending["started"]
                tally.calls[pending["name"]] += 1
            operation = pending["name"].split(".", 1)[1]
            if service == "dynamodb":
                self._price_dynamodb(tally, operation, pending, parsed)
            elif service == "events" and operation == "PutEvents":
                entries = pending["params"].get("Entries", [])
                chunks = sum(math.ceil(len(json.dumps(entry).encode()) / 65536) for entry in entries)
                with self._lock:
                    tally.eventbridge_events += chunks
                    self.published.extend(entries)
            elif service == "stepfunctions" and operation == "StartExecution":
                tally.sfn_starts += 1
                self.workflows.append(json.loads(pending["params"]["input"]))
            elif service == "s3" and operation == "PutObject":
                body = pending["params"].get("Body")
                size = len(body) if isinstance(body, bytes | bytearray) else _stream_size(body)
                with self._lock:
                    tally.s3_puts += 1
                    tally.s3_put_bytes += size
            with self._lock:
                tally.meter_s += time.perf_counter() - entered

        return hook

    # DynamoDB pricing ---------------------------------------------------------------------------
    def _old_images(self, operation: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """For each item a write touches: table, key, new item (when known), old image."""
        writes: list[dict[str, Any]] = []
        if operation == "PutItem":
            writes.append({"table": params["TableName"], "new": params["Item"]})
        elif operation in ("UpdateItem", "DeleteItem"):
            writes.append({"table": params["TableName"], "key": params["Key"], "update": operation == "UpdateItem"})
        elif operation == "BatchWriteItem":
            for table, requests in params["RequestItems"].items():
                for request in requests:
                    if "PutRequest" in request:
                        writes.append({"table": table, "new": request["PutRequest"]["Item"]})
                    else:
                        writes.append({"table": table, "key": request["DeleteRequest"]["Key"]})
        elif operation == "TransactWriteItems":
            for entry in params["TransactItems"]:
                ((action, body),) = entry.items()
                if action == "Put":
                    writes.append({"table": body["TableName"], "new": body["Item"]})
                elif action in ("Update", "Delete", "ConditionCheck"):
                    writes.append({"table": body["TableName"], "key": body["Key"], "update": action == "Update"})
        for write in writes:
            key = write.get("key") or self._key(write["table"], write["new"])
            write["key"] = key
            write["old"] = self._image(write["table"], key)
        return writes

    def _price_dynamodb(self, tally: Tally, operation: str, pending: dict[str, Any], parsed: dict[str, Any]) -> None:
        params = pending["params"]
        error = (parsed.get("Error") or {}).get("Code")
        transactional = operation.startswith("Transact")
        wru = gsi = cancelled = 0.0
        for write in pending.get("writes", []):
            table, old = write["table"], write["old"]
            if "new" in write:
                new = write["new"]
            elif write.get("update") and not error:
                new = self._image(table, write["key"])
            else:
                new = None
            if error:  # a failed condition (or a cancelled transaction) still consumes
                units = capacity.write_units(capacity.item_size(old), capacity.item_size(new), transactional=True)
                cancelled += units if transactional else capacity.write_units(capacity.item_size(old), 0)
                continue
            wru += capacity.write_units(capacity.item_size(old), capacity.item_size(new), transactional=transactional)
            gsi += self._index_writes(table, old, new)
            kind = _kind(write["key"])
            size = capacity.item_size(new or old)
            with self._lock:
                tally.item_bytes.setdefault(kind, []).append(size)
                tally.stream_records += 1
                if kind == "EVENT" and new is not None:
                    tally.timeline_bytes += size
        rru = self._reads(operation, params, parsed)
        with self._lock:
            tally.wru += wru
            tally.gsi_wru += gsi
            tally.cancelled_wru += cancelled
            tally.rru += rru
            if transactional:
                tally.transact_items += len(params.get("TransactItems", []))

    def _index_writes(self, table: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> float:
        keys, indexes = self._shape(table)
        units = 0.0
        for index_keys, projection in indexes.values():
            before = capacity.projected(old or {}, index_keys, keys, projection) if old else None
            after = capacity.projected(new or {}, index_keys, keys, projection) if new else None
            if before is None and after is None:
                continue
            same_key = before is not None and after is not None and all(before[k] == after[k] for k in index_keys)
            if same_key or before is None or after is None:
                units += capacity.write_units(capacity.item_size(before), capacity.item_size(after))
            else:  # the entry moves: its removal and its new entry
                units += capacity.write_units(capacity.item_size(before), 0)
                units += capacity.write_units(0, capacity.item_size(after))
        return units

    def _reads(self, operation: str, params: dict[str, Any], parsed: dict[str, Any]) -> float:
        if operation == "GetItem":
            full = self._image(params["TableName"], params["Key"]) if "ProjectionExpression" in params else None
            item = full if full is not None else parsed.get("Item")
            return capacity.read_units(capacity.item_size(item), consistent=bool(params.get("ConsistentRead")))
        if operation == "BatchGetItem":
            total = 0.0
            for table, request in params["RequestItems"].items():
                consistent = bool(request.get("ConsistentRead"))
                for key in request["Keys"]:
                    size = capacity.item_size(self._image(table, key))
                    total += capacity.read_units(size, consistent=consistent)
            return total
        if operation == "TransactGetItems":
            return sum(
                capacity.read_units(
                    capacity.item_size(self._image(entry["Get"]["TableName"], entry["Get"]["Key"])),
                    consistent=True,
                    transactional=True,
                )
                for entry in params["TransactItems"]
            )
        if operation in ("Query", "Scan"):
            items = parsed.get("Items", [])
            if "ProjectionExpression" in params and "IndexName" not in params:
                items = [self._image(params["TableName"], self._key(params["TableName"], item)) or {} for item in items]
            size = sum(capacity.item_size(item) for item in items)
            return capacity.read_units(size, consistent=bool(params.get("ConsistentRead")))
        return 0.0


def _stream_size(body: Any) -> int:
    if body is None:
        return 0
    if hasattr(body, "seek") and hasattr(body, "tell"):
        position = body.tell()
        body.seek(0, io.SEEK_END)
        size = int(body.tell())
        body.seek(position)
        return size
    return len(bytes(body))


class LogCounter(io.StringIO):
    """Stands in for the powertools handler's stream: counts the bytes each path logs."""

    def __init__(self, meter: Meter) -> None:
        super().__init__()
        self._meter = meter

    def write(self, text: str) -> int:
        tally = self._meter._tally()
        if tally is not None:
            tally.log_bytes += len(text.encode("utf-8"))
        return len(text)


# The measured run -----------------------------------------------------------------------------
# Small on purpose: moto copies the whole table (stream included) for every transaction, so its
# time and memory grow with the square of the events processed. Units per event do not depend on it.
WARM_PERSONS = 5  # people with a history before the measured events (a profile as it grows)
WARM_ORDERS = 8  # orders per person, on different days: the daily buckets a buyer carries
KNOWN_EVENTS = 60
NEW_PERSONS = 20
MERGES = 4
WEBHOOK_DELIVERIES = 30
INGEST_REQUESTS = 4
PROVIDER = "bench-provider"
SEGMENT_RULES = {
    "taipei": {"attribute": {"field": "traits.city", "op": "eq", "value": "Taipei"}},
    "gold": {"attribute": {"field": "traits.tier", "op": "eq", "value": "gold"}},
    "bought-30d": {"event": {"name": "Order Completed", "within": {"last": {"days": 30}}}},
    "bought-90d": {"event": {"name": "Order Completed", "within": {"last": {"days": 90}}}},
    "kaohsiung": {"attribute": {"field": "traits.city", "op": "eq", "value": "Kaohsiung"}},
}


def _line_user(tag: str) -> str:
    import hashlib

    return "U" + hashlib.md5(tag.encode()).hexdigest()


def _iso(ms: int) -> str:
    from cdp.clock import iso_from_ms

    return iso_from_ms(ms)


class Feeder:
    """Raw events as the processor's stream delivers them (NEW_IMAGE records of the raw table)."""

    def __init__(self, raw_table: str, stream_arn: str) -> None:
        from cdp.adapters.dynamodb.raw_events import DynamoRawEventStore

        self._items = DynamoRawEventStore(None, raw_table, 86400)
        self._arn = stream_arn
        self._seq = 10**20
        self.now_ms = int(time.time() * 1000)

    def line(self, user: str, kind: str, ago_days: float = 0.0, **extra: Any) -> dict[str, Any]:
        from cdp.events.raw import RawEvent

        event_id = f"01COST{uuid.uuid4().hex[:20].upper()}"
        payload: dict[str, Any] = {
            "type": kind,
            "mode": "active",
            "timestamp": self.now_ms - int(ago_days * 86_400_000),
            "source": {"type": "user", "userId": user},
            "webhookEventId": event_id,
            "deliveryContext": {"isRedelivery": False},
            **extra,
        }
        if kind == "message":
            payload.setdefault(
                "message", {"type": "text", "id": str(uuid.uuid4().int % 10**14), "text": "請問有新品嗎？"}
            )
            payload["replyToken"] = uuid.uuid4().hex
        raw = RawEvent(
            f"line#default#{event_id}", "line", "default", _iso(self.now_ms), payload, "U" + "0" * 32, PROVIDER
        )
        return self._record(raw)

    def partner(self, kind: str, ago_days: float = 0.0, **fields: Any) -> dict[str, Any]:
        from cdp.events.raw import RawEvent

        message_id = str(uuid.uuid4())
        payload = {"type": kind, "messageId": message_id, "timestamp": _iso(self.now_ms - int(ago_days * 86_400_000))}
        payload.update(fields)
        return self._record(RawEvent(f"partner#bench#{message_id}", "partner", "bench", _iso(self.now_ms), payload))

    def _record(self, raw: Any) -> dict[str, Any]:
        self._seq += 1
        item = self._items._item(raw)
        return {
            "eventID": uuid.uuid4().hex,
            "eventName": "INSERT",
            "eventSource": "aws:dynamodb",
            "eventSourceARN": self._arn,
            "dynamodb": {"Keys": {"pk": item["pk"]}, "NewImage": item, "SequenceNumber": str(self._seq)},
        }


def _order(feeder: Feeder, member: str, ago: float, store: str) -> dict[str, Any]:
    return feeder.partner(
        "track",
        ago,
        userId=member,
        event="Order Completed",
        properties={"order_id": uuid.uuid4().hex[:10], "revenue": 1280, "currency": "TWD", "store_id": store},
        context={"channel": "pos"},
    )


def _history(feeder: Feeder, person: int) -> list[dict[str, Any]]:
    """A member who follows the OA, chats, browses, buys on a dozen days and carries tags."""
    member, line_user = f"M{person:05d}", _line_user(f"known-{person}")
    records = [
        feeder.partner(
            "identify",
            200,
            userId=member,
            traits={
                "email": f"member{person}@example.com",
                "phone": f"09{12000000 + person:08d}",
                "name": "王小明",
                "city": "Taipei" if person % 2 else "Kaohsiung",
                "tier": "gold" if person % 3 == 0 else "silver",
                "birthday": "1988-04-02",
            },
            context={"externalIds": [{"type": "line", "id": f"{PROVIDER}:{line_user}"}], "channel": "web"},
        ),
        feeder.line(line_user, "follow", 199),
    ]
    for day in range(WARM_ORDERS):
        records.append(_order(feeder, member, 190 - day * 15, f"store-{person % 4}"))
        records.append(feeder.line(line_user, "message", 189 - day * 15))
        records.append(
            feeder.partner("track", 188 - day * 15, userId=member, event="Product Viewed", properties={"sku": "A1"})
        )
    for tag in ("asked:size", "src:store-taipei-101", "vip"):
        records.append(feeder.partner("track", 100, userId=member, event="Tag Added", properties={"tag": tag}))
    return records


def _known(feeder: Feeder, index: int) -> dict[str, Any]:
    """What a known person does most: chat, browse, sometimes buy or update their details."""
    person = index % WARM_PERSONS
    member, line_user = f"M{person:05d}", _line_user(f"known-{person}")
    slot = index % 20
    if slot < 10:
        return feeder.line(line_user, "message")
    if slot < 16:
        return feeder.partner("track", userId=member, event="Product Viewed", properties={"sku": f"SKU-{index}"})
    if slot < 18:
        return _order(feeder, member, 0, f"store-{person % 4}")
    if slot < 19:
        return feeder.line(line_user, "postback", postback={"data": "action=coupon&id=7"})
    return feeder.partner("identify", userId=member, traits={"city": "Taipei", "email": f"member{person}@example.com"})


def _new(feeder: Feeder, index: int) -> dict[str, Any]:
    if index % 2:
        return feeder.line(_line_user(f"new-{index}"), "follow")
    return feeder.partner("page", anonymousId=str(uuid.uuid4()), name="Home", context={"channel": "web"})


def _signed(secret: str, events: list[dict[str, Any]]) -> tuple[bytes, str]:
    import base64
    import hashlib
    import hmac

    body = json.dumps({"destination": "U" + "0" * 32, "events": events}, ensure_ascii=False).encode()
    return body, base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def _deployed_received_selection() -> str:
    from infra.cdp_infra import constants
    from infra.cdp_infra.deploy_settings import DeploySettings

    context = json.loads(constants.CDK_JSON.read_text(encoding="utf-8"))["context"]
    return DeploySettings.from_context(context).publish_event_received


def measure() -> dict[str, Any]:
    """Run every path on moto with the meter attached; per-event figures of each path."""
    import base64

    import boto3
    from cdp.adapters import aws
    from cdp.adapters.dynamodb.segment_store import DynamoSegmentStore
    from cdp.observability import logger
    from cdp.segments.store import SegmentDefinition

    from infra.local.lambda_runtime import LambdaContext, LambdaRuntime
    from tests.bench.run import api_event, moto_stack, segment_batch

    with moto_stack() as (resources, config):
        # Priced as deployed: the local stack publishes every event.received, cdk.json none.
        os.environ[ENV_PUBLISH_EVENT_RECEIVED] = _deployed_received_selection()
        meter = Meter(boto3.client("dynamodb"))
        for service in ("dynamodb", "events", "stepfunctions", "s3"):
            meter.attach(aws.client(service))
        runtime = LambdaRuntime()
        handler = logger.registered_handler
        original_stream = handler.setStream(LogCounter(meter))  # type: ignore[attr-defined]
        logger.setLevel("INFO")
        from cdp.adapters.dynamodb import raw_events

        parallel_writes = raw_events.MAX_PARALLEL_WRITES
        core_table = resources.function_env["event_processor"]["CDP_CORE_TABLE"]
        raw_arn, core_arn = _stream_arns(resources)
        raw_table = raw_arn.split("/")[1]
        try:
            # The edge: one raw-event put per event (sequential here, so moto's time can be removed).
            raw_events.MAX_PARALLEL_WRITES = 1
            webhook = runtime.module("line_webhook")
            body, signature = _signed(config.line_channel_secret, [])
            webhook.lambda_handler(
                api_event("/line/webhook/{channel}", body, {"x-line-signature": signature}, {"channel": "default"}),
                LambdaContext(function_name="line_webhook"),
            )  # warm: secrets and channel config are cached across deliveries
            for i in range(WEBHOOK_DELIVERIES):
                event = {
                    "type": "message",
                    "mode": "active",
                    "timestamp": int(time.time() * 1000),
                    "source": {"type": "user", "userId": _line_user(f"edge-{i % 10}")},
                    "webhookEventId": f"01EDGE{uuid.uuid4().hex[:20].upper()}",
                    "deliveryContext": {"isRedelivery": False},
                    "replyToken": uuid.uuid4().hex,
                    "message": {"type": "text", "id": str(10**12 + i), "text": "請問有新品嗎？"},
                }
                body, signature = _signed(config.line_channel_secret, [event])
                request = api_event(
                    "/line/webhook/{channel}", body, {"x-line-signature": signature}, {"channel": "default"}
                )
                with meter.path("line_webhook", events=1):
                    response = webhook.lambda_handler(request, LambdaContext(function_name="line_webhook"))
                assert response["statusCode"] == 200, response
            ingest = runtime.module("ingest")
            auth = "Basic " + base64.b64encode(f"{config.write_key}:".encode()).decode()
            batch_size = int(MIX["partner_events_per_request"])
            for _ in range(INGEST_REQUESTS):
                request = api_event("/v1/batch", segment_batch(batch_size), {"Authorization": auth})
                with meter.path("ingest", events=batch_size):
                    response = ingest.lambda_handler(request, LambdaContext(function_name="ingest"))
                assert response["statusCode"] == 200, response

            # The processor: histories first (not measured), then each kind of event.
            segments = DynamoSegmentStore(aws.client("dynamodb"), core_table)
            for segment_id, rule in SEGMENT_RULES.items():
                segments.create(SegmentDefinition.create(segment_id, segment_id, rule, _iso(int(time.time() * 1000))))
            feeder = Feeder(raw_table, raw_arn)
            processor = runtime.module("event_processor")

            def process(records: list[dict[str, Any]], path: str | None) -> None:
                for record in records:
                    context = LambdaContext(function_name="event_processor")
                    scope = meter.path(path, events=1) if path else contextlib.nullcontext()
                    with scope:
                        response = processor.lambda_handler({"Records": [record]}, context)
                    assert not response.get("batchItemFailures"), response

            for person in range(WARM_PERSONS):
                process(_history(feeder, person), None)
            for pair in range(MERGES):  # a LINE-only profile and a member profile, one person
                process([feeder.line(_line_user(f"pair-{pair}"), "follow", 30)], None)
                process([feeder.partner("identify", 29, userId=f"P{pair:05d}", traits={"city": "Taipei"})], None)
            meter.published.clear()
            process([_known(feeder, i) for i in range(KNOWN_EVENTS)], "processor_known_person")
            process([_new(feeder, i) for i in range(NEW_PERSONS)], "processor_new_person")
            meter.workflows.clear()
            merge_events = [
                feeder.partner(
                    "identify",
                    userId=f"P{pair:05d}",
                    context={"externalIds": [{"type": "line", "id": f"{PROVIDER}:{_line_user(f'pair-{pair}')}"}]},
                )
                for pair in range(MERGES)
            ]
            process(merge_events, "processor_merge_event")
            processed = KNOWN_EVENTS + NEW_PERSONS + MERGES
            _merge_workflows(meter, runtime)
            _segment_evaluator(meter, runtime, processed)
            _archive_writer(meter, runtime, core_arn)
        finally:
            handler.setStream(original_stream)  # type: ignore[attr-defined]
            raw_events.MAX_PARALLEL_WRITES = parallel_writes
            logger.setLevel("ERROR")
        memory = _memory_by_function()
    paths = {name: tally.per_event(PARALLEL.get(name, 1)) for name, tally in meter.tallies.items()}
    return {"paths": paths, "memory_mb": memory, "platform_log_bytes_per_invocation": _platform_log_bytes()}


PARALLEL = {"line_webhook": 1, "ingest": min(16, int(MIX["partner_events_per_request"]))}  # 16 writes at a time


def _stream_arns(resources: Any) -> tuple[str, str]:
    from infra.cdp_infra import constants

    raw = next(arn for lid, arn in resources.stream_arns.items() if constants.RAW_EVENTS_TABLE_ID in lid)
    core = next(arn for lid, arn in resources.stream_arns.items() if constants.CORE_TABLE_ID in lid)
    return raw, core


def _platform_log_bytes() -> int:
    """What Lambda logs per invocation by itself, as the synthesized functions' logging config asks."""
    from infra.local.provision import _functions, load_or_synthesize
    from tests.bench.run import ROOT

    template = load_or_synthesize(ROOT / ".local")
    levels = {
        template["Resources"][logical_id]["Properties"].get("LoggingConfig", {}).get("SystemLogLevel", "INFO")
        for logical_id in _functions(template["Resources"])
    }
    return 0 if levels == {"WARN"} else PLATFORM_LOG_BYTES_PER_INVOCATION


def _memory_by_function() -> dict[str, int]:
    """Each function's memory size, as the synthesized template sets it."""
    from infra.local.provision import _functions, load_or_synthesize
    from tests.bench.run import ROOT

    template = load_or_synthesize(ROOT / ".local")
    found = _functions(template["Resources"])
    return {
        folder: int(template["Resources"][logical_id]["Properties"].get("MemorySize", 128))
        for logical_id, folder in found.items()
    }


def _merge_workflows(meter: Meter, runtime: Any) -> None:
    """The merge steps Step Functions runs for each merge the processor requested."""
    from infra.local.lambda_runtime import LambdaContext

    steps = runtime.module("identity_merge")
    for request in list(meter.workflows):
        context = LambdaContext(function_name="identity_merge", timeout_seconds=300)
        with meter.path("merge_workflow", events=1, invocations=0) as tally:
            # The state machine: plan; while "merging", move until done; then finalize.
            result = steps.lambda_handler({"action": "plan", **request}, context)
            tally.invocations += 1
            if result["status"] == "merging":
                result = {"done": False}
                while not result["done"]:
                    result = steps.lambda_handler({"action": "move", "mergeId": request["mergeId"]}, context)
                    tally.invocations += 1
                result = steps.lambda_handler({"action": "finalize", "mergeId": request["mergeId"]}, context)
                tally.invocations += 1
        assert result["status"] == "merged", result


def _segment_evaluator(meter: Meter, runtime: Any, processed: int) -> None:
    """profile.updated / profile.merged from the bus, one invocation each (a Lambda target)."""
    from infra.local.lambda_runtime import LambdaContext

    evaluator = runtime.module("segment_evaluator")
    entries = [e for e in meter.published if e["DetailType"] in ("profile.updated", "profile.merged")]
    meter.published.clear()
    with meter.path("segment_evaluator", events=processed, invocations=len(entries)):
        for entry in entries:
            event = {
                "detail-type": entry["DetailType"],
                "source": entry["Source"],
                "detail": json.loads(entry["Detail"]),
            }
            evaluator.lambda_handler(event, LambdaContext(function_name="segment_evaluator"))


def _archive_writer(meter: Meter, runtime: Any, stream_arn: str) -> None:
    """The core table's stream, in the mapping's batches; measured per stream record."""
    from cdp.adapters import aws

    from infra.local.lambda_runtime import LambdaContext
    from tests.bench.run import read_stream

    streams = aws.client("dynamodbstreams")
    records = read_stream(streams, stream_arn)
    for record in records:
        moment = record["dynamodb"].get("ApproximateCreationDateTime")
        if moment is not None and not isinstance(moment, int | float):
            record["dynamodb"]["ApproximateCreationDateTime"] = moment.timestamp()
        record["eventSourceARN"] = stream_arn
    writer = runtime.module("archive_writer")
    size = STREAM_BATCH["archive_writer"][0]
    for start in range(0, len(records), size):
        batch = records[start : start + size]
        with meter.path("archive_writer", events=len(batch)):
            writer.lambda_handler({"Records": batch}, LambdaContext(function_name="archive_writer"))


# US$ ------------------------------------------------------------------------------------------
def invocation_sizes(events_per_day: float, stream_records_per_event: float) -> dict[str, float]:
    """Events per invocation of each stream consumer at a steady rate: a batch closes when full or
    when its batching window ends, whichever comes first."""
    rate = events_per_day / 86_400
    sizes = {}
    for name, (max_records, window_s) in STREAM_BATCH.items():
        per_event = stream_records_per_event if name == "archive_writer" else 1.0
        sizes[name] = max(1.0, min(max_records / per_event, rate * window_s))
    return sizes


def _weighted(paths: dict[str, Any], key: str) -> float:
    new, merge = MIX["new_person_share"], MIX["merge_share"]
    known = 1.0 - new - merge
    return float(
        known * paths["processor_known_person"][key]
        + new * paths["processor_new_person"][key]
        + merge * paths["processor_merge_event"][key]
    )


def cost_per_event(measured: dict[str, Any], events_per_day: float) -> dict[str, Any]:
    """US$ per ingested event, itemised, for the costed MIX at a steady `events_per_day`."""
    paths, memory = measured["paths"], measured["memory_mb"]
    line, partner = MIX["line_share"], 1.0 - MIX["line_share"]
    merge = MIX["merge_share"]
    p = PRICES
    stream_records = _weighted(paths, "stream_records")
    sizes = invocation_sizes(events_per_day, stream_records)
    archive = paths["archive_writer"]

    # DynamoDB request units per ingested event, by path
    edge_wru = line * paths["line_webhook"]["wru"] + partner * paths["ingest"]["wru"]
    edge_rru = line * paths["line_webhook"]["rru"] + partner * paths["ingest"]["rru"]
    proc_wru = _weighted(paths, "wru") + _weighted(paths, "gsi_wru")
    proc_rru = _weighted(paths, "rru")
    merge_wru = merge * (paths["merge_workflow"]["wru"] + paths["merge_workflow"]["gsi_wru"])
    merge_rru = merge * paths["merge_workflow"]["rru"]
    seg_wru = paths["segment_evaluator"]["wru"] + paths["segment_evaluator"]["gsi_wru"]
    seg_rru = paths["segment_evaluator"]["rru"]
    wru = {"edge": edge_wru, "processor": proc_wru, "merges": merge_wru, "segments": seg_wru}
    rru = {"edge": edge_rru, "processor": proc_rru, "merges": merge_rru, "segments": seg_rru}

    # Lambda: GB-seconds and requests per ingested event
    def gb_s(name: str, share: float, ms: float) -> float:
        return float(share * memory[name] / 1024 * ms / 1000)

    edge_ms_line = paths["line_webhook"]["own_ms"] + paths["line_webhook"]["aws_latency_ms"]
    edge_ms_partner = paths["ingest"]["own_ms"] + paths["ingest"]["aws_latency_ms"]
    proc_ms = _weighted(paths, "own_ms") + _weighted(paths, "aws_latency_ms")
    seg = paths["segment_evaluator"]
    merge_path = paths["merge_workflow"]
    lambda_gb_s = {
        "line_webhook": gb_s("line_webhook", line, edge_ms_line),
        "ingest": gb_s("ingest", partner, edge_ms_partner),
        "event_processor": gb_s("event_processor", 1.0, proc_ms),
        "segment_evaluator": gb_s("segment_evaluator", 1.0, seg["own_ms"] + seg["aws_latency_ms"]),
        "identity_merge": gb_s("identity_merge", merge, merge_path["own_ms"] + merge_path["aws_latency_ms"]),
        "archive_writer": gb_s("archive_writer", stream_records, archive["own_ms"] + archive["aws_latency_ms"]),
    }
    requests = {
        "line_webhook": line / MIX["line_events_per_delivery"],
        "ingest": partner / MIX["partner_events_per_request"],
        "event_processor": 1.0 / sizes["event_processor"],
        "segment_evaluator": seg["invocations"] / max(seg["events"], 1),
        "identity_merge": merge * merge_path["invocations"] / max(merge_path["events"], 1),
        "archive_writer": stream_records / sizes["archive_writer"],
    }
    api_requests = requests["line_webhook"] + requests["ingest"]
    eventbridge = (
        _weighted(paths, "eventbridge_events") + seg["eventbridge_events"] + merge * merge_path["eventbridge_events"]
    )
    s3_puts = requests["archive_writer"] * 2  # one profile file and one event file per batch
    log_bytes = (
        line * paths["line_webhook"]["log_bytes"]
        + partner * paths["ingest"]["log_bytes"]
        # The processor logs one line per batch (measured here with batches of one record).
        + requests["event_processor"] * _weighted(paths, "log_bytes")
        + seg["log_bytes"]
        + merge * merge_path["log_bytes"]
        + stream_records * archive["log_bytes"]
        + sum(requests.values()) * measured.get("platform_log_bytes_per_invocation", PLATFORM_LOG_BYTES_PER_INVOCATION)
    )
    total_wru, total_rru = sum(wru.values()), sum(rru.values())
    usd = {
        "api_gateway_rest": api_requests * p["apigw_rest_per_million_requests"] / 1e6,
        "lambda_duration": sum(lambda_gb_s.values()) * p["lambda_arm64_per_gb_second"],
        "lambda_requests": sum(requests.values()) * p["lambda_per_million_requests"] / 1e6,
        "dynamodb_writes": total_wru * p["dynamodb_on_demand_per_million_wru"] / 1e6,
        "dynamodb_reads": total_rru * p["dynamodb_on_demand_per_million_rru"] / 1e6,
        "dynamodb_streams": 0.0,  # read by Lambda event source mappings: not charged
        "eventbridge": eventbridge * p["eventbridge_per_million_custom_events"] / 1e6,
        "s3_archive_puts": s3_puts * p["s3_standard_per_thousand_puts"] / 1e3,
        "step_functions": merge * MERGE_STATE_TRANSITIONS * p["stepfunctions_standard_per_thousand_transitions"] / 1e3,
        "cloudwatch_logs": log_bytes / 1e9 * p["cloudwatch_logs_ingestion_per_gb"],
    }
    # Provisioned instead of on-demand: capacity for PROVISIONED_PEAK_FACTOR x the average rate, all day.
    rate = events_per_day / 86_400
    wcu, rcu = total_wru * rate * PROVISIONED_PEAK_FACTOR, total_rru * rate * PROVISIONED_PEAK_FACTOR
    provisioned_per_event = (
        24 * (wcu * p["dynamodb_provisioned_per_wcu_hour"] + rcu * p["dynamodb_provisioned_per_rcu_hour"])
    ) / events_per_day
    stored = (
        _weighted(paths, "timeline_bytes") + 100  # DynamoDB counts 100 bytes of index overhead per item
    )
    return {
        "events_per_day": events_per_day,
        "invocation_sizes": {name: round(value, 1) for name, value in sizes.items()},
        "wru_per_event": {k: round(v, 3) for k, v in wru.items()} | {"total": round(total_wru, 3)},
        "rru_per_event": {k: round(v, 3) for k, v in rru.items()} | {"total": round(total_rru, 3)},
        "lambda_gb_s_per_event": {k: round(v, 6) for k, v in lambda_gb_s.items()},
        "lambda_requests_per_event": {k: round(v, 4) for k, v in requests.items()},
        "api_requests_per_event": round(api_requests, 4),
        "eventbridge_events_per_event": round(eventbridge, 3),
        "log_bytes_per_event": round(log_bytes),
        "usd": usd,
        "usd_dynamodb_provisioned_instead": provisioned_per_event,
        "stored_bytes_per_event": {
            "dynamodb_timeline": round(stored),
            "s3_archive": round(archive["s3_put_bytes"] * stream_records),
        },
    }


def report(measured: dict[str, Any]) -> dict[str, Any]:
    """Per 1,000,000 events (at 1M events/day) and per month at 100k and 1M events/day."""
    out: dict[str, Any] = {"prices_as_of": PRICES_AS_OF, "region": REGION, "prices": PRICES, "mix": MIX}
    out["assumed_latency_ms"] = LATENCY_MS
    out["paths_per_event"] = measured["paths"]
    out["memory_mb"] = measured["memory_mb"]
    for label, per_day in (("1m_per_day", 1_000_000), ("100k_per_day", 100_000)):
        per_event = cost_per_event(measured, per_day)
        per_million = {k: round(v * 1e6, 3) for k, v in per_event["usd"].items()}
        per_million["total"] = round(sum(per_event["usd"].values()) * 1e6, 2)
        per_million["total_without_api_gateway"] = round(per_million["total"] - per_million["api_gateway_rest"], 2)
        month_events = per_day * 30
        stored = per_event["stored_bytes_per_event"]
        paths = measured["paths"]
        raw_bytes = MIX["line_share"] * _mean_bytes(paths["line_webhook"], "RAW") + (
            1 - MIX["line_share"]
        ) * _mean_bytes(paths["ingest"], "RAW")
        marker_bytes = _mean_bytes(paths["processor_known_person"], "APPLIED")
        # items that expire: what is held at any time once traffic is steady
        held_gb = {
            "dynamodb_raw_events": (raw_bytes + ITEM_OVERHEAD_BYTES) * per_day * RAW_EVENT_TTL_DAYS / 1e9,
            "dynamodb_applied_markers": (marker_bytes + ITEM_OVERHEAD_BYTES) * per_day * APPLIED_MARKER_TTL_DAYS / 1e9,
        }
        storage_month_gb = {k: v * month_events / 1e9 for k, v in stored.items()}
        out[label] = {
            **{k: v for k, v in per_event.items() if k != "usd"},
            "usd_per_million_events": per_million,
            "usd_per_million_dynamodb_provisioned_instead_of_on_demand": round(
                per_event["usd_dynamodb_provisioned_instead"] * 1e6, 3
            ),
            "usd_per_month": round(per_million["total"] * month_events / 1e6, 2),
            "storage_added_per_month_gb": {k: round(v, 2) for k, v in storage_month_gb.items()},
            "storage_held_gb": {k: round(v, 2) for k, v in held_gb.items()},
            "usd_storage_held_per_month": round(sum(held_gb.values()) * PRICES["dynamodb_storage_per_gb_month"], 2),
            "usd_storage_added_per_month": round(
                storage_month_gb["dynamodb_timeline"] * PRICES["dynamodb_storage_per_gb_month"]
                + storage_month_gb["s3_archive"] * PRICES["s3_standard_per_gb_month"],
                3,
            ),
        }
    return out


def _mean_bytes(path: dict[str, Any], kind: str) -> float:
    return float(path["item_bytes"].get(kind, {}).get("mean", 0))


def summary(result: dict[str, Any]) -> list[str]:
    lines = ["", f"Cost per event ({REGION} list prices as of {PRICES_AS_OF}):"]
    for name, path in result["paths_per_event"].items():
        lines.append(
            f"  {name:24s} WRU {path['wru']:6.2f} (+GSI {path['gsi_wru']:.2f})  RRU {path['rru']:6.2f}  "
            f"own {path['own_ms']:6.2f} ms + AWS {path['aws_latency_ms']:6.2f} ms"
        )
    for label in ("1m_per_day", "100k_per_day"):
        per_million = result[label]["usd_per_million_events"]
        lines.append(f"  US$ per 1,000,000 events at {label.replace('_', ' ')}: {per_million['total']:.2f}")
        lines.extend(f"    {name:28s} {value:8.3f}" for name, value in per_million.items() if name != "total")
        lines.append(f"    per month: US$ {result[label]['usd_per_month']:.2f}")
        lines.append(
            f"    storage: timeline +{result[label]['storage_added_per_month_gb']['dynamodb_timeline']} GB/month "
            f"(US$ {result[label]['usd_storage_added_per_month']:.2f} more each month), raw events and markers "
            f"held {sum(result[label]['storage_held_gb'].values()):.1f} GB (US$ "
            f"{result[label]['usd_storage_held_per_month']:.2f}/month)"
        )
    return lines


def run() -> dict[str, Any]:
    return report(measure())


def main() -> None:
    """`python -m tests.bench.cost`: this part of `make bench` alone."""
    from datetime import UTC, datetime

    from tests.bench.run import RESULTS, ROOT

    started = datetime.now(tz=UTC)
    result = run()
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"cost-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(result, indent=2))
    print("\n".join(summary(result)))
    print(f"\nwritten to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    import tests.bench.run  # noqa: F401  (the bench's AWS environment)

    main()
