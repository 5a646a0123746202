"""boto3 clients, created lazily and once per process (Lambda reuses them across invocations).

Endpoints come from the standard AWS configuration (`AWS_ENDPOINT_URL`, `AWS_REGION`), which is
all the local runtime changes: handlers do not know where they run.
"""

from __future__ import annotations

import functools
from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(
    retries={"max_attempts": 4, "mode": "standard"},
    connect_timeout=2,
    read_timeout=5,
    max_pool_connections=32,  # the ingest paths write events concurrently
)
# Presigned URLs (import uploads and downloads) must be SigV4 on the bucket's regional endpoint.
_SERVICE_CONFIG = {"s3": Config(signature_version="s3v4")}


@functools.cache
def client(service: str) -> Any:
    config = _CONFIG.merge(_SERVICE_CONFIG[service]) if service in _SERVICE_CONFIG else _CONFIG
    return boto3.session.Session().client(service, config=config)  # type: ignore[call-overload]
