"""The analytics benchmarks (tests/bench/analytics.py) at a tiny scale, so they do not rot: every
report runs on the generated archive and finds the generator's shopping trips and LINE events."""

from __future__ import annotations

from pathlib import Path

from tests.bench import analytics as bench


def quiet(_: str) -> None:
    pass


def test_every_report_runs_on_the_generated_archive(tmp_path: Path) -> None:
    result = bench.run(1000, 20_000, runs=1, root=tmp_path, log=quiet)
    reports = result["open_archive"]["reports"]
    assert set(reports) == set(bench.cases())
    assert reports["funnel_90d_default_steps_7d"]["answer_digest"]["entered"] > 0
    assert reports["friends_365d"]["answer_digest"]["new_friends"] > 0
    assert reports["friends_365d"]["answer_digest"]["blocks"] > 0
    assert reports["retention_365d_monthly_12"]["answer_digest"]["cohorts"] > 0
    assert all(figures["median_s"] >= 0 for figures in reports.values())
    assert "\n".join(bench.summary(result)).count("open_archive") == len(bench.cases())
    snapshot = result["snapshot"]
    if isinstance(snapshot, dict):  # the snapshot reader is in the tree: same answers as open_archive
        assert all(figures["same_answer_as_open_archive"] for figures in snapshot["reports"].values())
