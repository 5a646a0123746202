"""The imports bucket's erasure stores (cdp.privacy.erase): a person's exports, and their rows in
member-import files.

  exports         every object under exports/people/<profile id>/ (cdp.privacy.export_jobs), and
                  the export job records they name (QUERYJOB#<job id> / EXPORT in the core table)
  import_rows     the person's rows in imports/<import id>/*.csv (upload, rejected rows, issues)
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cdp.adapters.dynamodb.errors import unavailable
from cdp.privacy.erase import Person
from cdp.privacy.erase_files import Needles, csv_without

EXPORTS_PREFIX = "exports/people/"
IMPORTS_PREFIX = "imports/"
EXPORT_JOB_PREFIX = "QUERYJOB#"
EXPORT_JOB_SK = "EXPORT"


class _Bucket:
    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    def keys(self, prefix: str, limit: int | None = None) -> list[str]:
        found: list[str] = []
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                found.extend(item["Key"] for item in page.get("Contents", []))
                if limit is not None and len(found) >= limit:
                    return found[:limit]
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, f"listing {prefix}") from exc
        return found

    def delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):
            chunk = [{"Key": key} for key in keys[start : start + 1000]]
            try:
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": chunk, "Quiet": True})
            except (ClientError, BotoCoreError) as exc:
                raise unavailable(exc, "deleting erased files") from exc

    def read(self, key: str) -> bytes:
        try:
            body: bytes = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, f"reading {key}") from exc
        return body

    def write(self, key: str, data: bytes) -> None:
        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType="text/csv")
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, f"rewriting {key}") from exc


class ExportErasure:
    name = "exports"

    def __init__(self, s3: Any, bucket: str, dynamodb: Any, core_table: str) -> None:
        self._b = _Bucket(s3, bucket)
        self._dynamodb = dynamodb
        self._table = core_table

    def _keys(self, person: Person, limit: int | None = None) -> list[str]:
        keys: list[str] = []
        for profile_id in person.profile_ids:
            keys.extend(self._b.keys(f"{EXPORTS_PREFIX}{profile_id}/", limit))
        return keys

    def erase(self, person: Person, *, limit: int) -> tuple[int, bool]:
        keys = self._keys(person, limit)
        if not keys:
            return 0, True
        jobs = {key.split("/")[3] for key in keys if key.count("/") >= 4}
        for job in sorted(jobs):  # the job record names the person: gone with the files
            try:
                self._dynamodb.delete_item(
                    TableName=self._table,
                    Key={"pk": {"S": EXPORT_JOB_PREFIX + job}, "sk": {"S": EXPORT_JOB_SK}},
                )
            except (ClientError, BotoCoreError) as exc:
                raise unavailable(exc, "erasing an export job record") from exc
        self._b.delete(keys)
        return len(keys), False

    def remaining(self, person: Person) -> int:
        return len(self._keys(person))


class ImportRowsErasure:
    name = "import_rows"

    def __init__(self, s3: Any, bucket: str) -> None:
        self._b = _Bucket(s3, bucket)

    def _csv_keys(self) -> list[str]:
        return [key for key in self._b.keys(IMPORTS_PREFIX) if key.endswith(".csv")]

    def erase(self, person: Person, *, limit: int) -> tuple[int, bool]:
        needles = Needles.of(person.identifiers)
        removed = 0
        for key in self._csv_keys():
            data, rows = csv_without(self._b.read(key), needles)
            if rows:
                self._b.write(key, data)
                removed += rows
        return removed, True

    def remaining(self, person: Person) -> int:
        needles = Needles.of(person.identifiers)
        return sum(csv_without(self._b.read(key), needles)[1] for key in self._csv_keys())


def file_stores(s3: Any, imports_bucket: str, dynamodb: Any, core_table: str) -> list[Any]:
    return [ExportErasure(s3, imports_bucket, dynamodb, core_table), ImportRowsErasure(s3, imports_bucket)]
