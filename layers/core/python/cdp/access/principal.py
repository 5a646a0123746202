"""The caller of an admin request: who they are, how they signed in and their role.

Roles are ordered: each one can do everything the one before it can. The admin function sets the
principal once per request (after the credential checks) and the routes, the audit log and PII
masking read it from here.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

Role = Literal["viewer", "marketer", "admin"]
Kind = Literal["user", "service", "bootstrap"]
ROLES: tuple[Role, ...] = ("viewer", "marketer", "admin")


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str  # a user's id, a service token's id, or "bootstrap"
    role: Role
    kind: Kind
    name: str = ""  # what the audit log shows: a user's email, a token's label

    def can(self, needed: Role) -> bool:
        return ROLES.index(self.role) >= ROLES.index(needed)


# The shared admin token: the credential a deployment starts with, to create users and tokens.
BOOTSTRAP = Principal(subject="bootstrap", role="admin", kind="bootstrap", name="bootstrap admin token")

_CURRENT: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("principal", default=None)


def current_principal() -> Principal | None:
    return _CURRENT.get()


@contextlib.contextmanager
def acting_as(principal: Principal) -> Iterator[Principal]:
    token = _CURRENT.set(principal)
    try:
        yield principal
    finally:
        _CURRENT.reset(token)
