"""The operations kit in the template: each alarm (with its runbook section), the dashboard, and
the processor's dead-letter archiver (its trigger and its grants)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from cdp import observability
from cdp.adapters.dead_letters import PK_PREFIX

from infra.cdp_infra import constants
from infra.cdp_infra.retention import RETENTION_ID
from infra.cdp_infra.routes import (
    ARCHIVE_WRITER,
    DLQ_ARCHIVER,
    EVENT_PROCESSOR,
    INGEST,
    LINE_WEBHOOK,
    SEGMENT_RECOMPUTE,
)

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra")]

RUNBOOK = Path(__file__).resolve().parents[2] / "docs" / "runbook.md"


def _resources(template: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {key: value for key, value in template["Resources"].items() if value["Type"] == type_}


def _output_ref(template: dict[str, Any], output_id: str) -> str:
    return str(template["Outputs"][output_id]["Value"]["Ref"])


def _function_id(template: dict[str, Any], name: str) -> str:
    return _output_ref(template, f"{name.title().replace('_', '')}FunctionName")


def _alarm(template: dict[str, Any], construct_id: str) -> dict[str, Any]:
    """The alarm `Monitoring/<construct_id>` (logical ids carry a hash suffix)."""
    found = [
        value["Properties"]
        for key, value in _resources(template, "AWS::CloudWatch::Alarm").items()
        if re.fullmatch(f"{constants.MONITORING_ID}{construct_id}[0-9A-F]{{8}}", key)
    ]
    assert len(found) == 1, f"{construct_id}: {len(found)} alarms"
    return found[0]


def _metrics(alarm: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Metric-math alarms: id -> MetricStat.Metric of each input."""
    return {query["Id"]: query["MetricStat"]["Metric"] for query in alarm["Metrics"] if "MetricStat" in query}


def _expression(alarm: dict[str, Any]) -> str:
    (expression,) = [query["Expression"] for query in alarm["Metrics"] if "Expression" in query]
    return str(expression)


def _runbook_sections() -> set[str]:
    return {line.removeprefix("## ").strip() for line in RUNBOOK.read_text().splitlines() if line.startswith("## ")}


def test_every_alarm_names_its_runbook_section_and_the_section_exists(synth: Any) -> None:
    sections = _runbook_sections()
    alarms = [
        a["Properties"]
        for a in _resources(synth.flattened(constants.OPERATIONS_ID, RETENTION_ID), "AWS::CloudWatch::Alarm").values()
    ]
    assert alarms
    for alarm in alarms:
        match = re.search(r"Runbook: docs/runbook\.md#([a-z0-9-]+)$", alarm["AlarmDescription"])
        assert match, alarm["AlarmDescription"]
        assert match[1] in sections, f"docs/runbook.md has no section {match[1]}"
        assert alarm["AlarmActions"] == [
            {"Ref": _output_ref(synth.flattened(constants.OPERATIONS_ID, RETENTION_ID), "AlarmTopicArn")}
        ]
        assert alarm["TreatMissingData"] == "notBreaching"


def test_dead_letters_alarm_counts_archived_batches_and_waiting_messages(synth: Any) -> None:
    t = synth.flattened(constants.OPERATIONS_ID, RETENTION_ID)
    alarm = _alarm(t, "DeadLetters")
    metrics = _metrics(alarm)
    assert _expression(alarm) == "archived + waiting"
    assert metrics["archived"]["MetricName"] == "Invocations"
    assert metrics["archived"]["Dimensions"] == [
        {"Name": "FunctionName", "Value": {"Ref": _function_id(t, DLQ_ARCHIVER)}}
    ]
    assert metrics["waiting"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert metrics["waiting"]["Dimensions"][0]["Value"] == {
        "Fn::GetAtt": [_output_ref(t, "DeadLetterQueueUrl"), "QueueName"]
    }
    assert alarm["Threshold"] == 0 and alarm["ComparisonOperator"] == "GreaterThanThreshold"


@pytest.mark.parametrize(
    ("construct_id", "output"), [("Merge", "MergeStateMachineArn"), ("Unmerge", "UnmergeStateMachineArn")]
)
def test_failed_merge_executions_alarm(synth: Any, construct_id: str, output: str) -> None:
    alarm = _alarm(synth.flattened(constants.OPERATIONS_ID, RETENTION_ID), f"{construct_id}ExecutionsFailed")
    metrics = _metrics(alarm)
    assert _expression(alarm) == "failed + timedOut + aborted"
    assert {m["MetricName"] for m in metrics.values()} == {
        "ExecutionsFailed",
        "ExecutionsTimedOut",
        "ExecutionsAborted",
    }
    for metric in metrics.values():
        assert metric["Namespace"] == "AWS/States"
        assert metric["Dimensions"] == [
            {
                "Name": "StateMachineArn",
                "Value": {"Ref": _output_ref(synth.flattened(constants.OPERATIONS_ID, RETENTION_ID), output)},
            }
        ]
    assert alarm["Threshold"] == 0


def test_every_function_has_a_throttles_alarm(synth: Any) -> None:
    t = synth.flattened(constants.OPERATIONS_ID, RETENTION_ID)
    functions = {
        alarm["Properties"]["Dimensions"][0]["Value"]["Ref"]
        for alarm in _resources(t, "AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("MetricName") == "Throttles"
    }
    lambda_functions = set(_resources(t, "AWS::Lambda::Function"))
    # Every function of the product (the factory's), none forgotten.
    product = {
        _function_id(t, name)
        for name in (EVENT_PROCESSOR, DLQ_ARCHIVER, ARCHIVE_WRITER, INGEST, LINE_WEBHOOK, SEGMENT_RECOMPUTE)
    }
    assert product <= functions <= lambda_functions
    assert _alarm(t, f"{INGEST}Throttles")["Threshold"] == 0


def test_archive_writer_lag_alarm(synth: Any) -> None:
    t = synth.flattened(constants.OPERATIONS_ID, RETENTION_ID)
    alarm = _alarm(t, "ArchiveWriterIteratorAge")
    assert alarm["MetricName"] == "IteratorAge" and alarm["Statistic"] == "Maximum"
    assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": _function_id(t, ARCHIVE_WRITER)}}]
    assert alarm["Threshold"] == constants.ARCHIVE_ITERATOR_AGE_ALARM_MS


def test_failed_schedules_alarms_watch_every_schedule_group(synth: Any) -> None:
    t = synth.flattened(constants.OPERATIONS_ID, RETENTION_ID)
    groups = {group["Properties"]["Name"] for group in _resources(t, "AWS::Scheduler::ScheduleGroup").values()}
    assert len(groups) == 4  # the segments' schedules, the daily jobs, held-message releases, journey cohorts
    watched = set()
    for alarm_id in ("ScheduleFailures", "ScheduleFailures1", "ScheduleFailures2", "ScheduleFailures3"):
        alarm = _alarm(t, alarm_id)
        metrics = _metrics(alarm)
        assert _expression(alarm) == "targetErrors + dropped"
        assert {m["MetricName"] for m in metrics.values()} == {"TargetErrorCount", "InvocationDroppedCount"}
        (dimensions,) = {json.dumps(m["Dimensions"], sort_keys=True) for m in metrics.values()}
        assert all(m["Namespace"] == "AWS/Scheduler" for m in metrics.values())
        (dimension,) = json.loads(dimensions)
        assert dimension["Name"] == "ScheduleGroup"
        watched.add(json.dumps(dimension["Value"], sort_keys=True))
    assert watched == {json.dumps(name, sort_keys=True) for name in groups}


def test_failed_audience_syncs_alarm_reads_the_metric_the_recompute_writes(synth: Any) -> None:
    alarm = _alarm(synth.flattened(constants.OPERATIONS_ID, RETENTION_ID), "AudienceSyncFailed")
    assert alarm["Namespace"] == observability.METRICS_NAMESPACE == constants.METRICS_NAMESPACE
    assert alarm["MetricName"] == observability.AUDIENCE_SYNC_FAILED
    assert alarm["Dimensions"] == [{"Name": "service", "Value": constants.SERVICE_NAME}]
    assert alarm["Statistic"] == "Sum" and alarm["Threshold"] == 0


def _dashboard(template: dict[str, Any]) -> dict[str, Any]:
    (dashboard,) = _resources(template, "AWS::CloudWatch::Dashboard").values()
    body = dashboard["Properties"]["DashboardBody"]
    # The body is a Fn::Join of text and references; resolve references to their logical ids.
    parts = body["Fn::Join"][1] if isinstance(body, dict) else [body]
    text = "".join(
        part
        if isinstance(part, str)
        else f"REF:{part['Ref']}"
        if "Ref" in part
        else f"ATT:{part['Fn::GetAtt'][0]}"
        if "Fn::GetAtt" in part
        else f"OTHER:{json.dumps(part)}"
        for part in parts
    )
    return json.loads(text)


def _widget(dashboard: dict[str, Any], title: str) -> dict[str, Any]:
    (widget,) = [w for w in dashboard["widgets"] if w["properties"].get("title") == title]
    return widget["properties"]


def _metric_names(widget: dict[str, Any]) -> list[str]:
    return [metric[1] for metric in widget.get("metrics", [])]


def test_dashboard_shows_ingest_rejections_lag_merges_segments_and_errors(synth: Any) -> None:
    t = synth.flattened(constants.OPERATIONS_ID, RETENTION_ID)
    dashboard = _dashboard(t)
    titles = [w["properties"].get("title") for w in dashboard["widgets"]]
    assert titles == [
        "Ingest rate (requests)",
        "Rejections",
        "Processor lag (iterator age, ms)",
        "Merges (Step Functions executions)",
        "Segment changes (people)",
        "Schedules and LINE audience syncs",
        "Errors per function",
        "Throttles per function",
        "Dead letters",
        "Alarms",
    ]
    ingest = _widget(dashboard, "Ingest rate (requests)")
    assert _metric_names(ingest) == ["Count", "Invocations", "Invocations"]
    rejections = _widget(dashboard, "Rejections")
    assert rejections["metrics"][0][:4] == [
        constants.METRICS_NAMESPACE,
        observability.INGEST_REJECTED,
        "service",
        constants.SERVICE_NAME,
    ]
    lag = _widget(dashboard, "Processor lag (iterator age, ms)")
    assert _metric_names(lag) == ["IteratorAge", "IteratorAge"]
    assert {m[3] for m in lag["metrics"]} == {
        f"REF:{_function_id(t, EVENT_PROCESSOR)}",
        f"REF:{_function_id(t, ARCHIVE_WRITER)}",
    }
    merges = _widget(dashboard, "Merges (Step Functions executions)")
    assert set(_metric_names(merges)) == {
        "ExecutionsStarted",
        "ExecutionsSucceeded",
        "ExecutionsFailed",
        "ExecutionsTimedOut",
    }
    segments = _widget(dashboard, "Segment changes (people)")
    assert _metric_names(segments) == [observability.SEGMENT_ENTERED, observability.SEGMENT_EXITED]
    functions = len(_resources(t, "AWS::Lambda::Function"))
    assert _metric_names(_widget(dashboard, "Errors per function")) == ["Errors"] * functions
    assert _metric_names(_widget(dashboard, "Throttles per function")) == ["Throttles"] * functions
    alarms = _widget(dashboard, "Alarms")
    assert len(alarms["alarms"]) == len(_resources(t, "AWS::CloudWatch::Alarm"))


def test_dead_letter_archiver_reads_the_processor_queue_and_the_raw_stream_only(synth: Any) -> None:
    t = synth.flattened(constants.OPERATIONS_ID, RETENTION_ID)
    archiver = _function_id(t, DLQ_ARCHIVER)
    queue = _output_ref(t, "DeadLetterQueueUrl")
    (mapping,) = [
        m["Properties"]
        for m in _resources(t, "AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["FunctionName"] == {"Ref": archiver}
    ]
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": [queue, "Arn"]}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    queue_props = t["Resources"][queue]["Properties"]
    timeout = t["Resources"][archiver]["Properties"]["Timeout"]
    assert queue_props["VisibilityTimeout"] >= timeout  # SQS event sources require it

    role = t["Resources"][archiver]["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = [
        statement
        for policy in _resources(t, "AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    by_action: dict[str, list[dict[str, Any]]] = {}
    for statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        for action in actions:
            by_action.setdefault(action, []).append(statement)
    dynamodb = {action for action in by_action if action.startswith("dynamodb:")}
    assert dynamodb == {
        "dynamodb:DescribeStream",
        "dynamodb:GetShardIterator",
        "dynamodb:GetRecords",
        "dynamodb:BatchWriteItem",
    }
    raw_table = _output_ref(t, "RawEventsTableName")
    assert by_action["dynamodb:GetRecords"][0]["Resource"] == {"Fn::GetAtt": [raw_table, "StreamArn"]}
    (write,) = by_action["dynamodb:BatchWriteItem"]
    assert write["Resource"] == {"Fn::GetAtt": [_output_ref(t, "CoreTableName"), "Arn"]}
    assert write["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{PK_PREFIX}*"]}}
