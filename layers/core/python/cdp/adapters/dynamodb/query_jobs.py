"""Archive query jobs in the core table: pk `QUERYJOB#<id>`, sk `JOB`, expiring by TTL.

The request and the result are stored as JSON strings: results are small (a preview sample,
one page of search, a report), well under the item limit; a result that is not is stored as a
failure (`result_too_large`) so the poller learns it instead of waiting.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cdp.adapters.dynamodb.errors import CONDITIONAL_CHECK_FAILED, error_code, unavailable
from cdp.archive.jobs import STATUS_DONE, STATUS_FAILED, STATUS_RUNNING, QueryJob

PK_PREFIX = "QUERYJOB#"
SK = "JOB"
MAX_RESULT_BYTES = 350 * 1024


def _key(job_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"{PK_PREFIX}{job_id}"}, "sk": {"S": SK}}


class DynamoQueryJobs:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def create(self, job: QueryJob, *, expires_at: int) -> None:
        item = {
            **_key(job.job_id),
            "kind": {"S": job.kind},
            "request": {"S": json.dumps(job.request, separators=(",", ":"))},
            "job_status": {"S": STATUS_RUNNING},
            "created_at": {"S": job.created_at},
            "expires_at": {"N": str(expires_at)},
        }
        try:
            self._client.put_item(TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(pk)")
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "storing the query job") from exc

    def finish(
        self, job_id: str, *, at: str, result: dict[str, Any] | None = None, error: dict[str, Any] | None = None
    ) -> None:
        """Once: a redelivered run finds the job finished and leaves it as it is."""
        status, document = (STATUS_DONE, result) if error is None else (STATUS_FAILED, error)
        encoded = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
        if error is None and len(encoded.encode()) > MAX_RESULT_BYTES:
            status = STATUS_FAILED
            encoded = json.dumps({"error": "result_too_large", "message": "narrow the query (a smaller page)"})
        try:
            self._client.update_item(
                TableName=self._table,
                Key=_key(job_id),
                UpdateExpression="SET job_status = :status, finished_at = :at, #doc = :doc",
                ConditionExpression="job_status = :running",
                ExpressionAttributeNames={"#doc": "result" if status == STATUS_DONE else "job_error"},
                ExpressionAttributeValues={
                    ":status": {"S": status},
                    ":at": {"S": at},
                    ":doc": {"S": encoded},
                    ":running": {"S": STATUS_RUNNING},
                },
            )
        except ClientError as exc:
            if error_code(exc) != CONDITIONAL_CHECK_FAILED:
                raise unavailable(exc, "finishing the query job") from exc
        except BotoCoreError as exc:
            raise unavailable(exc, "finishing the query job") from exc

    def get(self, job_id: str) -> QueryJob | None:
        try:
            item = self._client.get_item(TableName=self._table, Key=_key(job_id), ConsistentRead=True).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "reading the query job") from exc
        if item is None:
            return None
        return QueryJob(
            job_id=job_id,
            kind=item["kind"]["S"],
            request=json.loads(item["request"]["S"]),
            status=item["job_status"]["S"],
            created_at=item["created_at"]["S"],
            finished_at=item.get("finished_at", {}).get("S"),
            result=json.loads(item["result"]["S"]) if "result" in item else None,
            error=json.loads(item["job_error"]["S"]) if "job_error" in item else None,
        )
