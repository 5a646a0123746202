"""One step of the erase workflow; Step Functions sequences and retries the steps."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Literal

from aws_lambda_powertools.utilities.parser import parse
from cdp.adapters.aws import client
from cdp.adapters.dynamodb.erasure import DynamoEraseLedger, DynamoSuppressions, core_stores
from cdp.adapters.dynamodb.erasure_journeys import JourneyRunsErasure, LambdaEndPerson
from cdp.adapters.dynamodb.profile_store import DynamoProfileStore
from cdp.adapters.s3_archive import S3Archive
from cdp.adapters.s3_erasure import file_stores
from cdp.clock import SystemClock
from cdp.identity.merge import deadline_after
from cdp.observability import logger
from cdp.privacy.erase import EraseWorkflow
from cdp.privacy.erase_archive import ArchiveErasure
from cdp.settings import EraseSettings
from pydantic import BaseModel, ConfigDict, Field

# Hand back to the state machine with this much time left, so a step never dies mid-chunk.
SAFETY_MARGIN_SECONDS = 20.0


class StepInput(BaseModel):
    """The state machine's input to each step (infra/cdp_infra/privacy_erase.py)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    action: Literal["erase", "archive", "verify", "finish"]
    erase_id: str = Field(alias="eraseId", min_length=1)


@functools.cache
def build() -> tuple[EraseWorkflow, EraseSettings]:
    settings = EraseSettings.from_env()
    dynamodb = client("dynamodb")
    archive = S3Archive(client("s3"), settings.archive_bucket, Path(settings.archive_cache_dir))
    workflow = EraseWorkflow(
        people=DynamoProfileStore(dynamodb, settings.core_table),
        ledger=DynamoEraseLedger(dynamodb, settings.core_table),
        suppressions=DynamoSuppressions(dynamodb, settings.core_table, settings.raw_events_table),
        # Files first: the export files are found by the profile ids, the import rows by the
        # identifiers, both kept by the workflow; then the tables, the profile last.
        stores=[
            *file_stores(client("s3"), settings.imports_bucket, dynamodb, settings.core_table),
            JourneyRunsErasure(
                dynamodb, settings.core_table, LambdaEndPerson(client("lambda"), settings.journey_events_function)
            ),
            *core_stores(dynamodb, settings.core_table, settings.raw_events_table, SystemClock().now_ms),
        ],
        archive=[ArchiveErasure(archive)],
        clock=SystemClock(),
    )
    return workflow, settings


def run_step(workflow: EraseWorkflow, event: dict[str, Any], remaining_seconds: float) -> dict[str, Any]:
    """A malformed input fails the step (ValidationError): Step Functions records why."""
    step = parse(event=event, model=StepInput)
    deadline = deadline_after(max(1.0, remaining_seconds - SAFETY_MARGIN_SECONDS))
    if step.action == "erase":
        result = workflow.erase(step.erase_id, deadline=deadline)
    elif step.action == "archive":
        result = workflow.erase_archive(step.erase_id, deadline=deadline)
    elif step.action == "verify":
        result = workflow.verify(step.erase_id)
    else:
        result = workflow.finish(step.erase_id)
    return result.as_dict()


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    workflow, settings = build()
    result = run_step(workflow, event, context.get_remaining_time_in_millis() / 1000)
    result["settleSeconds"] = settings.settle_seconds
    # ids and counts only: the record holds no personal data, and neither does this line
    logger.info("erase step", extra={"action": event.get("action"), **result})
    return result
