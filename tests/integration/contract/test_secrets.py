"""SecretSource: FakeSecrets and CachedSecrets (Secrets Manager) behave alike."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from cdp.adapters.secrets import CachedSecrets
from cdp.errors import StoreUnavailable

from tests.fakes import FakeSecrets
from tests.integration.contract.conftest import ADAPTER, IMPLEMENTATIONS, Aws

VALUES: dict[str, Any] = {
    "json": {"default": {"channelSecret": "s", "providerId": "p"}},
    "text": "adm_token_1",
    "broken": "{not json",
}


@pytest.fixture(params=IMPLEMENTATIONS)
def secrets(request: pytest.FixtureRequest, moto_stack: Aws) -> tuple[Any, dict[str, str]]:
    ids = {name: f"contract-{name}-{uuid.uuid4().hex[:8]}" for name in VALUES}
    if request.param != ADAPTER:
        return FakeSecrets({ids[name]: value for name, value in VALUES.items()}), ids
    import boto3

    client = boto3.client("secretsmanager", region_name=moto_stack.dynamodb.meta.region_name)
    for name, value in VALUES.items():
        arn = client.create_secret(Name=ids[name], SecretString=value if isinstance(value, str) else json.dumps(value))[
            "ARN"
        ]
        ids[name] = arn  # the functions are given ARNs
    return CachedSecrets(client), ids


def test_text_and_json_values(secrets: tuple[Any, dict[str, str]]) -> None:
    source, ids = secrets
    assert source.get_text(ids["text"]) == "adm_token_1"
    assert source.get_json(ids["json"]) == VALUES["json"]
    assert source.get_json(ids["json"]) == VALUES["json"]  # cached or not, the same answer


def test_an_unknown_secret_and_invalid_json_are_store_failures(secrets: tuple[Any, dict[str, str]]) -> None:
    source, ids = secrets
    with pytest.raises(StoreUnavailable):
        source.get_text(f"contract-missing-{uuid.uuid4().hex[:8]}")
    with pytest.raises(StoreUnavailable):
        source.get_json(ids["broken"])
