"""Segment exports: a LINE audience group, or a hashed-identifier CSV behind a presigned URL (cdp.segments.exports)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body
from cdp.adapters.dynamodb.segment_store import DynamoSegmentStore
from cdp.adapters.line_api import MAX_AUDIENCE_DESCRIPTION, LineAudienceApi
from cdp.clock import SystemClock, iso_from_ms
from cdp.errors import BadRequest, NotFound
from cdp.segments.audience_sync import start_sync, stop_sync
from cdp.segments.exports import (
    KIND_CSV,
    KIND_LINE,
    CsvCounts,
    hashed_csv,
    member_profiles,
    push_line_audience,
    select_line_audience,
)

from cdp_api.context import admin_context
from cdp_api.docs import errors, ok
from cdp_api.models import LineAudienceExport

router = Router()  # type: ignore[no-untyped-call]
PRESIGNED_SECONDS = 15 * 60
EXPORTS_PREFIX = "exports"
DEFAULT_EXPORT = LineAudienceExport()  # an empty body: the default channel, no sync


def _segment(store: DynamoSegmentStore, segment_id: str) -> None:
    if store.get(segment_id) is None:
        raise NotFound(f"no segment {segment_id}", code="segment_not_found")


@router.post(
    "/admin/v1/segments/<segment_id>/exports/line-audience",
    status_code=201,
    responses={
        **ok(200, "Sync stopped", "LineAudienceSyncStopped"),
        **ok(201, "Exported", "LineAudienceExported"),
        **errors(404, 409, 502),
    },
)
def export_line_audience(
    segment_id: str, request: Annotated[LineAudienceExport, Body()] = DEFAULT_EXPORT
) -> tuple[dict[str, Any], int]:
    """{"channel"?: "default", "description"?, "sync"?}: 201 with the export record; 409 audience_too_small.

    `"sync": true` also keeps the new group in sync after every scheduled recompute (the record's
    `sync`); `"sync": false` exports nothing and stops keeping the segment's audience in sync (200).
    """
    if request.sync is False:
        return _stop_sync(segment_id)
    channel_name = request.channel
    description = request.description if request.description is not None else f"cdp segment {segment_id}"
    if not description.strip() or len(description) > MAX_AUDIENCE_DESCRIPTION:
        raise BadRequest(
            f"`description` is 1 to {MAX_AUDIENCE_DESCRIPTION} characters", code="invalid_audience_description"
        )
    context = admin_context()
    store = context.segments()
    _segment(store, segment_id)
    channel = context.line_channels().find(channel_name)
    if channel is None or not channel.access_token:
        raise NotFound(f"no LINE channel {channel_name} with an access token", code="line_channel_not_found")
    started = iso_from_ms(SystemClock().now_ms())  # members as of now at the latest are in the group
    selection = select_line_audience(member_profiles(segment_id, store, context.store), channel.provider_id)
    previous = next(
        (e for e in store.exports(segment_id) if e.get("kind") == KIND_LINE and e.get("channel") == channel_name),
        None,
    )
    group_id, requests = push_line_audience(
        selection,
        LineAudienceApi(context.line_api()),
        access_token=channel.access_token,
        description=description.strip(),
    )
    at = iso_from_ms(SystemClock().now_ms())
    record: dict[str, Any] = {
        "segmentId": segment_id,
        "kind": KIND_LINE,
        "exportedAt": at,
        "channel": channel_name,
        "audienceGroupId": group_id,
        "description": description.strip(),
        "members": selection.members,
        "uploaded": len(selection.user_ids),
        "requests": requests,
        "previousAudienceGroupId": previous.get("audienceGroupId") if previous else None,
    }
    if request.sync:
        record["sync"] = True
    store.put_export(segment_id, at, record)
    if request.sync:
        synced = start_sync(
            store,
            segment_id=segment_id,
            channel=channel_name,
            audience_group_id=group_id,
            description=description.strip(),
            uploaded=len(selection.user_ids),
            built_at=started,
            now=at,
        )
        return {**record, "sync": _public(synced.as_dict())}, 201
    return record, 201


def _stop_sync(segment_id: str) -> tuple[dict[str, Any], int]:
    store = admin_context().segments()
    _segment(store, segment_id)
    stopped = stop_sync(store, segment_id)
    return {"segmentId": segment_id, "sync": None, "stopped": _public(stopped) if stopped else None}, 200


def _public(sync: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in sync.items() if key != "revision"}


@router.post(
    "/admin/v1/segments/<segment_id>/exports/hashed-csv",
    status_code=201,
    responses={**ok(201, "Exported: download from `url`", "HashedCsvExported"), **errors(404)},
)
def export_hashed_csv(segment_id: str) -> dict[str, Any]:
    """201 with a presigned GET URL (15 minutes) of exports/segments/<id>/<ts>-<rand>.csv and counts."""
    context = admin_context()
    files = context.import_files()
    store = context.segments()
    _segment(store, segment_id)
    at = iso_from_ms(SystemClock().now_ms())
    stamp = at.replace(":", "").replace("-", "").replace(".", "")
    key = f"{EXPORTS_PREFIX}/segments/{segment_id}/{stamp}-{uuid.uuid4().hex[:8]}.csv"
    counts = CsvCounts()
    files.put_stream(key, hashed_csv(member_profiles(segment_id, store, context.store), counts), "text/csv")
    url = files.presigned_get(key, expires_seconds=PRESIGNED_SECONDS, filename=f"{segment_id}-hashed.csv")
    record = {"segmentId": segment_id, "kind": KIND_CSV, "exportedAt": at, "key": key, **counts.as_dict()}
    store.put_export(segment_id, at, record)
    return {**record, "url": url, "expires_in_seconds": PRESIGNED_SECONDS}
