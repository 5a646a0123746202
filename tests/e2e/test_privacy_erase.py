"""Erase over HTTP on the local stack: Amy of scenario S1 (store, web and LINE, two merges) is
erased through the admin API and the Step Functions workflow. Then no trace of her is left in
DynamoDB, the S3 archive (change files and snapshot), the exports or the import files, found by
scanning everything for her ids and identifiers; the data-health and segment counts drop by one;
a later POS event with her phone is dropped and counted on the erase record."""

from __future__ import annotations

import json
import random
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from cdp.access.audit import AUDIT_PK_PREFIX

from tests.e2e.conftest import ADMIN_TOKEN, Stack, identifier_values, now_ms, unique
from tests.fixtures.line_events import follow, user_id, user_source

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
STORE = {"channel": "pos"}
REGION = "ap-northeast-1"


def _admin(stack: Stack, method: str, path: str, body: Any = None) -> requests.Response:
    return stack.http.request(method, stack.url(path), json=body, headers=ADMIN, timeout=60)


def _aws(aws_endpoint: str, service: str) -> Any:
    session = boto3.session.Session(region_name=REGION, aws_access_key_id="local", aws_secret_access_key="local")
    return session.client(service, endpoint_url=aws_endpoint)


def _amy(stack: Stack) -> dict[str, Any]:
    """S1 steps 1-4: the POS (phone, order), the web (browsing, then login with her email), LINE
    (a friend, then an account link): one person, two merges."""
    member, browser = unique("M1"), unique("browser")
    digits = f"{random.randrange(10**8):08d}"
    phone, phone_e164 = f"09{digits[:2]}-{digits[2:5]}-{digits[5:]}", f"+8869{digits}"
    email = f"{unique('amy')}@example.com"
    u1 = user_id(unique("erase-u1"))
    identify = {"userId": member, "traits": {"name": "Amy Chen", "phone": phone}, "context": STORE}
    assert stack.segment("identify", identify).status_code == 200
    order = {"userId": member, "event": "Order Completed", "context": STORE,
             "properties": {"order_id": unique("POS"), "revenue": 5000, "currency": "TWD"}}  # fmt: skip
    assert stack.segment("track", order).status_code == 200
    browsing = {"type": "track", "anonymousId": browser, "event": "Product Viewed", "properties": {"sku": "D7"}}
    assert stack.segment("batch", {"batch": [browsing]}).status_code == 200
    stack.drain()
    assert stack.segment("identify", {"userId": member, "anonymousId": browser, "traits": {"email": email}}).ok
    assert stack.line([follow(source=user_source(u1), timestamp=now_ms())]).status_code == 200
    stack.drain()
    friend = stack.lookup("line", u1)["profile_id"]
    issued = _admin(stack, "POST", "/admin/v1/line/link-token", {"lineUserId": u1, "memberId": member}).json()
    line_api = stack.drain()["line_api_url"]
    linked = requests.post(f"{line_api}/__fake__/account-link",
                           json={"linkToken": issued["linkToken"], "nonce": issued["nonce"]}, timeout=10).json()  # fmt: skip
    assert stack.line([linked]).status_code == 200
    stack.drain()
    profile = stack.lookup("line", u1)
    merges = _admin(stack, "GET", f"/admin/v1/profiles/{profile['profile_id']}/merges").json()["merges"]
    assert len(merges) == 2 and identifier_values(profile)["phone"] == [phone_e164]
    return {
        "profile_id": profile["profile_id"],
        "ids": {profile["profile_id"], friend, *(m["loser"] for m in merges)},
        "identifiers": {member, browser, phone_e164, "0" + phone_e164[4:], email, u1},
        "phone": phone,
        "member": member,
    }


def _item_text(item: dict[str, Any]) -> str:
    text = json.dumps(item, default=str, ensure_ascii=False)
    for name in ("docz", "recent"):
        packed = item.get(name, {}).get("B")
        if name == "docz" and packed is not None:
            text += zlib.decompress(packed).decode("utf-8")
    return text


def _traces(aws_endpoint: str, needles: set[str]) -> list[str]:
    """Every item of every table and every object of every bucket, read whole (Parquet through
    DuckDB, deflated documents opened), searched for the needles. The audit log is the one
    exception, by design: its records name the profile ids an admin acted on (the export and the
    erase itself included), never an identifier, and are kept for accountability until their own
    retention ends (docs/privacy.md, Erase)."""
    import duckdb

    found: list[str] = []
    dynamodb, s3 = _aws(aws_endpoint, "dynamodb"), _aws(aws_endpoint, "s3")
    for table in dynamodb.list_tables()["TableNames"]:
        for page in dynamodb.get_paginator("scan").paginate(TableName=table):
            for item in page["Items"]:
                if item.get("pk", {}).get("S", "").startswith(AUDIT_PK_PREFIX):
                    continue
                text = _item_text(item)
                key = f"{item['pk']['S'] if 'pk' in item else ''} / {item.get('sk', {}).get('S', '')}"
                found.extend(f"{table} {key}: {needle}" for needle in needles if needle in text)
    with tempfile.TemporaryDirectory() as folder:
        for bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                for obj in page.get("Contents", []):
                    data = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
                    text = data.decode("utf-8", errors="replace")
                    if obj["Key"].endswith(".parquet"):
                        path = Path(folder) / "file.parquet"
                        path.write_bytes(data)
                        text = repr(duckdb.sql(f"SELECT * FROM read_parquet('{path}')").fetchall())
                    found.extend(f"{bucket}/{obj['Key']}: {needle}" for needle in needles if needle in text)
    return found


def _snapshot(stack: Stack) -> None:
    response = stack.http.post(stack.url("/_local/schedules/run"), params={"name": "archive-snapshot"}, timeout=300)
    assert response.status_code == 200, response.text
    [refresh] = response.json()["fired"]
    assert refresh["error"] is None and refresh["result"]["snapshot"]["snapshot_id"], refresh


def _profiles_in_health(stack: Stack) -> int:
    report = _admin(stack, "GET", "/admin/v1/reports/data-health")
    assert report.status_code == 200, report.text
    return int(report.json()["profiles"])


def test_amy_is_erased_everywhere_and_her_later_events_are_suppressed(stack: Stack, aws_endpoint: str) -> None:
    amy = _amy(stack)
    segment_id = unique("store-buyers").lower()
    rule = {
        "event": {"name": "Order Completed", "where": [{"property": "context.channel", "op": "eq", "value": "pos"}]}
    }
    created = _admin(stack, "POST", "/admin/v1/segments", {"id": segment_id, "name": "Store buyers", "rule": rule})
    assert created.status_code == 201, created.text
    # the segment's members come from the archive: a recompute puts Amy in it
    recompute = _admin(stack, "POST", f"/admin/v1/segments/{segment_id}/recompute")
    assert recompute.status_code in (200, 202), recompute.text
    stack.drain()
    _snapshot(stack)  # Amy in the snapshot too, not only in change files
    members_before = _admin(stack, "GET", f"/admin/v1/segments/{segment_id}").json()["member_count"]
    profiles_before = _profiles_in_health(stack)
    assert members_before >= 1 and profiles_before >= 1
    needles = amy["ids"] | amy["identifiers"]
    assert _traces(aws_endpoint, needles)  # she is there before

    # When she is erased (by a merged-away id: the whole person)
    merged_away = sorted(amy["ids"] - {amy["profile_id"]})[0]
    started = _admin(stack, "POST", f"/admin/v1/profiles/{merged_away}/erase")
    assert started.status_code == 202, started.text
    record = started.json()
    assert record["profiles"] == 3 and record["status"] == "running"
    deadline = time.monotonic() + 300
    while record["status"] == "running" and time.monotonic() < deadline:
        stack.drain()
        time.sleep(1)
        record = _admin(stack, "GET", f"/admin/v1/profiles/{amy['profile_id']}/erase").json()
    assert record["status"] == "erased", record
    assert not any(record["remaining"].values()) and record["removed"]["profile"] > 3
    assert _admin(stack, "POST", f"/admin/v1/profiles/{amy['profile_id']}/erase").json() == record  # the first's

    # Then nothing of her is left anywhere, and the reports count one person less
    stack.drain()
    left = _traces(aws_endpoint, needles)
    assert left == [], "\n".join(left)
    assert _admin(stack, "GET", f"/admin/v1/segments/{segment_id}").json()["member_count"] == members_before - 1
    assert _profiles_in_health(stack) == profiles_before - 1
    stack.assert_no_profile("member_id", amy["member"])

    # And a later POS event with her phone is dropped and counted, not used to rebuild her
    late = {"event": "Order Completed", "anonymousId": unique("pos-terminal"), "context": {**STORE, "traits": {"phone": amy["phone"]}},
            "properties": {"order_id": unique("POS"), "revenue": 300, "currency": "TWD"}}  # fmt: skip
    late["context"]["externalIds"] = [{"type": "phone", "id": amy["phone"]}]
    assert stack.segment("track", late).status_code == 200
    stack.drain()
    stack.assert_no_profile("phone", amy["phone"])
    after = _admin(stack, "GET", f"/admin/v1/profiles/{amy['profile_id']}/erase").json()
    assert after["suppressed_events"] == 1
    assert _traces(aws_endpoint, amy["identifiers"]) == []

    # The audit log shows the erase (by the id it was asked for) and the suppression's effect is
    # on the record, not in the log: the log holds ids and routes only.
    audit = _admin(stack, "GET", "/admin/v1/audit?target=" + merged_away).json()["records"]
    assert [(r["method"], r["route"], r["status"]) for r in audit] == [("POST", "/admin/v1/profiles/{id}/erase", 202)]
    assert not any(needle in json.dumps(audit) for needle in amy["identifiers"])
