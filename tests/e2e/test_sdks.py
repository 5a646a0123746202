"""The official Segment and RudderStack Python SDKs, unchanged, pointed at the local stack."""

from __future__ import annotations

from typing import Any

import pytest
import rudderstack.analytics as rudder_analytics
import segment.analytics as analytics

from tests.e2e.conftest import WRITE_KEY, Stack, event_names, identifier_values, unique

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]


class Errors:
    """`on_error` callback of both SDKs: anything the server refused ends up here."""

    def __init__(self) -> None:
        self.seen: list[Any] = []

    def __call__(self, error: Any, batch: Any) -> None:
        self.seen.append((error, batch))


def assert_identified_and_tracked(stack: Stack, member: str, email: str, name: str) -> dict[str, Any]:
    stack.drain()
    profile = stack.lookup("member_id", member)
    assert sorted(event_names(profile)) == ["Product Viewed", "identify"]
    assert identifier_values(profile)["email"] == [email]
    assert profile["traits"]["name"] == name
    assert profile["traits"]["email"] == email
    viewed = next(entry for entry in profile["events"] if entry.get("event") == "Product Viewed")
    assert viewed["properties"] == {"sku": "DRESS-7", "price": 2380}
    assert stack.lookup("email", email)["profile_id"] == profile["profile_id"]
    return profile


@pytest.mark.parametrize("gzip", [False, True], ids=["plain", "gzip"])
def test_segment_analytics_python(stack: Stack, gzip: bool) -> None:
    # Given the Segment SDK as a partner would configure it, only the host changed
    member, errors = unique("seg"), Errors()
    email = f"{member}@example.com"
    client = analytics.Client(WRITE_KEY, host=stack.base_url, sync_mode=True, gzip=gzip, max_retries=1, on_error=errors)

    # When it identifies and tracks (sync mode: one POST /v1/batch per call, Basic auth + body writeKey)
    client.identify(member, {"name": "Segment Shopper", "email": email})
    client.track(member, "Product Viewed", {"sku": "DRESS-7", "price": 2380})
    client.flush()

    # Then both calls reach the member's profile
    assert errors.seen == []
    profile = assert_identified_and_tracked(stack, member, email, "Segment Shopper")
    assert profile["events"][0]["context"]["library"]["name"] == "analytics-python"


def test_segment_analytics_python_batches_in_the_background(stack: Stack) -> None:
    member, errors = unique("seg-async"), Errors()
    email = f"{member}@example.com"
    client = analytics.Client(WRITE_KEY, host=stack.base_url, max_retries=1, on_error=errors, upload_interval=0.1)
    client.identify(member, {"name": "Async Shopper", "email": email})
    client.track(member, "Product Viewed", {"sku": "DRESS-7", "price": 2380})
    client.flush()
    client.join()
    assert errors.seen == []
    assert_identified_and_tracked(stack, member, email, "Async Shopper")


def test_rudder_sdk_python_gzips_by_default(stack: Stack) -> None:
    # Given the RudderStack SDK with its defaults (gzip on), only the data plane URL changed
    member, errors = unique("rudder"), Errors()
    email = f"{member}@example.com"
    client = rudder_analytics.Client(WRITE_KEY, host=stack.base_url, sync_mode=True, max_retries=1, on_error=errors)
    assert client.gzip is True

    # When it identifies (RudderStack puts identify traits in context.traits) and tracks
    client.identify(member, {"name": "Rudder Shopper", "email": email})
    client.track(member, "Product Viewed", {"sku": "DRESS-7", "price": 2380})
    client.flush()

    # Then both calls reach the member's profile, with the identify's traits
    assert errors.seen == []
    assert_identified_and_tracked(stack, member, email, "Rudder Shopper")


def test_rudder_sdk_python_background_consumer(stack: Stack) -> None:
    member, errors = unique("rudder-async"), Errors()
    email = f"{member}@example.com"
    client = rudder_analytics.Client(
        WRITE_KEY, host=stack.base_url, max_retries=1, on_error=errors, upload_interval=0.1
    )
    client.identify(member, {"name": "Rudder Async", "email": email})
    client.track(member, "Product Viewed", {"sku": "DRESS-7", "price": 2380})
    client.flush()
    client.join()
    assert errors.seen == []
    assert_identified_and_tracked(stack, member, email, "Rudder Async")
