"""Archive rows: what one change of a profile or of a timeline entry becomes in the Parquet archive.

The archive is append-only. Every row carries the change's stream sequence number (`seq`, zero
padded so it sorts as text) and `op` (upsert / remove). Readers keep, per item, the row with the
highest `seq` and drop items whose last row is a removal; DynamoDB orders the sequence numbers
of one item's changes, which is all that ordering needs. A replayed stream batch writes the same
rows again, so duplicates are harmless.

Profile rows hold the segment facts of the profile (the same `facts_from_profile` the real-time
evaluator uses), with the computed traits that depend on the evaluation time left out: the order
windows are recomputed by the reader from the daily order buckets at the time of the query, so a
rule such as "no order in the last 30 days" turns true without any new event.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from cdp.events.canonical import CanonicalEvent
from cdp.profiles.model import Profile
from cdp.segments.facts import event_fact, facts_from_profile

UPSERT = "upsert"
REMOVE = "remove"
SEQ_DIGITS = 40  # DynamoDB stream sequence numbers are decimal strings of at most 40 digits
WINDOWED = ("orders", "revenue")  # computed traits whose windows depend on the evaluation time

PROFILE_COLUMNS: Mapping[str, str] = {
    "profile_id": "VARCHAR",
    "seq": "VARCHAR",
    "op": "VARCHAR",
    "version": "BIGINT",
    "updated_at": "VARCHAR",
    "merged_into": "VARCHAR",
    "traits": "JSON",
    "consent": "JSON",
    "tags": "VARCHAR[]",
    "line_status": "VARCHAR",
    "identifier_types": "VARCHAR[]",
    "computed": "JSON",
    "all_time_orders": "BIGINT",
    "ltv": "DOUBLE",
    "daily": "STRUCT(day VARCHAR, orders BIGINT, revenue DOUBLE)[]",
}

EVENT_COLUMNS: Mapping[str, str] = {
    "event_id": "VARCHAR",
    "profile_id": "VARCHAR",
    "seq": "VARCHAR",
    "op": "VARCHAR",
    "type": "VARCHAR",
    "name": "VARCHAR",
    "ts": "TIMESTAMPTZ",
    "channel": "VARCHAR",
    "properties": "JSON",
}


def padded_seq(sequence_number: str) -> str:
    if not sequence_number.isdigit() or len(sequence_number) > SEQ_DIGITS:
        raise ValueError(f"not a stream sequence number: {sequence_number!r}")
    return sequence_number.zfill(SEQ_DIGITS)


def profile_row(profile: Profile, seq: str, archived_at: datetime) -> dict[str, Any]:
    """The profile's facts as of `archived_at`, its windowed computed traits left to the reader."""
    facts = facts_from_profile(profile, archived_at.astimezone(UTC))
    computed = {key: value for key, value in facts.computed.items() if key not in WINDOWED and key != "evaluated_at"}
    computed["orders"] = {"all_time": facts.computed["orders"]["all_time"]}
    computed["revenue"] = {"all_time": facts.computed["revenue"]["all_time"]}
    return {
        "profile_id": profile.profile_id,
        "seq": seq,
        "op": UPSERT,
        "version": profile.version,
        "updated_at": profile.updated_at,
        "merged_into": profile.merged_into,
        "traits": dict(facts.traits),
        "consent": dict(facts.consent),
        "tags": sorted(facts.tags),
        "line_status": facts.line_status,
        "identifier_types": sorted(facts.identifier_types),
        "computed": computed,
        "all_time_orders": facts.computed["orders"]["all_time"],
        "ltv": facts.computed["revenue"]["all_time"],
        "daily": [
            {"day": day, "orders": orders, "revenue": revenue}
            for day, (orders, revenue) in sorted(profile.computed.daily.items())
        ],
    }


def profile_removal(profile_id: str, seq: str) -> dict[str, Any]:
    return {"profile_id": profile_id, "seq": seq, "op": REMOVE}


def event_row(profile_id: str, document: dict[str, Any], seq: str) -> dict[str, Any]:
    """A timeline entry: track events keep their name and the properties rules see (with
    `context.channel`); other types are archived for analytics with no name."""
    event = CanonicalEvent.from_dict(document)
    fact = event_fact(event)
    moment = fact.timestamp if fact else _moment(event.timestamp)
    return {
        "event_id": event.event_id,
        "profile_id": profile_id,
        "seq": seq,
        "op": UPSERT,
        "type": event.type,
        "name": fact.name if fact else None,
        "ts": moment.astimezone(UTC).isoformat(),
        "channel": event.channel,
        "properties": dict(fact.properties) if fact else dict(event.properties),
    }


def event_removal(profile_id: str, event_id: str, seq: str) -> dict[str, Any]:
    return {"event_id": event_id, "profile_id": profile_id, "seq": seq, "op": REMOVE}


def _moment(timestamp: str) -> datetime:
    moment = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
