"""Archive snapshot benchmark (part of `make bench`): today's `open_archive` against the snapshot
path (cdp.archive.snapshot) on the same generated archive (tests/bench/segments_batch.py,
default 1,000,000 profiles / 20,000,000 events), side by side.

The generated archive's main files (profiles.parquet, events.parquet) go into the snapshot; its
replayed batch and older / merged-away profile versions (about 1 % of the events and 6 % of the
profiles) are read as the changes since it, so the snapshot path also resolves changes; the
snapshot path is also measured right after a refresh (no changes since).

Each step runs in a fresh process, so its peak RSS is its own:
- `build`: the snapshot built from nothing (the worst case of a refresh);
- `open_archive` / `snapshot`: per request, what the query routes do: open, then
  cdp.archive.queries.preview (count, sample, population) for each rule, `runs` times (median;
  open_archive is opened once and each request counted as that open plus its query);
  a segment recompute's archive part as cdp.segments.batch does it (open, every profile's version,
  each batch rule's selection); the data-health and customer-group reports. The snapshot path is
  given a Lambda's memory (AWS_LAMBDA_FUNCTION_MEMORY_SIZE, default 3008 MB: DuckDB may use 70 %
  and spills the rest); open_archive keeps the batch benchmark's limit (CDP_BENCH_DUCKDB_MEMORY),
  as it cannot run in 3 GB.
Both paths must select the same people for every rule (a large-scale differential check).

Environment: CDP_BENCH_PROFILES / CDP_BENCH_EVENTS (as segments_batch), CDP_BENCH_SNAPSHOT_RUNS [5],
CDP_BENCH_SNAPSHOT_LAMBDA_MB [3008], CDP_BENCH_SNAPSHOT_OPEN_ARCHIVE [1: 0 skips the slow side].

    .venv/bin/python -m tests.bench.snapshot
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.bench.segments_batch import (
    BATCH_RULES,
    NOW,
    ROOT,
    RULES,
    _env_int,
    generate_archive,
    load_average,
    peak_rss_mib,
)

TARGETS = {"preview_median_s": 2.0, "recompute_s": 10.0, "peak_rss_mib": 3 * 1024}
SNAPSHOT_RULES: dict[str, dict[str, Any]] = {
    **RULES,
    # funnel-shaped: added to cart in the last 7 days, no checkout since
    "added_7d_no_checkout": {
        "and": [
            {"event": {"name": "Product Added", "within": {"last": {"days": 7}}}},
            {"not": {"event": {"name": "Checkout Started", "within": {"last": {"days": 7}}}}},
        ]
    },
    # LINE: unblocked in the last 90 days and a friend now
    "unblocked_90d_friend": {
        "and": [
            {
                "event": {
                    "name": "LINE Followed",
                    "within": {"last": {"days": 90}},
                    "where": [{"property": "isUnblocked", "op": "eq", "value": True}],
                }
            },
            {"reachable": {"channel": "line"}},
        ]
    },
}


def _open(mode: str, files: dict[str, Any], now: Any) -> Any:
    from cdp.archive.duck import open_archive
    from cdp.archive.files import ArchiveFiles
    from cdp.archive.snapshot import ArchiveView, SnapshotFiles, open_view

    changes = ArchiveFiles(tuple(map(Path, files["profiles"])), tuple(map(Path, files["events"])))
    if mode == "open_archive":
        from tests.bench.segments_batch import connect

        everything = ArchiveFiles(
            tuple(map(Path, files["base_profiles"])) + changes.profiles,
            tuple(map(Path, files["base_events"])) + changes.events,
        )
        return open_archive(everything, now, connection=connect())
    return open_view(ArchiveView(SnapshotFiles.in_folder(Path(files["snapshot"])), changes, now), now)


def child(mode: str, spec: dict[str, Any]) -> dict[str, Any]:
    """One step in this (fresh) process."""
    from cdp.archive.queries import customer_groups, data_health, preview
    from cdp.archive.snapshot import build_snapshot
    from cdp.segments import parse_rule, to_select

    if mode == "build":
        from cdp.archive.files import ArchiveFiles

        started = time.perf_counter()
        base = ArchiveFiles(tuple(map(Path, spec["base_profiles"])), tuple(map(Path, spec["base_events"])))
        rows = build_snapshot(None, base, Path(spec["snapshot"]), NOW.date())
        seconds = time.perf_counter() - started
        sizes = {p.name: round(p.stat().st_size / 2**20, 1) for p in Path(spec["snapshot"]).glob("*.parquet")}
        return {"build_s": round(seconds, 1), "rows": rows, "file_mib": sizes, "peak_rss_mib": peak_rss_mib()}
    runs = spec["runs"]
    opens, previews, counts, digests = [], {}, {}, {}
    shared = None
    if mode == "open_archive":  # opened once (it takes minutes); each request would pay the open again
        started = time.perf_counter()
        shared = _open(mode, spec, NOW)
        opens.append(time.perf_counter() - started)

    def request() -> tuple[Any, float]:
        if shared is not None:
            return shared, opens[0]
        started = time.perf_counter()
        db = _open(mode, spec, NOW)
        opens.append(time.perf_counter() - started)
        return db, opens[-1]

    def done(db: Any) -> None:
        if shared is None:
            db.close()

    for name, data in SNAPSHOT_RULES.items():
        rule = parse_rule(data)
        totals, queries = [], []
        for _ in range(runs if mode == "snapshot" else 1):
            db, open_s = request()
            started = time.perf_counter()
            result = preview(db, rule, NOW, sample_size=20)
            query_s = time.perf_counter() - started
            done(db)
            totals.append(open_s + query_s)
            queries.append(query_s)
        previews[name] = {
            "median_s": round(statistics.median(totals), 2),
            "query_median_s": round(statistics.median(queries), 2),
            "count": result.count,
        }
    # the recompute's archive part (cdp.segments.batch.SegmentBatch.run)
    db, open_s = request()
    started = time.perf_counter()
    versions = dict(db.execute("SELECT profile_id, version FROM profiles").fetchall())
    for name in (*BATCH_RULES, "added_7d_no_checkout", "unblocked_90d_friend"):
        query, params = to_select(parse_rule(SNAPSHOT_RULES[name]), NOW)
        selected = sorted(row[0] for row in db.execute(query, params).fetchall())
        counts[name] = len(selected)
        digests[name] = hashlib.sha256("\n".join(selected).encode()).hexdigest()[:16]
    recompute_s = open_s + time.perf_counter() - started
    done(db)
    reports = {}
    for name, report in (("data_health", data_health), ("customer_groups", customer_groups)):
        db, open_s = request()
        started = time.perf_counter()
        report(db)
        done(db)
        reports[name] = round(open_s + time.perf_counter() - started, 2)
    return {
        "open_median_s": round(statistics.median(opens), 2),
        "preview": previews,
        "preview_median_s": round(statistics.median(p["median_s"] for p in previews.values()), 2),
        "preview_max_s": max(p["median_s"] for p in previews.values()),
        "recompute_s": round(recompute_s, 2),
        "recompute_rules": len(counts),
        "recompute_profiles": len(versions),
        "reports_s": reports,
        "selected": counts,
        "selected_digest": digests,
        "peak_rss_mib": peak_rss_mib(),
    }


def _run_child(mode: str, spec: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "tests.bench.snapshot", "--child", mode, json.dumps(spec)],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{mode} failed: {out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def run_all(log: Callable[[str], None] = print) -> dict[str, Any]:
    profiles = _env_int("CDP_BENCH_PROFILES", 1_000_000)
    events = _env_int("CDP_BENCH_EVENTS", 20_000_000)
    runs = _env_int("CDP_BENCH_SNAPSHOT_RUNS", 5)
    lambda_mb = _env_int("CDP_BENCH_SNAPSHOT_LAMBDA_MB", 3008)
    log(f"[snapshot] archive of {profiles:,} profiles / {events:,} events ...")
    archive = generate_archive(profiles, events)
    folder = Path(tempfile.mkdtemp(prefix="cdp-bench-snapshot-"))
    spec = {
        "base_profiles": [str(archive.files.profiles[0])],
        "base_events": [str(archive.files.events[0])],
        "profiles": [str(path) for path in archive.files.profiles[1:]],
        "events": [str(path) for path in archive.files.events[1:]],
        "snapshot": str(folder / "snapshot"),
        "runs": runs,
    }
    lambda_env = {"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(lambda_mb), "TMPDIR": str(folder)}
    results: dict[str, Any] = {
        "profiles": profiles,
        "events": events,
        "archive": str(archive.folder.relative_to(ROOT))
        if archive.folder.is_relative_to(ROOT)
        else str(archive.folder),
        "changes_since_rows": {k: v for k, v in archive.rows.items() if k in ("events_replayed", "profiles_older")},
        "lambda_memory_mb": lambda_mb,
        "runs": runs,
        "load_average_before": load_average(),
    }
    try:
        log(f"[snapshot] building the snapshot (DuckDB limited as in a {lambda_mb} MB Lambda) ...")
        results["build"] = _run_child("build", spec, lambda_env)
        log(f"[snapshot] snapshot path: open + preview x{runs} per rule, recompute, reports ...")
        results["snapshot"] = _run_child("snapshot", spec, lambda_env)
        log("[snapshot] snapshot path right after a refresh (no changes since) ...")
        results["snapshot_fresh"] = _run_child("snapshot", {**spec, "profiles": [], "events": []}, lambda_env)
        if _env_int("CDP_BENCH_SNAPSHOT_OPEN_ARCHIVE", 1):
            log("[snapshot] open_archive path: open + preview once per rule, recompute, reports ...")
            results["open_archive"] = _run_child("open_archive", spec, {})
            same = results["open_archive"]["selected_digest"] == results["snapshot"]["selected_digest"]
            results["same_selections"] = same
            if not same:
                raise AssertionError("the snapshot path selected other people than open_archive")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    results["load_average_after"] = load_average()
    snap = results["snapshot"]
    results["targets"] = {
        "preview_median_s": [TARGETS["preview_median_s"], snap["preview_max_s"], snap["preview_max_s"] < 2.0],
        "recompute_s": [TARGETS["recompute_s"], snap["recompute_s"], snap["recompute_s"] < 10.0],
        "peak_rss_mib": [TARGETS["peak_rss_mib"], snap["peak_rss_mib"], snap["peak_rss_mib"] < 3 * 1024],
    }
    return results


def summary(results: dict[str, Any]) -> list[str]:
    snap, build = results["snapshot"], results["build"]
    lines = [
        f"snapshot at {results['profiles']:,} profiles / {results['events']:,} events "
        f"(Lambda memory {results['lambda_memory_mb']} MB):",
        f"  build {build['build_s']} s, peak {build['peak_rss_mib']} MiB, files {build['file_mib']}",
        f"  open {snap['open_median_s']} s; preview median per rule (open + query) "
        + ", ".join(f"{name} {p['median_s']} s" for name, p in snap["preview"].items()),
        f"  recompute (archive part, {snap['recompute_rules']} rules) {snap['recompute_s']} s; "
        f"reports {snap['reports_s']}; peak {snap['peak_rss_mib']} MiB",
    ]
    fresh = results.get("snapshot_fresh")
    if fresh:
        lines.append(
            f"  right after a refresh (no changes since): open {fresh['open_median_s']} s, preview median "
            f"{fresh['preview_median_s']} s (max {fresh['preview_max_s']} s), recompute {fresh['recompute_s']} s, "
            f"reports {fresh['reports_s']}, peak {fresh['peak_rss_mib']} MiB"
        )
    old = results.get("open_archive")
    if old:
        lines.append(
            f"  open_archive: open {old['open_median_s']} s, preview median {old['preview_median_s']} s, "
            f"recompute {old['recompute_s']} s, reports {old['reports_s']}, peak {old['peak_rss_mib']} MiB; "
            f"same selections: {results['same_selections']}"
        )
    for name, (target, value, ok) in results["targets"].items():
        lines.append(f"  target {name} < {target}: {value} -> {'OK' if ok else 'MISSED'}")
    return lines


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(child(sys.argv[2], json.loads(sys.argv[3]))))
        return
    from datetime import UTC, datetime

    from tests.bench.segments_batch import RESULTS

    started = datetime.now(tz=UTC)
    results = run_all()
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"snapshot-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(results, indent=2))
    print("\n".join(summary(results)))
    print(f"written to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
