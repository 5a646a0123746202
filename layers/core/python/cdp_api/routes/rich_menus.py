"""A LINE rich menu per segment (cdp.segments.rich_menus): link, read, unlink, resync."""

from __future__ import annotations

import json
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body
from cdp.clock import SystemClock, iso_from_ms
from cdp.errors import NotFound, StoreUnavailable
from cdp.segments.rich_menus import SegmentRichMenu, parse_link

from cdp_api.context import AdminContext, ConfigurationMissing, admin_context
from cdp_api.docs import errors, ok
from cdp_api.models import RichMenuLink

router = Router()  # type: ignore[no-untyped-call]


def _start(context: AdminContext, payload: dict[str, Any]) -> None:
    """Hand a resync or a release to the rich menu sync function (asynchronously)."""
    function = context.settings.rich_menu_sync_function
    if not function:
        raise ConfigurationMissing(
            "rich menu sync is not configured on this deployment",
            setting="CDP_RICH_MENU_SYNC_FUNCTION",
            code="rich_menu_sync_not_configured",
        )
    try:
        context.lambda_client().invoke(
            FunctionName=function, InvocationType="Event", Payload=json.dumps(payload).encode()
        )
    except Exception as exc:  # botocore's errors: the link is stored; a resync can be asked again
        raise StoreUnavailable(
            "could not start the rich menu sync; POST .../rich-menu/sync", code="rich_menu_sync_unavailable"
        ) from exc


def _segment(context: AdminContext, segment_id: str) -> None:
    if context.segments().get(segment_id) is None:
        raise NotFound(f"no segment {segment_id}", code="segment_not_found")


def _linked(context: AdminContext, segment_id: str) -> SegmentRichMenu:
    _segment(context, segment_id)
    link = context.segment_rich_menus().get_rich_menu(segment_id)
    if link is None:
        raise NotFound(f"segment {segment_id} has no rich menu", code="rich_menu_not_linked")
    return link


@router.get(
    "/admin/v1/segments/<segment_id>/rich-menu",
    responses={**ok(200, "The segment's rich menu", "SegmentRichMenu"), **errors(404)},
)
def get_segment_rich_menu(segment_id: str) -> dict[str, Any]:
    """The LINE rich menu the segment's members see."""
    return _linked(admin_context(), segment_id).as_dict()


@router.put(
    "/admin/v1/segments/<segment_id>/rich-menu",
    status_code=202,
    responses={**ok(202, "Linked; members get it in the background", "SegmentRichMenuSync"), **errors(404)},
)
def put_segment_rich_menu(segment_id: str, body: Annotated[RichMenuLink, Body()]) -> dict[str, Any]:
    """Link a LINE rich menu to the segment: its members get it (a full resync starts now), people
    who enter get it, people who leave get the default menu back. 404 `rich_menu_not_found` when
    LINE does not know the menu, `line_channel_not_found` for an unknown channel."""
    context = admin_context()
    _segment(context, segment_id)
    link = parse_link(segment_id, body.rich_menu_id, body.channel, iso_from_ms(SystemClock().now_ms()))
    context.rich_menu_sync().check(link)
    context.segment_rich_menus().put_rich_menu(link)
    _start(context, {"action": "resync", "segmentId": segment_id})
    return {**link.as_dict(), "sync": "started"}


@router.delete(
    "/admin/v1/segments/<segment_id>/rich-menu",
    status_code=202,
    responses={
        **ok(202, "Unlinked; members get the default back in the background", "SegmentRichMenuSync"),
        **errors(404),
    },
)
def delete_segment_rich_menu(segment_id: str) -> dict[str, Any]:
    """Unlink: the segment's members get the default menu back (started now)."""
    context = admin_context()
    _segment(context, segment_id)
    link = context.segment_rich_menus().delete_rich_menu(segment_id)
    if link is None:
        raise NotFound(f"segment {segment_id} has no rich menu", code="rich_menu_not_linked")
    _start(context, {"action": "release", "link": link.as_dict()})
    return {**link.as_dict(), "sync": "started"}


@router.post(
    "/admin/v1/segments/<segment_id>/rich-menu/sync",
    status_code=202,
    responses={**ok(202, "A full resync started", "SegmentRichMenuSync"), **errors(404)},
)
def resync_segment_rich_menu(segment_id: str) -> dict[str, Any]:
    """Link the menu to every current member again (after a LINE-side change, or to repair drift)."""
    context = admin_context()
    link = _linked(context, segment_id)
    _start(context, {"action": "resync", "segmentId": segment_id})
    return {**link.as_dict(), "sync": "started"}
