"""The archive bucket: Parquet files under archive/<kind>/dt=<day>/<name>.parquet, and a local
cache of them for DuckDB, keyed by bucket, key and ETag (a rewritten file is fetched again;
files gone from the bucket, e.g. after compaction, are dropped from the cache)."""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cdp.adapters.aws import transfer
from cdp.adapters.dynamodb.errors import error_code, unavailable
from cdp.archive.files import EVENTS, PROFILES, ArchiveFiles

ARCHIVE_PREFIX = "archive/"
QUARANTINE_PREFIX = f"{ARCHIVE_PREFIX}quarantine/"  # not under archive/<kind>/: readers never list it
STALE_CACHE_SECONDS = 3600
_MISSING = {"404", "NoSuchKey", "NotFound"}


class _Gone(Exception):
    """A listed file was deleted (compacted) before it could be read."""


class S3Archive:
    def __init__(self, client: Any, bucket: str, cache_dir: Path) -> None:
        self._client = client
        self._bucket = bucket
        self._cache = cache_dir

    def put(self, kind: str, day: str, name: str, path: Path) -> str:
        key = f"{ARCHIVE_PREFIX}{kind}/dt={day}/{name}.parquet"
        try:
            with transfer(self._client) as files:
                files.upload_file(str(path), self._bucket, key)
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, f"writing {key}") from exc
        return key

    def quarantine(self, kind: str, day: str, name: str, data: bytes) -> str:
        """Rows of a batch the archive could not encode, kept with their reasons for an operator."""
        key = f"{QUARANTINE_PREFIX}{kind}/dt={day}/{name}.ndjson"
        try:
            self._client.put_object(Bucket=self._bucket, Key=key, Body=data, ContentType="application/x-ndjson")
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, f"writing {key}") from exc
        return key

    def delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):
            chunk = [{"Key": key} for key in keys[start : start + 1000]]
            try:
                self._client.delete_objects(Bucket=self._bucket, Delete={"Objects": chunk, "Quiet": True})
            except (ClientError, BotoCoreError) as exc:
                raise unavailable(exc, "deleting compacted archive files") from exc

    def keys(self, kind: str) -> list[tuple[str, datetime, str]]:
        """(key, last modified, ETag) of every file of a kind."""
        found: list[tuple[str, datetime, str]] = []
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self._bucket, Prefix=f"{ARCHIVE_PREFIX}{kind}/"
            )
            for page in pages:
                for item in page.get("Contents", []):
                    if item["Key"].endswith(".parquet"):
                        etag = str(item.get("ETag", "")).strip('"')
                        found.append((item["Key"], item["LastModified"].astimezone(UTC), etag))
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, f"listing the {kind} archive") from exc
        return sorted(found)

    def total_bytes(self) -> int:
        """The archive's size in Parquet bytes: what decides whether a query answers at once."""
        total = 0
        try:
            for kind in (PROFILES, EVENTS):
                pages = self._client.get_paginator("list_objects_v2").paginate(
                    Bucket=self._bucket, Prefix=f"{ARCHIVE_PREFIX}{kind}/"
                )
                for page in pages:
                    total += sum(int(item.get("Size", 0)) for item in page.get("Contents", []))
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "listing the archive") from exc
        return total

    def download(self, key: str, path: Path) -> None:
        try:
            with transfer(self._client) as files:
                files.download_file(self._bucket, key, str(path))
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, f"reading {key}") from exc

    def fetch(self) -> tuple[ArchiveFiles, datetime | None]:
        """Every archive file, cached locally; and the time of the newest one (None when empty).
        A file compacted away between listing and reading means listing again."""
        for _attempt in range(2):
            try:
                return self._fetch()
            except _Gone:
                continue
        return self._fetch()

    def _fetch(self) -> tuple[ArchiveFiles, datetime | None]:
        paths: dict[str, tuple[Path, ...]] = {}
        newest: datetime | None = None
        for kind in (PROFILES, EVENTS):
            listed = self.keys(kind)
            local = [self._cached(key, etag) for key, _, etag in listed]
            self._forget(kind, set(local))
            paths[kind] = tuple(local)
            for _, modified, _ in listed:
                newest = modified if newest is None or modified > newest else newest
        return ArchiveFiles(profiles=paths[PROFILES], events=paths[EVENTS]), newest

    def _cached(self, key: str, etag: str) -> Path:
        path = self._cache / self._bucket / f"{key.removesuffix('.parquet')}.{etag or 'unknown'}.parquet"
        if path.exists():
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{uuid.uuid4().hex}.part")  # concurrent readers, one file each
        try:
            with transfer(self._client) as files:
                files.download_file(self._bucket, key, str(partial))
        except ClientError as exc:
            if error_code(exc) in _MISSING:
                raise _Gone(key) from exc
            raise unavailable(exc, f"reading {key}") from exc
        except BotoCoreError as exc:
            raise unavailable(exc, f"reading {key}") from exc
        os.replace(partial, path)
        return path

    def _forget(self, kind: str, keep: set[Path]) -> None:
        """Drop cached files gone from the bucket (compacted away) once they are an hour old: a
        reader that listed the bucket a moment earlier may still be reading one."""
        folder = self._cache / self._bucket / ARCHIVE_PREFIX / kind
        if not folder.exists():
            return
        # Compared with the files' mtimes, which the machine's clock wrote: not the product's time.
        cutoff = time.time() - STALE_CACHE_SECONDS
        for path in folder.rglob("*"):
            if path.is_file() and path not in keep:
                with contextlib.suppress(FileNotFoundError):
                    if path.stat().st_mtime < cutoff:
                        path.unlink()
