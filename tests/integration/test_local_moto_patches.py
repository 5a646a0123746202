"""The local runtime's moto patches keep moto's transaction semantics and bound its memory.

Every transaction case runs twice, on unpatched moto and with the patches, in fresh moto
accounts: the answer (error code, message, cancellation reasons), the tables afterwards and
the stream records must be identical. Then what the patches add: the cost of a transaction
does not grow with the table, stream records age out after 24 hours (or once every local
consumer has read them, past a kept tail), iterators expire, and a cancelled transaction
cannot undo another request's write on the threaded server.
"""

from __future__ import annotations

import threading
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb.models import dynamodb_backends

from infra.local import moto_patches
from infra.local.stack import free_port

REGION = "ap-northeast-1"
ACCOUNT = "123456789012"  # moto's default
PAIR = "pair"  # pk + sk
SINGLE = "single"  # pk only


@pytest.fixture
def patched() -> Iterator[None]:
    undo = moto_patches.install()
    yield
    undo()


class Clock:
    def __init__(self) -> None:
        self.value = 1_800_000_000.0

    def __call__(self) -> float:
        return self.value


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(moto_patches, "now", fake)
    return fake


def create_tables(client: Any) -> None:
    stream = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    client.create_table(
        TableName=PAIR,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification=stream,
    )
    client.create_table(
        TableName=SINGLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification=stream,
    )


def seed(client: Any) -> None:
    client.put_item(TableName=PAIR, Item={"pk": {"S": "P#1"}, "sk": {"S": "PROFILE"}, "version": {"N": "1"}})
    client.put_item(TableName=PAIR, Item={"pk": {"S": "P#1"}, "sk": {"S": "CLAIM"}, "owner": {"S": "P#1"}})
    client.put_item(TableName=SINGLE, Item={"pk": {"S": "K#1"}, "count": {"N": "5"}, "tags": {"SS": ["a"]}})


def pair(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def put(table: str, item: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"Put": {"TableName": table, "Item": item, **extra}}


def update(table: str, key: dict[str, Any], expression: str, **extra: Any) -> dict[str, Any]:
    return {"Update": {"TableName": table, "Key": key, "UpdateExpression": expression, **extra}}


NOT_THERE = {"ConditionExpression": "attribute_not_exists(pk)"}
VERSION_IS_1 = {
    "ConditionExpression": "version = :v",
    "ExpressionAttributeValues": {":v": {"N": "1"}, ":one": {"N": "1"}, ":t": {"SS": ["b"]}},
}
VERSION_IS_7 = {"ConditionExpression": "version = :v", "ExpressionAttributeValues": {":v": {"N": "7"}}}
BUMP = {"ExpressionAttributeValues": {":one": {"N": "1"}, ":t": {"SS": ["b"]}}}

CASES: dict[str, list[dict[str, Any]]] = {
    "commits every kind of write": [
        put(PAIR, {**pair("P#2", "PROFILE"), "version": {"N": "1"}}, **NOT_THERE),
        update(PAIR, pair("P#1", "PROFILE"), "SET version = version + :one", **VERSION_IS_1),
        {"Delete": {"TableName": PAIR, "Key": pair("P#1", "CLAIM")}},
        update(SINGLE, {"pk": {"S": "K#1"}}, "ADD #c :one, tags :t", ExpressionAttributeNames={"#c": "count"}, **BUMP),
        {"ConditionCheck": {"TableName": PAIR, "Key": pair("P#9", "PROFILE"), **NOT_THERE}},
    ],
    "a failed condition cancels the writes before and after it": [
        put(PAIR, {**pair("P#2", "PROFILE"), "version": {"N": "1"}}, **NOT_THERE),
        update(PAIR, pair("P#1", "PROFILE"), "SET version = version + :one", **VERSION_IS_1),
        put(PAIR, {**pair("P#1", "CLAIM"), "owner": {"S": "P#2"}}, **NOT_THERE),
        update(SINGLE, {"pk": {"S": "K#1"}}, "ADD #c :one, tags :t", ExpressionAttributeNames={"#c": "count"}, **BUMP),
    ],
    "a failed condition returns the old item when asked": [
        {"Delete": {"TableName": SINGLE, "Key": {"pk": {"S": "K#1"}}}},
        update(
            PAIR,
            pair("P#1", "PROFILE"),
            "SET version = :one",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
            **{**VERSION_IS_7, "ExpressionAttributeValues": {":v": {"N": "7"}, ":one": {"N": "1"}}},
        ),
    ],
    "a failed condition check cancels": [
        {"ConditionCheck": {"TableName": PAIR, "Key": pair("P#1", "PROFILE"), **VERSION_IS_7}},
        put(PAIR, {**pair("P#3", "PROFILE"), "version": {"N": "1"}}),
    ],
    "an update that creates an item is undone": [
        update(PAIR, pair("P#4", "PROFILE"), "SET version = :one", ExpressionAttributeValues={":one": {"N": "1"}}),
        update(SINGLE, {"pk": {"S": "K#2"}}, "SET seen = :one", ExpressionAttributeValues={":one": {"N": "1"}}),
        {"ConditionCheck": {"TableName": SINGLE, "Key": {"pk": {"S": "K#1"}}, **NOT_THERE}},
    ],
    "several failures are each reported": [
        put(PAIR, {**pair("P#1", "PROFILE"), "version": {"N": "2"}}, **NOT_THERE),
        put(SINGLE, {"pk": {"S": "K#3"}}),
        put(SINGLE, {"pk": {"S": "K#1"}}, **NOT_THERE),
    ],
    "a missing table refuses the transaction": [
        put(PAIR, {**pair("P#5", "PROFILE")}),
        put("no-such-table", {"pk": {"S": "x"}}),
    ],
    "two operations on one item are refused whole": [
        put(PAIR, {**pair("P#6", "PROFILE")}),
        update(SINGLE, {"pk": {"S": "K#1"}}, "SET a = :one", ExpressionAttributeValues={":one": {"N": "1"}}),
        put(SINGLE, {"pk": {"S": "K#1"}}),
    ],
    "an invalid update expression is refused whole": [
        put(PAIR, {**pair("P#7", "PROFILE")}),
        update(SINGLE, {"pk": {"S": "K#1"}}, "SET a = :missing", ExpressionAttributeValues={":one": {"N": "1"}}),
    ],
    "an update past the item size limit is refused whole": [
        update(SINGLE, {"pk": {"S": "K#1"}}, "SET #c = :one", ExpressionAttributeNames={"#c": "count"}, **BUMP),
        update(
            PAIR, pair("P#1", "PROFILE"), "SET payload = :big", ExpressionAttributeValues={":big": {"S": "x" * 409_000}}
        ),
    ],
}


def fill(count: int) -> None:
    """Items straight into moto's backend (no request each): a large table, quickly."""
    backend = dynamodb_backends[ACCOUNT][REGION]
    for n in range(count):
        backend.put_item(PAIR, {**pair(f"F#{n}", "PROFILE"), "blob": {"S": "x" * 200}})


def outcome(client: Any, streams: Any, items: list[dict[str, Any]]) -> dict[str, Any]:
    """What a client can observe: the answer, both tables, and every stream record since the seed."""
    before = {table: len(stream_records(streams, client, table)) for table in (PAIR, SINGLE)}
    answer: dict[str, Any]
    try:
        if items:  # none: the seeded state
            client.transact_write_items(TransactItems=items)
        answer = {"ok": True}
    except ClientError as error:
        answer = {
            "code": error.response["Error"]["Code"],
            "message": error.response["Error"]["Message"],
            "reasons": error.response.get("CancellationReasons"),
        }
    return {
        "answer": answer,
        "tables": {table: scan(client, table) for table in (PAIR, SINGLE)},
        "stream": {
            table: [
                (r["eventName"], r["dynamodb"]["Keys"], r["dynamodb"].get("OldImage"), r["dynamodb"].get("NewImage"))
                for r in stream_records(streams, client, table)[before[table] :]
            ]
            for table in (PAIR, SINGLE)
        },
    }


def scan(client: Any, table: str) -> list[dict[str, Any]]:
    return sorted(
        client.scan(TableName=table)["Items"], key=lambda item: (item["pk"]["S"], item.get("sk", {}).get("S"))
    )


def stream_records(streams: Any, client: Any, table: str) -> list[dict[str, Any]]:
    arn = client.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")[
        "ShardIterator"
    ]
    records: list[dict[str, Any]] = []
    while True:
        response = streams.get_records(ShardIterator=iterator, Limit=1000)
        records.extend(response["Records"])
        if not response["Records"]:
            return records
        iterator = response["NextShardIterator"]


def run_case(items: list[dict[str, Any]], with_patches: bool) -> dict[str, Any]:
    undo = moto_patches.install() if with_patches else None
    try:
        with mock_aws():
            client, streams = (
                boto3.client("dynamodb", region_name=REGION),
                boto3.client("dynamodbstreams", region_name=REGION),
            )
            create_tables(client)
            seed(client)
            return outcome(client, streams, items)
    finally:
        if undo is not None:
            undo()


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_transaction_answers_and_writes_as_unpatched_moto_does(case: str) -> None:
    unpatched = run_case(CASES[case], with_patches=False)
    assert not moto_patches.installed()

    patched = run_case(CASES[case], with_patches=True)

    assert patched == unpatched
    if "ok" not in patched["answer"]:  # all or nothing: a refused transaction writes nothing, streams nothing
        seeded = run_case([], with_patches=True)
        assert patched["tables"] == seeded["tables"]
        assert patched["stream"] == {PAIR: [], SINGLE: []}


def test_the_cases_cover_commit_cancellation_and_refusal() -> None:
    answers = {case: run_case(items, with_patches=True)["answer"] for case, items in CASES.items()}

    assert answers["commits every kind of write"] == {"ok": True}
    reasons = answers["a failed condition cancels the writes before and after it"]["reasons"]
    assert [reason["Code"] for reason in reasons] == ["None", "None", "ConditionalCheckFailed", "None"]
    (_, returned) = answers["a failed condition returns the old item when asked"]["reasons"]
    assert returned["Item"]["version"] == {"N": "1"}
    assert answers["two operations on one item are refused whole"]["code"] == "ValidationException"
    assert answers["an invalid update expression is refused whole"]["code"] == "ValidationException"
    assert answers["an update past the item size limit is refused whole"]["code"] == "ValidationException"
    assert answers["a missing table refuses the transaction"]["code"] == "ResourceNotFoundException"


def test_a_transaction_costs_the_same_on_a_large_table(patched: None) -> None:
    """Memory allocated by one cancelled transaction does not grow with the table (moto copied it whole)."""
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        create_tables(client)
        seed(client)
        items = CASES["a failed condition cancels the writes before and after it"]

        def allocated_by_one_transaction() -> int:
            tracemalloc.start()
            try:
                with pytest.raises(ClientError):
                    client.transact_write_items(TransactItems=items)
                return tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()

        small = allocated_by_one_transaction()
        fill(2000)
        large = allocated_by_one_transaction()

    assert large < small * 1.5, (small, large)


# streams ---------------------------------------------------------------------------------------
def stream_of(client: Any, table: str) -> tuple[str, str]:
    arn = client.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    streams = boto3.client("dynamodbstreams", region_name=REGION)
    return arn, streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]


def test_stream_records_are_kept_24_hours(patched: None, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(moto_patches, "TRIM_INTERVAL_SECONDS", 0)
    with mock_aws():
        client, streams = (
            boto3.client("dynamodb", region_name=REGION),
            boto3.client("dynamodbstreams", region_name=REGION),
        )
        create_tables(client)
        for n in range(3):
            client.put_item(TableName=SINGLE, Item={"pk": {"S": f"old-{n}"}})
        old = stream_records(streams, client, SINGLE)
        clock.value += 23 * 3600
        client.put_item(TableName=SINGLE, Item={"pk": {"S": "new-0"}})
        assert len(stream_records(streams, client, SINGLE)) == 4  # a day is not over yet

        clock.value += 3600 + 1
        client.put_item(TableName=SINGLE, Item={"pk": {"S": "new-1"}})
        kept = stream_records(streams, client, SINGLE)

        assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in kept] == ["new-0", "new-1"]
        assert kept[0]["dynamodb"]["SequenceNumber"] == str(int(old[-1]["dynamodb"]["SequenceNumber"]) + 1)
        arn, shard = stream_of(client, SINGLE)
        with pytest.raises(ClientError) as refused:
            streams.get_shard_iterator(
                StreamArn=arn,
                ShardId=shard,
                ShardIteratorType="AT_SEQUENCE_NUMBER",
                SequenceNumber=old[0]["dynamodb"]["SequenceNumber"],
            )
        assert refused.value.response["Error"]["Code"] == "TrimmedDataAccessException"


def test_records_every_consumer_read_are_trimmed_past_a_kept_tail(
    patched: None, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(moto_patches, "TRIM_INTERVAL_SECONDS", 0)
    monkeypatch.setattr(moto_patches, "KEEP_READ_RECORDS", 2)
    with mock_aws():
        client, streams = (
            boto3.client("dynamodb", region_name=REGION),
            boto3.client("dynamodbstreams", region_name=REGION),
        )
        create_tables(client)
        arn, _ = stream_of(client, SINGLE)
        moto_patches.register_consumer(arn, "fast")
        moto_patches.register_consumer(arn, "slow")
        try:
            for n in range(10):
                client.put_item(TableName=SINGLE, Item={"pk": {"S": f"k-{n}"}})
            records = stream_records(streams, client, SINGLE)
            moto_patches.consumer_read(arn, "fast", records[7]["dynamodb"]["SequenceNumber"])
            moto_patches.consumer_read(arn, "slow", records[5]["dynamodb"]["SequenceNumber"])
            client.put_item(TableName=SINGLE, Item={"pk": {"S": "k-10"}})

            kept = [r["dynamodb"]["Keys"]["pk"]["S"] for r in stream_records(streams, client, SINGLE)]
        finally:
            moto_patches.unregister_consumer(arn, "fast")
            moto_patches.unregister_consumer(arn, "slow")

    # the slow reader has read k-0..k-5: all but the newest two of those go; nothing unread goes
    assert kept == [f"k-{n}" for n in range(4, 11)]


def test_idle_reads_hand_back_the_same_iterator_and_iterators_expire(patched: None, clock: Clock) -> None:
    with mock_aws():
        client, streams = (
            boto3.client("dynamodb", region_name=REGION),
            boto3.client("dynamodbstreams", region_name=REGION),
        )
        create_tables(client)
        client.put_item(TableName=SINGLE, Item={"pk": {"S": "k"}})
        arn, shard = stream_of(client, SINGLE)
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")[
            "ShardIterator"
        ]
        first = streams.get_records(ShardIterator=iterator)
        assert len(first["Records"]) == 1
        idle = first["NextShardIterator"]
        assert all(streams.get_records(ShardIterator=idle)["NextShardIterator"] == idle for _ in range(3))

        clock.value += 15 * 60 + 1
        with pytest.raises(ClientError) as expired:
            streams.get_records(ShardIterator=idle)
        assert expired.value.response["Error"]["Code"] == "ExpiredIteratorException"


def test_a_cancelled_transaction_never_undoes_a_concurrent_write(patched: None) -> None:
    """On the threaded server, requests run side by side: a rollback must touch only its own items."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"

        def new_client() -> Any:
            return boto3.client("dynamodb", region_name=REGION, endpoint_url=endpoint)

        client = new_client()
        create_tables(client)
        seed(client)
        fill(1500)  # a table large enough that a snapshot takes a while
        failures: list[BaseException] = []

        def repeat(action: Callable[[Any, int], None], count: int) -> Callable[[], None]:
            def run() -> None:
                own = new_client()
                try:
                    for n in range(count):
                        action(own, n)
                except BaseException as error:  # reported by the assertion below
                    failures.append(error)

            return run

        def cancelled(own: Any, n: int) -> None:
            with pytest.raises(ClientError):
                own.transact_write_items(
                    TransactItems=CASES["a failed condition cancels the writes before and after it"]
                )

        def write(own: Any, n: int) -> None:
            own.put_item(TableName=PAIR, Item=pair(f"W#{n}", "PROFILE"))

        threads = [threading.Thread(target=repeat(cancelled, 30)), threading.Thread(target=repeat(write, 150))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert failures == []
        written = {item["pk"]["S"] for item in client.scan(TableName=PAIR)["Items"] if item["pk"]["S"].startswith("W#")}
        assert written == {f"W#{n}" for n in range(150)}
    finally:
        server.stop()


def test_the_server_finds_a_hosts_service_once_and_the_same_one_as_moto(
    patched: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto import backends
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    hosts = [
        "dynamodb",
        "dynamodbstreams",
        "s3",
        "sqs.ap-northeast-1.amazonaws.com",
        "states.ap-northeast-1.amazonaws.com",
    ]
    original = moto_patches._originals[(DomainDispatcherApplication, "get_backend_for_host")]
    expected = {host: original(DomainDispatcherApplication(lambda _service: None), host) for host in hosts}
    listings = 0
    listing = backends.list_of_moto_modules

    def counted() -> Any:
        nonlocal listings
        listings += 1
        return listing()

    monkeypatch.setattr(backends, "list_of_moto_modules", counted)
    dispatcher = DomainDispatcherApplication(lambda _service: None)
    for _ in range(3):
        assert {host: dispatcher.get_backend_for_host(host) for host in hosts} == expected
    assert listings == len(hosts)  # the first request per host only
    assert expected["dynamodb"] == "dynamodb" and expected["sqs.ap-northeast-1.amazonaws.com"] == "sqs"


def test_a_state_machine_definition_is_parsed_once_and_each_execution_gets_its_own_program(patched: None) -> None:
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser, ASLParserException

    definition = '{"StartAt": "Done", "States": {"Done": {"Type": "Pass", "Result": 1, "End": true}}}'
    first, tree = AmazonStateLanguageParser.parse(definition)
    second, same_tree = AmazonStateLanguageParser.parse(definition)
    assert same_tree is tree and second is not first
    assert type(second) is type(first)
    for _ in range(2):  # a bad definition is refused every time, never kept
        with pytest.raises(ASLParserException):
            AmazonStateLanguageParser.parse('{"StartAt": "Nowhere", "States": {')


INDEXED = "indexed"


def query_answers(with_patches: bool) -> list[Any]:
    """A table with an index, many partitions and pages, asked the same queries."""
    undo = moto_patches.install() if with_patches else None
    try:
        with mock_aws():
            client = boto3.client("dynamodb", region_name=REGION)
            client.create_table(
                TableName=INDEXED,
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                AttributeDefinitions=[
                    {"AttributeName": name, "AttributeType": "S"} for name in ("pk", "sk", "gsi1pk", "gsi1sk")
                ],
                GlobalSecondaryIndexes=[
                    {
                        "IndexName": "gsi1",
                        "KeySchema": [
                            {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                            {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
                        ],
                        "Projection": {"ProjectionType": "ALL"},
                    }
                ],
                BillingMode="PAY_PER_REQUEST",
            )
            create_tables(client)
            seed(client)
            for n in range(120):
                item = {**pair(f"P#{n % 7}", f"E#{n:04d}"), "n": {"N": str(n)}}
                if n % 3:
                    item |= {"gsi1pk": {"S": f"G#{n % 4}"}, "gsi1sk": {"S": f"{n % 11:02d}#{n}"}}
                client.put_item(TableName=INDEXED, Item=item)
            asked: list[dict[str, Any]] = [
                {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "P#3"}}},
                {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "P#404"}}},
                {
                    "KeyConditionExpression": "pk = :p AND begins_with(sk, :s)",
                    "ExpressionAttributeValues": {":p": {"S": "P#2"}, ":s": {"S": "E#00"}},
                    "ScanIndexForward": False,
                    "Limit": 4,
                },
                {
                    "KeyConditionExpression": "pk = :p AND sk BETWEEN :a AND :b",
                    "FilterExpression": "n > :min",
                    "ExpressionAttributeValues": {
                        ":p": {"S": "P#5"},
                        ":a": {"S": "E#0010"},
                        ":b": {"S": "E#0090"},
                        ":min": {"N": "40"},
                    },
                },
                {
                    "IndexName": "gsi1",
                    "KeyConditionExpression": "gsi1pk = :g",
                    "ExpressionAttributeValues": {":g": {"S": "G#1"}},
                    "Limit": 5,
                },
                {
                    "IndexName": "gsi1",
                    "KeyConditionExpression": "gsi1pk = :g AND gsi1sk > :s",
                    "ExpressionAttributeValues": {":g": {"S": "G#2"}, ":s": {"S": "05"}},
                    "ScanIndexForward": False,
                },
            ]
            answers: list[Any] = []
            for query in asked:
                pages, start = [], None
                while True:
                    page = client.query(TableName=INDEXED, **query, **({"ExclusiveStartKey": start} if start else {}))
                    pages.append((page["Items"], page["Count"], page["ScannedCount"]))
                    start = page.get("LastEvaluatedKey")
                    if not start:
                        break
                answers.append(pages)
            answers.append(
                client.query(
                    TableName=SINGLE, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "K#1"}}
                )["Items"]
            )
            return answers
    finally:
        if undo is not None:
            undo()


def test_a_query_reads_its_partition_only_and_answers_as_unpatched_moto_does() -> None:
    unpatched = query_answers(with_patches=False)
    patched = query_answers(with_patches=True)
    assert patched == unpatched
    assert sum(len(items) for items, _count, _scanned in unpatched[0]) == 17  # 120 items over 7 partitions
    assert len(unpatched[2]) > 1 and len(unpatched[4]) > 1  # the cases page
