"""The audit log: who did what to which ids, when, from where, and how it ended.

A record is made for every admin write that passed sign-in (any method but GET/HEAD/OPTIONS,
whatever its outcome), every download of a file holding personal data, and every explicit PII
reveal. It never holds a request or response body: only the principal, the method and route
template, the ids in the path, the status code, the source IP, the user agent and the request id.

Storage (cdp.adapters.dynamodb.audit_log): the core table, one partition per UTC day
(`AUDIT#<YYYY-MM-DD>`), newest first by sort key; `expires_at` (the table's TTL) is set
`retention_days` ahead when written, and the retention job may remove whole days sooner.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from cdp.access.principal import Principal
from cdp.clock import iso_from_ms
from cdp.errors import BadRequest

AUDIT_PK_PREFIX = "AUDIT#"
DEFAULT_RETENTION_DAYS = 365
DEFAULT_PAGE = 50
MAX_PAGE = 200

Action = Literal["write", "download", "pii.reveal"]
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# GET routes whose answer hands out a file holding personal data: each call is recorded.
DOWNLOAD_ROUTES = frozenset(
    {
        "/admin/v1/imports/{id}/rejected",
        "/admin/v1/profiles/{id}/export/{job}",
    }
)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    at_ms: int
    request_id: str
    action: Action
    method: str
    route: str  # the route template, e.g. /admin/v1/segments/{id}
    status: int
    actor: str  # the principal's subject
    actor_kind: str
    actor_role: str
    actor_name: str = ""
    targets: dict[str, str] = field(default_factory=dict)  # path parameter -> id
    source_ip: str = ""
    user_agent: str = ""

    @property
    def at(self) -> str:
        return iso_from_ms(self.at_ms)

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "request_id": self.request_id,
            "action": self.action,
            "method": self.method,
            "route": self.route,
            "status": self.status,
            "actor": {
                "subject": self.actor,
                "kind": self.actor_kind,
                "role": self.actor_role,
                "name": self.actor_name,
            },
            "targets": dict(self.targets),
            "source_ip": self.source_ip,
            "user_agent": self.user_agent,
        }

    def stored(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_stored(cls, doc: Mapping[str, Any]) -> AuditRecord:
        return cls(**{**doc, "targets": dict(doc.get("targets") or {})})


def action_of(method: str, route: str, *, revealed: bool) -> Action | None:
    """What a request is for the log, or None when it is a plain read (not recorded)."""
    if method.upper() not in READ_METHODS:
        return "write"
    if route in DOWNLOAD_ROUTES:
        return "download"
    if revealed:
        return "pii.reveal"
    return None


# Bounded so a hostile client cannot grow a record (API Gateway caps headers at 10 KB anyway).
_MAX_FIELD = 256


def _clip(value: Any) -> str:
    return str(value or "")[:_MAX_FIELD]


def record_of(
    event: Mapping[str, Any], *, principal: Principal, status: int, action: Action, at_ms: int
) -> AuditRecord:
    """The record of one API Gateway (REST, proxy) request as answered."""
    context = event.get("requestContext") or {}
    identity = context.get("identity") or {}
    headers = {str(k).lower(): v for k, v in (event.get("headers") or {}).items()}
    route = str(event.get("resource") or context.get("resourcePath") or event.get("path") or "")
    targets = {str(k): _clip(v) for k, v in sorted((event.get("pathParameters") or {}).items())}
    return AuditRecord(
        at_ms=at_ms,
        request_id=_clip(context.get("requestId")) or f"local-{at_ms}",
        action=action,
        method=str(event.get("httpMethod") or "").upper(),
        route=route,
        status=status,
        actor=principal.subject,
        actor_kind=principal.kind,
        actor_role=principal.role,
        actor_name=principal.name,
        targets=targets,
        source_ip=_clip(identity.get("sourceIp")),
        user_agent=_clip(identity.get("userAgent") or headers.get("user-agent")),
    )


def expires_at(at_ms: int, retention_days: int) -> int:
    """Epoch seconds at which the table's TTL may remove the record."""
    return at_ms // 1000 + retention_days * 86400


def audit_partition(day: str) -> str:
    """The partition key of one UTC day (YYYY-MM-DD)."""
    return f"{AUDIT_PK_PREFIX}{day}"


def day_of(at_ms: int) -> str:
    return datetime.fromtimestamp(at_ms / 1000, tz=UTC).strftime("%Y-%m-%d")


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Filters of GET /admin/v1/audit. `to_ms` is exclusive, `from_ms` inclusive."""

    from_ms: int
    to_ms: int
    actor: str | None = None
    method: str | None = None
    route: str | None = None
    action: Action | None = None
    target: str | None = None
    limit: int = DEFAULT_PAGE

    def matches(self, record: AuditRecord) -> bool:
        return (
            self.from_ms <= record.at_ms < self.to_ms
            and (self.actor is None or self.actor in (record.actor, record.actor_name))
            and (self.method is None or record.method == self.method)
            and (self.route is None or record.route == self.route)
            and (self.action is None or record.action == self.action)
            and (self.target is None or self.target in record.targets.values())
        )


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where the next page starts: a day and, inside it, the last sort key read (exclusive)."""

    day: str
    after_sk: str | None

    def encode(self) -> str:
        raw = json.dumps({"d": self.day, "k": self.after_sk}, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            raw = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
            day, after = raw["d"], raw["k"]
            datetime.strptime(day, "%Y-%m-%d")
            if after is not None and not isinstance(after, str):
                raise TypeError(after)
        except (ValueError, TypeError, KeyError, binascii.Error) as exc:
            raise BadRequest("`cursor` is not one this API gave", code="invalid_cursor") from exc
        return cls(day=day, after_sk=after)


@dataclass(frozen=True, slots=True)
class AuditPage:
    records: list[AuditRecord]
    cursor: Cursor | None


class AuditLog(Protocol):
    def record(self, record: AuditRecord) -> None:
        """Store one record (a retried write of the same request id overwrites it)."""
        ...

    def page(self, query: AuditQuery, cursor: Cursor | None) -> AuditPage:
        """Records matching `query`, newest first, and where the next page starts (None: the last)."""
        ...


def parse_time(value: str | None, name: str) -> int | None:
    """An ISO-8601 instant (with a zone or Z) as epoch ms; 400 when it is not one."""
    if value is None or value == "":
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise BadRequest(f"`{name}` is an ISO-8601 time such as 2026-12-01T00:00:00Z", code="invalid_time") from exc
    if moment.tzinfo is None:
        raise BadRequest(f"`{name}` needs a time zone (Z or +hh:mm)", code="invalid_time")
    return int(moment.timestamp() * 1000)


def split_action(value: str | None) -> tuple[Action | None, str | None, str | None]:
    """`action` of the query: a kind (write, download, pii.reveal), a method (POST), or
    `METHOD /route/template`."""
    if not value:
        return None, None, None
    if value in ("write", "download", "pii.reveal"):
        return value, None, None  # type: ignore[return-value]
    method, _, route = value.strip().partition(" ")
    method = method.upper()
    if method not in ("GET", "POST", "PUT", "PATCH", "DELETE") or (route and not route.startswith("/")):
        raise BadRequest(
            "`action` is write, download, pii.reveal, a method, or `METHOD /admin/v1/route/{id}`",
            code="invalid_action",
        )
    return None, method, route.strip() or None


def build_query(
    *,
    now_ms: int,
    retention_days: int,
    actor: str | None,
    action: str | None,
    route: str | None,
    target: str | None,
    from_time: str | None,
    to_time: str | None,
    limit: int,
) -> AuditQuery:
    """The query of GET /admin/v1/audit: `to` defaults to now, `from` to the retention period."""
    kind, method, action_route = split_action(action)
    to_ms = parse_time(to_time, "to") or now_ms + 1
    from_ms = parse_time(from_time, "from")
    if from_ms is None:
        from_ms = max(0, to_ms - retention_days * 86400 * 1000)
    if from_ms >= to_ms:
        raise BadRequest("`from` must be before `to`", code="invalid_time_range")
    if route and action_route and route != action_route:
        raise BadRequest("`route` and the route in `action` differ", code="invalid_action")
    return AuditQuery(
        from_ms=from_ms,
        to_ms=to_ms,
        actor=actor or None,
        method=method,
        route=route or action_route,
        action=kind,
        target=target or None,
        limit=limit,
    )
