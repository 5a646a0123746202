"""The imports bucket: uploads, rejected-row parts and files, presigned URLs."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cdp.adapters.dynamodb.errors import error_code, unavailable

RANGE_BYTES = 1024 * 1024  # one ranged GET per MiB: no connection is held open across slow chunks
PART_BYTES = 8 * 1024 * 1024  # multipart parts must be at least 5 MiB (but the last)
_MISSING = {"404", "NoSuchKey", "NotFound"}
# S3 answers a missing key with 403 to a caller without s3:ListBucket (it will not say whether a key
# exists to someone who may not list). The functions' policies grant s3:GetObject on every key this
# adapter asks about (the synthesized-policy tests check it), so here a 403 means "absent". S3
# documents the 404 for callers with ListBucket on the bucket, unconditioned: granting that would
# let these functions list every import and export key, for nothing but a status code.
_FORBIDDEN = {"403", "AccessDenied", "Forbidden"}


class S3ImportFiles:
    def __init__(self, client: Any, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    def put(self, key: str, data: bytes, content_type: str) -> None:
        try:
            self._client.put_object(Bucket=self._bucket, Key=key, Body=data, ContentType=content_type)
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, f"writing {key}") from exc

    def put_stream(self, key: str, parts: Iterable[bytes], content_type: str) -> None:
        buffer = bytearray()
        upload_id: str | None = None
        uploaded: list[dict[str, Any]] = []
        try:
            for piece in parts:
                buffer += piece
                if len(buffer) >= PART_BYTES:
                    if upload_id is None:
                        upload_id = self._client.create_multipart_upload(
                            Bucket=self._bucket, Key=key, ContentType=content_type
                        )["UploadId"]
                    uploaded.append(self._upload_part(key, upload_id, len(uploaded) + 1, bytes(buffer)))
                    buffer.clear()
            if upload_id is None:
                self._client.put_object(Bucket=self._bucket, Key=key, Body=bytes(buffer), ContentType=content_type)
                return
            if buffer:
                uploaded.append(self._upload_part(key, upload_id, len(uploaded) + 1, bytes(buffer)))
            self._client.complete_multipart_upload(
                Bucket=self._bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": uploaded}
            )
        except (ClientError, BotoCoreError) as exc:
            if upload_id is not None:
                self._abort(key, upload_id)
            raise unavailable(exc, f"writing {key}") from exc

    def read(self, key: str) -> bytes:
        try:
            body: bytes = self._client.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, f"reading {key}") from exc
        return body

    def read_from(self, key: str, offset: int) -> Iterator[bytes]:
        size = self.size(key)
        if size is None:
            raise FileNotFoundError(key)
        while offset < size:
            end = min(offset + RANGE_BYTES, size) - 1
            try:
                response = self._client.get_object(Bucket=self._bucket, Key=key, Range=f"bytes={offset}-{end}")
                data: bytes = response["Body"].read()
            except (ClientError, BotoCoreError) as exc:
                raise unavailable(exc, f"reading {key}") from exc
            if not data:
                return
            yield data
            offset += len(data)

    def size(self, key: str) -> int | None:
        """The object's size, None when it does not exist (404, or 403 without ListBucket)."""
        try:
            return int(self._client.head_object(Bucket=self._bucket, Key=key)["ContentLength"])
        except ClientError as exc:
            if error_code(exc) in _MISSING | _FORBIDDEN:
                return None
            raise unavailable(exc, f"reading {key}") from exc
        except BotoCoreError as exc:
            raise unavailable(exc, f"reading {key}") from exc

    def presigned_get(
        self, key: str, *, expires_seconds: int, filename: str, content_type: str = "text/csv; charset=utf-8"
    ) -> str:
        url: str = self._client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self._bucket,
                "Key": key,
                "ResponseContentType": content_type,
                "ResponseContentDisposition": f'attachment; filename="{filename}"',
            },
            ExpiresIn=expires_seconds,
        )
        return url

    def presigned_put(self, key: str, *, expires_seconds: int, content_type: str) -> str:
        url: str = self._client.generate_presigned_url(
            "put_object",
            Params={"Bucket": self._bucket, "Key": key, "ContentType": content_type},
            ExpiresIn=expires_seconds,
        )
        return url

    def _upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> dict[str, Any]:
        response = self._client.upload_part(
            Bucket=self._bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data
        )
        return {"PartNumber": number, "ETag": response["ETag"]}

    def _abort(self, key: str, upload_id: str) -> None:
        with contextlib.suppress(ClientError, BotoCoreError):  # the bucket's lifecycle rule aborts leftovers
            self._client.abort_multipart_upload(Bucket=self._bucket, Key=key, UploadId=upload_id)
