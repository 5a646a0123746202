"""A synced LINE audience on moto and the LINE fake: the admin export turns it on, the recompute
function keeps it up to date (adds entrants, replaces the group after exits), `sync: false` stops it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from cdp.adapters.dynamodb.profile_store import profile_pk, profile_to_document
from cdp.adapters.dynamodb.segment_store import DynamoSegmentStore
from cdp.clock import SystemClock, iso_from_ms
from cdp.profiles.model import Profile, Stamped
from cdp.settings import ENV_LINE_API_BASE_URL

from infra.local.line_fake import LineApiFake
from tests.integration.conftest import ADMIN_TOKEN, LINE_CHANNEL, Stack, api_event, response_json

BEARER = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}
OLD = "2026-01-01T00:00:00.000Z"
RULE = {"attribute": {"field": "traits.tier", "op": "eq", "value": "gold"}}
LINE_EXPORT = "/admin/v1/segments/{id}/exports/line-audience"


@pytest.fixture
def line_api(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[LineApiFake]:
    with LineApiFake() as fake:
        fake.register_channel(stack.config.line_channel_access_token, stack.config.line_bot_user_id)
        monkeypatch.setenv(ENV_LINE_API_BASE_URL, fake.base_url)
        yield fake


def uid(n: int) -> str:
    return f"U{n:032x}"


def now() -> str:
    return iso_from_ms(SystemClock().now_ms())


def export(stack: Stack, segment_id: str, body: Any) -> tuple[int, Any]:
    event = api_event(
        "POST",
        f"/admin/v1/segments/{segment_id}/exports/line-audience",
        resource=LINE_EXPORT,
        headers=BEARER,
        path_parameters={"id": segment_id},
        body=json.dumps(body),
    )
    response = stack.invoke("admin_api", event)
    return response["statusCode"], response_json(response)


def put_profile(stack: Stack, i: int, *, tier: str = "gold") -> str:
    p = Profile.new(f"p{i:04d}", OLD)
    value = f"{LINE_CHANNEL}:{uid(i)}"
    p.identifiers[f"line:{value}"] = {"type": "line", "value": value, "added_at": OLD}
    p.line_accounts[value] = Stamped("friend", OLD, f"line:{LINE_CHANNEL}", f"e{i}")
    p.traits["tier"] = Stamped(tier, OLD, "crm", f"t{i}")
    stack.client("dynamodb").put_item(
        TableName=stack.core_table,
        Item={
            "pk": {"S": profile_pk(p.profile_id)},
            "sk": {"S": "PROFILE"},
            "doc": {"S": json.dumps(profile_to_document(p))},
            "version": {"N": "1"},
        },
    )
    return p.profile_id


def create_segment(stack: Stack, segment_id: str) -> None:
    event = api_event(
        "POST",
        "/admin/v1/segments",
        resource="/admin/v1/segments",
        headers=BEARER,
        body=json.dumps({"id": segment_id, "name": "Gold", "rule": RULE}),
    )
    response = stack.invoke("admin_api", event)
    assert response["statusCode"] == 201, response


def test_entrants_reach_the_same_group_and_an_exit_replaces_it(stack: Stack, line_api: LineApiFake) -> None:
    segments = DynamoSegmentStore(stack.client("dynamodb"), stack.core_table)
    create_segment(stack, "gold")
    for i in range(55):
        assert segments.enter("gold", put_profile(stack, i), at=OLD, rule_version=1)

    status, record = export(stack, "gold", {"sync": True, "description": "Gold (synced)"})
    assert status == 201, record
    group_id = record["audienceGroupId"]
    assert record["sync"]["audienceGroupId"] == group_id and record["sync"]["status"] == "synced"
    assert record["sync"]["uploaded"] == 55 and "revision" not in record["sync"]
    stored = segments.get_audience_sync("gold")
    assert stored is not None and stored["channel"] == LINE_CHANNEL and stored["revision"]

    # two people join in real time (as the evaluator would record them), then the schedule fires
    for i in (60, 61):
        assert segments.enter("gold", put_profile(stack, i), at=now(), rule_version=1)
    result = stack.invoke("segment_recompute", {"segment_id": "gold"})
    [report] = result["reports"]
    assert report["exited"] == 0, report  # everyone still matches on the live profiles
    [synced] = result["audience_syncs"]
    assert (synced["mode"], synced["added"], synced["audience_group_id"]) == ("add", 2, group_id)
    group = line_api.audience(group_id)
    assert group is not None and set(group["members"]) == {uid(i) for i in [*range(55), 60, 61]}
    assert segments.get_audience_sync("gold")["uploaded"] == 57  # type: ignore[index]

    # three people stop matching: the recompute moves them out and the group is replaced
    for i in (0, 1, 2):
        put_profile(stack, i, tier="silver")
    result = stack.invoke("segment_recompute", {"segment_id": "gold"})
    assert result["reports"][0]["exited"] == 3, result
    [replaced] = result["audience_syncs"]
    assert replaced["mode"] == "replace" and replaced["replaced_audience_group_id"] == group_id
    new_group = line_api.audience(replaced["audience_group_id"])
    assert new_group is not None and set(new_group["members"]) == {uid(i) for i in [*range(3, 55), 60, 61]}
    assert new_group["description"] == "Gold (synced)"
    record_now = segments.get_audience_sync("gold")
    assert record_now is not None and record_now["replacedAudienceGroupId"] == group_id
    assert line_api.audience(group_id) is not None  # the old group is left for the caller

    status, stopped = export(stack, "gold", {"sync": False})
    assert status == 200 and stopped["stopped"]["audienceGroupId"] == replaced["audience_group_id"]
    assert segments.get_audience_sync("gold") is None
    assert stack.invoke("segment_recompute", {"segment_id": "gold"})["audience_syncs"] == []


def test_line_failing_does_not_fail_the_recompute_and_is_recorded(stack: Stack, line_api: LineApiFake) -> None:
    segments = DynamoSegmentStore(stack.client("dynamodb"), stack.core_table)
    create_segment(stack, "gold")
    for i in range(50):
        assert segments.enter("gold", put_profile(stack, i), at=OLD, rule_version=1)
    status, record = export(stack, "gold", {"sync": True})
    assert status == 201, record
    assert segments.enter("gold", put_profile(stack, 70), at=now(), rule_version=1)
    line_api.reset(full=True)  # LINE no longer knows the channel's token

    result = stack.invoke("segment_recompute", {"segment_id": "gold"})

    assert result["reports"][0]["members_after"] == 51
    [failed] = result["audience_syncs"]
    assert failed["mode"] == "failed" and failed["error"]["code"] == "line_auth_failed"
    stored = segments.get_audience_sync("gold")
    assert stored is not None and stored["status"] == "failed" and stored["lastError"]["code"] == "line_auth_failed"


def test_sync_must_be_a_boolean_and_stopping_nothing_is_fine(stack: Stack, line_api: LineApiFake) -> None:
    create_segment(stack, "gold")
    status, error = export(stack, "gold", {"sync": "yes"})
    assert status == 400 and error["error"] == "invalid_sync"
    status, stopped = export(stack, "gold", {"sync": False})
    assert status == 200 and stopped == {"segmentId": "gold", "sync": None, "stopped": None}
    status, error = export(stack, "nope", {"sync": False})
    assert status == 404 and error["error"] == "segment_not_found"


def test_history_between_two_times_is_read_oldest_first(stack: Stack) -> None:
    segments = DynamoSegmentStore(stack.client("dynamodb"), stack.core_table)
    segments.enter("vip", "amy", at="2026-11-01T00:00:00.000Z", rule_version=1)
    segments.enter("vip", "ben", at="2026-11-02T00:00:00.000Z", rule_version=1)
    segments.exit("vip", "amy", at="2026-11-03T00:00:00.000Z", rule_version=1)
    segments.enter("other", "cat", at="2026-11-02T00:00:00.000Z", rule_version=1)
    found = segments.changes_between("vip", after="2026-11-01T00:00:00.000Z", until="2026-11-03T00:00:00.000Z")
    assert [(c.profile_id, c.action) for c in found] == [("ben", "entered"), ("amy", "exited")]
    assert (
        list(segments.changes_between("vip", after="2026-11-03T00:00:00.000Z", until="2026-12-01T00:00:00.000Z")) == []
    )
