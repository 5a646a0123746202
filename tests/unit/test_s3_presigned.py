"""Presigned URLs are signed for the bucket's regional virtual host (no redirect outside us-east-1)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from cdp.adapters import aws
from cdp.adapters.s3 import S3ImportFiles

BUCKET = "cdp-imports-123456789012"


@pytest.fixture
def fresh_clients(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_REGION", "ap-northeast-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-northeast-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    aws.client.cache_clear()
    yield
    aws.client.cache_clear()


@pytest.mark.usefixtures("fresh_clients")
def test_presigned_get_and_put_use_the_regional_virtual_host() -> None:
    files = S3ImportFiles(aws.client("s3"), BUCKET)

    get = urlsplit(files.presigned_get("imports/i1/rejected.csv", expires_seconds=900, filename="i1.csv"))
    put = urlsplit(files.presigned_put("imports/i1/upload.csv", expires_seconds=900, content_type="text/csv"))

    for url in (get, put):
        assert url.scheme == "https"
        assert url.hostname == f"{BUCKET}.s3.ap-northeast-1.amazonaws.com"
        assert parse_qs(url.query)["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
        assert "/ap-northeast-1/s3/aws4_request" in parse_qs(url.query)["X-Amz-Credential"][0]
    assert get.path == "/imports/i1/rejected.csv"


@pytest.mark.usefixtures("fresh_clients")
def test_a_custom_endpoint_keeps_path_style(monkeypatch: pytest.MonkeyPatch) -> None:
    # The local runtime serves S3 on one host: a bucket subdomain of it would not resolve
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://localhost:4566")
    files = S3ImportFiles(aws.client("s3"), BUCKET)

    url = urlsplit(files.presigned_get("imports/i1/rejected.csv", expires_seconds=900, filename="i1.csv"))

    assert (url.netloc, url.path) == ("localhost:4566", f"/{BUCKET}/imports/i1/rejected.csv")
