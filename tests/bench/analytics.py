"""Analytics report benchmarks (part of `make bench`): each report of cdp.analytics on the
generated archive (tests/bench/segments_batch.py, generator version 2: shopping trips and LINE
follow / block / unblock events), default 1,000,000 profiles / 20,000,000 events.

Two ways to read the same archive:
1. `open_archive`: the tables materialized once in memory (the load is timed apart, it is paid
   once per connection), then every report runs on them;
2. `snapshot` (when cdp.archive.snapshot is in the tree): the snapshot is built once from the
   same change files (cached beside the archive), then `open_view` gives views over its Parquet
   and every report reads only the columns and row groups it needs: the serving path.

Each report runs CDP_BENCH_ANALYTICS_RUNS times (default 5) after one warm-up; the median is the
figure (target: under 2 s). Peak memory is the process's (DuckDB runs in process). The machine
may be shared (2 CPUs): results carry load averages.

    CDP_BENCH_PROFILES [1000000]  CDP_BENCH_EVENTS [20000000]  CDP_BENCH_ANALYTICS_RUNS [5]
    CDP_BENCH_ANALYTICS_PATHS [open_archive,snapshot]  (snapshot alone: its own peak memory, since
    the peak is the process's and open_archive's load dominates it)
    .venv/bin/python -m tests.bench.analytics        (these benchmarks alone; results/analytics-<time>.json)
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
from cdp.analytics import (
    ReportRange,
    distribution,
    friends,
    funnel,
    messaging,
    overview,
    retention,
    trend,
)
from cdp.archive.duck import open_archive

from tests.bench.segments_batch import (
    NOW,
    RESULTS,
    _env_int,
    connect,
    generate_archive,
    load_average,
    peak_rss_mib,
)

TARGET_SECONDS = 2.0
TZ = "Asia/Taipei"
# US$ list prices (ap-northeast-1, arm64) and the query function's memory (cdk.json archiveJobMemoryMb)
LAMBDA_GB_SECOND = 0.0000133334
LAMBDA_REQUEST = 0.20 / 1_000_000
QUERY_MEMORY_MB = 3008

Report = Callable[[duckdb.DuckDBPyConnection], Any]


def _span(first: str, last: str) -> ReportRange:
    return ReportRange(date.fromisoformat(first), date.fromisoformat(last), TZ)


def cases(now: datetime = NOW) -> dict[str, Report]:
    """The reports as the console asks for them: the last 30 days, a quarter, a year."""
    month = _span("2026-10-24", "2026-11-22")
    quarter = _span("2026-08-25", "2026-11-22")
    year = _span("2025-11-23", "2026-11-22")
    return {
        "overview_30d": lambda db: overview(db, month),
        "trend_30d_day_by_channel": lambda db: trend(db, month),
        "trend_90d_week_by_name_people": lambda db: trend(db, quarter, interval="week", by="name", measure="people"),
        "funnel_30d_default_steps_7d": lambda db: funnel(db, month),
        "funnel_90d_default_steps_7d": lambda db: funnel(db, quarter),
        "retention_90d_weekly_12": lambda db: retention(db, quarter, now, period="week", periods=12),
        "retention_365d_monthly_12": lambda db: retention(db, year, now, period="month", periods=12),
        "distribution_trait_numeric": lambda db: distribution(db, month, field="traits.age"),
        "distribution_trait_categorical": lambda db: distribution(db, month, field="traits.city"),
        "distribution_event_property_90d": lambda db: distribution(
            db, quarter, field="properties.revenue", event="Order Completed"
        ),
        "friends_90d": lambda db: friends(db, quarter),
        "friends_365d": lambda db: friends(db, year),
        "messaging_30d": lambda db: messaging(db, month),
    }


def time_reports(
    db: duckdb.DuckDBPyConnection,
    runs: int,
    log: Callable[[str], None],
    label: str,
    answers: dict[str, Any],
    expected: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Each report's timings; its answer goes into `answers`, and is compared with `expected`'s."""
    results: dict[str, Any] = {}
    for name, report in cases().items():
        report(db)  # warm-up: the first run pays for metadata and caches
        samples = []
        load_before = load_average()
        for _ in range(runs):
            started = time.perf_counter()
            answer = report(db)
            samples.append(time.perf_counter() - started)
        median = statistics.median(samples)
        results[name] = {
            "median_s": round(median, 3),
            "runs_s": [round(s, 3) for s in samples],
            "under_target": median < TARGET_SECONDS,
            "lambda_usd_per_1000_queries": round(
                1000 * (median * QUERY_MEMORY_MB / 1024 * LAMBDA_GB_SECOND + LAMBDA_REQUEST), 5
            ),
            "load_average": [load_before, load_average()],
            "answer_digest": _digest(answer),
        }
        answers[name] = answer
        if expected is not None:
            results[name]["same_answer_as_open_archive"] = answer == expected.get(name)
        log(f"[analytics] {label} {name}: median {median:.3f} s over {runs} runs")
    return results


def _digest(answer: Any) -> dict[str, Any]:
    """A few figures of the answer, so a run shows it computed something."""
    if "kpis" in answer:
        return {k: v["value"] for k, v in answer["kpis"].items()}
    if "groups" in answer:
        return {
            "entered": answer["groups"]["all"]["entered"],
            "ordered": answer["groups"]["all"]["steps"][-1]["people"],
        }
    if "cohorts" in answer:
        return {"cohorts": len(answer["cohorts"]), "repeat_purchase": answer["repeat_purchase"]}
    if "totals" in answer and "days" in answer:
        return answer["totals"]  # type: ignore[no-any-return]
    if "series" in answer:
        return {"series": len(answer["series"]), "total": answer["total"]}
    if "kind" in answer:
        return {"kind": answer["kind"], "count": answer["count"], "missing": answer["missing"]}
    return {"campaigns": len(answer.get("campaigns", [])), "journeys": len(answer.get("journeys", []))}


class _Skipped(Exception):
    """A path left out by CDP_BENCH_ANALYTICS_PATHS."""


def snapshot_reader() -> Any:
    try:
        from cdp.archive import snapshot
    except ImportError:
        return None
    return snapshot


def run(
    profiles: int | None = None,
    events: int | None = None,
    *,
    runs: int | None = None,
    root: Path | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    profiles = profiles or _env_int("CDP_BENCH_PROFILES", 1_000_000)
    events = events if events is not None else _env_int("CDP_BENCH_EVENTS", 20_000_000)
    runs = runs or _env_int("CDP_BENCH_ANALYTICS_RUNS", 5)
    archive = generate_archive(profiles, events, root)
    log(f"[analytics] archive of {profiles:,} profiles / {events:,} events: {archive.folder}")
    result: dict[str, Any] = {
        "profiles": profiles,
        "events": events,
        "now": NOW.isoformat(),
        "tz": TZ,
        "runs": runs,
        "target_s": TARGET_SECONDS,
        "query_memory_mb": QUERY_MEMORY_MB,
        "duckdb": duckdb.__version__,
    }
    paths = os.environ.get("CDP_BENCH_ANALYTICS_PATHS", "open_archive,snapshot").split(",")
    answers: dict[str, Any] = {}
    gc.collect()
    db = connect()
    try:
        if "open_archive" not in paths:
            raise _Skipped
        started = time.perf_counter()
        open_archive(archive.files, NOW, connection=db)
        opened = time.perf_counter() - started
        log(f"[analytics] open_archive {opened:.1f} s")
        result["open_archive"] = {
            "open_s": round(opened, 1),
            "reports": time_reports(db, runs, log, "open_archive", answers),
            "peak_rss_mib": peak_rss_mib(),
        }
    except _Skipped:
        result["open_archive"] = "not measured (CDP_BENCH_ANALYTICS_PATHS)"
    finally:
        db.close()
    gc.collect()
    snapshot = snapshot_reader() if "snapshot" in paths else None
    if snapshot is None:
        result["snapshot"] = "not measured: not asked, or cdp.archive.snapshot is not in this tree"
        return result
    from cdp.archive.files import ArchiveFiles

    folder = archive.folder.parent / f"snapshot-of-{archive.folder.name}"
    files = snapshot.SnapshotFiles.in_folder(folder)
    built_s = None
    if not (folder / "done.json").exists():
        started = time.perf_counter()
        counts = snapshot.build_snapshot(None, archive.files, folder)
        built_s = round(time.perf_counter() - started, 1)
        (folder / "done.json").write_text(json.dumps({"rows": counts, "built_s": built_s}))
    view = snapshot.ArchiveView(files, ArchiveFiles((), ()), NOW)
    db = connect()
    try:
        started = time.perf_counter()
        snapshot.open_view(view, NOW, connection=db)
        opened = time.perf_counter() - started
        result["snapshot"] = {
            "built_s": built_s if built_s is not None else "reused",
            "open_view_s": round(opened, 3),
            "reports": time_reports(db, runs, log, "snapshot", {}, expected=answers or None),
            "peak_rss_mib": peak_rss_mib(),
        }
    finally:
        db.close()
    return result


def summary(results: dict[str, Any]) -> list[str]:
    lines = [f"analytics reports at {results['profiles']:,} profiles / {results['events']:,} events (median s):"]
    paths = [p for p in ("open_archive", "snapshot") if isinstance(results.get(p), dict)]
    for name in cases():
        cells = [f"{p} {results[p]['reports'][name]['median_s']:.3f}" for p in paths]
        lines.append(f"  {name:36s} " + "  ".join(cells))
    return lines


def main() -> None:
    results = run()
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
    out = RESULTS / f"analytics-{stamp}.json"
    out.write_text(json.dumps(results, indent=2, default=str))
    print("\n".join(summary(results)))
    print(f"results: {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
