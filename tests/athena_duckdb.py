"""DuckDB standing in for Athena, for the tests and the bench of cdp.segments.athena.

The archive's change files are exposed as the Glue tables declare them (infra/cdp_infra/archive.py
`hive_type`: JSON as string, `ts` a zone-less UTC timestamp, lists and the `daily` structs as
arrays), in a schema named like the Glue database, and the Trino SQL is transpiled by sqlglot.
The one rewrite: Trino's `reduce(array, initial, step, finish)` has a fourth argument DuckDB's
`list_reduce` lacks; the emitter's is always the identity, which is dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb
import sqlglot
from cdp.archive.rows import EVENT_COLUMNS, PROFILE_COLUMNS
from sqlglot import exp

from infra.cdp_infra.archive import hive_type

DATABASE = "cdp_archive"
# DuckDB's reading of the Glue (Hive) types the tables declare
DUCK_TYPES = {
    "string": "VARCHAR",
    "bigint": "BIGINT",
    "double": "DOUBLE",
    "timestamp": "TIMESTAMP",
    "array<string>": "VARCHAR[]",
    "array<struct<day:string,orders:bigint,revenue:double>>": "STRUCT(day VARCHAR, orders BIGINT, revenue DOUBLE)[]",
}


def to_duckdb(trino_sql: str) -> str:
    tree = sqlglot.parse_one(trino_sql, read="trino")
    for reduce in tree.find_all(exp.Reduce):
        finish = reduce.args.get("finish")
        assert finish is not None and finish.sql("trino") == "s -> s", "only the identity finish is dropped"
        reduce.set("finish", None)
    return tree.sql("duckdb")


def glue_tables(
    db: duckdb.DuckDBPyConnection, profiles: Sequence[Path], events: Sequence[Path], *, view: bool = False
) -> None:
    """`cdp_archive.profiles_changes` and `cdp_archive.events_changes` over the files, typed as
    Athena reads them (as views: read per query, like Athena; else loaded once)."""
    db.execute(f"CREATE SCHEMA IF NOT EXISTS {DATABASE}")
    for table, paths, columns in (
        ("profiles_changes", profiles, PROFILE_COLUMNS),
        ("events_changes", events, EVENT_COLUMNS),
    ):
        typed = []
        for name, kind in columns.items():
            # Parquet's UTC instants read as zone-less timestamps (Athena's Hive `timestamp`)
            source = f"timezone('UTC', {name})" if kind == "TIMESTAMPTZ" else name
            typed.append(f"CAST({source} AS {DUCK_TYPES[hive_type(kind)]}) AS {name}")
        listed = ", ".join(f"'{path}'" for path in paths)
        kind_of = "VIEW" if view else "TABLE"
        db.execute(
            f"CREATE OR REPLACE {kind_of} {DATABASE}.{table} AS SELECT {', '.join(typed)} "
            f"FROM read_parquet([{listed}], union_by_name = true)"
        )


class DuckDbWarehouse:
    """The SqlWarehouse port over DuckDB: the Trino SQL transpiled, its rows as text like Athena's."""

    def __init__(self, db: duckdb.DuckDBPyConnection) -> None:
        self.db = db

    def rows(self, sql: str) -> list[tuple[str | None, ...]]:
        return [
            tuple(None if cell is None else str(cell) for cell in row)
            for row in self.db.execute(to_duckdb(sql)).fetchall()
        ]
