"""Retention: how long each kind of personal data is kept, and the validation of a change.

Every kind has a default a brand would expect, bounds, and the mechanism that enforces it:

- `dynamodb_ttl`: the item carries `expires_at` stamped at write time and DynamoDB deletes it
  (usually within two days of expiry). The days are a deploy setting, not an API one: changing
  them would only apply to items written afterwards (raw events).
- `scheduled_job`: the daily retention job deletes what is older than the configured days
  (`cdp.privacy.retention_job`), so a change applies to data already stored. Where the item also
  carries a TTL (send records, audit rows) or the bucket a lifecycle rule (exports, import
  files), that backstop is the upper bound: the job can only shorten it.
- `follows`: a copy of another kind that is removed with it (the Parquet archive mirrors the
  timeline through the core table's stream).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from cdp.errors import BadRequest

Kind = Literal["raw_events", "timeline", "archive", "send_records", "exports", "audit_log", "import_files"]
Mechanism = Literal["dynamodb_ttl", "scheduled_job", "follows"]

RAW_EVENTS: Kind = "raw_events"
TIMELINE: Kind = "timeline"
ARCHIVE: Kind = "archive"
SEND_RECORDS: Kind = "send_records"
EXPORTS: Kind = "exports"
AUDIT_LOG: Kind = "audit_log"
IMPORT_FILES: Kind = "import_files"

DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class KindRule:
    kind: Kind
    default_days: int
    min_days: int
    max_days: int
    mechanism: Mechanism
    where: str  # what is removed, for the API and the docs
    why_bounds: str
    follows: Kind | None = None

    @property
    def configurable(self) -> bool:
        return self.mechanism == "scheduled_job"


# The defaults and bounds, with their reasons (docs/privacy.md "Retention" repeats them).
RULES: Mapping[Kind, KindRule] = {
    rule.kind: rule
    for rule in (
        KindRule(
            RAW_EVENTS,
            30,
            1,
            3650,
            "dynamodb_ttl",
            "raw events (the landing table); `expires_at` = received + the rawEventTtlDays deploy setting",
            "stamped on each event at write time by five write paths: set by the rawEventTtlDays deploy setting",
        ),
        KindRule(
            TIMELINE,
            730,
            366,
            3650,
            "scheduled_job",
            "timeline entries (PROFILE#<id> / EVENT#<time>#<id>) whose event time is older",
            "RFM and the 30/90/365-day order windows read a year of events: at least 366 days",
        ),
        KindRule(
            ARCHIVE,
            730,
            366,
            3650,
            "follows",
            "the Parquet archive's event rows: removed through the core table's stream with their timeline entry,"
            " physically gone after the next compaction and snapshot refresh",
            "the archive mirrors the timeline",
            follows=TIMELINE,
        ),
        KindRule(
            SEND_RECORDS,
            400,
            35,
            400,
            "scheduled_job",
            "send records and multicast batches (SEND#, SENDBATCH#) of sends older",
            "a send key must outlive every retry and replay window (35 days); items carry a 400-day TTL",
        ),
        KindRule(
            EXPORTS,
            7,
            1,
            7,
            "scheduled_job",
            "exported files under exports/ in the imports bucket, by upload time",
            "the bucket's lifecycle rule deletes them after 7 days",
        ),
        KindRule(
            AUDIT_LOG,
            365,
            30,
            365,
            "scheduled_job",
            "audit log rows (AUDIT#<day>) older",
            "audit rows carry a TTL of CDP_AUDIT_RETENTION_DAYS (365) stamped at write",
        ),
        KindRule(
            IMPORT_FILES,
            30,
            1,
            30,
            "scheduled_job",
            "member import files (uploads, rejected rows, duplicates) under imports/ in the imports bucket",
            "the bucket's lifecycle rule deletes them after 30 days",
        ),
    )
}
KINDS: tuple[Kind, ...] = tuple(RULES)
# What the job sweeps (the others are enforced by DynamoDB or follow another kind).
SWEPT: tuple[Kind, ...] = tuple(kind for kind, rule in RULES.items() if rule.configurable)


def retention_error(field: str, message: str, code: str, **details: Any) -> BadRequest:
    return BadRequest(message, code=code, details={"field": field, **details})


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """Days per kind. `days` holds only what a brand changed; the rest keep their default."""

    days: Mapping[Kind, int] = field(default_factory=dict)
    version: int = 0
    updated_at: str | None = None
    raw_event_ttl_days: int = RULES[RAW_EVENTS].default_days  # the deployment's, for the answer

    def days_of(self, kind: Kind) -> int:
        rule = RULES[kind]
        if kind == RAW_EVENTS:
            return self.raw_event_ttl_days
        if rule.follows is not None:
            return self.days_of(rule.follows)
        return self.days.get(kind, rule.default_days)

    def cutoff(self, kind: Kind, now: datetime) -> datetime:
        """Data of this kind from before this instant is past retention."""
        return now - self.days_of(kind) * DAY

    def with_changes(self, changes: Mapping[Kind, int], *, updated_at: str) -> RetentionPolicy:
        days = {**self.days, **changes}
        # Defaults are not stored: a later change of a default applies to brands that kept it.
        kept = {kind: value for kind, value in days.items() if value != RULES[kind].default_days}
        return replace(self, days=kept, version=self.version + 1, updated_at=updated_at)

    def stored(self) -> dict[str, Any]:
        return {"days": dict(self.days), "updated_at": self.updated_at}

    @classmethod
    def from_stored(cls, document: Mapping[str, Any], *, version: int, raw_event_ttl_days: int) -> RetentionPolicy:
        days = {kind: int(value) for kind, value in document.get("days", {}).items() if kind in SWEPT}
        return cls(days, version, document.get("updated_at"), raw_event_ttl_days)

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "updated_at": self.updated_at,
            "kinds": {
                kind: {
                    "days": self.days_of(kind),
                    "default_days": rule.default_days if kind != RAW_EVENTS else self.raw_event_ttl_days,
                    "min_days": rule.min_days,
                    "max_days": rule.max_days,
                    "configurable": rule.configurable,
                    "mechanism": rule.mechanism,
                    **({"follows": rule.follows} if rule.follows else {}),
                    "removes": rule.where,
                    "bounds": rule.why_bounds,
                }
                for kind, rule in RULES.items()
            },
        }


def parse_changes(days: Mapping[str, Any]) -> dict[Kind, int]:
    """`{"timeline": 500, ...}` from a PUT: every kind known, configurable, an integer within its
    bounds; a 400 names the first field that is not (`days.<kind>`)."""
    if not days:
        raise retention_error("days", "`days` names at least one kind to change", "invalid_retention_days")
    changes: dict[Kind, int] = {}
    for name, value in days.items():
        path = f"days.{name}"
        rule = RULES.get(name)  # type: ignore[call-overload]
        if rule is None:
            raise retention_error(path, f"unknown data kind `{name}`", "unknown_data_kind", kinds=list(KINDS))
        if not rule.configurable:
            why = f"follows `{rule.follows}`" if rule.follows else f"enforced by DynamoDB TTL: {rule.why_bounds}"
            raise retention_error(path, f"`{name}` retention is not set here: {why}", "retention_not_configurable")
        if isinstance(value, bool) or not isinstance(value, int):
            raise retention_error(path, f"`{path}` is a whole number of days", "invalid_retention_days")
        if not rule.min_days <= value <= rule.max_days:
            raise retention_error(
                path,
                f"`{path}` must be {rule.min_days} to {rule.max_days} days: {rule.why_bounds}",
                "retention_out_of_bounds",
                min_days=rule.min_days,
                max_days=rule.max_days,
            )
        changes[rule.kind] = value
    return changes
