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


@functools.cache
def client(service: str) -> Any:
    return boto3.session.Session().client(service, config=_CONFIG)  # type: ignore[call-overload]
