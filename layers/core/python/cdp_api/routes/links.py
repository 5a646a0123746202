"""Tracked links: create and read links (with click counts), QR codes of their public URL, and
personal links whose signed token attributes a click to one person and channel."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from cdp.clock import SystemClock, iso_from_ms
from cdp.errors import BadRequest, Conflict, NotFound
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

from cdp_api.context import ConfigurationMissing, admin_context
from cdp_api.docs import errors, ok
from cdp_api.errors import coded
from cdp_api.models import LinkCreate, PersonalLink

router = Router()  # type: ignore[no-untyped-call]

GENERATED_CODE_ATTEMPTS = 5
LIST_CURSOR = re.compile(r"\d{4}-\d{2}-\d{2}T[0-9:.]+Z#[A-Za-z0-9][A-Za-z0-9_-]{2,63}")
ListLimit = Annotated[int, coded("invalid_limit", "`limit` is a whole number from 1 to 100")]
QrFormat = Annotated[Literal["svg", "png"], coded("invalid_qr_format", "`format` is one of svg, png")]


def _link(code: str) -> Link:
    link = admin_context().links().get(code, consistent=True) if valid_code(code) else None
    if link is None:
        raise NotFound(f"no link {code}", code="link_not_found")
    return link


def _base_url() -> str:
    event = router.current_event
    context = event.raw_event.get("requestContext") or {}
    return public_base_url(admin_context().settings.link_base_url, event.headers or {}, context)


def _view(link: Link) -> dict[str, Any]:
    return {**link.as_dict(), "public_url": redirect_url(_base_url(), link.code)}


@router.post("/admin/v1/links", status_code=201, responses={**ok(201, "Created", "TrackedLink"), **errors(409)})
def create_link(request: Annotated[LinkCreate, Body()]) -> dict[str, Any]:
    """{"url", "src", "code"?, "campaign"?, "tags"?}: 201; 400 with a code per field; 409
    `link_code_taken` when the requested code exists."""
    body = request.fields()
    created_at = iso_from_ms(SystemClock().now_ms())
    store = admin_context().links()
    if body.get("code") is not None:
        link = new_link(body, created_at=created_at)
        if not store.create(link):
            raise Conflict(f"link code {link.code} is taken", code="link_code_taken", details={"field": "code"})
        return _view(link)
    for _attempt in range(GENERATED_CODE_ATTEMPTS):  # 31^8 codes: a collision is rare, two in a row rarer
        link = new_link(body, created_at=created_at, code=generate_code())
        if store.create(link):
            return _view(link)
    raise Conflict("no free generated code was found; retry or name a `code`", code="link_code_taken")


@router.get("/admin/v1/links", responses={**ok(200, "A page of links, newest first", "TrackedLinkList")})
def list_links(
    limit: Annotated[ListLimit, Query(ge=1, le=100, description="page size")] = 50,
    before: Annotated[str | None, Query(description="the `next` of the previous page")] = None,
) -> dict[str, Any]:
    """The links (made here and minted for messages), newest first, with their click counts and
    public URLs; `next` is the cursor of the following page (null after the oldest)."""
    if before is not None and LIST_CURSOR.fullmatch(before) is None:
        raise BadRequest("`before` is the `next` of the previous page", code="invalid_cursor")
    links, cursor = admin_context().links().recent(limit=limit, before=before)
    return {"links": [_view(link) for link in links], "next": cursor}


@router.get("/admin/v1/links/<code>", responses={**ok(200, "The link and its clicks", "TrackedLink"), **errors(404)})
def get_link(code: str) -> dict[str, Any]:
    """The link, its click counts and its public URL."""
    return _view(_link(code))


@router.get(
    "/admin/v1/links/<code>/qr.svg",
    responses={
        200: {
            "description": "The QR code",
            "content": {"image/svg+xml": {"schema": {"type": "string"}}, "image/png": {"schema": {"type": "string"}}},
        },
        **errors(404),
    },
)
def link_qr(  # type: ignore[no-untyped-def]  # no return annotation: powertools would serialize PNG bytes as text
    code: str,
    format: Annotated[QrFormat, Query(description="svg (default) or png")] = "svg",
    src: Annotated[str | None, Query(description="a source slug added to the URL, e.g. store-taipei-101")] = None,
):
    """The QR code of `<public base>/r/<code>` (`?src=` adds a source; `?format=png` for PNG)."""
    from cdp.links.qr import qr_png, qr_svg  # segno is needed here only

    link = _link(code)
    if src is not None and not valid_src(src):
        raise BadRequest("`src` must be a source slug such as store-taipei-101", code="invalid_link_src")
    target = redirect_url(_base_url(), link.code, src=src)
    headers = {"Cache-Control": "private, max-age=300", "X-Link-Url": target}
    if format == "png":
        return Response(status_code=200, content_type="image/png", body=qr_png(target), headers=headers)
    return Response(status_code=200, content_type="image/svg+xml", body=qr_svg(target), headers=headers)


@router.post(
    "/admin/v1/links/<code>/personal", responses={**ok(200, "The personal URL", "PersonalLinkIssued"), **errors(404)}
)
def personal_link(code: str, request: Annotated[PersonalLink, Body()]) -> dict[str, Any]:
    """{"profile_id" | "line_user_id", "channel" (default line), "line_provider"?}: the link's URL
    with a signed token naming that person, so their click is attributed to them."""
    context = admin_context()
    if not context.settings.link_signing_secret_id:
        raise ConfigurationMissing("no link signing key is configured", setting="CDP_LINK_SIGNING_SECRET_ID")
    profile_id, line_user_id, provider, channel = parse_personal_request(request.fields())
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
        raise ConfigurationMissing("the link signing key is empty", setting="CDP_LINK_SIGNING_SECRET_ID")
    token = sign_token(key, link.code, person)
    return {
        "code": link.code,
        "url": redirect_url(_base_url(), link.code, token=token),
        "token": token,
        "channel": channel,
        "identifier_type": person.id_type,
        "profile_id": resolved_profile,
    }
