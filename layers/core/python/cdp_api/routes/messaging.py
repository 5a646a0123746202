"""Messaging administration: the workspace's messaging policy (time zone, quiet hours, opt-in per
channel, frequency caps) that the send point reads (cdp.messaging.policy, docs/messaging.md)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body as BodyParam
from cdp.messaging.policy import MessagingPolicy, parse_policy
from pydantic import Field, StrictStr

from cdp_api.context import admin_context
from cdp_api.docs import errors, ok
from cdp_api.errors import coded
from cdp_api.models import Body, Json, Version

router = Router()  # type: ignore[no-untyped-call]


class MessagingPolicyDocument(Body):
    unknown_field_code = "unknown_policy_field"
    version: Version = 0
    time_zone: Annotated[StrictStr, coded("invalid_messaging_policy", "`time_zone` is an IANA time zone")] = Field(
        default="Asia/Taipei", examples=["Asia/Taipei"]
    )
    quiet_hours: Annotated[
        Json | None, coded("invalid_messaging_policy", "`quiet_hours` is null or {start, end} as HH:MM")
    ] = Field(default=None, examples=[{"start": "22:00", "end": "09:00"}])
    require_opt_in: Annotated[
        Json, coded("invalid_messaging_policy", "`require_opt_in` maps channels to true or false")
    ] = Field(default_factory=dict, examples=[{"line": False, "email": True, "sms": True}])
    caps: Annotated[Json, coded("invalid_messaging_policy", "`caps` maps channels to {day, week}")] = Field(
        default_factory=dict, examples=[{"line": {"day": 2, "week": 6}}]
    )


def _answer(policy: MessagingPolicy, version: int) -> dict[str, Any]:
    return {"version": version, **policy.as_document()}


@router.get("/admin/v1/messaging/policy", responses=ok(200, "The policy in force", "MessagingPolicy"))
def get_messaging_policy() -> dict[str, Any]:
    """The messaging policy in force (the defaults until one is saved, version 0)."""
    policy, version = admin_context().messaging_policy().get()
    return _answer(policy, version)


@router.put("/admin/v1/messaging/policy", responses={**ok(200, "The policy saved", "MessagingPolicy"), **errors(409)})
def put_messaging_policy(document: Annotated[MessagingPolicyDocument, BodyParam()]) -> dict[str, Any]:
    """Replace the policy; `version` must be the version read (compare-and-set, 409 if stale).
    A field left out takes its default; `quiet_hours: null` turns quiet hours off; a cap of null
    removes it. The senders apply it within a minute."""
    fields = document.fields()
    fields.pop("version", None)
    policy = parse_policy(fields)
    version = admin_context().messaging_policy().put(policy, expected_version=document.version)
    return _answer(policy, version)
