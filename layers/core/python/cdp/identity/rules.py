"""Identity rules of a workspace: junk values, how many identifiers of a type one person may
have, and which identifier types decide when an event's identifiers point at different people.

Stored as configuration (core table) and changed through the admin API; validated here so a
bad rule set is a 400 naming the bad field, never a half-applied configuration.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cdp.errors import BadRequest
from cdp.identity.identifiers import DEFAULT_BLOCKED_VALUES, DEFAULT_PRIORITY, IDENTIFIER_TYPES, Identifier

DEFAULT_MAX_PER_TYPE: Mapping[str, int] = {
    "member_id": 1,
    "line": 1,  # per LINE provider: user ids are scoped by provider
    "email": 5,
    "phone": 3,
    "anonymous_id": 100,
    "wechat_unionid": 1,
    "wechat_openid": 5,
    "idfa": 10,
}
MAX_BLOCKED_VALUES = 1000
MAX_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class IdentityRules:
    blocked_values: frozenset[str] = DEFAULT_BLOCKED_VALUES
    max_per_type: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_MAX_PER_TYPE))
    priority: tuple[str, ...] = DEFAULT_PRIORITY
    version: int = 0

    def rank(self, id_type: str) -> int:
        try:
            return self.priority.index(id_type)
        except ValueError:
            return len(self.priority)

    def violations(self, identifiers: Iterable[Identifier]) -> list[str]:
        """Rule names a set of identifiers held by one person would break, e.g. `max_member_id`."""
        counts = Counter(_limit_bucket(identifier) for identifier in identifiers)
        broken = {
            f"max_{id_type}"
            for (id_type, _scope), count in counts.items()
            if count > self.max_per_type.get(id_type, MAX_LIMIT)
        }
        return sorted(broken)

    def added_violations(self, base: Iterable[Identifier], extra: Iterable[Identifier]) -> list[str]:
        """Rules that joining `extra` to `base` would break that neither breaks on its own terms.

        A limit is broken when the joined count is over it and larger than either side's count:
        a profile already over a limit an admin tightened later keeps what it has and can still
        be found by it, but gains nothing more of that type.
        """
        base_counts = Counter(_limit_bucket(identifier) for identifier in set(base))
        extra_counts = Counter(_limit_bucket(identifier) for identifier in set(extra))
        joined = Counter(_limit_bucket(identifier) for identifier in set(base) | set(extra))
        broken = {
            f"max_{id_type}"
            for (id_type, scope), count in joined.items()
            if count > self.max_per_type.get(id_type, MAX_LIMIT)
            and count > max(base_counts[(id_type, scope)], extra_counts[(id_type, scope)])
        }
        return sorted(broken)

    def as_dict(self) -> dict[str, Any]:
        return {
            "blocked_values": sorted(self.blocked_values),
            "max_per_type": dict(sorted(self.max_per_type.items())),
            "priority": list(self.priority),
            "version": self.version,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, version: int | None = None) -> IdentityRules:
        """Validate a rule document (admin input or stored); unknown keys are an error."""
        if not isinstance(data, Mapping):
            raise BadRequest("identity rules must be a JSON object", code="invalid_rules")
        unknown = set(data) - {"blocked_values", "max_per_type", "priority", "version"}
        if unknown:
            raise BadRequest(f"unknown rule fields: {sorted(unknown)}", code="unknown_rule_field")
        blocked = data.get("blocked_values", sorted(DEFAULT_BLOCKED_VALUES))
        if not isinstance(blocked, list) or not all(isinstance(v, str) for v in blocked):
            raise BadRequest("blocked_values must be a list of strings", code="invalid_blocked_values")
        if len(blocked) > MAX_BLOCKED_VALUES:
            raise BadRequest(f"at most {MAX_BLOCKED_VALUES} blocked values", code="invalid_blocked_values")
        overrides = data.get("max_per_type") or {}
        if not isinstance(overrides, Mapping):
            raise BadRequest("max_per_type must be an object of type -> limit", code="invalid_max_per_type")
        limits = {**DEFAULT_MAX_PER_TYPE, **overrides}
        for id_type, limit in limits.items():
            if id_type not in IDENTIFIER_TYPES:
                raise BadRequest(f"max_per_type: unknown identifier type {id_type!r}", code="unknown_identifier_type")
            if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
                raise BadRequest(
                    f"max_per_type.{id_type} must be an integer from 1 to {MAX_LIMIT}", code="invalid_max_per_type"
                )
        priority = data.get("priority", list(DEFAULT_PRIORITY))
        if (
            not isinstance(priority, list)
            or not all(isinstance(id_type, str) for id_type in priority)
            or sorted(priority) != sorted(IDENTIFIER_TYPES)
        ):
            raise BadRequest(
                f"priority must list each identifier type exactly once: {', '.join(IDENTIFIER_TYPES)}",
                code="invalid_priority",
            )
        stored_version = data.get("version", 0)
        return cls(
            # Values are compared after trimming and lower-casing, as the normaliser does.
            blocked_values=frozenset(value.strip().lower() for value in blocked),
            max_per_type=limits,
            priority=tuple(priority),
            version=stored_version if version is None and isinstance(stored_version, int) else (version or 0),
        )


DEFAULT_RULES = IdentityRules()


def rules_from_storage(document: Mapping[str, Any], *, version: int) -> IdentityRules:
    """Stored rules, read leniently: a newer or older set of identifier types must not make the
    workspace's rules unreadable (every event would fail). Unknown types are dropped and types
    the stored priority lacks go last, in the default order; writes stay strict (`from_dict`)."""
    stored_priority = document.get("priority")
    priority = [t for t in stored_priority if t in IDENTIFIER_TYPES] if isinstance(stored_priority, list) else []
    priority = list(dict.fromkeys(priority)) + [t for t in DEFAULT_PRIORITY if t not in priority]
    stored_limits = document.get("max_per_type")
    limits = (
        {k: v for k, v in stored_limits.items() if k in IDENTIFIER_TYPES} if isinstance(stored_limits, Mapping) else {}
    )
    return IdentityRules.from_dict({**document, "priority": priority, "max_per_type": limits}, version=version)


def _limit_bucket(identifier: Identifier) -> tuple[str, str]:
    """LINE ids are limited per provider (`provider:userId`); other types per type."""
    if identifier.type == "line":
        return identifier.type, identifier.value.rpartition(":")[0]
    return identifier.type, ""
