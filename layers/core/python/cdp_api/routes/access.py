"""Access: who the caller is (`/me`) and the service tokens machines call the API with."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body
from cdp.access.principal import Principal, current_principal
from cdp.errors import Unauthorized

from cdp_api.auth import service_tokens
from cdp_api.context import admin_context
from cdp_api.docs import errors, ok
from cdp_api.models import ServiceTokenCreate

router = Router()  # type: ignore[no-untyped-call]


def _caller() -> Principal:
    principal = current_principal()
    if principal is None:  # the admin function signs every request in before its route runs
        raise Unauthorized("no caller is signed in", code="invalid_admin_token")
    return principal


@router.get("/admin/v1/me", responses=ok(200, "The caller", "Caller"))
def get_me() -> dict[str, Any]:
    """Who the credential belongs to and its role (the console shows it and hides what the role cannot do)."""
    principal = _caller()
    return {"subject": principal.subject, "role": principal.role, "kind": principal.kind, "name": principal.name}


@router.post("/admin/v1/tokens", responses={**ok(201, "The token and its secret", "ServiceTokenCreated")})
def create_token(request: Annotated[ServiceTokenCreate, Body()]) -> Response[dict[str, Any]]:
    """A service token scoped to `role` (at most the creator's). The answer is the only time the
    secret is shown: store it in the calling system's secret store; only its SHA-256 is kept."""
    token, secret = service_tokens(admin_context().settings).create(
        name=request.name, role=request.role, created_by=_caller()
    )
    return Response(
        status_code=201,
        content_type=content_types.APPLICATION_JSON,
        body={"token": token.as_dict(), "secret": secret},
    )


@router.get("/admin/v1/tokens", responses=ok(200, "Every service token, revoked ones included", "ServiceTokenList"))
def list_tokens() -> dict[str, Any]:
    """The service tokens (never their secrets), oldest first."""
    tokens = sorted(service_tokens(admin_context().settings).list(), key=lambda t: (t.created_at_ms, t.token_id))
    return {"tokens": [token.as_dict() for token in tokens]}


@router.delete(
    "/admin/v1/tokens/<token_id>", responses={**ok(200, "The revoked token", "ServiceTokenView"), **errors(404)}
)
def revoke_token(token_id: str) -> dict[str, Any]:
    """Revoke a token: requests with it answer 401 from now on. Idempotent (a second revoke
    answers the first); the record is kept so past actions still name the token."""
    return service_tokens(admin_context().settings).revoke(token_id, by=_caller()).as_dict()
