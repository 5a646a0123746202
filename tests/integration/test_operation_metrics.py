"""The product metrics the alarms and the dashboard read (cdp.observability), written by the
handlers where the outcome is known: failed LINE audience syncs, segment entries and exits."""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from cdp.observability import AUDIENCE_SYNC_FAILED, METRICS_NAMESPACE, SEGMENT_ENTERED, SEGMENT_EXITED, metrics
from cdp.segments.audience_sync import MODE_FAILED, SyncOutcome, sync_recomputed
from cdp.segments.batch import RecomputeReport
from cdp.segments.realtime import EvaluationResult

from infra.local.lambda_runtime import LambdaRuntime


@pytest.fixture
def emitted(capsys: pytest.CaptureFixture[str]) -> Iterator[Any]:
    """Flushes the metrics the code under test added and returns {name: value} of the EMF line."""
    metrics.clear_metrics()

    def flush() -> dict[str, float]:
        metrics.flush_metrics()
        lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
        found: dict[str, float] = {}
        for line in lines:
            (directive,) = line["_aws"]["CloudWatchMetrics"]
            assert directive["Namespace"] == METRICS_NAMESPACE
            for metric in directive["Metrics"]:
                value = line[metric["Name"]]
                found[metric["Name"]] = found.get(metric["Name"], 0) + (
                    sum(value) if isinstance(value, list) else value
                )
        return found

    yield flush
    metrics.clear_metrics()


def report(segment_id: str, *, entered: int = 0, exited: int = 0) -> RecomputeReport:
    return RecomputeReport(segment_id=segment_id, rule_version=1, archive_as_of=None, entered=entered, exited=exited)


def recompute_module() -> ModuleType:
    return LambdaRuntime().module("segment_recompute")


def test_failed_audience_syncs_are_counted_whether_line_failed_or_the_sync_raised(
    monkeypatch: pytest.MonkeyPatch, emitted: Any
) -> None:
    # Given three synced segments: LINE refuses one, one raises, one syncs
    class Syncer:
        def sync(self, segment_id: str, *, rule_version: int) -> SyncOutcome | None:
            if segment_id == "raises":
                raise RuntimeError("the store went away")
            mode = MODE_FAILED if segment_id == "refused" else "add"
            return SyncOutcome(segment_id, mode, "aud-1")

    # When the recompute brings the audiences up to date
    outcomes = sync_recomputed([report("refused"), report("raises"), report("fine")], lambda: Syncer())

    # Then two failures are counted, and the recompute's answer says which
    assert [o["mode"] for o in outcomes] == [MODE_FAILED, "error", "add"]
    assert emitted() == {AUDIENCE_SYNC_FAILED: 2}


def test_a_misconfigured_sync_counts_every_segment_it_could_not_sync(
    monkeypatch: pytest.MonkeyPatch, emitted: Any
) -> None:
    def broken() -> None:
        raise ValueError("LINE channels secret is not JSON")

    assert sync_recomputed([report("a"), report("b")], broken) == []
    assert emitted() == {AUDIENCE_SYNC_FAILED: 2}


def test_segment_changes_are_counted_by_the_real_time_evaluator(monkeypatch: pytest.MonkeyPatch, emitted: Any) -> None:
    module = LambdaRuntime().module("segment_evaluator")
    results = [EvaluationResult("p1", entered=["s1", "s2"], exited=["s3"], exited_elsewhere={"p0": ["s4"]})]
    monkeypatch.setattr(module, "build", lambda: None)
    monkeypatch.setattr(module, "dispatch", lambda evaluator, event: results)

    class Context:
        function_name, memory_limit_in_mb, aws_request_id = "segment_evaluator", 256, "r-1"
        invoked_function_arn = "arn:aws:lambda:ap-northeast-1:123456789012:function:segment_evaluator"

    module.lambda_handler({"detail-type": "profile.updated"}, Context())
    assert emitted() == {SEGMENT_ENTERED: 2, SEGMENT_EXITED: 2}
