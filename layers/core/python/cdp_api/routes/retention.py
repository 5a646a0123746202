"""Retention settings per data kind and the daily job's latest runs (cdp.privacy.retention)."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body as BodyParam
from cdp.adapters.aws import client
from cdp.adapters.dynamodb.retention import DynamoRetentionStore
from cdp.clock import SystemClock
from cdp.privacy.retention_job import report, update_policy
from pydantic import Field, StrictStr

from cdp_api.context import admin_context
from cdp_api.docs import errors, ok
from cdp_api.errors import coded
from cdp_api.models import Body, Version

router = Router()  # type: ignore[no-untyped-call]
PATH = "/admin/v1/privacy/retention"


class RetentionChange(Body):
    unknown_field_code = "unknown_retention_field"
    missing_codes: ClassVar[dict[str, str]] = {"days": "invalid_retention_days"}
    version: Version = 0
    days: Annotated[
        dict[StrictStr, Any], coded("invalid_retention_days", "`days` maps data kinds to whole numbers of days")
    ] = Field(examples=[{"timeline": 540, "exports": 3}])


def _store() -> DynamoRetentionStore:
    return DynamoRetentionStore(client("dynamodb"), admin_context().settings.core_table)


@router.get(PATH, responses=ok(200, "Days kept per data kind, and the latest runs", "RetentionSettings"))
def get_retention() -> dict[str, Any]:
    """How long each kind of personal data is kept, how that is enforced, and what the daily
    retention job removed in its latest runs (per kind: removed, oldest kept, cutoff)."""
    return report(_store(), raw_event_ttl_days=admin_context().settings.raw_event_ttl_days)


@router.put(PATH, responses={**ok(200, "The settings saved", "RetentionSettings"), **errors(400, 409)})
def put_retention(change: Annotated[RetentionChange, BodyParam()]) -> dict[str, Any]:
    """Change the days of the configurable kinds (`days`: kind -> days; the others keep theirs);
    `version` must be the version read (409 `retention_version_conflict` if stale). A kind out of
    its bounds answers 400 `retention_out_of_bounds` with `details.field`, `min_days`, `max_days`;
    raw events (DynamoDB TTL, a deploy setting) and the archive (follows the timeline) answer
    `retention_not_configurable`. Applies from the next daily run."""
    store = _store()
    raw_days = admin_context().settings.raw_event_ttl_days
    update_policy(
        store, change.days, expected_version=change.version, now_ms=SystemClock().now_ms(), raw_event_ttl_days=raw_days
    )
    return report(store, raw_event_ttl_days=raw_days)
