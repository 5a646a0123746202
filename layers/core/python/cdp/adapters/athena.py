"""Athena behind the SqlWarehouse port: start the query in the archive's workgroup (which sets
the encrypted, expiring result location), poll until it ends, then page through the results.

Waiting is bounded by `timeout_seconds` on the clock port; a query still running then is stopped
(it would go on scanning, and costing, with nobody to read it). A failed or cancelled query, and
any AWS error, becomes StoreUnavailable with Athena's reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cdp.adapters.dynamodb.errors import unavailable
from cdp.errors import StoreUnavailable
from cdp.ports import Clock

_DONE = ("SUCCEEDED", "FAILED", "CANCELLED")


class AthenaWarehouse:
    def __init__(
        self,
        client: Any,
        *,
        workgroup: str,
        clock: Clock,
        timeout_seconds: float = 600.0,
        poll_seconds: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._workgroup = workgroup
        self._clock = clock
        self._timeout_ms = int(timeout_seconds * 1000)
        self._poll = poll_seconds
        self._sleep = sleep

    def rows(self, sql: str) -> list[tuple[str | None, ...]]:
        try:
            started = self._client.start_query_execution(QueryString=sql, WorkGroup=self._workgroup)
            execution_id = started["QueryExecutionId"]
            self._wait(execution_id)
            return self._results(execution_id)
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "an Athena query") from exc

    def _wait(self, execution_id: str) -> None:
        deadline = self._clock.now_ms() + self._timeout_ms
        delay = min(0.2, self._poll)
        while True:
            status = self._client.get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]["Status"]
            state = status["State"]
            if state == "SUCCEEDED":
                return
            if state in _DONE:
                reason = status.get("StateChangeReason", "")
                raise StoreUnavailable(
                    f"Athena query {execution_id} {state.lower()}: {reason}",
                    details={"query_execution_id": execution_id, "state": state, "reason": reason},
                )
            if self._clock.now_ms() >= deadline:
                self._client.stop_query_execution(QueryExecutionId=execution_id)
                raise StoreUnavailable(
                    f"Athena query {execution_id} still {state.lower()} after {self._timeout_ms // 1000} s: stopped",
                    details={"query_execution_id": execution_id, "state": state},
                )
            self._sleep(delay)
            delay = min(delay * 2, self._poll)  # short queries end fast; long ones are polled gently

    def _results(self, execution_id: str) -> list[tuple[str | None, ...]]:
        rows: list[tuple[str | None, ...]] = []
        header = True
        for page in self._client.get_paginator("get_query_results").paginate(QueryExecutionId=execution_id):
            for row in page["ResultSet"]["Rows"]:
                if header:  # a SELECT's first row names the columns
                    header = False
                    continue
                rows.append(tuple(cell.get("VarCharValue") for cell in row["Data"]))
        return rows
