"""Core single-table adapter for profiles, identifiers and timelines.

Item layout (pk / sk):
  PROFILE#<id> / PROFILE              the profile document (JSON) and its version
  PROFILE#<id> / EVENT#<ts>#<event>   one timeline entry per event, newest last in sort order
  ID#<type>#<value> / ID              identifier claim: which profile owns it
  APPLIED#<event id> / APPLIED        the event was folded in (processing idempotency)
  MERGE#<merge id> / MERGE            merge ledger: who into whom, what moved, status
  MERGE#<merge id> / COUNTERS         entries moved / returned, ADDed by each move transaction
  SEPARATION#<a>|<b> / SEPARATION     an unmerge split these profiles: never auto-merge again
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cdp.adapters.dynamodb.errors import (
    CONDITIONAL_CHECK_FAILED,
    TRANSACTION_CANCELED,
    TRANSACTION_CONFLICT,
    error_code,
    unavailable,
)
from cdp.clock import epoch_seconds
from cdp.domain_events import DomainEvent
from cdp.errors import StoreUnavailable
from cdp.events.canonical import CanonicalEvent
from cdp.identity.identifiers import Identifier
from cdp.identity.merge import MergeLedger, TimelineEntry
from cdp.profiles.computed import ComputedState
from cdp.profiles.model import APPLIED_TOKEN_BYTES, Profile, Stamped, legacy_tag
from cdp.profiles.processor import CommitOutcome

APPLIED_MARKER_TTL_SECONDS = 35 * 86400  # longer than any stream retention or redelivery window
BATCH_GET_LIMIT = 100


def profile_pk(profile_id: str) -> str:
    return f"PROFILE#{profile_id}"


def identifier_pk(identifier: Identifier) -> str:
    return f"ID#{identifier.key}"


def _s(value: str) -> dict[str, str]:
    return {"S": value}


# Always written; every other field is left out while it holds its default (None, 0, empty), which
# is what `profile_from_item` reads for a missing field: the item is rewritten on every event, in
# a transaction, and DynamoDB bills each started KB twice.
REQUIRED_FIELDS = frozenset({"profile_id", "created_at", "updated_at"})


def profile_to_document(profile: Profile) -> dict[str, Any]:
    document = {
        "profile_id": profile.profile_id,
        "created_at": profile.created_at,
        "updated_at": profile.updated_at,
        "identifiers": profile.identifiers,
        "traits": {name: stamped.as_dict() for name, stamped in profile.traits.items()},
        "line_accounts": {key: stamped.as_dict() for key, stamped in profile.line_accounts.items()},
        "event_count": profile.event_count,
        "first_seen_at": profile.first_seen_at,
        "last_seen_at": profile.last_seen_at,
        "channels": profile.channels,
        "rejected_identifiers": profile.rejected_identifiers,
        "consent": {key: stamped.as_dict() for key, stamped in profile.consent.items()},
        # the current tags are `Profile.tags`, derived from tag_state (documents from before tags
        # were events carry `tags` only, and are still read)
        "tag_state": {tag: stamped.as_dict() for tag, stamped in profile.tag_state.items()},
        "order_count": profile.order_count,
        "revenue": profile.revenue,
        "first_order_at": profile.first_order_at,
        "last_order_at": profile.last_order_at,
        "merged_into": profile.merged_into,
        "merging_into": profile.merging_into,
        "merging_by": profile.merging_by,
        "pending_merges": profile.pending_merges,
        "incoming_from": profile.incoming_from,
        "computed": _without_defaults(profile.computed.as_dict()),
    }
    return {key: value for key, value in document.items() if key in REQUIRED_FIELDS or not _is_default(value)}


def _is_default(value: Any) -> bool:
    return value is None or (not isinstance(value, bool) and value in (0, "")) or value == {} or value == []


def _without_defaults(document: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in document.items() if not _is_default(value)}


def profile_from_item(item: dict[str, Any]) -> Profile:
    doc = read_document(item)
    return Profile(
        profile_id=doc["profile_id"],
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
        version=int(item["version"]["N"]),
        identifiers=doc.get("identifiers", {}),
        traits={name: Stamped.from_dict(data) for name, data in doc.get("traits", {}).items()},
        line_accounts={key: Stamped.from_dict(data) for key, data in doc.get("line_accounts", {}).items()},
        event_count=int(doc.get("event_count", 0)),
        first_seen_at=doc.get("first_seen_at"),
        last_seen_at=doc.get("last_seen_at"),
        channels=doc.get("channels", {}),
        rejected_identifiers=doc.get("rejected_identifiers", []),
        consent={key: Stamped.from_dict(data) for key, data in doc.get("consent", {}).items()},
        tag_state=(
            {tag: Stamped.from_dict(data) for tag, data in doc["tag_state"].items()}
            if "tag_state" in doc
            else {tag: legacy_tag(entry) for tag, entry in doc.get("tags", {}).items()}
        ),
        order_count=int(doc.get("order_count", 0)),
        revenue={currency: float(total) for currency, total in doc.get("revenue", {}).items()},
        first_order_at=doc.get("first_order_at"),
        last_order_at=doc.get("last_order_at"),
        merged_into=doc.get("merged_into"),
        merging_into=doc.get("merging_into"),
        merging_by=doc.get("merging_by"),
        pending_merges=list(doc.get("pending_merges", [])),
        incoming_from=list(doc.get("incoming_from", [])),
        computed=ComputedState.from_dict(doc.get("computed")),
        applied_recent=_tokens(item["recent"]["B"]) if "recent" in item else [],
        applied_covers_from=int(item["recent_from"]["N"]) if "recent_from" in item else None,
    )


def _tokens(packed: bytes | str) -> list[bytes]:
    """From boto3 (bytes) or from a Lambda stream record's JSON (base64)."""
    data = base64.b64decode(packed) if isinstance(packed, str) else packed
    return [data[i : i + APPLIED_TOKEN_BYTES] for i in range(0, len(data), APPLIED_TOKEN_BYTES)]


def _unfinished(marker: dict[str, Any], profile: Profile) -> bool:
    """Whether an existing APPLIED marker was left by a single-write commit that never wrote its
    profile: it was on this profile, and the profile would list that fold, had it been written
    (`profile` is this attempt's fold, which already lists this event and nothing else new)."""
    if "base_version" not in marker or marker.get("profile_id", {}).get("S") != profile.profile_id:
        return False
    return profile.lists_folds_from(int(marker["base_version"]["N"]) + 1)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


# Profiles and timeline entries keep their JSON document deflated in `docz`: DynamoDB bills every
# started KB written, a profile is rewritten on each of its events, and its JSON (repeated keys,
# ISO times, ids) deflates to about a third. Items written before hold it as text in `doc`, and
# are still read (they are rewritten deflated on their next change).
DOCUMENT = "docz"
LEGACY_DOCUMENT = "doc"


def packed_document(document: Any) -> dict[str, bytes]:
    return {"B": zlib.compress(_dumps(document).encode(), 6)}


def read_document(item: dict[str, Any]) -> Any:
    """From boto3 (bytes), a Lambda stream record's JSON (base64), or a text `doc` of old."""
    if DOCUMENT not in item:
        return json.loads(item[LEGACY_DOCUMENT]["S"])
    packed = item[DOCUMENT]["B"]
    return json.loads(zlib.decompress(base64.b64decode(packed) if isinstance(packed, str) else packed))


class DynamoProfileStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    # reads ---------------------------------------------------------------------------------
    def owners(self, identifiers: Sequence[Identifier]) -> dict[str, str]:
        keys = {identifier_pk(i): i.key for i in identifiers}
        found: dict[str, str] = {}
        pending = [{"pk": _s(pk), "sk": _s("ID")} for pk in keys]
        try:
            while pending:
                chunk, pending = pending[:BATCH_GET_LIMIT], pending[BATCH_GET_LIMIT:]
                request: dict[str, Any] = {
                    self._table: {"Keys": chunk, "ConsistentRead": True, "ProjectionExpression": "pk, profile_id"}
                }
                while request:
                    response = self._client.batch_get_item(RequestItems=request)
                    for item in response.get("Responses", {}).get(self._table, []):
                        found[keys[item["pk"]["S"]]] = item["profile_id"]["S"]
                    request = response.get("UnprocessedKeys") or {}
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "reading identifier owners") from exc
        return found

    def owner(self, identifier: Identifier) -> str | None:
        return self.owners([identifier]).get(identifier.key)

    def claim_owners(self, keys: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for item in self._batch_get([(f"ID#{key}", "ID") for key in keys], "pk, profile_id"):
            found[item["pk"]["S"].removeprefix("ID#")] = item["profile_id"]["S"]
        return found

    def get(self, profile_id: str) -> Profile | None:
        item = self._get_item(profile_pk(profile_id), "PROFILE")
        return profile_from_item(item) if item else None

    def get_many(self, profile_ids: Sequence[str]) -> dict[str, Profile]:
        if len(profile_ids) == 1:  # GetItem is cheaper than a batch of one
            profile = self.get(profile_ids[0])
            return {profile.profile_id: profile} if profile else {}
        items = self._batch_get([(profile_pk(pid), "PROFILE") for pid in profile_ids], None)
        return {profile.profile_id: profile for profile in map(profile_from_item, items)}

    def load(self, profile_ids: Sequence[str], separations: Sequence[str] = ()) -> tuple[dict[str, Profile], set[str]]:
        if not separations:
            return self.get_many(profile_ids), set()
        keys = [(profile_pk(pid), "PROFILE") for pid in profile_ids]
        keys += [(f"SEPARATION#{key}", "SEPARATION") for key in separations]
        profiles: dict[str, Profile] = {}
        separated: set[str] = set()
        for item in self._batch_get(keys, None):
            if item["sk"]["S"] == "PROFILE":
                profile = profile_from_item(item)
                profiles[profile.profile_id] = profile
            else:
                separated.add(item["pk"]["S"].removeprefix("SEPARATION#"))
        return profiles, separated

    def separated(self, keys: Sequence[str]) -> set[str]:
        items = self._batch_get([(f"SEPARATION#{key}", "SEPARATION") for key in keys], "pk")
        return {item["pk"]["S"].removeprefix("SEPARATION#") for item in items}

    def _batch_get(self, keys: Sequence[tuple[str, str]], projection: str | None) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        pending = [{"pk": _s(pk), "sk": _s(sk)} for pk, sk in dict.fromkeys(keys)]
        try:
            while pending:
                chunk, pending = pending[:BATCH_GET_LIMIT], pending[BATCH_GET_LIMIT:]
                request: dict[str, Any] = {self._table: {"Keys": chunk, "ConsistentRead": True}}
                if projection:
                    request[self._table]["ProjectionExpression"] = projection
                while request:
                    response = self._client.batch_get_item(RequestItems=request)
                    found.extend(response.get("Responses", {}).get(self._table, []))
                    request = response.get("UnprocessedKeys") or {}
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "reading the core table") from exc
        return found

    def was_applied(self, event_id: str) -> str | None:
        item = self._get_item(f"APPLIED#{event_id}", "APPLIED")
        if not item:
            return None
        profile_id: str = item["profile_id"]["S"]
        if "base_version" in item:  # a single-write commit: finished once its profile lists it
            profile = self.get(profile_id)
            if profile is not None and _unfinished(item, profile) and not profile.has_applied(event_id):
                return None
        return profile_id

    def applied_events(self, event_id: str) -> list[DomainEvent]:
        item = self._get_item(f"APPLIED#{event_id}", "APPLIED")
        if not item or "events" not in item:
            return []
        return [DomainEvent.from_record(record) for record in json.loads(item["events"]["S"])]

    def latest_events(self, profile_id: str, limit: int) -> list[dict[str, Any]]:
        try:
            response = self._client.query(
                TableName=self._table,
                KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
                ExpressionAttributeValues={":pk": _s(profile_pk(profile_id)), ":prefix": _s("EVENT#")},
                ScanIndexForward=False,
                Limit=limit,
            )
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "reading the timeline") from exc
        return [read_document(item) for item in response.get("Items", [])]

    def timeline_before(
        self, profile_id: str, *, limit: int, before: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of the timeline, newest first, older than the entry `before` (a sort key); the
        events and the cursor of the next page (None at the end)."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": _s(profile_pk(profile_id)), ":prefix": _s("EVENT#")},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if before:
            request["ExclusiveStartKey"] = {"pk": _s(profile_pk(profile_id)), "sk": _s(before)}
        try:
            response = self._client.query(**request)
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "reading the timeline") from exc
        items = response.get("Items", [])
        cursor = items[-1]["sk"]["S"] if items and "LastEvaluatedKey" in response else None
        return [read_document(item) for item in items], cursor

    def _get_item(self, pk: str, sk: str) -> dict[str, Any] | None:
        try:
            response = self._client.get_item(
                TableName=self._table, Key={"pk": _s(pk), "sk": _s(sk)}, ConsistentRead=True
            )
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "reading the core table") from exc
        item: dict[str, Any] | None = response.get("Item")
        return item

    # writes --------------------------------------------------------------------------------
    def commit(
        self,
        *,
        event: CanonicalEvent,
        profile: Profile,
        expected_version: int,
        claims: Sequence[Identifier],
        attached: Sequence[Identifier] = (),
        applied_at: str = "",
        events: Sequence[DomainEvent] = (),
    ) -> CommitOutcome:
        """A new person or new identifier claims: one transaction. A known person's event (most
        events): three single-item writes, which bill once per KB where a transaction bills twice.

        The single writes keep exactly-once through the profile's list of recent folds:
        1. the APPLIED marker, naming the profile and the version folded from (`base_version`);
        2. the profile, on condition of its version, listing this event;
        3. the timeline entry (its key is the event's: writing it again changes nothing).
        A replay the profile lists was applied: the processor writes its timeline entry again
        (`record_timeline`), in case the crash came before step 3. Otherwise a marker left by a
        crash before step 2 is taken over and the commit finishes, also when its person was merged
        into another since. A marker with no `base_version` (a transaction's) or one whose fold the
        profile would no longer list (16 folds later) counts as applied, as before.
        """
        marker = self._marker(event, profile, events)
        timeline = self._timeline_put(event, profile, claims, attached, applied_at)
        if claims or expected_version == 0:
            return self._commit_in_transaction(marker, timeline, profile, expected_version, claims)
        marker["Item"]["base_version"] = {"N": str(expected_version)}
        try:
            self._client.put_item(**marker, ReturnValuesOnConditionCheckFailure="ALL_OLD")
        except ClientError as exc:
            if error_code(exc) != CONDITIONAL_CHECK_FAILED:
                raise unavailable(exc, "committing an event") from exc
            if not self._unfinished(exc.response.get("Item") or {}, profile, event.event_id):
                return CommitOutcome.ALREADY_APPLIED
            self._write(marker | {"ConditionExpression": "attribute_exists(base_version)"}, "committing an event")
        except BotoCoreError as exc:
            raise unavailable(exc, "committing an event") from exc
        try:
            self._client.put_item(**self._profile_put(profile, expected_version))
        except ClientError as exc:
            if error_code(exc) in (CONDITIONAL_CHECK_FAILED, TRANSACTION_CONFLICT):
                return CommitOutcome.PROFILE_CHANGED  # the marker stays; the retry takes it over
            raise unavailable(exc, "committing an event") from exc
        except BotoCoreError as exc:
            raise unavailable(exc, "committing an event") from exc
        self._write(timeline, "committing an event")
        return CommitOutcome.APPLIED

    def _unfinished(self, marker: dict[str, Any], profile: Profile, event_id: str) -> bool:
        """Whether a marker met on commit was left by a single-write commit that never wrote its
        profile. On this attempt's profile (`profile`, already listing this event), the profile
        would list that fold; on a profile merged away since, that profile (its folds kept by the
        merge) would list it and does not."""
        owner = marker.get("profile_id", {}).get("S")
        if "base_version" not in marker or not owner:
            return False
        if owner == profile.profile_id:
            return _unfinished(marker, profile)
        named = self.get(owner)
        return named is not None and _unfinished(marker, named) and not named.has_applied(event_id)

    def record_timeline(
        self, *, event: CanonicalEvent, profile: Profile, attached: Sequence[Identifier], applied_at: str
    ) -> None:
        put = self._timeline_put(event, profile, (), attached, applied_at)
        put["ConditionExpression"] = "attribute_not_exists(pk)"  # keep the first write's applied_at
        try:
            self._client.put_item(**put)
        except ClientError as exc:
            if error_code(exc) != CONDITIONAL_CHECK_FAILED:
                raise unavailable(exc, "writing a timeline entry") from exc
        except BotoCoreError as exc:
            raise unavailable(exc, "writing a timeline entry") from exc

    def _commit_in_transaction(
        self,
        marker: dict[str, Any],
        timeline: dict[str, Any],
        profile: Profile,
        expected_version: int,
        claims: Sequence[Identifier],
    ) -> CommitOutcome:
        # A marker left by an unfinished single-write commit (see `commit`) may be taken over.
        marker["ConditionExpression"] = "attribute_not_exists(pk) OR attribute_exists(base_version)"
        items: list[dict[str, Any]] = [
            {"Put": marker},
            {"Put": timeline},
            {"Put": self._profile_put(profile, expected_version)},
        ]
        items.extend(
            {
                "Put": {
                    "TableName": self._table,
                    "Item": {
                        "pk": _s(identifier_pk(identifier)),
                        "sk": _s("ID"),
                        "profile_id": _s(profile.profile_id),
                        "id_type": _s(identifier.type),
                        "id_value": _s(identifier.value),
                        "claimed_at": _s(profile.updated_at),
                    },
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
            for identifier in claims
        )
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if error_code(exc) != TRANSACTION_CANCELED:
                raise unavailable(exc, "committing an event") from exc
            return _cancellation_outcome(exc)
        except BotoCoreError as exc:
            raise unavailable(exc, "committing an event") from exc
        return CommitOutcome.APPLIED

    def _marker(self, event: CanonicalEvent, profile: Profile, events: Sequence[DomainEvent]) -> dict[str, Any]:
        return {
            "TableName": self._table,
            "Item": {
                "pk": _s(f"APPLIED#{event.event_id}"),
                "sk": _s("APPLIED"),
                "profile_id": _s(profile.profile_id),
                "expires_at": {"N": str(epoch_seconds(event.received_at) + APPLIED_MARKER_TTL_SECONDS)},
                "events": _s(_dumps([domain_event.to_record() for domain_event in events])),
            },
            "ConditionExpression": "attribute_not_exists(pk)",
        }

    def _timeline_put(
        self,
        event: CanonicalEvent,
        profile: Profile,
        claims: Sequence[Identifier],
        attached: Sequence[Identifier],
        applied_at: str,
    ) -> dict[str, Any]:
        return {
            "TableName": self._table,
            "Item": {
                "pk": _s(profile_pk(profile.profile_id)),
                "sk": _s(f"EVENT#{event.timestamp}#{event.event_id}"),
                "event_name": _s(event.event or event.type),
                "channel": _s(event.channel),
                DOCUMENT: packed_document(event.as_dict()),
                "applied_at": _s(applied_at or profile.updated_at),
                "claimed": _s(_dumps([i.key for i in claims])),
                "attached": _s(_dumps([i.key for i in attached])),
            },
        }

    def _write(self, put: dict[str, Any], doing: str) -> None:
        try:
            self._client.put_item(**put)
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, doing) from exc

    # merges ---------------------------------------------------------------------------------
    def get_ledger(self, merge_id: str) -> MergeLedger | None:
        """The ledger and its counters (a separate item, so ledger writes never reset them)."""
        try:
            items = self._client.query(
                TableName=self._table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": _s(f"MERGE#{merge_id}")},
                ConsistentRead=True,
            ).get("Items", [])
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "reading a merge ledger") from exc
        by_sort_key = {item["sk"]["S"]: item for item in items}
        if "MERGE" not in by_sort_key:
            return None
        ledger = _ledger_from_item(by_sort_key["MERGE"])
        counters = by_sort_key.get("COUNTERS", {})
        ledger.events_moved = int(counters.get("events_moved", {}).get("N", ledger.events_moved))
        ledger.events_returned = int(counters.get("events_returned", {}).get("N", ledger.events_returned))
        return ledger

    def merges_into(self, profile_id: str, limit: int = 100) -> list[MergeLedger]:
        try:
            response = self._client.query(
                TableName=self._table,
                IndexName="gsi1",
                KeyConditionExpression="gsi1pk = :pk",
                ExpressionAttributeValues={":pk": _s(f"MERGES#{profile_id}")},
                Limit=limit,
            )
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "listing merges") from exc
        return [_ledger_from_item(item) for item in response.get("Items", [])]

    def put_ledger(self, ledger: MergeLedger, *, expected_status: str | None) -> bool:
        # One item: a conditional put does what a transaction of one would, at half the write units.
        try:
            self._client.put_item(**self._ledger_put(ledger, expected_status)["Put"])
        except ClientError as exc:
            if error_code(exc) in (CONDITIONAL_CHECK_FAILED, TRANSACTION_CONFLICT):
                return False
            raise unavailable(exc, "writing a merge ledger") from exc
        except BotoCoreError as exc:
            raise unavailable(exc, "writing a merge ledger") from exc
        return True

    def begin(
        self, ledger: MergeLedger, *, expected_status: str | None, profiles: Sequence[tuple[Profile, int]]
    ) -> bool:
        items = [self._ledger_put(ledger, expected_status)]
        items.extend({"Put": self._profile_put(profile, expected)} for profile, expected in profiles)
        return self._transact(items, "starting a merge step")

    def finish(
        self,
        ledger: MergeLedger,
        *,
        expected_status: str,
        profiles: Sequence[tuple[Profile, int]],
        separation: str | None = None,
    ) -> bool:
        items = [self._ledger_put(ledger, expected_status)]
        items.extend({"Put": self._profile_put(profile, expected)} for profile, expected in profiles)
        if separation is not None:
            items.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": {
                            "pk": _s(f"SEPARATION#{separation}"),
                            "sk": _s("SEPARATION"),
                            "merge_id": _s(ledger.merge_id),
                        },
                    }
                }
            )
        return self._transact(items, "finishing a merge step")

    def move_claims(self, keys: Sequence[str], *, source: str, target: str) -> None:
        items = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": {"pk": _s(f"ID#{key}"), "sk": _s("ID")},
                    "UpdateExpression": "SET profile_id = :target",
                    "ConditionExpression": "profile_id IN (:source, :target)",
                    "ExpressionAttributeValues": {":source": _s(source), ":target": _s(target)},
                }
            }
            for key in keys
        ]
        if items and not self._transact(items, "moving identifier claims"):
            raise StoreUnavailable(f"identifier claims moved away from {source} during a merge; retrying")

    def timeline_page(self, profile_id: str, *, limit: int, after: str | None = None) -> list[TimelineEntry]:
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": _s(profile_pk(profile_id)), ":prefix": _s("EVENT#")},
            "ConsistentRead": True,
            "Limit": limit,
        }
        if after:
            request["ExclusiveStartKey"] = {"pk": _s(profile_pk(profile_id)), "sk": _s(after)}
        try:
            items = self._client.query(**request).get("Items", [])
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "reading the timeline") from exc
        return [_timeline_entry(profile_id, item) for item in items]

    def timeline(self, profile_id: str) -> list[TimelineEntry]:
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": _s(profile_pk(profile_id)), ":prefix": _s("EVENT#")},
            "ConsistentRead": True,
        }
        entries: list[TimelineEntry] = []
        try:
            while True:
                response = self._client.query(**request)
                entries.extend(_timeline_entry(profile_id, item) for item in response.get("Items", []))
                if "LastEvaluatedKey" not in response:  # a page stops at 1 MB: only this says "the end"
                    return entries
                request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "reading the timeline") from exc

    def move_timeline(
        self,
        entries: Sequence[TimelineEntry],
        *,
        target: str,
        moved_by: Sequence[Sequence[str]],
        merge_id: str,
        counter: str,
    ) -> None:
        items: list[dict[str, Any]] = []
        for entry, path in zip(entries, moved_by, strict=True):
            items.append(
                {
                    "Delete": {
                        "TableName": self._table,
                        "Key": {"pk": _s(profile_pk(entry.profile_id)), "sk": _s(entry.sort_key)},
                        # A concurrent duplicate of this step moved it already: do not count it twice.
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                }
            )
            items.append({"Put": {"TableName": self._table, "Item": _timeline_item(target, entry, path)}})
        items.append(
            {
                "Update": {
                    "TableName": self._table,
                    "Key": {"pk": _s(f"MERGE#{merge_id}"), "sk": _s("COUNTERS")},
                    "UpdateExpression": "ADD #counter :n",
                    "ExpressionAttributeNames": {"#counter": counter},
                    "ExpressionAttributeValues": {":n": {"N": str(len(entries))}},
                }
            }
        )
        if not self._transact(items, "moving timeline entries"):
            raise StoreUnavailable("a timeline entry changed while it was being moved; retrying")

    def _ledger_put(self, ledger: MergeLedger, expected_status: str | None) -> dict[str, Any]:
        put: dict[str, Any] = {
            "TableName": self._table,
            "Item": {
                "pk": _s(f"MERGE#{ledger.merge_id}"),
                "sk": _s("MERGE"),
                "status": _s(ledger.status),
                "survivor": _s(ledger.survivor),
                "loser": _s(ledger.loser),
                "doc": _s(_dumps(ledger.as_dict())),
                # gsi1: the merges into a profile, oldest first (admin: pick one to undo)
                "gsi1pk": _s(f"MERGES#{ledger.survivor}"),
                "gsi1sk": _s(f"{ledger.planned_at}#{ledger.merge_id}"),
            },
        }
        if expected_status is None:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            put["ConditionExpression"] = "#status = :expected"
            put["ExpressionAttributeNames"] = {"#status": "status"}
            put["ExpressionAttributeValues"] = {":expected": _s(expected_status)}
        return {"Put": put}

    def _transact(self, items: list[dict[str, Any]], doing: str) -> bool:
        """True if committed, False if a condition failed or a concurrent transaction interfered."""
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if error_code(exc) != TRANSACTION_CANCELED:
                raise unavailable(exc, doing) from exc
            return False
        except BotoCoreError as exc:
            raise unavailable(exc, doing) from exc
        return True

    def _profile_put(self, profile: Profile, expected_version: int) -> dict[str, Any]:
        put: dict[str, Any] = {
            "TableName": self._table,
            "Item": {
                "pk": _s(profile_pk(profile.profile_id)),
                "sk": _s("PROFILE"),
                "version": {"N": str(profile.version)},
                DOCUMENT: packed_document(profile_to_document(profile)),
            },
        }
        if profile.applied_recent and profile.applied_covers_from is not None:
            put["Item"]["recent"] = {"B": b"".join(profile.applied_recent)}
            put["Item"]["recent_from"] = {"N": str(profile.applied_covers_from)}
        if expected_version == 0:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            put["ConditionExpression"] = "version = :expected"
            put["ExpressionAttributeValues"] = {":expected": {"N": str(expected_version)}}
        return put


def _ledger_from_item(item: dict[str, Any]) -> MergeLedger:
    """From the ledger item alone (its counters as of its last write; get_ledger adds live ones)."""
    return MergeLedger.from_dict(json.loads(item["doc"]["S"]))


def _timeline_entry(profile_id: str, item: dict[str, Any]) -> TimelineEntry:
    attached = item.get("attached")
    return TimelineEntry(
        profile_id=profile_id,
        sort_key=item["sk"]["S"],
        document=read_document(item),
        applied_at=item.get("applied_at", {}).get("S", ""),
        claimed=tuple(json.loads(item["claimed"]["S"])) if "claimed" in item else (),
        attached=tuple(json.loads(attached["S"])) if attached else None,
        moved_by=tuple(json.loads(item["moved_by"]["S"])) if "moved_by" in item else (),
    )


def _timeline_item(profile_id: str, entry: TimelineEntry, moved_by: Sequence[str]) -> dict[str, Any]:
    document = entry.document
    item: dict[str, Any] = {
        "pk": _s(profile_pk(profile_id)),
        "sk": _s(entry.sort_key),
        "event_name": _s(document.get("event") or document.get("type", "")),
        "channel": _s(document.get("channel", "")),
        DOCUMENT: packed_document(document),
        "applied_at": _s(entry.applied_at),
        "claimed": _s(_dumps(list(entry.claimed))),
        "moved_by": _s(_dumps(list(moved_by))),
    }
    if entry.attached is not None:
        item["attached"] = _s(_dumps(list(entry.attached)))
    return item


def _cancellation_outcome(exc: ClientError) -> CommitOutcome:
    reasons = exc.response.get("CancellationReasons") or []
    codes = [reason.get("Code", "None") for reason in reasons]
    if codes and codes[0] == "ConditionalCheckFailed":
        return CommitOutcome.ALREADY_APPLIED
    if len(codes) > 2 and codes[2] == "ConditionalCheckFailed":
        return CommitOutcome.PROFILE_CHANGED
    if any(code == "ConditionalCheckFailed" for code in codes[3:]):
        return CommitOutcome.CLAIM_LOST
    # TransactionConflict (a concurrent transaction on the same items) is a lost race too.
    if any(code == "TransactionConflict" for code in codes):
        return CommitOutcome.PROFILE_CHANGED
    raise unavailable(exc, "committing an event")
