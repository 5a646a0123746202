"""A segment's LINE audience kept in sync with the segment after every scheduled recompute.

Turned on by a LINE audience export with `{"sync": true}` (cdp_api.routes.segment_exports), which creates
the group and stores the sync record `SEGMENT#<id> / AUDIENCE-SYNC`. After each recompute run of
the segment, `AudienceSyncer.sync` brings the group up to date with the segment's membership
changes since the record's `cursor` (membership history, cdp.segments.store): whoever entered, in
that run or in real time between runs, not only the run's own decisions.

- Entered (and still in): their LINE user ids of the channel's provider that are friends are added
  to the same group (`PUT /v2/bot/audienceGroup/upload`, 10,000 ids per request). Adding is a set
  union on LINE's side, so sending an id twice is harmless; that is what makes retries safe (the
  audience endpoints take no X-Line-Retry-Key: manage-audience.yml defines none, only the message
  sending endpoints do).
- Exited (and not back in) since the group was built: LINE cannot remove ids from an audience,
  so a new group is created from the current members (cdp.segments.exports.push_line_audience)
  and the record switches to it, naming the group it replaced (`replacedAudienceGroupId`; the old
  group is left for the caller to delete). Fewer than MIN_LINE_AUDIENCE reachable ids: the old
  group is kept (status `below_minimum`, `stale` true), the current ids are still added to it, and
  every later run tries the replacement again.
- LINE failing (or the channel gone): nothing raises. The record keeps its cursor and says
  `failed` with the error; the next run reads the same changes again (and any newer ones), so
  what was not uploaded is uploaded then.

The history read starts OVERLAP_MS before the cursor: a membership written just before a run
with a timestamp a little older than the run's start is still seen (re-adding is harmless, an
exit older than the group's build time is ignored).

The record is written back only if nobody changed it during the run (a `revision` token), so a
concurrent stop, re-export or second run is never overwritten.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from aws_lambda_powertools.metrics import MetricUnit

from cdp.clock import iso_from_ms, ms_from_datetime
from cdp.errors import CdpError, Conflict, NotFound
from cdp.ingestion.channels import LineChannel
from cdp.observability import AUDIENCE_SYNC_FAILED, logger, metrics
from cdp.ports import Clock
from cdp.segments.exports import (
    MIN_LINE_AUDIENCE,
    AudienceApi,
    LineAudienceSelection,
    MemberPages,
    ProfileReader,
    chunks,
    line_user_ids,
    member_profiles,
    push_line_audience,
    select_line_audience,
)
from cdp.segments.store import ENTERED, EXITED, MembershipChange

OVERLAP_MS = 5 * 60 * 1000
BATCH_GET = 100
STATUS_SYNCED = "synced"
STATUS_BELOW_MINIMUM = "below_minimum"
STATUS_FAILED = "failed"
MODE_ADD = "add"
MODE_REPLACE = "replace"
MODE_KEEP = "keep"  # below the minimum: the old group kept, current ids added to it
MODE_FAILED = "failed"


class SyncStore(MemberPages, Protocol):
    """The sync record and the membership history (cdp.adapters.dynamodb.segment_store)."""

    def get_audience_sync(self, segment_id: str) -> dict[str, Any] | None: ...

    def put_audience_sync(self, segment_id: str, record: dict[str, Any], *, replacing: str | None) -> bool:
        """Store the record; with `replacing`, only if the stored record's revision is that one."""
        ...

    def delete_audience_sync(self, segment_id: str) -> dict[str, Any] | None:
        """Remove the record; the removed record, or None if there was none."""
        ...

    def changes_between(self, segment_id: str, *, after: str, until: str) -> Iterator[MembershipChange]:
        """Entries and exits with after < at <= until, oldest first, read consistently."""
        ...


class ChannelFinder(Protocol):
    def find(self, name: str) -> LineChannel | None: ...


def _ms(iso: str) -> int:
    return ms_from_datetime(datetime.fromisoformat(iso.replace("Z", "+00:00")))


def new_revision() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class AudienceSync:
    segment_id: str
    channel: str
    audience_group_id: int
    description: str
    enabled_at: str
    built_at: str  # the current group was built from the members as of this time
    cursor: str  # membership changes up to this time are in the group
    uploaded: int  # user ids sent to the current group (an id re-sent counts again)
    last_synced_at: str
    status: str = STATUS_SYNCED
    stale: bool = False  # the group still holds people who left: a replacement is due
    replaced_audience_group_id: int | None = None
    replaced_at: str | None = None
    last_error: dict[str, Any] | None = None
    last_run: dict[str, Any] | None = None
    revision: str = field(default_factory=new_revision)

    def as_dict(self) -> dict[str, Any]:
        return {
            "segmentId": self.segment_id,
            "channel": self.channel,
            "audienceGroupId": self.audience_group_id,
            "description": self.description,
            "enabledAt": self.enabled_at,
            "builtAt": self.built_at,
            "cursor": self.cursor,
            "uploaded": self.uploaded,
            "lastSyncedAt": self.last_synced_at,
            "status": self.status,
            "stale": self.stale,
            "replacedAudienceGroupId": self.replaced_audience_group_id,
            "replacedAt": self.replaced_at,
            "lastError": self.last_error,
            "lastRun": self.last_run,
            "revision": self.revision,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AudienceSync:
        return cls(
            segment_id=str(data["segmentId"]),
            channel=str(data["channel"]),
            audience_group_id=int(data["audienceGroupId"]),
            description=str(data["description"]),
            enabled_at=str(data["enabledAt"]),
            built_at=str(data["builtAt"]),
            cursor=str(data["cursor"]),
            uploaded=int(data["uploaded"]),
            last_synced_at=str(data["lastSyncedAt"]),
            status=str(data.get("status", STATUS_SYNCED)),
            stale=bool(data.get("stale", False)),
            replaced_audience_group_id=(
                int(data["replacedAudienceGroupId"]) if data.get("replacedAudienceGroupId") is not None else None
            ),
            replaced_at=data.get("replacedAt"),
            last_error=data.get("lastError"),
            last_run=data.get("lastRun"),
            revision=str(data.get("revision") or new_revision()),
        )


def start_sync(
    store: SyncStore,
    *,
    segment_id: str,
    channel: str,
    audience_group_id: int,
    description: str,
    uploaded: int,
    built_at: str,
    now: str,
) -> AudienceSync:
    """Keep this just-created group in sync (replacing any earlier sync of the segment)."""
    found = store.get_audience_sync(segment_id)
    previous = AudienceSync.from_dict(found) if found else None
    replaced = previous.audience_group_id if previous and previous.audience_group_id != audience_group_id else None
    sync = AudienceSync(
        segment_id=segment_id,
        channel=channel,
        audience_group_id=audience_group_id,
        description=description,
        enabled_at=now,
        built_at=built_at,
        cursor=built_at,
        uploaded=uploaded,
        last_synced_at=now,
        replaced_audience_group_id=replaced,
        replaced_at=now if replaced is not None else None,
    )
    store.put_audience_sync(segment_id, sync.as_dict(), replacing=None)
    return sync


def stop_sync(store: SyncStore, segment_id: str) -> dict[str, Any] | None:
    """Stop keeping the segment's audience in sync; the group itself stays on LINE."""
    return store.delete_audience_sync(segment_id)


@dataclass(frozen=True, slots=True)
class SyncOutcome:
    segment_id: str
    mode: str  # add / replace / keep / failed
    audience_group_id: int
    added: int = 0  # user ids sent to LINE by this run
    requests: int = 0
    replaced_audience_group_id: int | None = None
    error: dict[str, Any] | None = None
    saved: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {
            "segment_id": self.segment_id,
            "mode": self.mode,
            "audience_group_id": self.audience_group_id,
            "added": self.added,
            "requests": self.requests,
            "replaced_audience_group_id": self.replaced_audience_group_id,
            "error": self.error,
            "saved": self.saved,
        }


def net_changes(changes: Iterable[MembershipChange]) -> dict[str, MembershipChange]:
    """Each person's latest entry or exit."""
    latest: dict[str, MembershipChange] = {}
    for change in changes:
        known = latest.get(change.profile_id)
        if known is None or (change.at, change.action == EXITED) >= (known.at, known.action == EXITED):
            latest[change.profile_id] = change
    return latest


class AudienceSyncer:
    def __init__(
        self,
        store: SyncStore,
        profiles: ProfileReader,
        channels: ChannelFinder,
        api: AudienceApi,
        clock: Clock,
        *,
        minimum: int = MIN_LINE_AUDIENCE,
        overlap_ms: int = OVERLAP_MS,
    ) -> None:
        self._store = store
        self._profiles = profiles
        self._channels = channels
        self._api = api
        self._clock = clock
        self._minimum = minimum
        self._overlap_ms = overlap_ms

    def sync(self, segment_id: str, *, rule_version: int | None = None) -> SyncOutcome | None:
        """Bring the segment's synced LINE audience up to date; None when the segment has none."""
        found = self._store.get_audience_sync(segment_id)
        if found is None:
            return None
        sync = AudienceSync.from_dict(found)
        now_ms = self._clock.now_ms()
        now = iso_from_ms(now_ms)
        run: dict[str, Any] = {"at": now, "ruleVersion": rule_version}
        try:
            channel = self._channel(sync.channel)
            after = iso_from_ms(_ms(sync.cursor) - self._overlap_ms)
            latest = net_changes(self._store.changes_between(segment_id, after=after, until=now))
            entered = sorted(pid for pid, c in latest.items() if c.action == ENTERED)
            exited = sorted(pid for pid, c in latest.items() if c.action == EXITED and c.at > sync.built_at)
            run.update(entered=len(entered), exited=len(exited))
            if exited or sync.stale:
                updated, outcome = self._replace(sync, channel, now)
            else:
                updated, outcome = self._add(sync, channel, entered, now)
        except CdpError as exc:
            error = {"code": exc.code, "message": exc.message, "at": now}
            logger.warning(
                "LINE audience sync failed; the next run retries",
                extra={
                    "segment_id": segment_id,
                    "audience_group_id": sync.audience_group_id,
                    "error_code": exc.code,
                    "error_message": exc.message,
                },
            )
            updated = replace(sync, status=STATUS_FAILED, last_error=error)
            outcome = SyncOutcome(segment_id, MODE_FAILED, sync.audience_group_id, error=error)
        run.update(mode=outcome.mode, added=outcome.added)
        updated = replace(updated, last_run=run, revision=new_revision())
        saved = self._store.put_audience_sync(segment_id, updated.as_dict(), replacing=sync.revision)
        if not saved:
            logger.warning(
                "the LINE audience sync record changed during the run; this run's result is not recorded",
                extra={"segment_id": segment_id, **outcome.as_dict()},
            )
            outcome = replace(outcome, saved=False)
        logger.info("LINE audience synced", extra=outcome.as_dict())
        return outcome

    def _channel(self, name: str) -> LineChannel:
        channel = self._channels.find(name)
        if channel is None or not channel.access_token:
            raise NotFound(f"no LINE channel {name} with an access token", code="line_channel_not_found")
        return channel

    def _add(
        self, sync: AudienceSync, channel: LineChannel, entered: Sequence[str], now: str
    ) -> tuple[AudienceSync, SyncOutcome]:
        ids = self._friend_ids(entered, channel.provider_id)
        requests = self._upload(sync.audience_group_id, ids, channel)
        updated = replace(
            sync,
            cursor=now,
            uploaded=sync.uploaded + len(ids),
            last_synced_at=now,
            status=STATUS_SYNCED,
            last_error=None,
        )
        return updated, SyncOutcome(sync.segment_id, MODE_ADD, sync.audience_group_id, len(ids), requests)

    def _replace(self, sync: AudienceSync, channel: LineChannel, now: str) -> tuple[AudienceSync, SyncOutcome]:
        selection = select_line_audience(
            member_profiles(sync.segment_id, self._store, self._profiles), channel.provider_id
        )
        if len(selection.user_ids) < self._minimum:
            return self._keep(sync, channel, selection, now)
        try:
            group_id, requests = push_line_audience(
                selection, self._api, access_token=channel.access_token, description=sync.description
            )
        except Conflict:  # too small after all (cannot happen past the check above)
            return self._keep(sync, channel, selection, now)
        updated = replace(
            sync,
            audience_group_id=group_id,
            built_at=now,
            cursor=now,
            uploaded=len(selection.user_ids),
            last_synced_at=now,
            status=STATUS_SYNCED,
            stale=False,
            replaced_audience_group_id=sync.audience_group_id,
            replaced_at=now,
            last_error=None,
        )
        outcome = SyncOutcome(
            sync.segment_id,
            MODE_REPLACE,
            group_id,
            len(selection.user_ids),
            requests,
            replaced_audience_group_id=sync.audience_group_id,
        )
        return updated, outcome

    def _keep(
        self, sync: AudienceSync, channel: LineChannel, selection: LineAudienceSelection, now: str
    ) -> tuple[AudienceSync, SyncOutcome]:
        """Too few reachable members for a new group: the old one stays, with everyone now in added."""
        requests = self._upload(sync.audience_group_id, selection.user_ids, channel)
        error = {
            "code": "audience_too_small",
            "message": (
                f"only {len(selection.user_ids)} reachable LINE users; LINE needs at least {self._minimum} "
                "to target an audience, so the old group (which still holds people who left) is kept"
            ),
            "at": now,
        }
        updated = replace(
            sync,
            cursor=now,
            uploaded=sync.uploaded + len(selection.user_ids),
            last_synced_at=now,
            status=STATUS_BELOW_MINIMUM,
            stale=True,
            last_error=error,
        )
        outcome = SyncOutcome(
            sync.segment_id, MODE_KEEP, sync.audience_group_id, len(selection.user_ids), requests, error=error
        )
        return updated, outcome

    def _friend_ids(self, profile_ids: Sequence[str], provider_id: str) -> list[str]:
        ids: dict[str, None] = {}
        for start in range(0, len(profile_ids), BATCH_GET):
            found = self._profiles.get_many(profile_ids[start : start + BATCH_GET])
            for profile_id in profile_ids[start : start + BATCH_GET]:
                profile = found.get(profile_id)
                if profile is not None:
                    ids.update(dict.fromkeys(line_user_ids(profile, provider_id)))
        return list(ids)

    def _upload(self, group_id: int, user_ids: Sequence[str], channel: LineChannel) -> int:
        requests = 0
        for part in chunks(user_ids):
            self._api.add_to_audience(access_token=channel.access_token, audience_group_id=group_id, user_ids=part)
            requests += 1
        return requests


class RecomputedSegment(Protocol):
    @property
    def segment_id(self) -> str: ...
    @property
    def rule_version(self) -> int: ...


def sync_recomputed(
    reports: Sequence[RecomputedSegment], syncer: Callable[[], AudienceSyncer | None]
) -> list[dict[str, Any]]:
    """After a recompute: each segment's synced LINE audience brought up to date. Never fails the
    recompute, which is done and recorded: a misconfigured deployment syncs nothing, a failed sync
    is logged, answered as `{"mode": "error"}` and retried by the next run. `syncer` is None when
    the deployment has no LINE channels; it is built only when there is something to sync."""
    outcomes: list[dict[str, Any]] = []
    try:
        found = syncer() if reports else None
    except Exception:  # misconfigured: the recompute itself still stands
        logger.exception("LINE audience sync is not configured correctly; nothing synced")
        count_failed_syncs(len(reports))
        return outcomes
    if found is None:
        return outcomes
    for report in reports:
        try:
            outcome = found.sync(report.segment_id, rule_version=report.rule_version)
        except Exception:  # the recompute is done and recorded; the sync retries on the next run
            logger.exception("LINE audience sync failed", extra={"segment_id": report.segment_id})
            count_failed_syncs(1)
            outcomes.append({"segment_id": report.segment_id, "mode": "error"})
            continue
        if outcome is not None:
            if outcome.mode == MODE_FAILED:  # LINE refused or failed: recorded on the sync, retried next run
                count_failed_syncs(1)
            outcomes.append(outcome.as_dict())
    return outcomes


def count_failed_syncs(syncs: int) -> None:
    """The AudienceSyncFailed metric (EMF, flushed by the recompute handler's log_metrics)."""
    metrics.add_metric(name=AUDIENCE_SYNC_FAILED, unit=MetricUnit.Count, value=syncs)
