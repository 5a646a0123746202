"""Service tokens: credentials for machines (a web shop backend, a BI export), each scoped to one
role, created and revoked by admins through the API.

The secret is shown once, at creation. At rest only its SHA-256 is kept: the secret carries 256
bits of randomness, so a fast hash is enough (a slow password hash protects low-entropy secrets,
which these are not). A token reads `cdp_st_<id>_<secret>`: the id finds the stored hash with one
read, the digest comparison runs in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, replace
from typing import Any, Protocol

from cdp.access.principal import ROLES, Principal, Role
from cdp.clock import SystemClock, iso_from_ms
from cdp.errors import BadRequest, NotFound, Unauthorized

TOKEN_PREFIX = "cdp_st_"  # noqa: S105 - a marker, not a secret
_ID_BYTES = 8  # 16 hex characters: unique among a brand's tokens, not a secret
_SECRET_BYTES = 32
_TOKEN = re.compile(r"^cdp_st_(?P<id>[0-9a-f]{16})_(?P<secret>[A-Za-z0-9_-]{43})$")
MAX_NAME_LENGTH = 100
MAX_TOKENS = 200  # listing reads them all; a brand has a handful of machines


@dataclass(frozen=True, slots=True)
class ServiceToken:
    token_id: str
    name: str
    role: Role
    secret_sha256: str
    created_at_ms: int
    created_by: str  # the principal's subject that created it
    revoked_at_ms: int | None = None
    revoked_by: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at_ms is None

    def principal(self) -> Principal:
        return Principal(subject=f"service:{self.token_id}", role=self.role, kind="service", name=self.name)

    def as_dict(self) -> dict[str, Any]:
        """What the API shows: never the secret, nor its hash."""
        return {
            "id": self.token_id,
            "name": self.name,
            "role": self.role,
            "createdAt": iso_from_ms(self.created_at_ms),
            "createdBy": self.created_by,
            "revokedAt": iso_from_ms(self.revoked_at_ms) if self.revoked_at_ms is not None else None,
            "revokedBy": self.revoked_by,
            "active": self.active,
        }


class ServiceTokenStore(Protocol):
    def create(self, token: ServiceToken) -> None: ...

    def get(self, token_id: str) -> ServiceToken | None: ...

    def list(self, limit: int) -> list[ServiceToken]: ...

    def revoke(self, token_id: str, *, at_ms: int, by: str) -> ServiceToken | None:
        """Mark revoked (keeping the first revocation's time); None when no such token."""
        ...


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def looks_like_service_token(token: str) -> bool:
    return token.startswith(TOKEN_PREFIX)


class ServiceTokens:
    def __init__(self, store: ServiceTokenStore, clock: SystemClock | None = None) -> None:
        self._store = store
        self._clock = clock or SystemClock()

    def create(self, *, name: str, role: str, created_by: Principal) -> tuple[ServiceToken, str]:
        """A new token and its secret (the only time the secret exists outside the caller)."""
        name = name.strip()
        if not name or len(name) > MAX_NAME_LENGTH:
            raise BadRequest(f"name: 1 to {MAX_NAME_LENGTH} characters", code="invalid_token_name")
        if role not in ROLES:
            raise BadRequest(f"role: one of {', '.join(ROLES)}", code="invalid_role")
        if not created_by.can(role):  # type: ignore[arg-type]  # checked against ROLES above
            raise BadRequest(f"a {created_by.role} cannot grant the {role} role", code="role_above_own")
        token_id = secrets.token_hex(_ID_BYTES)
        plaintext = f"{TOKEN_PREFIX}{token_id}_{secrets.token_urlsafe(_SECRET_BYTES)}"
        token = ServiceToken(
            token_id=token_id,
            name=name,
            role=role,  # type: ignore[arg-type]
            secret_sha256=digest(plaintext),
            created_at_ms=self._clock.now_ms(),
            created_by=created_by.subject,
        )
        self._store.create(token)
        return token, plaintext

    def list(self) -> list[ServiceToken]:
        return self._store.list(MAX_TOKENS)

    def revoke(self, token_id: str, *, by: Principal) -> ServiceToken:
        """Idempotent: revoking twice answers the first revocation."""
        revoked = self._store.revoke(token_id, at_ms=self._clock.now_ms(), by=by.subject) if _is_id(token_id) else None
        if revoked is None:
            raise NotFound(f"no service token {token_id}", code="service_token_not_found")
        return revoked

    def authenticate(self, plaintext: str) -> Principal:
        refused = Unauthorized("the service token is unknown or revoked", code="invalid_service_token")
        match = _TOKEN.match(plaintext)
        if match is None:
            raise refused
        stored = self._store.get(match["id"])
        if stored is None or not hmac.compare_digest(stored.secret_sha256, digest(plaintext)):
            raise refused
        if not stored.active:
            raise refused
        return stored.principal()


def _is_id(token_id: str) -> bool:
    return re.fullmatch(r"[0-9a-f]{16}", token_id) is not None


def revoked_copy(token: ServiceToken, *, at_ms: int, by: str) -> ServiceToken:
    """The token revoked now, or as it was when already revoked (fakes and adapters share it)."""
    return token if not token.active else replace(token, revoked_at_ms=at_ms, revoked_by=by)
