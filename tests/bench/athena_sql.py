"""The Athena SQL of the bench rules on the generated archive: `python -m tests.bench.athena_sql`.

For each rule of tests/bench/segments_batch.py it compiles the Athena (Trino) query
(cdp.segments.athena), transpiles it back to DuckDB (tests/athena_duckdb.py) and runs it over the
archive's change files typed as the Glue tables declare them. Its selection must equal the native
path's (open_archive + to_select) on the same files. It also estimates what Athena would bill:
the compressed bytes of the Parquet columns that the query names (Athena reads whole columns; the
change history cannot be pruned by `dt`), at US$5 per TB and at least 10 MB a query.

The DuckDB timings measure DuckDB, not Athena. Nothing runs on Athena.

Environment: CDP_BENCH_PROFILES [100000]  CDP_BENCH_EVENTS [2000000]  (1,000,000 / 20,000,000
generates or reads the large archive: run it under `flock /work/wt/heavy.lock`).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import duckdb
import sqlglot
from cdp.archive.duck import open_archive
from cdp.archive.rows import EVENT_COLUMNS, PROFILE_COLUMNS
from cdp.segments import parse_rule, to_select
from cdp.segments.athena import to_athena
from sqlglot import exp

from tests.athena_duckdb import DATABASE, glue_tables, to_duckdb
from tests.bench.segments_batch import NOW, RESULTS, RULES, generate_archive

PRICE_PER_TB = 5.0
MINIMUM_BYTES = 10 * 10**6


def column_bytes(paths: tuple[Path, ...]) -> dict[str, int]:
    """Compressed bytes per top-level column over the files."""
    listed = ", ".join(f"'{path}'" for path in paths)
    db = duckdb.connect()
    try:
        rows = db.execute(
            "SELECT split_part(path_in_schema, ', ', 1), sum(total_compressed_size) "
            f"FROM parquet_metadata([{listed}]) GROUP BY 1"
        ).fetchall()
    finally:
        db.close()
    return {name: int(size) for name, size in rows}


def scanned_bytes(sql: str, profiles: dict[str, int], events: dict[str, int]) -> int:
    """The bytes of the columns the query names, per table it reads."""
    tree = sqlglot.parse_one(sql, read="trino")
    names = {column.name for column in tree.find_all(exp.Column)}
    names |= {"profile_id", "seq", "op", "merged_into"}  # the dedupe reads these always
    tables = {table.name for table in tree.find_all(exp.Table)}
    total = 0
    if "profiles_changes" in tables:
        total += sum(size for name, size in profiles.items() if name in names and name in PROFILE_COLUMNS)
    if "events_changes" in tables:
        event_names = names | {"event_id"}
        total += sum(size for name, size in events.items() if name in event_names and name in EVENT_COLUMNS)
    return total


def run(profiles: int, events: int, log: Any = print) -> dict[str, Any]:
    archive = generate_archive(profiles, events)
    started = time.perf_counter()
    native = open_archive(archive.files, NOW)
    open_s = time.perf_counter() - started
    expected: dict[str, set[str]] = {}
    for name, rule in RULES.items():
        sql, params = to_select(parse_rule(rule), NOW)
        expected[name] = {row[0] for row in native.execute(sql, params).fetchall()}
    native.close()  # one archive in memory at a time
    glue = duckdb.connect()
    glue_tables(glue, archive.files.profiles, archive.files.events, view=True)
    profile_sizes, event_sizes = column_bytes(archive.files.profiles), column_bytes(archive.files.events)
    results: dict[str, Any] = {"profiles": profiles, "events": events, "open_archive_s": round(open_s, 1), "rules": {}}
    for name, rule in RULES.items():
        query = to_athena(parse_rule(rule), NOW, database=DATABASE)
        started = time.perf_counter()
        selected = {row[0] for row in glue.execute(to_duckdb(query.sql)).fetchall()}
        seconds = time.perf_counter() - started
        scanned = scanned_bytes(query.sql, profile_sizes, event_sizes)
        results["rules"][name] = {
            "selected": len(selected),
            "equal_to_native": selected == expected[name],
            "duckdb_s": round(seconds, 1),
            "query_bytes": len(query.sql.encode()),
            "scanned_mb": round(scanned / 10**6, 1),
            "usd_per_run": round(max(scanned, MINIMUM_BYTES) / 10**12 * PRICE_PER_TB, 6),
        }
        log(f"{name}: {results['rules'][name]}")
        if selected != expected[name]:
            raise AssertionError(
                f"{name}: the Athena SQL selects {len(selected)}, the native path {len(expected[name])}"
            )
    glue.close()
    return results


def main() -> None:
    profiles = int(os.environ.get("CDP_BENCH_PROFILES", "100000"))
    events = int(os.environ.get("CDP_BENCH_EVENTS", "2000000"))
    results = run(profiles, events)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"athena-sql-p{profiles}.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
