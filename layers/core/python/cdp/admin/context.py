"""What admin routes share: settings, clients and stores, built once per warm container."""

from __future__ import annotations

import functools
import hmac
from dataclasses import dataclass
from typing import Any

from cdp.adapters.aws import client
from cdp.adapters.dynamodb.profile_store import DynamoProfileStore
from cdp.adapters.secrets import CachedSecrets
from cdp.errors import BadRequest, Unauthorized
from cdp.identity.identifiers import IdentifierNormalizer
from cdp.settings import AdminApiSettings


@dataclass(frozen=True, slots=True)
class AdminContext:
    settings: AdminApiSettings
    secrets: CachedSecrets
    store: DynamoProfileStore
    normalizer: IdentifierNormalizer


@functools.cache
def admin_context() -> AdminContext:
    settings = AdminApiSettings.from_env()
    return AdminContext(
        settings=settings,
        secrets=CachedSecrets(client("secretsmanager"), settings.secrets_cache_seconds),
        store=DynamoProfileStore(client("dynamodb"), settings.core_table),
        normalizer=IdentifierNormalizer(settings.default_phone_region),
    )


def json_object_body(router: Any) -> dict[str, Any]:
    """The request body as a JSON object; 400 invalid_json otherwise."""
    try:
        body = router.current_event.json_body if router.current_event.body else None
    except ValueError as exc:
        raise BadRequest("the body must be JSON", code="invalid_json") from exc
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object", code="invalid_json")
    return body


def require_admin_token(authorization: str | None) -> None:
    """Bearer token against the admin secret, compared in constant time."""
    context = admin_context()
    scheme, _, token = (authorization or "").partition(" ")
    expected = context.secrets.get_text(context.settings.admin_token_secret_id).strip()
    if scheme.lower() != "bearer" or not token or not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise Unauthorized("a valid admin Bearer token is required", code="invalid_admin_token")


def admin_auth_middleware(app: Any, next_middleware: Any) -> Any:
    """Runs before every admin route: no route can forget the token check."""
    require_admin_token(app.current_event.get_header_value("authorization"))
    return next_middleware(app)
