"""Rich menus per segment (cdp.segments.rich_menus): `segment.entered` / `segment.exited` from
the bus, and `{"action": "resync" | "release", ...}` from the admin API (an asynchronous invoke),
become LINE per-user rich menu links and unlinks."""

from __future__ import annotations

import functools
from typing import Any

from cdp.adapters.aws import client
from cdp.adapters.dynamodb.profile_store import DynamoProfileStore
from cdp.adapters.dynamodb.segment_rich_menus import DynamoSegmentRichMenus
from cdp.adapters.dynamodb.segment_store import DynamoSegmentStore
from cdp.adapters.line_api import LineApiClient, LineRichMenuApi
from cdp.adapters.secrets import CachedSecrets
from cdp.domain_events import SEGMENT_ENTERED, SEGMENT_EXITED
from cdp.ingestion.channels import LineChannels
from cdp.observability import logger
from cdp.segments.rich_menus import RichMenuSync, SegmentRichMenu, SyncReport
from cdp.settings import RichMenuSyncSettings


@functools.cache
def build() -> RichMenuSync:
    settings = RichMenuSyncSettings.from_env()
    dynamodb = client("dynamodb")
    secrets = CachedSecrets(client("secretsmanager"), settings.secrets_cache_seconds)
    return RichMenuSync(
        store=DynamoSegmentRichMenus(dynamodb, settings.core_table),
        memberships=DynamoSegmentStore(dynamodb, settings.core_table),
        profiles=DynamoProfileStore(dynamodb, settings.core_table),
        links=LineRichMenuApi(LineApiClient(settings.line_api_base_url)),
        channels=LineChannels(secrets, settings.line_channels_secret_id),
    )


def dispatch(sync: RichMenuSync, event: dict[str, Any]) -> SyncReport | None:
    name = event.get("detail-type")
    if name in (SEGMENT_ENTERED, SEGMENT_EXITED):
        data = ((event.get("detail") or {}).get("data")) or {}
        segment_id, profile_id = data.get("segmentId"), data.get("profileId")
        if not isinstance(segment_id, str) or not isinstance(profile_id, str):
            logger.warning("membership event without segmentId/profileId; ignored", extra={"detail_type": name})
            return None
        return sync.changed(segment_id, [profile_id])
    action = event.get("action")
    if action == "resync" and isinstance(event.get("segmentId"), str):
        return sync.resync(event["segmentId"])
    if action == "release" and isinstance(event.get("link"), dict):
        return sync.release(SegmentRichMenu.from_dict(event["link"]))
    logger.warning("not an event this function handles; ignored", extra={"detail_type": name, "action": action})
    return None


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # An error (LINE or DynamoDB unavailable) fails the invocation: EventBridge and the
    # asynchronous invoke retry it, and applying the current membership again is harmless.
    report = dispatch(build(), event)
    summary = report.as_dict() if report else {"ignored": True}
    logger.info("rich menus synced", extra=summary)
    return summary
