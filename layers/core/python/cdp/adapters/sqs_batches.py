"""SendMessageBatch with its partial failures retried: the one way the product queues many messages."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cdp.adapters.dynamodb.errors import unavailable

SQS_BATCH = 10  # SendMessageBatch takes at most 10 entries
ATTEMPTS = 5


def send_bodies(client: Any, queue_url: str, bodies: Sequence[str], *, doing: str) -> None:
    """Queue every body, 10 a call, retrying the entries a call reports failed; raises
    `unavailable` when some still fail (the caller is retried: its consumers dedup)."""
    entries = [{"Id": str(index), "MessageBody": body} for index, body in enumerate(bodies)]
    for start in range(0, len(entries), SQS_BATCH):
        chunk = entries[start : start + SQS_BATCH]
        for _attempt in range(ATTEMPTS):
            try:
                answer = client.send_message_batch(QueueUrl=queue_url, Entries=chunk)
            except (ClientError, BotoCoreError) as exc:
                raise unavailable(exc, doing) from exc
            failed = {entry["Id"] for entry in answer.get("Failed", [])}
            chunk = [entry for entry in chunk if entry["Id"] in failed]
            if not chunk:
                break
        if chunk:
            raise unavailable(ClientError({"Error": {"Code": "BatchFailed"}}, "SendMessageBatch"), doing)
