"""DuckDB over the Parquet archive: write archive files, and open them as the tables the segment
SQL compiler (cdp.segments.sql) reads: `profiles`, `events` and `segment_members`.

`open_archive` keeps, per profile and per timeline entry, the newest change (highest `seq`) and
drops removed items and merged-away profiles, then completes each profile's computed traits at
`now`: the 30/90/365-day order windows are summed from the daily buckets exactly as
cdp.profiles.computed.window_figures does, so SQL and the real-time evaluator see the same values.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import orjson

from cdp.archive.files import ArchiveFiles
from cdp.archive.rows import EVENT_COLUMNS, PROFILE_COLUMNS, REMOVE
from cdp.profiles.computed import MONEY_DIGITS, WINDOWS_DAYS


@dataclass(frozen=True, slots=True)
class UnwritableRow:
    """A row the archive cannot hold (e.g. an integer past 64 bits in its traits), and why."""

    row: Mapping[str, Any]
    reason: str


def write_parquet(
    rows: Sequence[Mapping[str, Any]],
    columns: Mapping[str, str],
    path: Path,
    *,
    unwritable: list[UnwritableRow] | None = None,
) -> int:
    """Write rows (missing keys are NULL) as one zstd Parquet file; the number of rows written.

    With `unwritable`, a row that cannot be encoded is set aside there and the others are
    written (one poison record must not hold back its batch); without it, it raises.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with tempfile.NamedTemporaryFile("wb", suffix=".ndjson", delete=False) as staging:
        for row in rows:
            try:
                line = orjson.dumps({name: row.get(name) for name in columns})
            except orjson.JSONEncodeError as exc:
                if unwritable is None:
                    raise
                unwritable.append(UnwritableRow(row, str(exc)))
                continue
            staging.write(line)
            staging.write(b"\n")
            written += 1
    try:
        connection = duckdb.connect()
        try:
            spec = _struct_literal(columns)
            temporary = path.with_suffix(".tmp")
            connection.execute(
                f"COPY (SELECT * FROM read_json('{_quoted(staging.name)}', format = 'newline_delimited', "  # noqa: S608
                f"columns = {spec})) TO '{_quoted(str(temporary))}' (FORMAT parquet, COMPRESSION zstd)"
            )
            os.replace(temporary, path)  # readers never see half a file
        finally:
            connection.close()
    finally:
        os.unlink(staging.name)
    return written


def connect() -> duckdb.DuckDBPyConnection:
    """A DuckDB connection that stays inside a Lambda function's memory: at most 70% of it, the
    rest of a large sort or window spilled to /tmp (outside Lambda, DuckDB's own defaults)."""
    db = duckdb.connect()
    lambda_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "")
    if lambda_mb.isdigit():
        spill = Path(tempfile.gettempdir()) / "duckdb-spill"
        spill.mkdir(parents=True, exist_ok=True)
        db.execute(f"SET memory_limit = '{int(int(lambda_mb) * 0.7)}MB'")
        db.execute(f"SET temp_directory = '{_quoted(str(spill))}'")
    return db


def open_archive(
    files: ArchiveFiles,
    now: datetime,
    *,
    memberships: Iterable[tuple[str, str]] = (),
    connection: duckdb.DuckDBPyConnection | None = None,
) -> duckdb.DuckDBPyConnection:
    """A connection with the tables `profiles`, `events` and `segment_members` as of `now`."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    db = connection or connect()
    _load_changes(db, "profile_changes", files.profiles, PROFILE_COLUMNS)
    _load_changes(db, "event_changes", files.events, EVENT_COLUMNS)
    db.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE live_profiles AS
        SELECT * EXCLUDE (rank) FROM (
            SELECT *, row_number() OVER (PARTITION BY profile_id ORDER BY seq DESC) AS rank FROM profile_changes
        ) WHERE rank = 1 AND op <> '{REMOVE}' AND merged_into IS NULL
        """  # noqa: S608 (constants only)
    )
    db.execute(f"CREATE OR REPLACE TEMP TABLE profiles AS SELECT {_profile_select(now)} FROM live_profiles")  # noqa: S608
    db.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE events AS
        SELECT event_id, profile_id, type, name, ts, channel, properties FROM (
            SELECT *, row_number() OVER (PARTITION BY event_id ORDER BY seq DESC) AS rank FROM (
                SELECT * EXCLUDE (rank) FROM (
                    SELECT *, row_number() OVER (PARTITION BY profile_id, event_id ORDER BY seq DESC) AS rank
                    FROM event_changes
                ) WHERE rank = 1 AND op <> '{REMOVE}'
            )
        ) WHERE rank = 1
        """  # noqa: S608 (constants only)
    )
    db.execute("CREATE OR REPLACE TEMP TABLE segment_members (segment_id VARCHAR, profile_id VARCHAR)")
    pairs = list(memberships)
    if pairs:
        db.executemany("INSERT INTO segment_members VALUES (?, ?)", pairs)
    return db


def _load_changes(db: duckdb.DuckDBPyConnection, table: str, paths: Sequence[Path], columns: Mapping[str, str]) -> None:
    schema = ", ".join(f'"{name}" {kind}' for name, kind in columns.items())
    db.execute(f"CREATE OR REPLACE TEMP TABLE {table} ({schema})")
    if paths:
        listed = ", ".join(f"'{_quoted(str(path))}'" for path in paths)
        names = ", ".join(f'"{name}"' for name in columns)
        db.execute(f"INSERT INTO {table} SELECT {names} FROM read_parquet([{listed}], union_by_name = true)")  # noqa: S608


def _profile_select(now: datetime) -> str:
    """Columns of `profiles`: the archived facts plus the order windows at `now` (whole UTC days
    ending with the day of `now`, as cdp.profiles.computed.window_figures)."""
    evaluated_at = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return (
        "profile_id, version, traits, consent, tags, line_status, identifier_types, "
        f"{completed_computed(now.astimezone(UTC).date(), evaluated_at)} AS computed"
    )


def completed_computed(today: date, evaluated_at: str) -> str:
    """The SQL of `computed` with its order windows for the whole UTC days ending with `today`
    (over the columns computed, daily, all_time_orders and ltv of an archive profile row)."""
    orders, revenue = [], []
    for days in WINDOWS_DAYS:
        first = (today - timedelta(days=days - 1)).isoformat()
        inside = f"list_filter(daily, lambda d: d.day >= '{first}' AND d.day <= '{today.isoformat()}')"
        orders.append(f"'{days}d', COALESCE(list_sum(list_transform({inside}, lambda d: d.orders)), 0)")
        revenue.append(
            f"'{days}d', round(COALESCE(list_sum(list_transform({inside}, lambda d: d.revenue)), 0.0), {MONEY_DIGITS})"
        )
    windows = (
        f"json_object('evaluated_at', '{evaluated_at}', "
        f"'orders', json_object('all_time', all_time_orders, {', '.join(orders)}), "
        f"'revenue', json_object('all_time', ltv, {', '.join(revenue)}))"
    )
    return f"json_merge_patch(computed, {windows})"


def _struct_literal(columns: Mapping[str, str]) -> str:
    return "{" + ", ".join(f"'{name}': '{kind}'" for name, kind in columns.items()) + "}"


def _quoted(text: str) -> str:
    return text.replace("'", "''")
