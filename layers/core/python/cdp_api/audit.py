"""What every signed-in admin request passes through, once the principal is known: PII masking
of the answer (cdp.access.masking) and the audit record (cdp.access.audit).

Recording never fails the request: the request's effect has already happened when its outcome
is known, so a 5xx would tell the client to retry something that was done. Instead a record
that cannot be stored (after one retry) is written to the function's log without personal data
(the record holds none but the actor's name, which is left out there) and counted in the
`AuditWriteFailed` metric (alarm `AuditWriteFailed`, docs/runbook.md); the log line can be replayed into the table.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools.event_handler import content_types
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from cdp.access.audit import DOWNLOAD_ROUTES, AuditRecord, action_of, record_of
from cdp.access.masking import PII_ROUTES, MaskingDecision, can_reveal, decide, mask
from cdp.access.principal import Principal, current_principal
from cdp.access.roles import Forbidden
from cdp.clock import SystemClock
from cdp.errors import CdpError
from cdp.observability import AUDIT_WRITE_FAILED, METRICS_NAMESPACE, logger

from cdp_api.context import admin_context

Serve = Callable[[dict[str, Any]], dict[str, Any]]
_UNMASKED = MaskingDecision(mask=False, revealed=False)


class PiiForbidden(CdpError):
    """The caller's role may not see what it asked for unmasked (403, like any role refusal)."""

    status = 403
    code = "forbidden"

    def __init__(self, message: str) -> None:
        super().__init__(message, details={"required_role": "marketer"})


def audited(
    event: dict[str, Any], serve: Serve, authorize: Callable[[dict[str, Any]], None] | None = None
) -> dict[str, Any]:
    """`serve(event)` for the current principal, the answer masked when it must be, and the
    request recorded when it is a write, a download or a reveal. `authorize` (the route's role
    check) runs first: its refusal is answered and recorded like any other outcome."""
    from cdp_api.app import _proxy as proxy
    from cdp_api.app import error_answer

    principal = current_principal()
    route = route_of(event)
    decision = _UNMASKED
    try:
        if authorize is not None:
            authorize(event)
        decision = _decision(event, route, principal)
    except (PiiForbidden, Forbidden) as refused:
        response = proxy(error_answer(refused, event))
    else:
        response = serve(event)
        if decision.mask:
            response = masked(response)
    status = int(response.get("statusCode") or 500)
    method = str(event.get("httpMethod") or "").upper()
    # A reveal is recorded whether it was granted or refused (the status tells which).
    action = action_of(method, route, revealed=decision.revealed or _asks_reveal(event, route))
    if action == "download" and 200 <= status < 300 and not _hands_out_link(response):
        action = None  # a poll of a job that has no file yet
    if action is not None and principal is not None:
        store(record_of(event, principal=principal, status=status, action=action, at_ms=SystemClock().now_ms()))
    return response


def route_of(event: Mapping[str, Any]) -> str:
    context = event.get("requestContext") or {}
    return str(event.get("resource") or context.get("resourcePath") or "")


def _decision(event: Mapping[str, Any], route: str, principal: Principal | None) -> MaskingDecision:
    if route in DOWNLOAD_ROUTES and not can_reveal(principal):
        raise PiiForbidden("this download holds personal data unmasked; it needs the marketer role")
    if route not in PII_ROUTES:
        return _UNMASKED
    reveal = _asks_reveal(event, route)
    if reveal and not can_reveal(principal):
        raise PiiForbidden("`reveal` shows phones and emails unmasked; it needs the marketer role")
    return decide(principal, reveal=reveal)


def _hands_out_link(response: Mapping[str, Any]) -> bool:
    """Whether a 2xx answer gives a download link (an http(s) URL under a key ending in `url`)."""
    try:
        document = json.loads(str(response.get("body") or ""))
    except ValueError:
        return False
    return _has_link(document)


def _has_link(node: Any) -> bool:
    if isinstance(node, dict):
        return any(
            (str(key).lower().endswith("url") and isinstance(value, str) and value.startswith(("https://", "http://")))
            or _has_link(value)
            for key, value in node.items()
        )
    if isinstance(node, list):
        return any(_has_link(item) for item in node)
    return False


def _asks_reveal(event: Mapping[str, Any], route: str) -> bool:
    return route in PII_ROUTES and _query(event, "reveal") in ("true", "1")


def _query(event: Mapping[str, Any], name: str) -> str | None:
    value = (event.get("queryStringParameters") or {}).get(name)
    return str(value).lower() if value is not None else None


def masked(response: dict[str, Any]) -> dict[str, Any]:
    """The answer with phones and emails masked, when it is JSON (files and redirects pass)."""
    headers = {str(k).lower(): str(v) for k, v in (response.get("headers") or {}).items()}
    multi = response.get("multiValueHeaders") or {}
    kind = headers.get("content-type") or next(
        (str(v[0]) for k, v in multi.items() if str(k).lower() == "content-type" and v), ""
    )
    body = response.get("body")
    if response.get("isBase64Encoded") or not body or not kind.startswith(content_types.APPLICATION_JSON):
        return response
    try:
        document = json.loads(body)
    except ValueError:
        return response
    return {**response, "body": json.dumps(mask(document), ensure_ascii=False, separators=(",", ":"))}


def store(record: AuditRecord) -> None:
    """Store the record; on failure retry once, then log it (without the actor's name) and count it."""
    problem: Exception | None = None
    for _attempt in range(2):
        try:
            admin_context().audit_log().record(record)  # inside: a missing setting is a failure too
            return
        except Exception as exc:
            problem = exc
    kept = {**record.as_dict(), "actor": {**record.as_dict()["actor"], "name": ""}}
    logger.error(
        "audit record not stored",
        extra={"audit_record": kept, "error": getattr(problem, "code", type(problem).__name__)},
    )
    with single_metric(name=AUDIT_WRITE_FAILED, unit=MetricUnit.Count, value=1, namespace=METRICS_NAMESPACE):
        pass
