"""Which role a request needs: the least role of the route it calls, and the refusal when the
caller's role is below it."""

from __future__ import annotations

from collections.abc import Mapping

from cdp.access.principal import ROLES, Principal, Role
from cdp.errors import CdpError

# A route missing from the table (one added without regenerating it) needs the highest role:
# refusing a marketer is a visible bug, letting one through is not.
UNKNOWN_ROUTE_ROLE: Role = "admin"


class Forbidden(CdpError):
    """Signed in, but the caller's role is below the route's: 403 with the role it needs."""

    status = 403
    code = "forbidden"

    def __init__(self, principal: Principal, needed: Role, operation: str) -> None:
        super().__init__(
            f"{operation} needs the {needed} role; this {principal.kind} has the {principal.role} role",
            details={"required_role": needed, "role": principal.role},
        )


def _segments(path: str) -> tuple[str, ...]:
    """`/a/{id}/b` -> ("a", "{}", "b"): parameter names do not matter, only their places."""
    return tuple("{}" if part.startswith("{") and part.endswith("}") else part for part in path.strip("/").split("/"))


class RouteRoles:
    """The role table (method, path template -> least role), matched like API Gateway: the
    resource path when the gateway names it, else the request path, static segments first."""

    def __init__(self, table: Mapping[tuple[str, str], Role]) -> None:
        unknown = sorted(set(table.values()) - set(ROLES))
        if unknown:
            raise ValueError(f"unknown roles in the route table: {unknown}")
        self._shapes = {(method.upper(), _segments(path)): role for (method, path), role in table.items()}

    def required(self, method: str, path: str, resource: str | None = None) -> Role:
        method = method.upper()
        by_shape = self._shapes
        if resource:
            found = by_shape.get((method, _segments(resource)))
            if found is not None:
                return found
        wanted = tuple(path.strip("/").split("/"))
        best: tuple[tuple[int, ...], Role] | None = None
        for (route_method, shape), role in by_shape.items():
            if route_method != method or len(shape) != len(wanted):
                continue
            if all(part == "{}" or part == got for part, got in zip(shape, wanted, strict=True)):
                rank = tuple(1 if part == "{}" else 0 for part in shape)
                if best is None or rank < best[0]:
                    best = (rank, role)
        return best[1] if best is not None else UNKNOWN_ROUTE_ROLE

    def check(self, principal: Principal, method: str, path: str, resource: str | None = None) -> None:
        """Raise `Forbidden` unless `principal` may call the route."""
        needed = self.required(method, path, resource)
        if not principal.can(needed):
            raise Forbidden(principal, needed, f"{method.upper()} {resource or path}")
