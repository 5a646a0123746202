"""LINE account link and LINE Login binding, server to server for the brand's site."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body

from cdp_api.context import admin_context
from cdp_api.docs import errors, ok
from cdp_api.models import LinkTokenRequest, LoginBinding

router = Router()  # type: ignore[no-untyped-call]


@router.post(
    "/admin/v1/line/link-token", status_code=201, responses={**ok(201, "Issued", "LinkTokenIssued"), **errors(502)}
)
def issue_link_token(request: Annotated[LinkTokenRequest, Body()]) -> dict[str, Any]:
    """Start LINE's account link for a member: the link token and the nonce to redirect with."""
    return admin_context().line_binding().start_account_link(request.fields()).as_dict()


@router.post("/admin/v1/line/login", responses={**ok(200, "Bound", "LineLoginBound"), **errors(502)})
def bind_line_login(request: Annotated[LoginBinding, Body()]) -> dict[str, Any]:
    """Bind a member to the LINE user of a verified LINE Login ID token."""
    return admin_context().line_binding().bind_login(request.fields()).as_dict()
