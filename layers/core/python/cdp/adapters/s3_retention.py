"""Retention of files: objects under a prefix older than the cutoff (by LastModified) are deleted.

The cursor is the last key listed (StartAfter); a page is one ListObjectsV2 page (up to 1,000
keys) and at most one DeleteObjects call. Deleting an object already gone is a success, so a
repeated page is harmless. The bucket's lifecycle rule on the same prefix stays the backstop.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cdp.adapters.dynamodb.errors import unavailable
from cdp.clock import ms_from_datetime
from cdp.errors import StoreUnavailable
from cdp.privacy.retention import Kind
from cdp.privacy.retention_job import SweepPage


class S3PrefixSweeper:
    def __init__(self, client: Any, bucket: str, prefix: str, kind: Kind, *, page_keys: int = 1000) -> None:
        self._client = client
        self._bucket = bucket
        self._prefix = prefix
        self._page_keys = page_keys
        self.kinds: tuple[Kind, ...] = (kind,)
        self.name = f"{kind}:{prefix}"

    def sweep(self, cutoffs_ms: Mapping[Kind, int], cursor: str | None) -> SweepPage:
        (kind,) = self.kinds
        cutoff_ms = cutoffs_ms[kind]
        request: dict[str, Any] = {"Bucket": self._bucket, "Prefix": self._prefix, "MaxKeys": self._page_keys}
        if cursor:
            request["StartAfter"] = cursor  # a key, not a token: still valid in a later invocation
        try:
            response = self._client.list_objects_v2(**request)
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, f"listing {self._prefix} for retention") from exc
        doomed: list[dict[str, str]] = []
        oldest: int | None = None
        for entry in response.get("Contents", []):
            modified = ms_from_datetime(entry["LastModified"])
            if modified < cutoff_ms:
                doomed.append({"Key": entry["Key"]})
            else:
                oldest = modified if oldest is None else min(oldest, modified)
        if doomed:
            try:
                result = self._client.delete_objects(Bucket=self._bucket, Delete={"Objects": doomed, "Quiet": True})
            except (ClientError, BotoCoreError) as exc:
                raise unavailable(exc, f"deleting {self._prefix} files past retention") from exc
            if result.get("Errors"):
                raise StoreUnavailable(
                    f"{len(result['Errors'])} files under {self._prefix} could not be deleted; the run resumes",
                    details={"aws_error": result["Errors"][0].get("Code")},
                )
        contents = response.get("Contents", [])
        after = contents[-1]["Key"] if response.get("IsTruncated") and contents else None
        return SweepPage({kind: len(doomed)}, {kind: oldest} if oldest is not None else {}, after)
