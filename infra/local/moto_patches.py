"""What the embedded moto needs to hold load and answer like DynamoDB; applied by the local stack only.

moto 5.2.5, as shipped, makes a long-running `make serve` grow without bound and slow down
quadratically:
- `transact_write_items` deep-copies every table it touches (items and stream records) before
  each transaction, to restore on cancellation: O(table) per transaction. A cancellation swaps
  the copy in, stream shard included, so shard iterators handed out before keep the old table
  alive.
- Every shard iterator is kept forever (`DynamoDBStreamsBackend.shard_iterators`), and each
  holds its shard, hence its table: with a rollback, a whole table copy per iterator.
- Stream shards keep every record forever; DynamoDB keeps 24 hours.
- The threaded server runs requests side by side with no lock: a transaction's writes are
  visible to readers before it commits, and a rollback could overwrite what another request
  wrote meanwhile.

Here instead:
- A transaction records an undo entry per item it touches (a copy of that item only) and the
  length of each touched stream shard; a cancellation restores those items and drops the stream
  records it appended. Everything else is moto's own code path: conditions, cancellation
  reasons, validation errors, stream records for committed writes.
- DynamoDB and DynamoDB Streams requests run one at a time (each request is atomic and
  isolated, as DynamoDB's are).
- Stream records older than 24 hours are trimmed, and so are records every local consumer has
  read beyond the newest `KEEP_READ_RECORDS` (a local bound; the cloud keeps them on disk).
  A position before the trim horizon answers TrimmedDataAccessException, like DynamoDB.
  (CDP_LOCAL_STREAM_KEEP_READ_RECORDS sets that tail; the default keeps 10,000 per stream.)
- A shard iterator expires 15 minutes after it was last handed out (DynamoDB: 15 minutes), at
  most MAX_ITERATORS are kept, and a read that returns nothing hands back the same iterator.
- The server finds each request's service under one lock, and that lookup lists moto's package
  folder (a directory read and a stat per service) and tries every service's URL patterns: most
  of the server's time under load went to waiting for that lock. Which service a host name
  belongs to never changes, so it is looked up once per host.
- Step Functions parses a state machine's definition (ANTLR) at every execution start. The parse
  tree of a definition is kept (the executions still get components of their own, built from it).
- A DynamoDB Query lists and sorts every item of the table before it picks the partition asked
  for: each query cost O(n log n) in the table's size, so a long run slowed down quadratically.
  A query on the table reads its partition only; a query on an index reads every item unsorted
  (the query sorts what it keeps). Everything after that is moto's own code.
- EventBridge builds a JSONPath parser (PLY tables) for every event it hands an SQS target, to
  read the same few paths: a parsed path is kept.
"""

from __future__ import annotations

import copy
import functools
import inspect
import os
import threading
import time
import types
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jsonpath_ng.ext
from moto.core.exceptions import JsonRESTError
from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import StreamShard, Table
from moto.dynamodbstreams.models import DynamoDBStreamsBackend, ShardIterator
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor

STREAM_RETENTION_SECONDS = 24 * 3600
KEEP_READ_RECORDS = int(os.environ.get("CDP_LOCAL_STREAM_KEEP_READ_RECORDS", "10000"))
ITERATOR_LIFETIME_SECONDS = 15 * 60
MAX_ITERATORS = 10_000
TRIM_INTERVAL_SECONDS = 1.0

_lock = threading.RLock()  # one DynamoDB request at a time (moto's own code is not thread-safe)
_install_lock = threading.Lock()
_installed = 0
_originals: dict[tuple[type | types.ModuleType, str], Any] = {}


def now() -> float:
    """Wall-clock seconds; tests replace it to age records and iterators."""
    return time.time()


class TrimmedDataAccess(JsonRESTError):
    def __init__(self, message: str) -> None:
        super().__init__("TrimmedDataAccessException", message)


class ExpiredIterator(JsonRESTError):
    def __init__(self) -> None:
        super().__init__("ExpiredIteratorException", "Iterator expired. The iterator was created over 15 minutes ago.")


# transactions ----------------------------------------------------------------------------------
@dataclass
class _UndoLog:
    """The items a transaction touched as they were before it, and where each stream ended."""

    items: list[tuple[Table, DynamoType, DynamoType | None, Item | None]] = field(default_factory=list)
    streams: dict[int, tuple[StreamShard, int]] = field(default_factory=dict)

    def remember(self, table: Table, key: dict[str, Any], current: Item | None) -> None:
        hash_value = DynamoType(key[table.hash_key_attr])
        range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
        # update_item changes the stored Item in place: keep a copy of this one item.
        self.items.append((table, hash_value, range_value, copy.deepcopy(current)))
        shard = table.stream_shard
        if shard is not None and id(shard) not in self.streams:
            self.streams[id(shard)] = (shard, len(shard.items))

    def rollback(self) -> None:
        for table, hash_value, range_value, original in reversed(self.items):
            if range_value is not None:
                partition = table.items[hash_value]
                if original is None:
                    partition.pop(range_value, None)
                    if not partition:
                        del table.items[hash_value]
                else:
                    partition[range_value] = original
            elif original is None:
                table.items.pop(hash_value, None)
            else:
                table.items[hash_value] = original
        for shard, length in self.streams.values():
            del shard.items[length:]  # a cancelled transaction leaves no stream record


def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    """moto 5.2.5's transact_write_items with an undo log in place of whole-table deep copies."""
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    for item in transact_items:
        for op in item.values():
            table = self.tables.get(op.get("TableName")) if isinstance(op, dict) else None
            if table is not None and table.lambda_event_source_mappings:
                # moto's own Lambda ESMs empty a shard's records as they send them: keep its way.
                return _originals[(DynamoDBBackend, "transact_write_items")](self, transact_items)  # type: ignore[no-any-return]
    undo = _UndoLog()
    target_items: set[tuple[str, str]] = set()

    def check_unicity(table_name: str, key: dict[str, Any]) -> None:
        item = (str(table_name), str(dict(sorted(key.items()))))
        if item in target_items:
            raise MultipleTransactionsException()
        target_items.add(item)

    errors: list[tuple[str, str, dict[str, Any]] | tuple[None, None, None]] = []
    for item in transact_items:
        original_item: dict[str, Any] | None = None
        if len(list(item.keys())) > 1:
            undo.rollback()  # all or nothing, also for a malformed request
            raise TransactWriteSingleOpException
        try:
            op_type, op = next(iter(item.items()))
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                raise ValueError("Unsupported transaction operation")
            table_name = op["TableName"]
            condition_expression = op.get("ConditionExpression")
            expression_attribute_names = op.get("ExpressionAttributeNames")
            expression_attribute_values = op.get("ExpressionAttributeValues")
            return_values_on_condition_check_failure = op.get("ReturnValuesOnConditionCheckFailure")
            if op_type == "Put":
                attrs = op["Item"]
                table = self.get_table(table_name)
                key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = attrs[table.range_key_attr]
            else:
                key = op["Key"]
            check_unicity(table_name, key)
            current = self.get_item(table_name, key)
            if condition_expression is not None:
                condition_op = get_filter_expression(
                    condition_expression, expression_attribute_names, expression_attribute_values
                )
                if not condition_op.expr(current):
                    if return_values_on_condition_check_failure == "ALL_OLD" and current:
                        original_item = current.to_json()["Attributes"]
                    raise ConditionalCheckFailed(item=original_item)
            if op_type != "ConditionCheck":
                undo.remember(self.get_table(table_name), key, current)
            if op_type == "Put":
                self.put_item(
                    table_name,
                    op["Item"],
                    condition_expression=condition_expression,
                    expression_attribute_names=expression_attribute_names,
                    expression_attribute_values=expression_attribute_values,
                )
            elif op_type == "Delete":
                self.delete_item(
                    table_name,
                    key,
                    condition_expression=condition_expression,
                    expression_attribute_names=expression_attribute_names,
                    expression_attribute_values=expression_attribute_values,
                )
            elif op_type == "Update":
                self.update_item(
                    table_name,
                    key,
                    update_expression=op["UpdateExpression"],
                    condition_expression=condition_expression,
                    expression_attribute_names=expression_attribute_names,
                    expression_attribute_values=expression_attribute_values,
                )
            errors.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            undo.rollback()
            raise
        except ConditionalCheckFailed as e:
            errors.append(("ConditionalCheckFailed", str(e.message), original_item))  # type: ignore[arg-type]
        except Exception as e:  # moto reports any other failure as a cancellation reason
            errors.append((type(e).__name__, str(e), original_item))  # type: ignore[arg-type]
    if any(code is not None for code, _, _ in errors):
        undo.rollback()
        raise TransactionCanceledException(errors)
    return None


# stream retention --------------------------------------------------------------------------------
_consumers: dict[str, dict[str, int]] = {}  # table ARN -> consumer -> last sequence number it has read


def register_consumer(stream_arn: str, consumer: str) -> None:
    """A local reader (an event source mapping) whose progress lets read records be trimmed."""
    with _lock:
        _consumers.setdefault(_table_arn(stream_arn), {})[consumer] = 0


def unregister_consumer(stream_arn: str, consumer: str) -> None:
    with _lock:
        _consumers.get(_table_arn(stream_arn), {}).pop(consumer, None)


def consumer_read(stream_arn: str, consumer: str, sequence_number: str) -> None:
    with _lock:
        readers = _consumers.setdefault(_table_arn(stream_arn), {})
        readers[consumer] = max(readers.get(consumer, 0), int(sequence_number))


def _table_arn(stream_arn: str) -> str:
    return stream_arn.split("/stream/", 1)[0]


def _trim(shard: StreamShard) -> None:
    """Drop records past retention, and read ones beyond the newest KEEP_READ_RECORDS."""
    current = now()
    if current - getattr(shard, "_cdp_trimmed_at", 0.0) < TRIM_INTERVAL_SECONDS:
        return
    shard._cdp_trimmed_at = current  # type: ignore[attr-defined]
    items = shard.items
    cutoff = current - STREAM_RETENTION_SECONDS
    expired = 0
    while expired < len(items) and getattr(items[expired], "_cdp_created", current) < cutoff:
        expired += 1
    readers = _consumers.get(shard.table.table_arn)
    if readers:
        read_up_to = min(readers.values())  # the last sequence number every consumer has read
        read = max(0, min(read_up_to - shard.starting_sequence_number + 1, len(items)))
        expired = max(expired, read - KEEP_READ_RECORDS)
    if expired > 0:
        del items[:expired]
        shard.starting_sequence_number += expired  # sequence numbers of the kept records stay as they were


def stream_add(self: StreamShard, old: Item | None, new: Item | None) -> None:
    _originals[(StreamShard, "add")](self, old, new)
    if self.items:
        self.items[-1]._cdp_created = now()  # type: ignore[attr-defined]
    _trim(self)


def stream_get(self: StreamShard, start: int, quantity: int) -> list[dict[str, Any]]:
    if start < self.starting_sequence_number:
        raise TrimmedDataAccess(
            f"Sequence number {start} is before the trim horizon {self.starting_sequence_number} of the shard"
        )
    result: list[dict[str, Any]] = _originals[(StreamShard, "get")](self, start, quantity)
    return result


# shard iterators ---------------------------------------------------------------------------------
class _Iterators(OrderedDict[str, ShardIterator]):
    """Shard iterators by ARN, least recently handed out first; expired ones are dropped."""

    def __init__(self, existing: dict[str, ShardIterator] | None = None) -> None:
        super().__init__()
        self.handed_out: dict[str, float] = {}
        for arn, iterator in (existing or {}).items():
            self[arn] = iterator

    def __setitem__(self, arn: str, iterator: ShardIterator) -> None:
        super().__setitem__(arn, iterator)
        self.touch(arn)

    def touch(self, arn: str) -> None:
        self.move_to_end(arn)
        current = now()
        self.handed_out[arn] = current
        while len(self) > 1:
            oldest = next(iter(self))
            if len(self) <= MAX_ITERATORS and current - self.handed_out[oldest] <= ITERATOR_LIFETIME_SECONDS:
                break
            super().__delitem__(oldest)
            self.handed_out.pop(oldest, None)

    def live(self, arn: str) -> ShardIterator:
        iterator = self.get(arn)
        if iterator is None or now() - self.handed_out.get(arn, 0.0) > ITERATOR_LIFETIME_SECONDS:
            raise ExpiredIterator()
        return iterator


def _iterators(backend: DynamoDBStreamsBackend) -> _Iterators:
    if not isinstance(backend.shard_iterators, _Iterators):
        backend.shard_iterators = _Iterators(backend.shard_iterators)
    return backend.shard_iterators


def get_shard_iterator(
    self: DynamoDBStreamsBackend, arn: str, shard_id: str, shard_iterator_type: str, sequence_number: str | None = None
) -> ShardIterator:
    _iterators(self)
    table = self._get_table_from_arn(arn)
    shard = table.stream_shard
    if shard is not None and sequence_number is not None and shard_iterator_type.endswith("_SEQUENCE_NUMBER"):
        first_read = int(sequence_number) + (1 if shard_iterator_type == "AFTER_SEQUENCE_NUMBER" else 0)
        if first_read < shard.starting_sequence_number:
            raise TrimmedDataAccess(f"Sequence number {sequence_number} is before the trim horizon")
    iterator: ShardIterator = _originals[(DynamoDBStreamsBackend, "get_shard_iterator")](
        self, arn, shard_id, shard_iterator_type, sequence_number
    )
    return iterator


def get_records(self: DynamoDBStreamsBackend, iterator_arn: str, limit: int) -> dict[str, Any]:
    iterators = _iterators(self)
    iterator = iterators.live(iterator_arn)
    items = iterator.stream_shard.get(iterator.sequence_number, limit)
    if not items:  # nothing new: the same position, so the same iterator (no garbage per idle poll)
        iterators.touch(iterator_arn)
        return {"NextShardIterator": iterator_arn, "Records": []}
    last = max(int(record["dynamodb"]["SequenceNumber"]) for record in items)
    following = ShardIterator(self, iterator.stream_shard, "AFTER_SEQUENCE_NUMBER", last)
    iterators[following.arn] = following
    return {"NextShardIterator": following.arn, "Records": items}


# installation -------------------------------------------------------------------------------------
def _locked(function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def run(*args: Any, **kwargs: Any) -> Any:
        with _lock:
            return function(*args, **kwargs)

    run.__cdp_locked__ = True  # type: ignore[attr-defined]
    return run


def _backend_for_host(original: Callable[..., Any]) -> Callable[..., Any]:
    """`DomainDispatcherApplication.get_backend_for_host`, remembered per host (called under the
    dispatcher's lock)."""

    @functools.wraps(original)
    def get_backend_for_host(self: DomainDispatcherApplication, host: str | None) -> Any:
        known: dict[str | None, Any] = self.__dict__.setdefault("_cdp_backends", {})
        if host not in known:
            known[host] = original(self, host)
        return known[host]

    return get_backend_for_host


_query_scope = threading.local()  # (table, partition key or None) while Table.query runs


def _scoped_all_items(original: Callable[[Table], list[Item]]) -> Callable[[Table], list[Item]]:
    @functools.wraps(original)
    def all_items(self: Table) -> list[Item]:
        scope = getattr(_query_scope, "table", None)
        if scope is None or scope[0] is not self:
            return original(self)
        if scope[1] is None:  # an index query: every item, unsorted
            return [item for part in self.items.values() for item in _part_items(self, part)]
        part = self.items.get(scope[1])
        return _part_items(self, part) if part is not None else []

    return all_items


def _part_items(table: Table, part: Any) -> list[Item]:
    return list(part.values()) if table.range_key_attr else [part]


def _partition_query(original: Callable[..., Any]) -> Callable[..., Any]:
    signature = inspect.signature(original)

    @functools.wraps(original)
    def query(self: Table, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs)
        partition = None if bound.arguments.get("index_name") else bound.arguments.get("hash_key")
        previous = getattr(_query_scope, "table", None)
        _query_scope.table = (self, partition)
        try:
            return original(self, *args, **kwargs)
        finally:
            _query_scope.table = previous

    return query


PARSED_DEFINITIONS = 256  # parse trees kept (state machine definitions; a journey version is one)


def _parse_once(original: Callable[[str], tuple[Any, Any]]) -> Any:
    """`AmazonStateLanguageParser.parse` with the parse tree of each definition kept: a syntax
    error still raises every time (nothing is kept), a kept tree gets fresh components."""
    trees: OrderedDict[str, Any] = OrderedDict()
    lock = threading.Lock()

    def parse(definition: str) -> tuple[Any, Any]:
        with lock:
            tree = trees.get(definition)
        if tree is None:
            program, tree = original(definition)
            with lock:
                trees[definition] = tree
                while len(trees) > PARSED_DEFINITIONS:
                    trees.popitem(last=False)
            return program, tree
        return Preprocessor().visit(tree), tree

    return staticmethod(parse)


def _replace(owner: type | types.ModuleType, name: str, value: Any) -> None:
    _originals.setdefault((owner, name), owner.__dict__[name])
    setattr(owner, name, value)


def _backend_operations(backend: type) -> list[str]:
    return [
        name
        for name, value in backend.__dict__.items()
        if not name.startswith("_") and inspect.isfunction(value) and name != "default_vpc_endpoint_service"
    ]


def install() -> Callable[[], None]:
    """Patch moto in this process (counted: the last `undo` restores it). Returns `undo`."""
    global _installed
    with _install_lock:
        _installed += 1
        if _installed == 1:
            _replace(DynamoDBBackend, "transact_write_items", transact_write_items)
            _replace(StreamShard, "add", stream_add)
            _replace(StreamShard, "get", stream_get)
            _replace(DynamoDBStreamsBackend, "get_shard_iterator", get_shard_iterator)
            _replace(DynamoDBStreamsBackend, "get_records", get_records)
            _replace(
                DomainDispatcherApplication,
                "get_backend_for_host",
                _backend_for_host(DomainDispatcherApplication.__dict__["get_backend_for_host"]),
            )
            _replace(jsonpath_ng.ext, "parse", functools.lru_cache(maxsize=256)(jsonpath_ng.ext.__dict__["parse"]))
            _replace(Table, "all_items", _scoped_all_items(Table.__dict__["all_items"]))
            _replace(Table, "query", _partition_query(Table.__dict__["query"]))
            _replace(
                AmazonStateLanguageParser,
                "parse",
                _parse_once(AmazonStateLanguageParser.__dict__["parse"].__func__),
            )
            for backend in (DynamoDBBackend, DynamoDBStreamsBackend):
                for name in _backend_operations(backend):
                    _replace(backend, name, _locked(backend.__dict__[name]))
    undone = threading.Event()

    def undo() -> None:
        global _installed
        if undone.is_set():
            return
        undone.set()
        with _install_lock:
            _installed -= 1
            if _installed == 0:
                for (owner, name), original in _originals.items():
                    setattr(owner, name, original)
                _originals.clear()

    return undo


def installed() -> bool:
    return _installed > 0
