"""Who is calling: the Bearer credential turned into a principal.

Three kinds of credential, told apart by their shape: a service token (`cdp_st_...`, hashed in the
core table), a user's ID token (a JWT of the configured user pool) and the shared admin token (the
bootstrap credential, compared in constant time with the admin secret).
"""

from __future__ import annotations

import hmac

from cdp.access.principal import BOOTSTRAP, Principal
from cdp.access.service_tokens import ServiceTokens, looks_like_service_token
from cdp.access.user_tokens import UserTokenVerifier, looks_like_jwt
from cdp.adapters.aws import client
from cdp.adapters.dynamodb.service_tokens import DynamoServiceTokens
from cdp.errors import Unauthorized
from cdp.settings import AdminApiSettings

from cdp_api.context import admin_context

# One verifier per warm container and pool: it keeps the pool's signing keys between requests.
_VERIFIERS: dict[tuple[str, str, str], UserTokenVerifier] = {}


def authenticate(authorization: str | None) -> Principal:
    """The caller's principal; `Unauthorized` when the credential is missing or not valid."""
    context = admin_context()
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized(
            "a Bearer token is required (a service token, a user's ID token or the admin token)",
            code="invalid_admin_token",
        )
    if looks_like_service_token(token):
        return service_tokens(context.settings).authenticate(token)
    verifier = user_token_verifier(context.settings)
    if verifier is not None and looks_like_jwt(token):
        return verifier.authenticate(token)
    expected = context.secrets.get_text(context.settings.admin_token_secret_id).strip()
    if expected and hmac.compare_digest(token.encode(), expected.encode()):
        return BOOTSTRAP
    raise Unauthorized("a valid admin Bearer token is required", code="invalid_admin_token")


def service_tokens(settings: AdminApiSettings) -> ServiceTokens:
    return ServiceTokens(DynamoServiceTokens(client("dynamodb"), settings.core_table))


def user_token_verifier(settings: AdminApiSettings) -> UserTokenVerifier | None:
    if not (settings.user_pool_issuer and settings.user_pool_client_id):
        return None
    key = (settings.user_pool_issuer, settings.user_pool_client_id, settings.user_pool_jwks_url)
    verifier = _VERIFIERS.get(key)
    if verifier is None:
        verifier = _VERIFIERS[key] = UserTokenVerifier(
            issuer=settings.user_pool_issuer,
            client_id=settings.user_pool_client_id,
            jwks_url=settings.user_pool_jwks_url,
        )
    return verifier
