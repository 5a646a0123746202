"""The journey starter: entries from the `journey-starts` queue in, runs and executions out
(cdp.journeys.starter), paced to the StartExecution quota. Partial batch failures: a failed entry
alone is redelivered (admission makes the redelivery start it once)."""

from __future__ import annotations

import functools
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from cdp.adapters.aws import client
from cdp.adapters.dynamodb.journey_runs import DynamoAdmissions, DynamoRunStore
from cdp.adapters.journey_flow import StepFunctionsExecutions
from cdp.clock import SystemClock
from cdp.journeys.starter import Starter, entry_from_json, pacer_for
from cdp.observability import logger
from cdp.settings import JourneyStarterSettings
from pydantic import ValidationError

# Starts wait on DynamoDB and Step Functions: a few at once keep the paced rate with their latency.
PARALLEL_STARTS = 8


@functools.cache
def build() -> Starter:
    from cdp.adapters.dynamodb.journeys import DynamoJourneyStore  # the journey definitions' store

    settings = JourneyStarterSettings.from_env()
    dynamodb = client("dynamodb")
    runs = DynamoRunStore(dynamodb, settings.core_table)
    return Starter(
        journeys=DynamoJourneyStore(dynamodb, settings.core_table),
        admissions=DynamoAdmissions(dynamodb, settings.core_table, runs, SystemClock()),
        runs=runs,
        executions=StepFunctionsExecutions(client("stepfunctions")),
        pacer=pacer_for(settings.starts_per_second, settings.starter_concurrency),
        cache_seconds=settings.journey_cache_seconds,
    )


def _start(starter: Starter, record: dict[str, Any]) -> tuple[str, str | None]:
    """(outcome, the message id when it failed and must be redelivered)."""
    try:
        request = entry_from_json(record.get("body") or "")
    except ValidationError as exc:  # not an entry: retrying cannot help; logged, dropped
        logger.warning(
            "journey entry refused", extra={"problems": exc.errors(include_url=False, include_input=False)[:5]}
        )
        return "invalid", None
    try:
        return starter.start(request), None
    except Exception as exc:  # any failure: this message is redelivered, the others are not
        logger.warning(
            "journey entry not started",
            extra={"journey_id": request.journey_id, "profile_id": request.profile_id, "error": repr(exc)},
        )
        return "failed", record["messageId"]


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    starter = build()
    records = event.get("Records") or []
    with ThreadPoolExecutor(max_workers=min(PARALLEL_STARTS, max(len(records), 1))) as pool:
        results = list(pool.map(lambda record: _start(starter, record), records))
    outcomes = Counter(outcome for outcome, _ in results)
    failed = [{"itemIdentifier": message_id} for _, message_id in results if message_id]
    logger.info("journey entries processed", extra={"records": len(records), **dict(outcomes)})
    return {"batchItemFailures": failed}
