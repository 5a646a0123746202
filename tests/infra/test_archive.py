"""The archive and scheduled segments in the synthesized template: what is wired, and how narrowly."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cdp import settings
from cdp.archive.rows import EVENT_COLUMNS, PROFILE_COLUMNS

from infra.cdp_infra.archive import hive_type
from infra.cdp_infra.routes import (
    ADMIN_API,
    ADMIN_QUERY,
    ARCHIVE_COMPACTOR,
    ARCHIVE_WRITER,
    RFM_SCORING,
    SEGMENT_RECOMPUTE,
)
from tests.infra.test_stack import _actions, _function, _function_id, _resources, _statements

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra")]


def test_the_writer_reads_only_profile_items_from_the_core_stream(synth: Any) -> None:
    t = synth.template
    writer = _function_id(t, ARCHIVE_WRITER)
    (mapping,) = [
        m
        for m in _resources(t, "AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["FunctionName"]["Ref"] == writer
    ]
    props = mapping["Properties"]
    assert json.loads(props["FilterCriteria"]["Filters"][0]["Pattern"]) == {
        "dynamodb": {"Keys": {"pk": {"S": [{"prefix": "PROFILE#"}]}}}
    }
    assert props["BisectBatchOnFunctionError"] is True and "OnFailure" in props["DestinationConfig"]
    writes = [s for s in _statements(t, ARCHIVE_WRITER) if any(a.startswith("s3:") for a in _actions(s))]
    assert [_actions(s) for s in writes] == [["s3:PutObject"]]
    assert "/archive/*" in json.dumps(writes[0]["Resource"])


def test_glue_tables_follow_the_archive_schema_with_partition_projection(synth: Any) -> None:
    tables = {
        t["Properties"]["TableInput"]["Name"]: t["Properties"]["TableInput"]
        for t in _resources(synth.template, "AWS::Glue::Table").values()
    }
    assert set(tables) == {"profiles_changes", "events_changes"}
    for name, columns in (("profiles_changes", PROFILE_COLUMNS), ("events_changes", EVENT_COLUMNS)):
        table = tables[name]
        declared = [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]]
        assert declared == [(column, hive_type(kind)) for column, kind in columns.items()]
        assert table["PartitionKeys"] == [{"Name": "dt", "Type": "string"}]
        assert table["Parameters"]["projection.enabled"] == "true"
    (workgroup,) = _resources(synth.template, "AWS::Athena::WorkGroup").values()
    config = workgroup["Properties"]["WorkGroupConfiguration"]
    assert config["EnforceWorkGroupConfiguration"] is True
    assert config["ResultConfiguration"]["EncryptionConfiguration"] == {"EncryptionOption": "SSE_S3"}


def test_recompute_and_rfm_have_room_and_the_scheduler_may_only_start_them(synth: Any) -> None:
    t = synth.template
    for name in (SEGMENT_RECOMPUTE, RFM_SCORING, ARCHIVE_COMPACTOR):
        function = _function(t, name)
        # The deploy setting's default (cdk.json): the most a new account allows.
        assert function["MemorySize"] == 3008 and function["Timeout"] == 900
        assert function["EphemeralStorage"] == {"Size": 10240}
    schedules = {s["Properties"]["Name"]: s["Properties"] for s in _resources(t, "AWS::Scheduler::Schedule").values()}
    assert schedules["archive-compaction"]["ScheduleExpression"] == "cron(30 2 * * ? *)"  # before RFM
    assert schedules["archive-compaction"]["Target"]["Input"] == "{}"  # compaction, then the snapshot
    # the query snapshot has its own, hourly schedule on the same function (it already writes under archive/)
    refresh = schedules["archive-snapshot"]
    assert refresh["ScheduleExpression"] == "cron(15 * * * ? *)"
    assert refresh["Target"]["Input"] == '{"task":"snapshot"}'
    assert refresh["Target"]["Arn"] == {"Fn::GetAtt": [_function_id(t, ARCHIVE_COMPACTOR), "Arn"]}
    props = schedules["rfm-daily"]
    assert props["ScheduleExpression"] == "cron(0 3 * * ? *)" and props["ScheduleExpressionTimezone"] == "Asia/Taipei"
    # The daily jobs have their own group: a segment schedule (named after any segment id) never meets them.
    # (The journeys' own daily sweep lives with the journeys' schedules, apart from any segment's.)
    assert {s["GroupName"] for name, s in schedules.items() if name != "retire-superseded-versions"} == {"LineCdp-jobs"}
    assert schedules["retire-superseded-versions"]["GroupName"] == "LineCdp-journeys"
    groups = {g["Properties"]["Name"] for g in _resources(t, "AWS::Scheduler::ScheduleGroup").values()}
    # messages: held-send releases; journeys: scheduled cohorts
    assert groups == {"LineCdp-jobs", "LineCdp-segments", "LineCdp-messages", "LineCdp-journeys"}
    assert props["Target"]["Arn"] == {"Fn::GetAtt": [_function_id(t, RFM_SCORING), "Arn"]}
    roles = [
        r
        for r in _resources(t, "AWS::IAM::Role").values()
        if "scheduler.amazonaws.com" in json.dumps(r["Properties"]["AssumeRolePolicyDocument"])
    ]
    # the segment jobs', the message sender's releases (tests/infra/test_messaging.py), the campaigns'
    # and the journeys' cohorts (tests/infra/test_journey_flow.py)
    assert len(roles) == 4
    policies = [
        p
        for p in _resources(t, "AWS::IAM::Policy").values()
        if p["Properties"]["Roles"][0]["Ref"] in {k for k, v in _resources(t, "AWS::IAM::Role").items() if v in roles}
    ]
    statements = [s for p in policies for s in p["Properties"]["PolicyDocument"]["Statement"]]
    assert {a for s in statements for a in _actions(s)} == {"lambda:InvokeFunction"}


def test_the_admin_api_manages_schedules_in_its_group_only_and_the_query_function_reads_the_archive(
    synth: Any,
) -> None:
    t = synth.template
    statements = _statements(t, ADMIN_API)
    scheduling = [s for s in statements if any(a.startswith("scheduler:") for a in _actions(s))]
    assert len(scheduling) == 1 and "schedule/LineCdp-segments/*" in json.dumps(scheduling[0]["Resource"])
    assert "scheduler:DeleteScheduleGroup" not in _actions(scheduling[0])
    assert settings.ENV_ARCHIVE_BUCKET in _function(t, ADMIN_QUERY)["Environment"]["Variables"]
    variables = _function(t, ADMIN_API)["Environment"]["Variables"]
    for name in (
        settings.ENV_SEGMENT_SCHEDULE_GROUP,
        settings.ENV_SEGMENT_SCHEDULER_ROLE_ARN,
    ):
        assert name in variables
