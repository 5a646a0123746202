"""AWS clients, created lazily and once per process (Lambda reuses them across invocations).

Endpoints come from the standard AWS configuration (`AWS_ENDPOINT_URL`, `AWS_REGION`), which is
all the local runtime changes: handlers do not know where they run.

Clients come from botocore, not boto3: boto3 adds resources and s3transfer, which no handler's
cold path needs (importing them costs about a tenth of the admin API's cold import). The archive's
file transfers use s3transfer where they happen (`transfer`).
"""

from __future__ import annotations

import functools
import os
from typing import Any

import botocore.session
from botocore.config import Config

_CONFIG = Config(
    retries={"max_attempts": 4, "mode": "standard"},
    connect_timeout=2,
    read_timeout=5,
    max_pool_connections=32,  # the ingest paths write events concurrently
)


def s3_config() -> Config:
    """Presigned URLs (import uploads, downloads, exports) must be SigV4 on the bucket's regional
    virtual host, `<bucket>.s3.<region>.amazonaws.com`: botocore's default presigns on the global
    `<bucket>.s3.amazonaws.com`, which answers a new bucket outside us-east-1 with a 307 redirect
    that breaks the signature. A custom endpoint (the local runtime) keeps path-style addressing."""
    custom = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    return Config(signature_version="s3v4", s3={} if custom else {"addressing_style": "virtual"})


@functools.cache
def client(service: str) -> Any:
    config = _CONFIG.merge(s3_config()) if service == "s3" else _CONFIG
    return botocore.session.get_session().create_client(service, config=config)


def transfer(s3: Any) -> Any:
    """Multipart, concurrent upload and download of files for an S3 client (boto3's S3Transfer, as
    `client.upload_file` uses it); a context manager that stops its threads when done."""
    from boto3.s3.transfer import S3Transfer

    return S3Transfer(client=s3)
