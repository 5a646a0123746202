"""People sign in to a user pool (Amazon Cognito in the cloud, the same API on the local stack)
and call the admin API with the pool's ID token. The token's signature is checked against the
pool's published keys (JWKS, fetched once per warm container and on a key rotation); the role is
the highest of the user's groups named after a role (`cognito:groups`).

PyJWT and its RSA backend are imported when the first user token arrives: service-token and
bootstrap requests never pay for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cdp.access.principal import ROLES, Principal, Role
from cdp.clock import SystemClock
from cdp.errors import StoreUnavailable, Unauthorized

if TYPE_CHECKING:
    from jwt import PyJWKClient

CLOCK_SKEW_S = 30  # seconds of clock difference allowed between the pool and this function
GROUPS_CLAIM = "cognito:groups"


def looks_like_jwt(token: str) -> bool:
    return token.startswith("eyJ") and token.count(".") == 2


def role_of(groups: object) -> Role | None:
    """The highest role among the groups; None when the user belongs to no role group."""
    if not isinstance(groups, list):
        return None
    held = [role for role in ROLES if role in groups]
    return held[-1] if held else None


class UserTokenVerifier:
    """Checks an ID token of one user pool app client: signature (RS256), issuer, audience,
    token use and expiry (against the clock port)."""

    def __init__(self, *, issuer: str, client_id: str, jwks_url: str = "", clock: SystemClock | None = None) -> None:
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self.jwks_url = jwks_url or f"{self.issuer}/.well-known/jwks.json"
        self._clock = clock or SystemClock()
        self._keys: PyJWKClient | None = None

    def _jwks(self) -> PyJWKClient:
        if self._keys is None:
            from jwt import PyJWKClient

            self._keys = PyJWKClient(self.jwks_url, cache_keys=True, lifespan=3600, timeout=5)
        return self._keys

    def authenticate(self, token: str) -> Principal:
        import jwt

        refused = "the user token is invalid or expired; sign in again"
        try:
            key = self._jwks().get_signing_key_from_jwt(token)
        except jwt.PyJWKClientConnectionError as exc:
            raise StoreUnavailable(
                "the user pool's signing keys could not be fetched", code="jwks_unavailable"
            ) from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized(refused, code="invalid_user_token") from exc
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=["RS256"],
                audience=self.client_id,
                issuer=self.issuer,
                # Expiry is checked below against the clock port (the local stack's clock can move).
                options={"verify_exp": False, "verify_iat": False, "require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise Unauthorized(refused, code="invalid_user_token") from exc
        now_s = self._clock.now_ms() // 1000
        expires = claims.get("exp")
        if not isinstance(expires, int) or expires + CLOCK_SKEW_S < now_s:
            raise Unauthorized(refused, code="invalid_user_token")
        if claims.get("token_use") != "id":
            raise Unauthorized("send the ID token of the sign-in, not the access token", code="invalid_user_token")
        role = role_of(claims.get(GROUPS_CLAIM))
        if role is None:
            raise Unauthorized(
                f"the user belongs to no role group ({', '.join(ROLES)}); ask an admin to add them to one",
                code="no_role",
            )
        name = claims.get("email") or claims.get("cognito:username") or ""
        return Principal(subject=f"user:{claims['sub']}", role=role, kind="user", name=str(name))
