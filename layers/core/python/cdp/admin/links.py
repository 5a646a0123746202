"""Tracked links: create and read links (with click counts), QR codes of their public URL, and
personal links whose signed token attributes a click to one person and channel."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from cdp.adapters.aws import client
from cdp.adapters.dynamodb.link_store import DynamoLinkStore
from cdp.admin.context import admin_context
from cdp.clock import SystemClock, iso_from_ms
from cdp.errors import BadRequest, Conflict, NotFound
from cdp.identity.line_binding import NotConfigured
from cdp.links.model import Link, generate_code, new_link, valid_code, valid_src
from cdp.links.personal import (
    parse_personal_request,
    person_for_line_user,
    person_for_profile,
    public_base_url,
    redirect_url,
)
from cdp.links.tokens import sign_token
from cdp.profiles.views import current_profile

router = Router()  # type: ignore[no-untyped-call]

GENERATED_CODE_ATTEMPTS = 5
QR_FORMATS = ("svg", "png")


def _store() -> DynamoLinkStore:
    return DynamoLinkStore(client("dynamodb"), admin_context().settings.core_table)


def _json_body() -> Any:
    try:
        return router.current_event.json_body if router.current_event.body else None
    except ValueError as exc:
        raise BadRequest("the body must be JSON", code="invalid_json") from exc


def _link(code: str) -> Link:
    link = _store().get(code, consistent=True) if valid_code(code) else None
    if link is None:
        raise NotFound(f"no link {code}", code="link_not_found")
    return link


def _base_url() -> str:
    event = router.current_event
    context = event.raw_event.get("requestContext") or {}
    return public_base_url(admin_context().settings.link_base_url, event.headers or {}, context)


def _view(link: Link) -> dict[str, Any]:
    return {**link.as_dict(), "public_url": redirect_url(_base_url(), link.code)}


@router.post("/admin/v1/links")
def create_link() -> tuple[dict[str, Any], int]:
    """{"url", "src", "code"?, "campaign"?, "tags"?}: 201; 400 with a code per field; 409
    `link_code_taken` when the requested code exists."""
    body = _json_body()
    created_at = iso_from_ms(SystemClock().now_ms())
    store = _store()
    if isinstance(body, dict) and body.get("code") is not None:
        link = new_link(body, created_at=created_at)
        if not store.create(link):
            raise Conflict(f"link code {link.code} is taken", code="link_code_taken", details={"field": "code"})
        return _view(link), 201
    for _attempt in range(GENERATED_CODE_ATTEMPTS):  # 31^8 codes: a collision is rare, two in a row rarer
        link = new_link(body, created_at=created_at, code=generate_code())
        if store.create(link):
            return _view(link), 201
    raise Conflict("no free generated code was found; retry or name a `code`", code="link_code_taken")


@router.get("/admin/v1/links/<code>")
def get_link(code: str) -> dict[str, Any]:
    return _view(_link(code))


@router.get("/admin/v1/links/<code>/qr.svg")
def link_qr(code: str) -> Response[Any]:
    """The QR code of `<public base>/r/<code>` (`?src=` adds a source; `?format=png` for PNG)."""
    from cdp.links.qr import qr_png, qr_svg  # segno is needed here only

    link = _link(code)
    event = router.current_event
    image_format = event.get_query_string_value("format") or "svg"
    if image_format not in QR_FORMATS:
        raise BadRequest(f"`format` is one of {', '.join(QR_FORMATS)}", code="invalid_qr_format")
    src = event.get_query_string_value("src")
    if src is not None and not valid_src(src):
        raise BadRequest("`src` must be a source slug such as store-taipei-101", code="invalid_link_src")
    target = redirect_url(_base_url(), link.code, src=src)
    headers = {"Cache-Control": "private, max-age=300", "X-Link-Url": target}
    if image_format == "png":
        return Response(status_code=200, content_type="image/png", body=qr_png(target), headers=headers)
    return Response(status_code=200, content_type="image/svg+xml", body=qr_svg(target), headers=headers)


@router.post("/admin/v1/links/<code>/personal")
def personal_link(code: str) -> dict[str, Any]:
    """{"profile_id" | "line_user_id", "channel" (default line), "line_provider"?}: the link's URL
    with a signed token naming that person, so their click is attributed to them."""
    context = admin_context()
    if not context.settings.link_signing_secret_id:
        raise NotConfigured("the admin API has no link signing key configured")
    profile_id, line_user_id, provider, channel = parse_personal_request(_json_body())
    link = _link(code)
    if line_user_id is not None:
        person = person_for_line_user(provider or context.settings.default_line_provider, line_user_id, channel)
        resolved_profile = None
    else:
        assert profile_id is not None
        profile = current_profile(context.store, profile_id)
        person = person_for_profile(profile, channel)
        resolved_profile = profile.profile_id
    key = context.secrets.get_text(context.settings.link_signing_secret_id).strip().encode("utf-8")
    if not key:
        raise NotConfigured("the link signing key is empty")
    token = sign_token(key, link.code, person)
    return {
        "code": link.code,
        "url": redirect_url(_base_url(), link.code, token=token),
        "token": token,
        "channel": channel,
        "identifier_type": person.id_type,
        "profile_id": resolved_profile,
    }
