"""Segment exports through the admin handler on moto: a LINE audience on the LINE fake, a hashed CSV in S3."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from cdp.adapters.dynamodb.profile_store import profile_pk, profile_to_document
from cdp.adapters.dynamodb.segment_store import DynamoSegmentStore
from cdp.profiles.model import Profile, Stamped
from cdp.settings import ENV_LINE_API_BASE_URL

from infra.local.line_fake import LineApiFake
from tests.integration.conftest import ADMIN_TOKEN, LINE_CHANNEL, Stack, api_event, response_json

BEARER = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}
NOW = "2026-01-01T00:00:00.000Z"
RULE = {"attribute": {"field": "traits.tier", "op": "eq", "value": "gold"}}
LINE_EXPORT = "/admin/v1/segments/{id}/exports/line-audience"
CSV_EXPORT = "/admin/v1/segments/{id}/exports/hashed-csv"


@pytest.fixture
def line_api(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[LineApiFake]:
    with LineApiFake() as fake:
        fake.register_channel(stack.config.line_channel_access_token, stack.config.line_bot_user_id)
        monkeypatch.setenv(ENV_LINE_API_BASE_URL, fake.base_url)
        yield fake


def uid(n: int) -> str:
    return f"U{n:032x}"


def call(stack: Stack, path: str, resource: str, segment_id: str, body: Any = None) -> tuple[int, Any]:
    event = api_event(
        "POST",
        path,
        resource=resource,
        headers=BEARER,
        path_parameters={"id": segment_id},
        body=json.dumps(body) if body is not None else None,
    )
    response = stack.invoke("admin_api", event)
    return response["statusCode"], response_json(response)


def seed(stack: Stack, segment_id: str, profiles: list[Profile]) -> None:
    status, created = call(
        stack, "/admin/v1/segments", "/admin/v1/segments", "", {"id": segment_id, "name": "G", "rule": RULE}
    )
    assert status == 201, created
    segments = DynamoSegmentStore(stack.client("dynamodb"), stack.core_table)
    for p in profiles:
        stack.client("dynamodb").put_item(
            TableName=stack.core_table,
            Item={
                "pk": {"S": profile_pk(p.profile_id)},
                "sk": {"S": "PROFILE"},
                "doc": {"S": json.dumps(profile_to_document(p))},
                "version": {"N": "1"},
            },
        )
        assert segments.enter(segment_id, p.profile_id, at=NOW, rule_version=1)


def person(i: int, status: str = "friend", *, email: str | None = None, phone: str | None = None) -> Profile:
    p = Profile.new(f"p{i:04d}", NOW)
    value = f"{LINE_CHANNEL}:{uid(i)}"
    p.identifiers[f"line:{value}"] = {"type": "line", "value": value, "added_at": NOW}
    p.line_accounts[value] = Stamped(status, NOW, f"line:{LINE_CHANNEL}", f"e{i}")
    if email:
        p.identifiers[f"email:{email}"] = {"type": "email", "value": email, "added_at": NOW}
    if phone:
        p.identifiers[f"phone:{phone}"] = {"type": "phone", "value": phone, "added_at": NOW}
    return p


def test_friends_of_a_segment_become_a_line_audience_and_the_export_is_recorded(
    stack: Stack, line_api: LineApiFake
) -> None:
    seed(stack, "gold", [person(i) for i in range(55)] + [person(i, "blocked") for i in range(100, 110)])
    path = "/admin/v1/segments/gold/exports/line-audience"
    status, record = call(stack, path, LINE_EXPORT, "gold", {"description": "Gold members"})
    assert status == 201, record
    assert record["members"] == 65 and record["uploaded"] == 55 and record["previousAudienceGroupId"] is None
    group = line_api.audience(record["audienceGroupId"])
    assert group is not None and set(group["members"]) == {uid(i) for i in range(55)}
    assert group["description"] == "Gold members"

    again_status, again = call(stack, path, LINE_EXPORT, "gold")
    assert again_status == 201 and again["previousAudienceGroupId"] == record["audienceGroupId"]
    assert again["audienceGroupId"] != record["audienceGroupId"]
    exports = DynamoSegmentStore(stack.client("dynamodb"), stack.core_table).exports("gold")
    assert [e["audienceGroupId"] for e in exports] == [again["audienceGroupId"], record["audienceGroupId"]]


def test_too_few_friends_is_409_and_line_is_not_called(stack: Stack, line_api: LineApiFake) -> None:
    seed(stack, "few", [person(i) for i in range(49)] + [person(i, "blocked") for i in range(100, 103)])
    status, error = call(stack, "/admin/v1/segments/few/exports/line-audience", LINE_EXPORT, "few", {})
    assert status == 409 and error["error"] == "audience_too_small", error
    assert error["details"] == {"count": 49, "minimum": 50, "members": 52}
    assert not [c for c in line_api.calls() if "audienceGroup" in json.dumps(c)]


def test_line_refusing_our_token_maps_to_502(stack: Stack, line_api: LineApiFake, monkeypatch: Any) -> None:
    seed(stack, "gold", [person(i) for i in range(50)])
    line_api.reset(full=True)  # LINE no longer knows the channel's token
    status, error = call(stack, "/admin/v1/segments/gold/exports/line-audience", LINE_EXPORT, "gold")
    assert status == 502 and error["error"] == "line_auth_failed", error


def test_unknown_segment_is_404(stack: Stack, line_api: LineApiFake) -> None:
    status, error = call(stack, "/admin/v1/segments/nope/exports/line-audience", LINE_EXPORT, "nope")
    assert status == 404 and error["error"] == "segment_not_found"


def test_a_hashed_csv_is_written_under_exports_and_downloadable(stack: Stack) -> None:
    seed(
        stack,
        "gold",
        [person(1, email="test@example.com"), person(2, phone="+886912345678"), person(3)],
    )
    status, record = call(stack, "/admin/v1/segments/gold/exports/hashed-csv", CSV_EXPORT, "gold")
    assert status == 201, record
    assert record["key"].startswith("exports/segments/gold/") and record["expires_in_seconds"] == 900
    assert (record["members"], record["membersWithHashes"], record["emails"], record["phones"]) == (3, 2, 1, 1)
    download = requests.get(record["url"], timeout=10)
    assert download.status_code == 200
    assert download.text.splitlines() == [
        "email_sha256,phone_sha256",
        hashlib.sha256(b"test@example.com").hexdigest() + ",",
        "," + hashlib.sha256(b"886912345678").hexdigest(),
    ]
