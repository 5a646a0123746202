"""The journey starts benchmark runs end to end on a few entries (the numbers come from `make bench`)."""

from __future__ import annotations

import pytest

from tests.bench import journey_starts


def test_the_benchmark_starts_each_entry_once_and_counts_dynamodb_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(journey_starts, "ENTRIES", 60)
    monkeypatch.setattr(journey_starts, "DYNAMODB_ENTRIES", 5)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.setenv(name, "smoke")  # the benchmark sets its own; put back afterwards
    for name in (
        "AWS_ACCOUNT_ID_ENDPOINT_MODE",
        "POWERTOOLS_LOG_LEVEL",
        "POWERTOOLS_TRACE_DISABLED",
        "AWS_ENDPOINT_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    results = journey_starts.run_all()
    for mode in ("unpaced", "paced"):
        assert results[mode]["executions"] == results[mode]["executions_after_redelivery"] == 60
        assert results[mode]["failed"] == results[mode]["failed_on_redelivery"] == 0
    assert results["dynamodb"]["per_start"]["TransactWriteItems"] == 1.0  # the per-key admission
    assert len(journey_starts.summary(results)) == 4
