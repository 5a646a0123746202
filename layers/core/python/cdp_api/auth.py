"""The admin bearer token, compared in constant time against the admin secret."""

from __future__ import annotations

import hmac

from cdp.errors import Unauthorized

from cdp_api.context import admin_context


def require_admin_token(authorization: str | None) -> None:
    context = admin_context()
    scheme, _, token = (authorization or "").partition(" ")
    expected = context.secrets.get_text(context.settings.admin_token_secret_id).strip()
    if scheme.lower() != "bearer" or not token or not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise Unauthorized("a valid admin Bearer token is required", code="invalid_admin_token")
