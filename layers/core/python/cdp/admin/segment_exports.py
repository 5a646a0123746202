"""Segment exports: a LINE audience group, or a hashed-identifier CSV behind a presigned URL (cdp.segments.exports)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router

from cdp.adapters.aws import client
from cdp.adapters.dynamodb.segment_store import DynamoSegmentStore
from cdp.adapters.line_api import MAX_AUDIENCE_DESCRIPTION, LineApiClient, LineAudienceApi
from cdp.adapters.s3 import S3ImportFiles
from cdp.admin.context import admin_context
from cdp.clock import SystemClock, iso_from_ms
from cdp.errors import BadRequest, NotFound, StoreUnavailable
from cdp.ingestion.channels import LineChannels
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

router = Router()  # type: ignore[no-untyped-call]
PRESIGNED_SECONDS = 15 * 60
EXPORTS_PREFIX = "exports"


def _store() -> DynamoSegmentStore:
    return DynamoSegmentStore(client("dynamodb"), admin_context().settings.core_table)


def _body() -> dict[str, Any]:
    event = router.current_event
    try:
        body = event.json_body if event.body else {}
    except ValueError as exc:
        raise BadRequest("the body must be JSON", code="invalid_json") from exc
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object", code="invalid_json")
    return body


def _segment(store: DynamoSegmentStore, segment_id: str) -> None:
    if store.get(segment_id) is None:
        raise NotFound(f"no segment {segment_id}", code="segment_not_found")


def _json(status: int, body: dict[str, Any]) -> Response[str]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body, ensure_ascii=False, separators=(",", ":")),
    )


@router.post("/admin/v1/segments/<segment_id>/exports/line-audience")
def export_line_audience(segment_id: str) -> Response[str]:
    """{"channel"?: "default", "description"?, "sync"?}: 201 with the export record; 409 audience_too_small.

    `"sync": true` also keeps the new group in sync after every scheduled recompute (the record's
    `sync`); `"sync": false` exports nothing and stops keeping the segment's audience in sync (200).
    """
    body = _body()
    unknown = sorted(set(body) - {"channel", "description", "sync"})
    if unknown:
        raise BadRequest(f"unknown field `{unknown[0]}`", code="unknown_export_field")
    sync = body.get("sync")
    if sync is not None and not isinstance(sync, bool):
        raise BadRequest("`sync` is true or false", code="invalid_sync")
    if sync is False:
        return _stop_sync(segment_id)
    channel_name = body.get("channel", "default")
    description = body.get("description", f"cdp segment {segment_id}")
    if not isinstance(channel_name, str) or not channel_name:
        raise BadRequest("`channel` is a LINE channel name", code="invalid_channel")
    if not isinstance(description, str) or not description.strip() or len(description) > MAX_AUDIENCE_DESCRIPTION:
        raise BadRequest(
            f"`description` is 1 to {MAX_AUDIENCE_DESCRIPTION} characters", code="invalid_audience_description"
        )
    context = admin_context()
    settings = context.settings
    store = _store()
    _segment(store, segment_id)
    if not settings.line_channels_secret_id:
        raise StoreUnavailable("no LINE channels are configured", code="line_not_configured")
    channel = LineChannels(context.secrets, settings.line_channels_secret_id).find(channel_name)
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
        LineAudienceApi(LineApiClient(settings.line_api_base_url)),
        access_token=channel.access_token,
        description=description.strip(),
    )
    at = iso_from_ms(SystemClock().now_ms())
    record = {
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
    if sync:
        record["sync"] = True
    store.put_export(segment_id, at, record)
    if sync:
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
        return _json(201, {**record, "sync": _public(synced.as_dict())})
    return _json(201, record)


def _stop_sync(segment_id: str) -> Response[str]:
    store = _store()
    _segment(store, segment_id)
    stopped = stop_sync(store, segment_id)
    return _json(200, {"segmentId": segment_id, "sync": None, "stopped": _public(stopped) if stopped else None})


def _public(sync: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in sync.items() if key != "revision"}


@router.post("/admin/v1/segments/<segment_id>/exports/hashed-csv")
def export_hashed_csv(segment_id: str) -> Response[str]:
    """201 with a presigned GET URL (15 minutes) of exports/segments/<id>/<ts>-<rand>.csv and counts."""
    context = admin_context()
    settings = context.settings
    if not settings.imports_bucket:
        raise StoreUnavailable("exports are not configured on this deployment", code="exports_not_configured")
    store = _store()
    _segment(store, segment_id)
    files = S3ImportFiles(client("s3"), settings.imports_bucket)
    at = iso_from_ms(SystemClock().now_ms())
    stamp = at.replace(":", "").replace("-", "").replace(".", "")
    key = f"{EXPORTS_PREFIX}/segments/{segment_id}/{stamp}-{uuid.uuid4().hex[:8]}.csv"
    counts = CsvCounts()
    files.put_stream(key, hashed_csv(member_profiles(segment_id, store, context.store), counts), "text/csv")
    url = files.presigned_get(key, expires_seconds=PRESIGNED_SECONDS, filename=f"{segment_id}-hashed.csv")
    record = {"segmentId": segment_id, "kind": KIND_CSV, "exportedAt": at, "key": key, **counts.as_dict()}
    store.put_export(segment_id, at, record)
    return _json(201, {**record, "url": url, "expires_in_seconds": PRESIGNED_SECONDS})
