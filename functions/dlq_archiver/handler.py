"""The event processor's on-failure queue -> dead letters that outlive the 24-hour stream.

Each message names a failed batch by its stream coordinates; the batch's raw-event keys are read
back from the stream now, while it still holds them, and kept in the core table
(cdp.operations.dead_letters). `python -m cdp_ops.replay` re-submits them to the processor.
A message the stream can no longer answer is logged with its coordinates and dropped: retrying
cannot bring trimmed records back.
"""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from cdp.adapters.aws import client
from cdp.adapters.dead_letters import DynamoDeadLetterStore, DynamoStreamRecords
from cdp.clock import SystemClock
from cdp.errors import BadRequest
from cdp.observability import logger
from cdp.operations.dead_letters import DeadLetterArchive, StreamRecordsGone
from cdp.settings import DeadLetterArchiverSettings

batch = BatchProcessor(event_type=EventType.SQS)


@functools.cache
def build() -> DeadLetterArchive:
    settings = DeadLetterArchiverSettings.from_env()
    return DeadLetterArchive(
        DynamoStreamRecords(client("dynamodbstreams")),
        DynamoDeadLetterStore(client("dynamodb"), settings.core_table),
        SystemClock(),
    )


def record_handler(record: SQSRecord) -> None:
    try:
        letters = build().record(record.body)
    except BadRequest as exc:
        logger.error(
            "not a stream failure message; dropped", extra={"error": exc.code, "message_id": record.message_id}
        )
        return
    except StreamRecordsGone:
        logger.error(
            "the stream no longer holds the failed batch; its events cannot be listed for replay",
            extra={"message_id": record.message_id, "body": record.body},
        )
        return
    logger.warning(
        "raw events kept as dead letters for replay",
        extra={"count": len(letters), "event_ids": [letter.event_id for letter in letters][:100]},
    )


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=record_handler, processor=batch, context=context)
