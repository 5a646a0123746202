"""The daily retention job (cdp.privacy.retention_job): started by EventBridge Scheduler; a run
that needs more than one invocation continues in a fresh invocation of this function."""

from __future__ import annotations

import functools
from typing import Annotated, Any

from aws_lambda_powertools.utilities.parser import parse
from cdp.adapters.aws import client
from cdp.adapters.dynamodb.retention import AuditLogSweeper, CoreTableSweeper, DynamoRetentionStore
from cdp.adapters.lambda_invoke import LambdaContinuation
from cdp.adapters.s3_retention import S3PrefixSweeper
from cdp.clock import SystemClock
from cdp.observability import logger
from cdp.privacy.retention import EXPORTS, IMPORT_FILES
from cdp.privacy.retention_job import RetentionJob, Sweeper
from cdp.settings import DEFAULT_RETENTION_IMPORT_PREFIX, RetentionSettings
from pydantic import BaseModel, ConfigDict, Field, ValidationError


@functools.cache
def build() -> RetentionJob:
    settings = RetentionSettings.from_env()
    dynamodb, clock = client("dynamodb"), SystemClock()
    # Small sweeps first: a long core-table scan resuming over several invocations delays nothing else.
    sweepers: list[Sweeper] = [AuditLogSweeper(dynamodb, settings.core_table)]
    if settings.imports_bucket:
        s3 = client("s3")
        prefixes = [prefix.strip() for prefix in settings.export_prefixes.split(",") if prefix.strip()]
        sweepers += [S3PrefixSweeper(s3, settings.imports_bucket, prefix, EXPORTS) for prefix in prefixes]
        sweepers.append(S3PrefixSweeper(s3, settings.imports_bucket, DEFAULT_RETENTION_IMPORT_PREFIX, IMPORT_FILES))
    sweepers.append(CoreTableSweeper(dynamodb, settings.core_table))
    return RetentionJob(
        DynamoRetentionStore(dynamodb, settings.core_table),
        sweepers,
        clock,
        raw_event_ttl_days=settings.raw_event_ttl_days,
    )


class RetentionInvocation(BaseModel):
    """The schedule's `{"scheduled_time": ...}` (the occurrence: its retries are the same run), a
    continuation's `{"continue": run id}`, or `{}` (a run for today's UTC day)."""

    model_config = ConfigDict(extra="ignore")
    scheduled_time: Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}T[0-9:.]+Z$")] | None = None


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """An unfinished run is resumed first; otherwise the occurrence's run starts, or nothing
    happens when it has already run."""
    try:
        run_id = parse(event=event, model=RetentionInvocation).scheduled_time
    except ValidationError:
        logger.warning("scheduled_time must be an ISO-8601 UTC time; running for today")
        run_id = None
    run = build().run(context.get_remaining_time_in_millis, run_id=run_id)
    answer = run.as_dict()
    logger.info("retention run", extra={"run_id": run.run_id, "status": answer["status"], "kinds": answer["kinds"]})
    if not run.finished and not run.yielded:  # a run another invocation carries on needs no continuation
        continuation = LambdaContinuation(client("lambda"), context.invoked_function_arn)
        continuation.start({"continue": run.run_id}, doing="continuing the retention run")
    return answer
