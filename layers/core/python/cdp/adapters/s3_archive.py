"""The archive bucket: Parquet files under archive/<kind>/dt=<day>/<name>.parquet, and a local
cache of them for DuckDB, keyed by bucket, key and ETag (a rewritten file is fetched again;
files gone from the bucket, e.g. after compaction, are dropped from the cache).

The snapshot (cdp.archive.snapshot) lives under archive/snapshot/: one folder per snapshot
(<id>/<part>.parquet, never rewritten) and archive/snapshot/manifest.json naming the current one
and the change files it includes. A refresh writes a new folder, then replaces the manifest: a
reader holds either the old or the new one, and the folder before the old one is deleted last."""

from __future__ import annotations

import contextlib
import json
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
from cdp.archive.snapshot import SNAPSHOT_PARTS, ArchiveView, SnapshotFiles
from cdp.errors import StoreUnavailable

ARCHIVE_PREFIX = "archive/"
QUARANTINE_PREFIX = f"{ARCHIVE_PREFIX}quarantine/"  # not under archive/<kind>/: readers never list it
SNAPSHOT_PREFIX = f"{ARCHIVE_PREFIX}snapshot/"  # not under archive/<kind>/ either
MANIFEST_KEY = f"{SNAPSHOT_PREFIX}manifest.json"
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

    def replace(self, key: str, path: Path) -> str:
        """Upload `path` over an existing change file (an erase rewrote it); its new ETag."""
        try:
            with transfer(self._client) as files:
                files.upload_file(str(path), self._bucket, key)
            head = self._client.head_object(Bucket=self._bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, f"rewriting {key}") from exc
        return str(head.get("ETag", "")).strip('"')

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
        return [(key, modified, etag) for key, modified, etag, _size in self._listing(kind)]

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

    def query_bytes(self) -> int:
        """Parquet bytes a query loads and ranks itself: the change files not in the snapshot
        (the snapshot is read through views, a few columns and row groups at a time)."""
        included = _included(self.read_manifest())
        total = 0
        for kind in (PROFILES, EVENTS):
            for key, _modified, etag, size in self._listing(kind):
                if included.get(kind, {}).get(key) != etag:
                    total += size
        return total

    def fetch_view(self) -> ArchiveView:
        """The current snapshot and the change files since it, cached locally; `as_of` is the
        newest change included. A file deleted between listing and reading means reading again."""
        for _attempt in range(2):
            try:
                return self._fetch_view()
            except _Gone:
                continue
        return self._fetch_view()

    def _fetch_view(self) -> ArchiveView:
        manifest = self.read_manifest()
        snapshot: SnapshotFiles | None = None
        newest: datetime | None = None
        if manifest is not None:
            parts = [self._cached(manifest["files"][part], manifest["snapshot_id"]) for part in SNAPSHOT_PARTS]
            snapshot = SnapshotFiles(*parts)
            self._forget("snapshot", set(parts))
            if manifest.get("as_of"):
                newest = datetime.fromisoformat(str(manifest["as_of"]).replace("Z", "+00:00"))
        included = _included(manifest)
        paths: dict[str, tuple[Path, ...]] = {}
        for kind in (PROFILES, EVENTS):
            local = []
            for key, modified, etag in self.keys(kind):
                newest = modified if newest is None or modified > newest else newest
                if included.get(kind, {}).get(key) != etag:
                    local.append(self._cached(key, etag))
            self._forget(kind, set(local))
            paths[kind] = tuple(local)
        return ArchiveView(snapshot, ArchiveFiles(profiles=paths[PROFILES], events=paths[EVENTS]), newest)

    # --- the snapshot's objects (cdp.archive.snapshot.refresh) ---------------------------
    def read_manifest(self) -> dict[str, Any] | None:
        try:
            body = self._client.get_object(Bucket=self._bucket, Key=MANIFEST_KEY)["Body"].read()
        except ClientError as exc:
            if error_code(exc) in _MISSING:
                return None
            raise unavailable(exc, f"reading {MANIFEST_KEY}") from exc
        except BotoCoreError as exc:
            raise unavailable(exc, f"reading {MANIFEST_KEY}") from exc
        manifest: dict[str, Any] = json.loads(body)
        return manifest

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        body = json.dumps(manifest, sort_keys=True).encode()
        try:
            self._client.put_object(Bucket=self._bucket, Key=MANIFEST_KEY, Body=body, ContentType="application/json")
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, f"writing {MANIFEST_KEY}") from exc

    def put_snapshot_part(self, snapshot_id: str, part: str, path: Path) -> str:
        key = f"{SNAPSHOT_PREFIX}{snapshot_id}/{part}.parquet"
        try:
            with transfer(self._client) as files:
                files.upload_file(str(path), self._bucket, key)
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, f"writing {key}") from exc
        return key

    def delete_snapshot(self, snapshot_id: str) -> None:
        self.delete([f"{SNAPSHOT_PREFIX}{snapshot_id}/{part}.parquet" for part in SNAPSHOT_PARTS])

    def local(self, key: str, etag: str) -> Path:
        """A listed file, cached locally (raises when it was deleted since the listing)."""
        try:
            return self._cached(key, etag)
        except _Gone as exc:
            raise StoreUnavailable(f"{key} was deleted while reading it", details={"aws_error": "NoSuchKey"}) from exc

    def _listing(self, kind: str) -> list[tuple[str, datetime, str, int]]:
        found: list[tuple[str, datetime, str, int]] = []
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self._bucket, Prefix=f"{ARCHIVE_PREFIX}{kind}/"
            )
            for page in pages:
                for item in page.get("Contents", []):
                    if item["Key"].endswith(".parquet"):
                        etag = str(item.get("ETag", "")).strip('"')
                        modified = item["LastModified"].astimezone(UTC)
                        found.append((item["Key"], modified, etag, int(item.get("Size", 0))))
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, f"listing the {kind} archive") from exc
        return sorted(found)

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


def _included(manifest: dict[str, Any] | None) -> dict[str, dict[str, str]]:
    """The change files (key -> ETag) per kind that the manifest's snapshot includes."""
    if manifest is None:
        return {}
    changes: dict[str, dict[str, str]] = manifest.get("changes", {})
    return changes
