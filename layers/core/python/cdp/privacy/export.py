"""Everything held about one person, as one document (right of access).

`assemble` reads through small ports and is pure otherwise: the person is the profile an id
resolves to (a merged-away id resolves to the survivor) together with every profile merged into
it, since their segment memberships and history stay under their own ids. What it reads:

- the profile (identifiers, traits with their sources, LINE follow state, consent in force,
  computed traits, tags, counters), as the 360 view shows it;
- the timeline (every event folded into the person), the consent history derived from it, and
  the raw events behind it that are still within their TTL (the payloads as received);
- segment memberships now and every entry and exit, and journey runs (the path taken);
- messages: each send record named by an outcome event on the timeline (channel, address,
  content, state) with the outcome and delivery events of the same message;
- link clicks (tracked links and email clicks);
- merge ledgers involving any of the person's profiles. A ledger of a merge that was undone or
  refused keeps the other profile's id but not its identifiers: they are another person's data.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from cdp.clock import iso_from_ms
from cdp.events import names
from cdp.identity.identifiers import Identifier
from cdp.identity.merge import STATUS_MERGED, STATUS_MERGING, MergeLedger, TimelineEntry
from cdp.journeys.runs import Run
from cdp.profiles.consent import consent_history
from cdp.profiles.model import Profile
from cdp.profiles.views import current_profile, profile_view
from cdp.segments.store import Membership, MembershipChange, SegmentDefinition

FORMAT = "cdp.person-export/1"
MERGES_LISTED = 1000  # merges into one profile; a person has a handful
EMAIL_FEEDBACK = frozenset(
    {names.EMAIL_DELIVERED, names.EMAIL_BOUNCED, names.EMAIL_COMPLAINED, names.EMAIL_OPENED, names.EMAIL_CLICKED}
)
CLICKS = names.CLICK_EVENTS | {names.EMAIL_CLICKED}
FORMULA_STARTS = frozenset("=+-@\t\r")
_NUMBER = re.compile(r"[-+]?[0-9]+(\.[0-9]+)?")
# The stages a job reports while it reads (cdp.privacy.export_jobs), in order.
STAGES = ("profile", "timeline", "raw_events", "segments", "messages", "merges", "files")
TIMELINE_COLUMNS = (
    "timestamp",
    "event_id",
    "type",
    "event",
    "channel",
    "origin",
    "source",
    "received_at",
    "applied_at",
    "profile_id",
    "identifiers",
    "properties",
    "traits",
    "context",
)


class PersonStore(Protocol):
    """The core table's profiles, timelines and merge ledgers (DynamoProfileStore)."""

    def get(self, profile_id: str) -> Profile | None: ...

    def timeline(self, profile_id: str) -> list[TimelineEntry]: ...

    def merges_into(self, profile_id: str, limit: int = 100) -> list[MergeLedger]: ...

    def get_ledger(self, merge_id: str) -> MergeLedger | None: ...


class SegmentReads(Protocol):
    """Memberships and definitions (DynamoSegmentStore)."""

    def memberships(self, profile_id: str) -> list[Membership]: ...

    def definitions(self) -> list[SegmentDefinition]: ...


class ExportReads(Protocol):
    """Reads only an export needs (cdp.adapters.dynamodb.privacy_export)."""

    def segment_history(self, profile_id: str) -> list[MembershipChange]:
        """Every entry and exit of the profile, oldest first."""
        ...

    def raw_events(self, event_ids: Sequence[str]) -> list[dict[str, Any]]:
        """The raw events still stored among these ids: {event_id, origin, source, received_at,
        expires_at (epoch seconds), payload, destination?, provider?}."""
        ...

    def send_records(self, send_keys: Sequence[str]) -> list[dict[str, Any]]:
        """The send records among these keys, as stored (SendRecord fields)."""
        ...


class JourneyRunReads(Protocol):
    """A person's journey runs (DynamoRunStore)."""

    def recent_for(self, profile_id: str, journey_id: str | None = None) -> list[Run]: ...


@dataclass(frozen=True, slots=True)
class ExportSources:
    people: PersonStore
    segments: SegmentReads
    reads: ExportReads
    journeys: JourneyRunReads | None = None  # a deployment without journeys has no runs


@dataclass(frozen=True, slots=True)
class PersonExport:
    document: dict[str, Any]
    timeline: list[dict[str, Any]]  # the rows of the CSV, oldest first

    def json_bytes(self) -> bytes:
        return json.dumps(self.document, ensure_ascii=False, indent=1, sort_keys=False).encode()

    def csv_bytes(self) -> bytes:
        return timeline_csv(self.timeline)


def resolve(people: PersonStore, profile_id: str) -> Profile:
    """The profile an id names, or the one it was merged into; NotFound for an unknown id."""
    return current_profile(_ViewReader(people), profile_id)


class _ViewReader:
    """The 360 view's reader without its latest events (the export lists the whole timeline)."""

    def __init__(self, people: PersonStore) -> None:
        self._people = people

    def get(self, profile_id: str) -> Profile | None:
        return self._people.get(profile_id)

    def owner(self, identifier: Identifier) -> str | None:
        raise NotImplementedError("an export starts from a profile id")

    def latest_events(self, profile_id: str, limit: int) -> list[dict[str, Any]]:
        return []


def assemble(
    sources: ExportSources,
    requested_id: str,
    *,
    now_ms: int,
    progress: Callable[[str], None] | None = None,
) -> PersonExport:
    """The person `requested_id` names, everything held about them. NotFound for an unknown id."""
    report = progress or (lambda _stage: None)
    now = iso_from_ms(now_ms)
    people = sources.people
    reader = _ViewReader(people)
    survivor = current_profile(reader, requested_id)
    view = profile_view(reader, requested_id, timeline_limit=0, now=now)
    view.pop("events", None)
    profile_ids, ledgers = _person(people, survivor.profile_id)
    report("timeline")

    entries = _timeline(people, profile_ids)
    # merges named by moved entries but not found from the survivor (e.g. one later undone)
    for merge_id in sorted({m for entry in entries for m in entry.moved_by} - set(ledgers)):
        ledger = people.get_ledger(merge_id)
        if ledger is not None:
            ledgers[merge_id] = ledger
    events = [entry.document for entry in entries]
    report("raw_events")

    now_s = now_ms // 1000
    raw = [
        event
        for event in sources.reads.raw_events([str(doc.get("eventId")) for doc in events])
        if int(event.get("expires_at") or 0) > now_s  # TTL deletion lags expiry by up to days
    ]
    raw.sort(key=lambda event: (str(event.get("received_at")), str(event.get("event_id"))))
    report("segments")

    segments = _segments(sources, profile_ids)
    journeys = _journeys(sources.journeys, profile_ids)
    report("messages")

    messages = _messages(sources.reads, events)
    clicks = [_click(doc) for doc in events if doc.get("event") in CLICKS]
    report("merges")

    merges = [_ledger(ledger, profile_ids) for ledger in sorted(ledgers.values(), key=lambda m: m.planned_at)]
    consent = consent_history(events)
    rows = [_row(entry) for entry in entries]
    document: dict[str, Any] = {
        "format": FORMAT,
        "generated_at": now,
        "requested_id": requested_id,
        "profile_id": survivor.profile_id,
        "profile_ids": sorted(profile_ids),
        "profile": view,
        "identifiers": view["identifiers"],
        "traits": view["traits"],
        "computed_traits": view["computed_traits"],
        "tags": {
            "current": view["tags"],
            "changes": {tag: stamped.as_dict() for tag, stamped in sorted(survivor.tag_state.items())},
        },
        "consent": {"in_force": _in_force(view["consent"], survivor, consent), "history": consent},
        "timeline": [{**entry.document, "appliedAt": entry.applied_at} for entry in entries],
        "raw_events": raw,
        "segments": segments,
        "journeys": journeys,
        "messages": messages,
        "link_clicks": clicks,
        "merges": merges,
    }
    document["counts"] = {
        "identifiers": len(view["identifiers"]),
        "profiles": len(profile_ids),
        "timeline_events": len(entries),
        "raw_events": len(raw),
        "consent_changes": len(consent),
        "segment_memberships": len(segments["memberships"]),
        "segment_changes": len(segments["history"]),
        "journey_runs": len(journeys),
        "messages": len(messages),
        "link_clicks": len(clicks),
        "merges": len(merges),
    }
    return PersonExport(document=document, timeline=rows)


def _in_force(current: Mapping[str, Any], profile: Profile, history: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The consent in force, each with the text version of the change that set it."""
    versions = {(entry["key"], entry["event_id"]): entry["text_version"] for entry in history}
    return {
        key: {**value, "text_version": versions.get((key, profile.consent[key].event_id))}
        for key, value in current.items()
    }


def _person(people: PersonStore, survivor_id: str) -> tuple[set[str], dict[str, MergeLedger]]:
    """The survivor and every profile merged into it (through earlier merges too), and every
    merge ledger naming one of them as the survivor."""
    profile_ids = {survivor_id}
    ledgers: dict[str, MergeLedger] = {}
    pending = [survivor_id]
    while pending:
        profile_id = pending.pop()
        for ledger in people.merges_into(profile_id, MERGES_LISTED):
            ledgers[ledger.merge_id] = ledger
            if ledger.status in (STATUS_MERGED, STATUS_MERGING) and ledger.loser not in profile_ids:
                profile_ids.add(ledger.loser)
                pending.append(ledger.loser)
    return profile_ids, ledgers


def _timeline(people: PersonStore, profile_ids: Iterable[str]) -> list[TimelineEntry]:
    """Every profile's entries (a merge under way has moved some, not all), each event once,
    oldest first."""
    by_event: dict[str, TimelineEntry] = {}
    for profile_id in sorted(profile_ids):
        for entry in people.timeline(profile_id):
            by_event.setdefault(str(entry.document.get("eventId")), entry)
    return sorted(by_event.values(), key=lambda e: (str(e.document.get("timestamp")), str(e.document.get("eventId"))))


def _segments(sources: ExportSources, profile_ids: Iterable[str]) -> dict[str, Any]:
    names_by_id = {definition.segment_id: definition.name for definition in sources.segments.definitions()}
    memberships: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    for profile_id in sorted(profile_ids):
        for membership in sources.segments.memberships(profile_id):
            memberships.append({**membership.as_dict(), "segment_name": names_by_id.get(membership.segment_id)})
        for change in sources.reads.segment_history(profile_id):
            history.append({**change.as_dict(), "segment_name": names_by_id.get(change.segment_id)})
    memberships.sort(key=lambda m: (m["segment_id"], m["profile_id"]))
    history.sort(key=lambda c: (c["at"], c["segment_id"], c["action"]))
    return {"memberships": memberships, "history": history}


def _journeys(runs: JourneyRunReads | None, profile_ids: Iterable[str]) -> list[dict[str, Any]]:
    if runs is None:
        return []
    found = {run.run_id: run for profile_id in sorted(profile_ids) for run in runs.recent_for(profile_id)}
    return [run.as_dict() for run in sorted(found.values(), key=lambda run: (run.entered_at, run.run_id))]


def _messages(reads: ExportReads, events: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One entry per message sent (or held back) to the person: the send record and every
    outcome or delivery event of it, oldest first."""
    by_message: dict[str, list[Mapping[str, Any]]] = {}
    send_keys: dict[str, str] = {}
    for doc in events:
        name = doc.get("event")
        properties = doc.get("properties") or {}
        if name not in names.MESSAGE_EVENTS and name not in EMAIL_FEEDBACK:
            continue
        message_id = str(properties.get("message_id") or properties.get("send_key") or doc.get("eventId"))
        by_message.setdefault(message_id, []).append(doc)
        if name in names.MESSAGE_EVENTS and properties.get("send_key"):
            send_keys[message_id] = str(properties["send_key"])
    records = {str(record.get("send_key")): record for record in reads.send_records(sorted(set(send_keys.values())))}
    messages: list[dict[str, Any]] = []
    for message_id, docs in by_message.items():
        send_key = send_keys.get(message_id)
        outcome = next((d for d in reversed(docs) if d.get("event") in names.MESSAGE_EVENTS), None)
        messages.append(
            {
                "message_id": message_id,
                "send_key": send_key,
                "channel": (outcome or docs[0]).get("properties", {}).get("channel"),
                "outcome": outcome.get("event") if outcome else None,
                "first_at": docs[0].get("timestamp"),
                "record": records.get(send_key) if send_key else None,
                "events": [
                    {
                        "at": d.get("timestamp"),
                        "event": d.get("event"),
                        "event_id": d.get("eventId"),
                        "properties": d.get("properties") or {},
                    }
                    for d in docs
                ],
            }
        )
    messages.sort(key=lambda m: (str(m["first_at"]), m["message_id"]))
    return messages


def _click(doc: Mapping[str, Any]) -> dict[str, Any]:
    properties = doc.get("properties") or {}
    return {
        "at": doc.get("timestamp"),
        "event": doc.get("event"),
        "event_id": doc.get("eventId"),
        "channel": doc.get("channel"),
        "link_code": properties.get("link_code"),
        "url": properties.get("url"),
        "properties": properties,
    }


def _ledger(ledger: MergeLedger, profile_ids: set[str]) -> dict[str, Any]:
    entry = ledger.as_dict()
    entry["involved_as"] = "survivor" if ledger.survivor in profile_ids else "merged"
    if ledger.loser not in profile_ids:
        # undone or refused: the other profile's identifiers are another person's data
        entry["identifiers"] = []
    return entry


def _row(entry: TimelineEntry) -> dict[str, Any]:
    doc = entry.document
    return {
        "timestamp": doc.get("timestamp"),
        "event_id": doc.get("eventId"),
        "type": doc.get("type"),
        "event": doc.get("event"),
        "channel": doc.get("channel"),
        "origin": doc.get("origin"),
        "source": doc.get("source"),
        "received_at": doc.get("receivedAt"),
        "applied_at": entry.applied_at,
        "profile_id": entry.profile_id,
        "identifiers": doc.get("identifiers") or [],
        "properties": doc.get("properties") or {},
        "traits": doc.get("traits") or {},
        "context": doc.get("context") or {},
    }


def timeline_csv(rows: Iterable[Mapping[str, Any]]) -> bytes:
    """RFC 4180 CSV (UTF-8 with a BOM, so spreadsheets read Chinese and Japanese text as such);
    nested values as JSON."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(TIMELINE_COLUMNS)
    for row in rows:
        writer.writerow([_cell(row.get(column)) for column in TIMELINE_COLUMNS])
    return ("\ufeff" + buffer.getvalue()).encode()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    text = str(value)
    # A cell a spreadsheet would run as a formula is written as text (OWASP CSV injection).
    return "'" + text if text[:1] in FORMULA_STARTS and not _NUMBER.fullmatch(text) else text
