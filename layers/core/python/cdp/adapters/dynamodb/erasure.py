"""Erase records, suppressions and the core / raw-events tables' erasure stores (cdp.privacy.erase).

Item layout in the core table (pk / sk):
  ERASE#<erase id> / ERASE            the erase record (counts only) and `dropped`, the events its
                                      suppression dropped (ADDed by the event processor)
  ERASE#<erase id> / PERSON           the person's profile ids and identifiers while the erase runs
  ERASED#<profile digest> / ERASED    which erase covers a (hashed) profile id
  SUPPRESSED#<digest> / SUPPRESSED    a suppressed identifier digest; gsi1: SUPPRESSIONS#<erase id>

What each store finds of a person, by key (no scans):
  timeline_refs     for each timeline entry: its raw event (raw table), its APPLIED marker, for a
                    message outcome the send record it names, for an account link its consumed
                    nonce (which names the LINE user and the member); runs before `profile`
  memberships       segment memberships and their history (gsi1 MEMBERSHIPS# / SEGMENT-HISTORY#)
  frequency_caps    MSGCAP#<profile id>
  merge_ledgers     the ledgers into the person's profiles (gsi1 MERGES#): kept with the person's ids
                    and identifiers replaced; the separations they recorded are deleted
  identifier_claims ID#<key> / ID owned by one of the person's profiles
  profile           everything under PROFILE#<id>: the profile and its timeline; runs last
"""

from __future__ import annotations

import abc
import json
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cdp.adapters.dynamodb.errors import CONDITIONAL_CHECK_FAILED, error_code, unavailable
from cdp.adapters.dynamodb.link_nonces import PK_PREFIX as NONCE_PREFIX
from cdp.adapters.dynamodb.link_nonces import SK as NONCE_SK
from cdp.adapters.dynamodb.profile_store import profile_pk, read_document
from cdp.adapters.dynamodb.segment_store import history_key, memberships_key
from cdp.adapters.dynamodb.send_ledger import CAP_PREFIX, SEND_PREFIX
from cdp.clock import SystemClock, iso_from_ms
from cdp.errors import StoreUnavailable
from cdp.events.names import ACCOUNT_LINKED
from cdp.identity.resolver import separation_key
from cdp.privacy.erase import EraseRecord, Person
from cdp.segments.store import EXITED

ERASE_PREFIX = "ERASE#"
POINTER_PREFIX = "ERASED#"
SUPPRESSED_PREFIX = "SUPPRESSED#"
SUPPRESSIONS_INDEX_PREFIX = "SUPPRESSIONS#"
ERASED_MARK = "erased"  # what replaces the person's ids in the merge ledgers kept
BATCH_WRITE_LIMIT = 25
BATCH_GET_LIMIT = 100
MESSAGE_OUTCOMES = ("Message Sent", "Message Suppressed", "Message Failed", "Message Delivered")
KEY_PREFIXES = (ERASE_PREFIX, POINTER_PREFIX, SUPPRESSED_PREFIX)
CANCELLED_BY_CONDITION = "ConditionalCheckFailed"
STALE_INDEX_PAUSE_SECONDS = 0.2  # a transaction's cancellation reason code


def _s(value: str) -> dict[str, str]:
    return {"S": value}


class ItemTable:
    """The few DynamoDB calls the stores share, each failure as StoreUnavailable."""

    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table

    def query(self, doing: str, **request: Any) -> Iterator[dict[str, Any]]:
        request = {"TableName": self.table, **request}
        try:
            while True:
                response = self.client.query(**request)
                yield from response.get("Items", [])
                if "LastEvaluatedKey" not in response or "Limit" in request:
                    return
                request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, doing) from exc

    def count(self, doing: str, **request: Any) -> int:
        request = {"TableName": self.table, "Select": "COUNT", **request}
        total = 0
        try:
            while True:
                response = self.client.query(**request)
                total += int(response.get("Count", 0))
                if "LastEvaluatedKey" not in response:
                    return total
                request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, doing) from exc

    def delete_keys(self, keys: Sequence[dict[str, Any]], doing: str) -> None:
        unique = list({json.dumps(key, sort_keys=True): key for key in keys}.values())
        for start in range(0, len(unique), BATCH_WRITE_LIMIT):
            requests = [{"DeleteRequest": {"Key": key}} for key in unique[start : start + BATCH_WRITE_LIMIT]]
            for _attempt in range(8):
                try:
                    response = self.client.batch_write_item(RequestItems={self.table: requests})
                except (ClientError, BotoCoreError) as exc:
                    raise unavailable(exc, doing) from exc
                requests = response.get("UnprocessedItems", {}).get(self.table, [])
                if not requests:
                    break
            if requests:
                raise StoreUnavailable(f"{doing}: {len(requests)} deletes left unprocessed")

    def existing(self, keys: Sequence[dict[str, Any]], doing: str, projection: str = "pk") -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        unique = list({json.dumps(key, sort_keys=True): key for key in keys}.values())
        try:
            for start in range(0, len(unique), BATCH_GET_LIMIT):
                request: dict[str, Any] = {
                    self.table: {
                        "Keys": unique[start : start + BATCH_GET_LIMIT],
                        "ConsistentRead": True,
                        "ProjectionExpression": projection,
                    }
                }
                while request:
                    response = self.client.batch_get_item(RequestItems=request)
                    found.extend(response.get("Responses", {}).get(self.table, []))
                    request = response.get("UnprocessedKeys") or {}
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, doing) from exc
        return found

    def get(self, key: dict[str, Any], doing: str) -> dict[str, Any] | None:
        try:
            item: dict[str, Any] | None = self.client.get_item(TableName=self.table, Key=key, ConsistentRead=True).get(
                "Item"
            )
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, doing) from exc
        return item


# --- records, pointers, suppressions -----------------------------------------------------------
class DynamoEraseLedger:
    def __init__(self, client: Any, table_name: str) -> None:
        self._t = ItemTable(client, table_name)

    def erase_for(self, profile_digests: Sequence[str]) -> str | None:
        keys = [{"pk": _s(POINTER_PREFIX + digest), "sk": _s("ERASED")} for digest in profile_digests]
        found = self._t.existing(keys, "reading erase pointers", "pk, erase_id")
        return min((item["erase_id"]["S"] for item in found), default=None)

    def create(self, record: EraseRecord, person: Person, pointers: Sequence[str]) -> bool:
        pk = _s(ERASE_PREFIX + record.erase_id)
        items: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self._t.table,
                    "Item": {"pk": pk, "sk": _s("ERASE"), "doc": _s(_dumps(record.as_dict()))},
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {
                "Put": {
                    "TableName": self._t.table,
                    "Item": {"pk": pk, "sk": _s("PERSON"), "doc": _s(_dumps(person.as_dict()))},
                }
            },
        ]
        items += [
            {
                "Put": {
                    "TableName": self._t.table,
                    "Item": {"pk": _s(POINTER_PREFIX + digest), "sk": _s("ERASED"), "erase_id": _s(record.erase_id)},
                }
            }
            for digest in pointers
        ]
        if len(items) > 100:  # a transaction's limit: pointers beyond it are written after
            rest, items = items[100:], items[:100]
        else:
            rest = []
        try:
            self._t.client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            reasons = exc.response.get("CancellationReasons") or []
            if reasons and reasons[0].get("Code") == CANCELLED_BY_CONDITION:
                return False
            raise unavailable(exc, "creating an erase record") from exc
        except BotoCoreError as exc:
            raise unavailable(exc, "creating an erase record") from exc
        for item in rest:
            self._put(item["Put"]["Item"], "writing erase pointers")
        return True

    def get(self, erase_id: str) -> EraseRecord | None:
        item = self._t.get({"pk": _s(ERASE_PREFIX + erase_id), "sk": _s("ERASE")}, "reading an erase record")
        if item is None:
            return None
        record = EraseRecord.from_dict(json.loads(item["doc"]["S"]))
        record.suppressed_events = int(item.get("dropped", {}).get("N", "0"))
        return record

    def save(self, record: EraseRecord) -> None:
        document = record.as_dict()
        document.pop("suppressed_events")  # a counter of its own, ADDed by the event processor
        try:
            self._t.client.update_item(
                TableName=self._t.table,
                Key={"pk": _s(ERASE_PREFIX + record.erase_id), "sk": _s("ERASE")},
                UpdateExpression="SET doc = :doc",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":doc": _s(_dumps(document))},
            )
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "saving an erase record") from exc

    def person(self, erase_id: str) -> Person | None:
        item = self._t.get({"pk": _s(ERASE_PREFIX + erase_id), "sk": _s("PERSON")}, "reading an erase's person")
        return Person.from_dict(json.loads(item["doc"]["S"])) if item else None

    def forget_person(self, erase_id: str) -> None:
        self._t.delete_keys([{"pk": _s(ERASE_PREFIX + erase_id), "sk": _s("PERSON")}], "forgetting an erased person")

    def _put(self, item: dict[str, Any], doing: str) -> None:
        try:
            self._t.client.put_item(TableName=self._t.table, Item=item)
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, doing) from exc


class DynamoSuppressions:
    def __init__(self, client: Any, table_name: str, raw_table: str | None = None) -> None:
        self._t = ItemTable(client, table_name)
        self._raw_table = raw_table

    def add(self, digests: Sequence[str], erase_id: str, at: str) -> None:
        for digest in digests:
            try:
                self._t.client.put_item(
                    TableName=self._t.table,
                    Item={
                        "pk": _s(SUPPRESSED_PREFIX + digest),
                        "sk": _s("SUPPRESSED"),
                        "erase_id": _s(erase_id),
                        "at": _s(at),
                        "gsi1pk": _s(SUPPRESSIONS_INDEX_PREFIX + erase_id),
                        "gsi1sk": _s(digest),
                    },
                )
            except (ClientError, BotoCoreError) as exc:
                raise unavailable(exc, "suppressing erased identifiers") from exc

    def matching(self, digests: Sequence[str]) -> dict[str, str]:
        keys = [{"pk": _s(SUPPRESSED_PREFIX + digest), "sk": _s("SUPPRESSED")} for digest in digests]
        found = self._t.existing(keys, "reading suppressions", "pk, erase_id")
        return {item["pk"]["S"].removeprefix(SUPPRESSED_PREFIX): item["erase_id"]["S"] for item in found}

    def lift(self, erase_id: str) -> int:
        items = list(
            self._t.query(
                "listing an erase's suppressions",
                IndexName="gsi1",
                KeyConditionExpression="gsi1pk = :pk",
                ExpressionAttributeValues={":pk": _s(SUPPRESSIONS_INDEX_PREFIX + erase_id)},
            )
        )
        for item in items:  # a person's few identifiers: one DeleteItem each
            try:
                self._t.client.delete_item(TableName=self._t.table, Key={"pk": item["pk"], "sk": item["sk"]})
            except (ClientError, BotoCoreError) as exc:
                raise unavailable(exc, "lifting suppressions") from exc
        return len(items)

    def drop(self, erase_id: str, event_id: str) -> bool:
        """One transaction over both tables: the raw event deleted (it must still be there) and
        the erase record's `dropped` counter ADDed; a redelivery finds the event gone and counts
        nothing."""
        if self._raw_table is None:
            raise StoreUnavailable("suppressions were built without the raw events table")
        try:
            self._t.client.transact_write_items(
                TransactItems=[
                    {
                        "Delete": {
                            "TableName": self._raw_table,
                            "Key": {"pk": _s(event_id)},
                            "ConditionExpression": "attribute_exists(pk)",
                        }
                    },
                    {
                        "Update": {
                            "TableName": self._t.table,
                            "Key": {"pk": _s(ERASE_PREFIX + erase_id), "sk": _s("ERASE")},
                            "UpdateExpression": "ADD dropped :one",
                            "ConditionExpression": "attribute_exists(pk)",
                            "ExpressionAttributeValues": {":one": {"N": "1"}},
                        }
                    },
                ]
            )
        except ClientError as exc:
            reasons = exc.response.get("CancellationReasons") or []
            if reasons and reasons[0].get("Code") == CANCELLED_BY_CONDITION:
                return False
            raise unavailable(exc, "dropping a suppressed event") from exc
        except BotoCoreError as exc:
            raise unavailable(exc, "dropping a suppressed event") from exc
        return True


# --- erasure stores ------------------------------------------------------------------------------
class TimelineReferencesErasure:
    """What the person's timeline entries point at: raw events, APPLIED markers, send records."""

    name = "timeline_refs"

    def __init__(self, client: Any, core_table: str, raw_client: Any, raw_table: str) -> None:
        self._core = ItemTable(client, core_table)
        self._raw = ItemTable(raw_client, raw_table)
        self._after: dict[str, str] = {}  # profile id -> last sort key done (within one invocation)

    def _refs(self, profile_id: str, after: str | None, limit: int | None) -> list[tuple[str, str | None, str]]:
        request: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": _s(profile_pk(profile_id)), ":prefix": _s("EVENT#")},
            "ConsistentRead": True,
        }
        if limit is not None:
            request["Limit"] = limit
        if after:
            request["ExclusiveStartKey"] = {"pk": _s(profile_pk(profile_id)), "sk": _s(after)}
        refs = []
        for item in self._core.query("reading a timeline to erase", **request):
            document = read_document(item)
            send_key = None
            properties = document.get("properties") or {}
            if document.get("event") in MESSAGE_OUTCOMES:
                value = properties.get("send_key")
                send_key = SEND_PREFIX + value if isinstance(value, str) else None
            elif document.get("event") == ACCOUNT_LINKED and isinstance(properties.get("nonce"), str):
                send_key = NONCE_PREFIX + properties["nonce"]  # the nonce names the LINE user and member
            refs.append((str(document.get("eventId") or ""), send_key, item["sk"]["S"]))
        return refs

    def erase(self, person: Person, *, limit: int) -> tuple[int, bool]:
        for profile_id in person.profile_ids:
            after = self._after.get(profile_id)
            if after == "":
                continue
            refs = self._refs(profile_id, after, limit)
            if not refs:
                self._after[profile_id] = ""
                continue
            removed = self._delete(refs)
            self._after[profile_id] = refs[-1][2]
            return removed, False
        self._after.clear()
        return 0, True

    def _delete(self, refs: list[tuple[str, str | None, str]]) -> int:
        raw_keys = [{"pk": _s(event_id)} for event_id, _, _ in refs if event_id]
        core_keys = [{"pk": _s(f"APPLIED#{event_id}"), "sk": _s("APPLIED")} for event_id, _, _ in refs if event_id]
        core_keys += [_ref_key(key) for _, key, _ in refs if key]
        present = len(self._raw.existing(raw_keys, "counting raw events to erase")) if raw_keys else 0
        present += len(self._core.existing(core_keys, "counting markers to erase")) if core_keys else 0
        if raw_keys:
            self._raw.delete_keys(raw_keys, "erasing raw events")
        if core_keys:
            self._core.delete_keys(core_keys, "erasing markers and send records")
        return present

    def remaining(self, person: Person) -> int:
        left = 0
        for profile_id in person.profile_ids:
            refs = self._refs(profile_id, None, None)
            raw_keys = [{"pk": _s(event_id)} for event_id, _, _ in refs if event_id]
            core_keys = [{"pk": _s(f"APPLIED#{e}"), "sk": _s("APPLIED")} for e, _, _ in refs if e]
            core_keys += [_ref_key(key) for _, key, _ in refs if key]
            left += len(self._raw.existing(raw_keys, "verifying raw events")) if raw_keys else 0
            left += len(self._core.existing(core_keys, "verifying markers")) if core_keys else 0
        return left


class _IndexedErasure(abc.ABC):
    """Items found through a key of the person (partition or gsi1), deleted by their own keys."""

    name = ""

    def __init__(self, client: Any, core_table: str) -> None:
        self._t = ItemTable(client, core_table)
        # Keys deleted by this container: a gsi1 query (eventually consistent) may list an item
        # again just after its delete; it is deleted again (a no-op) but counted once.
        self._deleted: set[str] = set()

    @abc.abstractmethod
    def _queries(self, person: Person) -> list[dict[str, Any]]:
        """The queries that find this store's items of the person."""

    def _before_delete(self, items: list[dict[str, Any]]) -> None:
        """What a store records about items it is about to delete (nothing, by default)."""
        return None

    def erase(self, person: Person, *, limit: int) -> tuple[int, bool]:
        for request in self._queries(person):
            items = list(self._t.query(f"finding {self.name} to erase", Limit=limit, **request))
            if items:
                keys = [{"pk": item["pk"], "sk": item["sk"]} for item in items]
                fresh = [item for item, key in zip(items, keys, strict=True) if _key_text(key) not in self._deleted]
                self._before_delete(fresh)
                self._t.delete_keys(keys, f"erasing {self.name}")
                new = {_key_text(key) for key in keys} - self._deleted
                self._deleted |= new
                if not new:
                    time.sleep(STALE_INDEX_PAUSE_SECONDS)  # the index still lists what is gone
                return len(new), False
        self._deleted.clear()
        return 0, True

    def remaining(self, person: Person) -> int:
        return sum(self._t.count(f"verifying {self.name}", **request) for request in self._queries(person))


class ProfileErasure(_IndexedErasure):
    """The profile and its timeline: last, since other stores find the person through them."""

    name = "profile"

    def _queries(self, person: Person) -> list[dict[str, Any]]:
        return [
            {
                "KeyConditionExpression": "pk = :pk",
                "ExpressionAttributeValues": {":pk": _s(profile_pk(profile_id))},
                "ConsistentRead": True,
            }
            for profile_id in person.profile_ids
        ]


class MembershipErasure(_IndexedErasure):
    """Memberships and their history. Leaving a segment is recorded as an exit of an anonymous
    member (`erased-<random>`, no index back to the person): a LINE audience kept in sync with
    the segment sees an exit and is replaced from the current members on its next sync (LINE
    cannot remove an id from an audience), and the segment's history shows the exit."""

    name = "segment_memberships"

    def __init__(self, client: Any, core_table: str, now_ms: Callable[[], int] | None = None) -> None:
        super().__init__(client, core_table)
        self._now_ms = now_ms or SystemClock().now_ms

    def _before_delete(self, items: list[dict[str, Any]]) -> None:
        for item in items:
            if item.get("sk", {}).get("S", "").startswith("MEMBER#"):
                self._record_exit(item)

    def _record_exit(self, member: dict[str, Any]) -> None:
        at = iso_from_ms(self._now_ms())
        anonymous = f"{ERASED_MARK}-{uuid.uuid4().hex[:12]}"
        item = {
            "pk": member["pk"],
            "sk": _s(f"HIST#{at}#{anonymous}#{EXITED}"),
            "segment_id": member.get("segment_id", _s(member["pk"]["S"].removeprefix("SEGMENT#"))),
            "profile_id": _s(anonymous),
            "action": _s(EXITED),
            "at": _s(at),
            "rule_version": member.get("rule_version", {"N": "0"}),
        }
        try:
            self._t.client.put_item(TableName=self._t.table, Item=item)
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "recording an erased member's exit") from exc

    def _queries(self, person: Person) -> list[dict[str, Any]]:
        return [
            {
                "IndexName": "gsi1",
                "KeyConditionExpression": "gsi1pk = :pk",
                "ExpressionAttributeValues": {":pk": _s(key)},
            }
            for profile_id in person.profile_ids
            for key in (memberships_key(profile_id), history_key(profile_id))
        ]


class FrequencyCapErasure(_IndexedErasure):
    name = "frequency_caps"

    def _queries(self, person: Person) -> list[dict[str, Any]]:
        return [
            {
                "KeyConditionExpression": "pk = :pk",
                "ExpressionAttributeValues": {":pk": _s(CAP_PREFIX + profile_id)},
                "ConsistentRead": True,
            }
            for profile_id in person.profile_ids
        ]


class ClaimErasure:
    name = "identifier_claims"

    def __init__(self, client: Any, core_table: str) -> None:
        self._t = ItemTable(client, core_table)

    def _owned(self, person: Person) -> list[dict[str, Any]]:
        keys = [{"pk": _s(f"ID#{key}"), "sk": _s("ID")} for key in person.identifiers]
        found = self._t.existing(keys, "reading identifier claims", "pk, sk, profile_id") if keys else []
        mine = set(person.profile_ids)
        return [item for item in found if item.get("profile_id", {}).get("S") in mine]

    def erase(self, person: Person, *, limit: int) -> tuple[int, bool]:
        owned = self._owned(person)[:limit]
        removed = 0
        for item in owned:
            try:  # only while it is still the person's: never someone else's claim
                self._t.client.delete_item(
                    TableName=self._t.table,
                    Key={"pk": item["pk"], "sk": item["sk"]},
                    ConditionExpression="profile_id = :owner",
                    ExpressionAttributeValues={":owner": item["profile_id"]},
                )
                removed += 1
            except ClientError as exc:
                if error_code(exc) != CONDITIONAL_CHECK_FAILED:
                    raise unavailable(exc, "erasing an identifier claim") from exc
            except BotoCoreError as exc:
                raise unavailable(exc, "erasing an identifier claim") from exc
        return removed, len(owned) < limit

    def remaining(self, person: Person) -> int:
        return len(self._owned(person))


class MergeLedgerErasure:
    """Ledgers into the person's profiles keep their id, status and times (a replayed merge request
    finds its ledger and stays a no-op) with the person's ids and identifiers replaced; the
    separations an unmerge recorded between their profiles and others are deleted."""

    name = "merge_ledgers"

    def __init__(self, client: Any, core_table: str) -> None:
        self._t = ItemTable(client, core_table)

    def _ledgers(self, person: Person, limit: int | None = None) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for profile_id in person.profile_ids:
            request: dict[str, Any] = {
                "IndexName": "gsi1",
                "KeyConditionExpression": "gsi1pk = :pk",
                "ExpressionAttributeValues": {":pk": _s(f"MERGES#{profile_id}")},
            }
            if limit is not None:
                request["Limit"] = limit
            found.extend(self._t.query("finding merge ledgers to erase", **request))
            if limit is not None and len(found) >= limit:
                break
        return found

    def erase(self, person: Person, *, limit: int) -> tuple[int, bool]:
        ledgers = self._ledgers(person, limit)
        mine = set(person.profile_ids)
        separations = []
        for item in ledgers:
            document = json.loads(item["doc"]["S"])
            survivor, loser = document.get("survivor", ""), document.get("loser", "")
            if survivor and loser:
                separations.append({"pk": _s(f"SEPARATION#{separation_key(survivor, loser)}"), "sk": _s("SEPARATION")})
            document["survivor"] = ERASED_MARK if survivor in mine else survivor
            document["loser"] = ERASED_MARK if loser in mine else loser
            document["identifiers"] = []
            document["requested_by"] = ERASED_MARK
            kept = {
                "pk": item["pk"],
                "sk": item["sk"],
                "status": item.get("status", _s(document.get("status", ""))),
                "survivor": _s(document["survivor"]),
                "loser": _s(document["loser"]),
                "doc": _s(_dumps(document)),
            }
            try:
                self._t.client.put_item(TableName=self._t.table, Item=kept)
            except (ClientError, BotoCoreError) as exc:
                raise unavailable(exc, "erasing a merge ledger") from exc
        if separations:
            self._t.delete_keys(separations, "erasing separations")
        return len(ledgers), not ledgers

    def remaining(self, person: Person) -> int:
        return len(self._ledgers(person))


def core_stores(client: Any, core_table: str, raw_table: str, now_ms: Callable[[], int] | None = None) -> list[Any]:
    """The core and raw tables' stores, in the order an erase runs them."""
    return [
        TimelineReferencesErasure(client, core_table, client, raw_table),
        MembershipErasure(client, core_table, now_ms),
        FrequencyCapErasure(client, core_table),
        MergeLedgerErasure(client, core_table),
        ClaimErasure(client, core_table),
        ProfileErasure(client, core_table),
    ]


def _key_text(key: dict[str, Any]) -> str:
    return json.dumps(key, sort_keys=True)


def _ref_key(pk: str) -> dict[str, Any]:
    """A send record (`SEND#...` / SEND) or a consumed account-link nonce (`LINKNONCE#...` / NONCE)."""
    return {"pk": _s(pk), "sk": _s("SEND" if pk.startswith(SEND_PREFIX) else NONCE_SK)}


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
