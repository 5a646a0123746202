"""Nothing good is lost or doubled when the stack fails the way a deployment does.

A stack of its own (faults apply to the whole stack) gets a seeded fault plan through
`POST /_local/faults`: raw-event writes fail at a few percent (the sender retries what got a
5xx), the processor dies before and after its commit at a few percent each, one merge step
dies after doing its work, and one poison record sits among the good ones. A shop's traffic
goes in over `/v1/batch`, some of it linking anonymous browsers to members (merges). After the
drain: every accepted good event is on exactly one timeline (its person's) and once in the
archive under that person's live profile; the poison is on none and its stream position is in
the processor's on-failure queue; and the faults were really injected.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from tests.e2e.conftest import ADMIN_TOKEN, ROOT, WRITE_KEY, _stop, _wait_healthy, free_port, stack_env

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

PEOPLE = 30
MERGING = 8  # the first people log in on their browser: their anonymous profile merges into the member's
BATCH = 15
SEED = 20261206
FAULTS = {
    "seed": SEED,
    "raw_write_failure_rate": 0.04,
    "processor_death_before_commit_rate": 0.04,
    "processor_death_after_commit_rate": 0.04,
    "merge_step_failures": 1,
    "merge_step": "move",
}
SEND_ATTEMPTS = 40
DRAIN_SECONDS = 400


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = tmp_path_factory.mktemp("fault-stack") / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "infra.local.serve"],
            cwd=ROOT,
            env={**stack_env(port), "CDP_LINE_API_PORT": "0"},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(process, url, log)
        yield url
    finally:
        _stop(process)


def traffic(run: str) -> tuple[list[list[dict[str, Any]]], str]:
    """Batches in send order (phase 1: members and browsers; phase 2: logins) and the poison's id."""
    now = datetime.now(tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    first: list[dict[str, Any]] = []
    second: list[dict[str, Any]] = []

    def call(person: int, kind: str, n: int, **fields: Any) -> dict[str, Any]:
        return {"type": kind, "messageId": f"fi-{run}-p{person}-{n}", "timestamp": now, **fields}

    for person in range(PEOPLE):
        member, browser = f"fi-{run}-m{person}", f"fi-{run}-b{person}"
        first += [
            call(person, "identify", 0, userId=member, traits={"email": f"{member}@example.com"}),
            call(person, "track", 1, userId=member, event="Product Viewed", properties={"sku": f"S-{person}"}),
            call(person, "page", 2, anonymousId=browser, name="Home"),
            call(person, "page", 3, anonymousId=browser, name="Bags"),
            call(person, "track", 4, userId=member, event="Order Completed", properties={"revenue": 1000 + person}),
        ]
        if person < MERGING:
            second.append(call(person, "identify", 5, userId=member, anonymousId=browser))
        else:
            second.append(call(person, "track", 5, userId=member, event="Coupon Used", properties={"code": "TEN"}))
    poison = f"fi-{run}-poison"
    first.insert(len(first) // 2, {"type": "track", "userId": f"fi-{run}-m0", "event": "Broken", "messageId": poison})
    batches = [first[i : i + BATCH] for i in range(0, len(first), BATCH)]
    batches += [second[i : i + BATCH] for i in range(0, len(second), BATCH)]
    return batches, poison


def send(session: requests.Session, base_url: str, batch: list[dict[str, Any]]) -> int:
    """Like an SDK: retry the whole batch on a 5xx (the stored part answers as duplicates). Attempts used."""
    for attempt in range(1, SEND_ATTEMPTS + 1):
        response = session.post(f"{base_url}/v1/batch", json={"batch": batch}, auth=(WRITE_KEY, ""), timeout=60)
        if response.status_code == 200:
            assert response.json().get("rejected") in (None, [], 0), response.text
            return attempt
        assert response.status_code >= 500, response.text
        time.sleep(0.05)
    pytest.fail(f"a batch was not accepted after {SEND_ATTEMPTS} attempts")


def admin(session: requests.Session, base_url: str, path: str, **params: str) -> dict[str, Any]:
    response = session.get(
        f"{base_url}{path}", params=params, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=60
    )
    assert response.status_code == 200, f"{path}: {response.status_code} {response.text}"
    body: dict[str, Any] = response.json()
    return body


def timeline(session: requests.Session, base_url: str, profile_id: str) -> list[str]:
    """Every event id on a profile's timeline, page after page."""
    ids: list[str] = []
    cursor: str | None = None
    while True:
        params = {"limit": "100", **({"before": cursor} if cursor else {})}
        page = admin(session, base_url, f"/admin/v1/profiles/{profile_id}/timeline", **params)
        ids += [event["eventId"] for event in page["events"]]
        cursor = page.get("next")
        if not cursor:
            return ids


def drain(session: requests.Session, base_url: str) -> dict[str, Any]:
    deadline = time.monotonic() + DRAIN_SECONDS
    while time.monotonic() < deadline:
        response = session.post(f"{base_url}/_local/drain", params={"timeout": "120"}, timeout=180)
        if response.status_code == 200:
            status: dict[str, Any] = response.json()
            return status
    pytest.fail(f"the stack did not drain in {DRAIN_SECONDS} s")


def archived(status: dict[str, Any], run: str) -> list[tuple[str, str]]:
    """(event id, profile id) of this run's events live in the archive, one row per copy."""
    from cdp.adapters.s3_archive import S3Archive
    from cdp.archive.duck import open_archive
    from cdp.archive.rows import REMOVE

    s3 = boto3.client(
        "s3",
        endpoint_url=status["aws_endpoint"],
        region_name="ap-northeast-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    (bucket,) = [b["Name"] for b in s3.list_buckets()["Buckets"] if "archive" in b["Name"]]
    with tempfile.TemporaryDirectory(prefix="fault-archive-") as cache:
        files, _ = S3Archive(s3, bucket, Path(cache)).fetch()
        db = open_archive(files, datetime.now(tz=UTC))
        rows = db.execute(
            f"""
            SELECT event_id, profile_id FROM (
                SELECT *, row_number() OVER (PARTITION BY profile_id, event_id ORDER BY seq DESC) AS rank
                FROM event_changes WHERE event_id LIKE 'partner#%#fi-{run}-%'
            ) WHERE rank = 1 AND op <> '{REMOVE}'
            """
        ).fetchall()
    return [(str(event_id), str(profile_id)) for event_id, profile_id in rows]


def given_up(status: dict[str, Any]) -> list[str]:
    """The raw event ids kept for a replay: the dead letters dlq_archiver made of the processor's
    on-failure messages, and any message it has not taken yet."""
    from cdp.adapters.dead_letters import PROCESSOR_PK

    (processor,) = [s for s in status["streams"] if s["function"] == "event_processor"]
    session = boto3.session.Session(aws_access_key_id="local", aws_secret_access_key="local")
    sqs = session.client("sqs", endpoint_url=status["aws_endpoint"], region_name="ap-northeast-1")
    streams = session.client("dynamodbstreams", endpoint_url=status["aws_endpoint"], region_name="ap-northeast-1")
    dynamodb = session.client("dynamodb", endpoint_url=status["aws_endpoint"], region_name="ap-northeast-1")
    (core,) = [t for t in dynamodb.list_tables()["TableNames"] if t.startswith("cdp-local-TablesCore")]
    letters = dynamodb.query(
        TableName=core, KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": PROCESSOR_PK}}
    )
    found: list[str] = [item["sk"]["S"] for item in letters["Items"]]
    messages = sqs.receive_message(QueueUrl=processor["on_failure_queue_url"], MaxNumberOfMessages=10)
    for message in messages.get("Messages", []):
        info = json.loads(message["Body"])["DDBStreamBatchInfo"]
        iterator = streams.get_shard_iterator(
            StreamArn=info["streamArn"],
            ShardId=info["shardId"],
            ShardIteratorType="AT_SEQUENCE_NUMBER",
            SequenceNumber=info["startSequenceNumber"],
        )["ShardIterator"]
        records = streams.get_records(ShardIterator=iterator, Limit=info["batchSize"])["Records"]
        assert records[-1]["dynamodb"]["SequenceNumber"] == info["endSequenceNumber"]
        found += [r["dynamodb"]["Keys"]["pk"]["S"] for r in records]
    return found


def test_no_good_event_is_lost_or_doubled_under_faults(base_url: str) -> None:
    run = "run1"  # the stack is this module's own: fixed ids make the raw-write faults reproducible from the seed
    session = requests.Session()
    batches, poison = traffic(run)
    plan = {**FAULTS, "poison_message_ids": [poison]}
    configured = session.post(f"{base_url}/_local/faults", json=plan, timeout=30)
    assert configured.status_code == 200, configured.text
    faults = configured.json()["faults"]
    assert {key: faults[key] for key in plan} == plan
    assert not any(value for key, value in faults.items() if key not in plan)  # every other fault is off

    # When the traffic goes in, each batch retried until accepted
    attempts = [send(session, base_url, batch) for batch in batches]
    status = drain(session, base_url)
    injected = session.get(f"{base_url}/_local/faults", timeout=30).json()["injected"]
    session.delete(f"{base_url}/_local/faults", timeout=30)

    # Then the faults really happened
    print(f"{len(batches)} batches, {sum(attempts)} sends, injected: {injected}")
    assert sum(attempts) > len(batches), "no batch needed a retry"
    assert injected.get("raw_write_failures", 0) >= 1
    assert injected.get("processor_deaths_before_commit", 0) >= 1
    assert injected.get("processor_deaths_after_commit", 0) >= 1
    assert injected.get("merge_step_failures") == 1
    assert injected.get("poison_deliveries", 0) >= 11  # its first delivery and the mapping's 10 retries

    # and every good event is on exactly one timeline: its person's
    sent = [call for batch in batches for call in batch if call["messageId"] != poison]
    good = {f"partner#default#{call['messageId']}": call for call in sent}
    live: dict[str, str] = {}  # event id -> the profile whose timeline has it
    expected: dict[str, str] = {}  # event id -> its person's profile (the member's, or the browser's)
    on_timelines: Counter[str] = Counter()
    for person in range(PEOPLE):
        member = admin(session, base_url, "/admin/v1/profiles/lookup", type="member_id", value=f"fi-{run}-m{person}")
        browser = admin(
            session, base_url, "/admin/v1/profiles/lookup", type="anonymous_id", value=f"fi-{run}-b{person}"
        )
        merged = person < MERGING
        assert (browser["profile_id"] == member["profile_id"]) is merged, person
        for owner in {member["profile_id"], browser["profile_id"]}:
            events = timeline(session, base_url, owner)
            on_timelines.update(events)
            live.update(dict.fromkeys(events, owner))
        for event_id, call in good.items():
            if call["messageId"].startswith(f"fi-{run}-p{person}-"):
                expected[event_id] = member["profile_id"] if "userId" in call else browser["profile_id"]
    ours = {event_id: n for event_id, n in on_timelines.items() if f"#fi-{run}-" in event_id}
    assert set(ours) == set(good), {"lost": sorted(set(good) - set(ours)), "extra": sorted(set(ours) - set(good))}
    assert [event_id for event_id, n in ours.items() if n != 1] == []
    assert {event_id: live[event_id] for event_id in good} == expected

    # and once in the archive, under the profile whose timeline has it
    copies = archived(status, run)
    assert Counter(event_id for event_id, _ in copies) == Counter(good.keys())
    assert all(live[event_id] == profile_id for event_id, profile_id in copies)

    # and the poison was given up on, its position kept for a replay
    poison_id = f"partner#default#{poison}"
    assert poison_id not in on_timelines
    assert poison_id in given_up(status)
