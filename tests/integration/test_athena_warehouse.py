"""The Athena adapter on moto, with a segment query from cdp.segments.athena.

moto does not execute SQL: it records the query and answers get_query_results with results
seeded through its moto-api endpoint (here: the header row and the profile ids a real run would
return). What is tested is the adapter's conversation with Athena (the workgroup, polling through
QUEUED and RUNNING, the header row, stopping a query past its time), not the query's answer;
that is tests/unit/test_segments_athena.py, in DuckDB.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
import requests
from cdp.adapters.athena import AthenaWarehouse
from cdp.errors import StoreUnavailable
from cdp.segments import parse_rule
from cdp.segments.athena import select_profile_ids, to_athena
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.moto_api import state_manager

from cdp_ops import athena_sql
from infra.local.config import REGION
from tests.fakes import FixedClock

WORKGROUP = "LineCdp-archive"
NOW = datetime(2026, 11, 23, 5, 30, tzinfo=UTC)
RULE = {"and": [{"tag": {"name": "vip"}}, {"event": {"name": "Order Completed", "within": {"last": {"days": 30}}}}]}


@pytest.fixture
def athena() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("athena", region_name=REGION)
        client.create_work_group(
            Name=WORKGROUP,
            Configuration={"ResultConfiguration": {"OutputLocation": "s3://archive-bucket/athena-results/"}},
        )
        yield client
    state_manager.unset_transition("athena::execution")


def _seed(*rows: list[str]) -> None:
    body = {
        "account_id": DEFAULT_ACCOUNT_ID,
        "region": REGION,
        "results": [
            {
                "rows": [{"Data": [{"VarCharValue": value} for value in row]} for row in rows],
                "column_info": [{"Name": "profile_id", "Type": "varchar"}],
            }
        ],
    }
    requests.post("http://motoapi.amazonaws.com/moto-api/static/athena/query-results", json=body, timeout=5)


def test_a_segment_query_runs_in_the_workgroup_through_queued_and_running(athena: Any) -> None:
    state_manager.set_transition("athena::execution", {"progression": "manual", "times": 2})
    _seed(["profile_id"], ["p-amy"], ["p-ben"])
    query = to_athena(parse_rule(RULE), NOW, database="cdp_archive")
    sleeps: list[float] = []
    warehouse = AthenaWarehouse(athena, workgroup=WORKGROUP, clock=FixedClock(), sleep=sleeps.append)

    assert select_profile_ids(warehouse, query) == {"p-amy", "p-ben"}  # the header row is not an id
    assert len(sleeps) >= 2  # QUEUED, then RUNNING, each polled again after a pause
    (execution_id,) = athena.list_query_executions(WorkGroup=WORKGROUP)["QueryExecutionIds"]
    execution = athena.get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]
    assert execution["Query"] == query.sql
    assert execution["WorkGroup"] == WORKGROUP


def test_a_query_past_its_time_is_stopped(athena: Any) -> None:
    state_manager.set_transition("athena::execution", {"progression": "manual", "times": 1000})
    clock = FixedClock()
    warehouse = AthenaWarehouse(
        athena, workgroup=WORKGROUP, clock=clock, timeout_seconds=30, sleep=lambda s: clock.advance(int(s * 1000))
    )
    with pytest.raises(StoreUnavailable, match="stopped"):
        warehouse.rows("SELECT 1")
    (execution_id,) = athena.list_query_executions(WorkGroup=WORKGROUP)["QueryExecutionIds"]
    assert athena.get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]["Status"]["State"] == "CANCELLED"


def test_an_unknown_workgroup_is_store_unavailable(athena: Any) -> None:
    warehouse = AthenaWarehouse(athena, workgroup="missing", clock=FixedClock(), sleep=lambda s: None)
    with pytest.raises(StoreUnavailable, match="Athena"):
        warehouse.rows("SELECT 1")


class _FailingAthena:
    """What moto cannot do: a query that fails (e.g. over the workgroup's scan cutoff)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def start_query_execution(self, **kwargs: Any) -> Any:
        return self._client.start_query_execution(**kwargs)

    def get_query_execution(self, **kwargs: Any) -> Any:
        answer = self._client.get_query_execution(**kwargs)
        answer["QueryExecution"]["Status"] = {"State": "FAILED", "StateChangeReason": "Bytes scanned limit exceeded"}
        return answer


def test_a_failed_query_says_why(athena: Any) -> None:
    warehouse = AthenaWarehouse(_FailingAthena(athena), workgroup=WORKGROUP, clock=FixedClock(), sleep=lambda s: None)
    with pytest.raises(StoreUnavailable, match="Bytes scanned limit exceeded") as raised:
        warehouse.rows("SELECT 1")
    assert raised.value.details["state"] == "FAILED"


def test_the_cli_prints_the_sql_and_runs_it(athena: Any, tmp_path: Any) -> None:
    rule_file = tmp_path / "rule.json"
    rule_file.write_text('{"tag": {"name": "vip"}}', encoding="utf-8")
    out = io.StringIO()
    assert athena_sql.main([str(rule_file), "--now", "2026-11-23T05:30:00Z"], out=out) == 0
    assert out.getvalue().startswith("WITH profile_latest AS")
    _seed(["profile_id"], ["p-amy"])
    out = io.StringIO()
    status = athena_sql.main(
        [str(rule_file), "--now", "2026-11-23T05:30:00Z", "--run", "--workgroup", WORKGROUP, "--region", REGION],
        out=out,
        session=boto3.Session(region_name=REGION),
    )
    assert (status, out.getvalue()) == (0, "p-amy\n")
    out = io.StringIO()
    assert athena_sql.main(['{"tag": {}}'], out=out) == 2
    assert '"error": "invalid_segment_rule"' in out.getvalue()
