"""One-click unsubscribe over HTTP on the local stack: a marketing email's List-Unsubscribe URL,
shown with GET (nothing changes), used with the RFC 8058 POST (the opt-out lands on the person's
profile as consent), refused when forged."""

from __future__ import annotations

import boto3
import pytest
import requests
from cdp.messaging.unsubscribe import unsubscribe_token

from infra.local.config import REGION
from tests.e2e.conftest import HTTP_TIMEOUT_SECONDS, Stack, unique

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]


def signing_key(aws_endpoint: str) -> bytes:
    """The local stack's tracked-link signing key, read as the functions read it."""
    secrets = boto3.client(
        "secretsmanager",
        endpoint_url=aws_endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    (secret,) = [s for s in secrets.list_secrets()["SecretList"] if "LinkSigningKey" in s["Name"]]
    return str(secrets.get_secret_value(SecretId=secret["ARN"])["SecretString"]).strip().encode()


def test_the_one_click_unsubscribe_records_the_opt_out_on_the_profile(stack: Stack, aws_endpoint: str) -> None:
    email = f"{unique('amy')}@example.com"
    assert stack.segment("identify", {"userId": unique("u"), "traits": {"email": email}}).status_code == 200
    stack.drain()
    token = unsubscribe_token(signing_key(aws_endpoint), "email", email)
    url = stack.url(f"/u/{token}")

    page = requests.get(url, timeout=HTTP_TIMEOUT_SECONDS)
    assert page.status_code == 200 and '<form method="post">' in page.text
    stack.drain()
    assert "email:marketing" not in stack.lookup("email", email)["consent"]

    done = requests.post(
        url,
        data="List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=HTTP_TIMEOUT_SECONDS,
    )
    assert done.status_code == 200 and "Unsubscribed" in done.text
    stack.drain()
    assert stack.lookup("email", email)["consent"]["email:marketing"]["granted"] is False

    forged = requests.post(stack.url(f"/u/{token[:-4]}AAAA"), timeout=HTTP_TIMEOUT_SECONDS)
    assert (forged.status_code, forged.json()["error"]) == (400, "invalid_unsubscribe_token")
