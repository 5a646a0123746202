"""Contract suite: each port's in-memory fake (tests/fakes*.py) and its real adapter pass the same tests.

Every test takes an `impl` parameter, "fake" or the adapter's name; the adapter runs on moto with
the tables and buckets as the CDK template declares them (keys, indexes, TTL). One moto account per
module keeps the suite quick, so each test makes up its own ids.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from infra.local.config import REGION
from infra.local.provision import LocalResources, _create_table

ADAPTER = "adapter"
IMPLEMENTATIONS = ("fake", ADAPTER)


@dataclass(frozen=True)
class Aws:
    dynamodb: Any
    s3: Any
    core_table: str
    raw_table: str
    bucket: str


@pytest.fixture(scope="module")
def moto_stack(template: dict[str, Any]) -> Iterator[Aws]:
    """The template's tables and one bucket in a moto account shared by the module's tests."""
    with pytest.MonkeyPatch.context() as env:
        for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
            env.delenv(name, raising=False)
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        env.setenv("AWS_DEFAULT_REGION", REGION)
        with mock_aws():
            dynamodb = boto3.client("dynamodb", region_name=REGION)
            out = LocalResources()
            for logical_id, resource in template["Resources"].items():
                if resource["Type"] == "AWS::DynamoDB::Table":
                    _create_table(dynamodb, f"contract-{logical_id}", resource["Properties"], out, logical_id)
            tables = dict(out.names)
            s3 = boto3.client("s3", region_name=REGION)
            s3.create_bucket(Bucket="contract-files", CreateBucketConfiguration={"LocationConstraint": REGION})
            yield Aws(
                dynamodb=dynamodb,
                s3=s3,
                core_table=next(name for lid, name in tables.items() if lid.startswith("TablesCore")),
                raw_table=next(name for lid, name in tables.items() if lid.startswith("TablesRawEvents")),
                bucket="contract-files",
            )


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"
