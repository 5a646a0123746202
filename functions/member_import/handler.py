"""Async worker for member CSV imports: `{"importId": ...}` in, progress on the status item."""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools.utilities.parser import parse
from cdp.adapters.aws import client
from cdp.adapters.dynamodb.imports import DynamoImportStore
from cdp.adapters.dynamodb.raw_events import DynamoRawEventStore
from cdp.adapters.lambda_invoke import LambdaImportStarter
from cdp.adapters.s3 import S3ImportFiles
from cdp.clock import SystemClock
from cdp.identity.identifiers import IdentifierNormalizer
from cdp.imports.worker import MemberImportWorker
from cdp.observability import logger
from cdp.settings import MemberImportSettings
from pydantic import BaseModel, ConfigDict, Field


class ImportInvocation(BaseModel):
    """`{"importId": ...}`: from the admin API's start, or this function's own continuation."""

    model_config = ConfigDict(extra="ignore")
    importId: str = Field(min_length=1, max_length=128)


@functools.cache
def build() -> MemberImportWorker:
    settings = MemberImportSettings.from_env()
    return MemberImportWorker(
        store=DynamoImportStore(client("dynamodb"), settings.core_table),
        files=S3ImportFiles(client("s3"), settings.imports_bucket),
        events=DynamoRawEventStore(client("dynamodb"), settings.raw_events_table, settings.raw_event_ttl_days * 86400),
        normalizer=IdentifierNormalizer(settings.default_phone_region),
        clock=SystemClock(),
    )


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    import_id = parse(event=event, model=ImportInvocation).importId
    logger.append_keys(import_id=import_id)
    # The continuation is this same function (and version), asked asynchronously to resume from the checkpoint.
    continuation = LambdaImportStarter(client("lambda"), context.invoked_function_arn)
    outcome = build().run(
        import_id, remaining_ms=context.get_remaining_time_in_millis, continue_import=continuation.start
    )
    logger.info("import invocation done", extra=outcome.as_dict())
    return outcome.as_dict()
