"""Segment benchmarks (part of `make bench`): batch recompute over the Parquet archive at scale,
preview latency, and real-time evaluation throughput.

1. Batch: a generated archive (default 1,000,000 profiles and 20,000,000 events, in the archive's
   own columns: cdp.archive.rows PROFILE_COLUMNS / EVENT_COLUMNS) is opened with
   `open_archive` (load + newest change wins + order windows at `now`), then each rule's
   `to_select` SQL runs on it. Side by side, a naive full scan in Python reads the same opened
   tables profile by profile (events grouped), builds ProfileFacts / EventFacts and calls
   `evaluate`; its selection must equal the SQL's (a large-scale differential check). It covers
   every profile by default (about 6 minutes at 1M / 20M here); with CDP_BENCH_NAIVE_SAMPLE=N it
   runs on a deterministic sample (hash(profile_id) % N = 0), compared with the SQL selection
   restricted to that sample, and its time is extrapolated linearly, which the results say.
2. Preview: open_archive + one count-and-sample query on 100,000 profiles / 2,000,000 events,
   median of 5 runs per rule.
3. Real time: SegmentEvaluator on the in-memory fakes with 50 active segments; profiles evaluated
   per second for a `profile.updated` naming one trait and for one naming nothing.

The archive is generated with DuckDB SQL (hash-based, deterministic) into
tests/bench/results/cache/<parameters>/ and reused by later runs with the same parameters.
Per-profile order buckets, order counts, revenue and LINE engagement are aggregated from the
generated events, so the profile rows agree with the event rows. Version 2 adds shopping trips
(Product Viewed -> Product Added -> Checkout Started -> Order Completed, minutes apart, one person,
stopping after 1-4 steps) and LINE friendship events agreeing with each profile's line_status
(`LINE Followed`, then block/unblock cycles as `LINE Unfollowed` / `LINE Followed` with
`isUnblocked` true, ending unfollowed for `blocked` profiles). About 1 % of events are
archived twice (a replayed stream batch), 5 % of profiles also have an older version and 0.5 %
extra merged-away profiles exist, so the dedupe in `open_archive` has work to do.

This machine may be shared (2 CPUs): the results carry load averages next to the timings.

Environment (defaults in brackets):
    CDP_BENCH_PROFILES [1000000]  CDP_BENCH_EVENTS [20000000]   batch archive size
    CDP_BENCH_NAIVE_SAMPLE [1 = every profile]  naive scan on 1 in N profiles, extrapolated
    CDP_BENCH_PREVIEW_PROFILES [100000]  CDP_BENCH_PREVIEW_EVENTS [2000000]  CDP_BENCH_PREVIEW_RUNS [5]
    CDP_BENCH_RT_PROFILES [2000]  CDP_BENCH_RT_EVENTS_PER_PROFILE [20]  CDP_BENCH_RT_SEGMENTS [50]
    CDP_BENCH_DUCKDB_MEMORY [12GB]  DuckDB memory limit of the benchmark connections
    CDP_BENCH_CACHE [tests/bench/results/cache]

    .venv/bin/python -m tests.bench.segments_batch      (these benchmarks alone)
"""

from __future__ import annotations

import gc
import json
import math
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import orjson
from cdp.archive.duck import ArchiveFiles, open_archive
from cdp.archive.rows import EVENT_COLUMNS, PROFILE_COLUMNS
from cdp.segments import EventFact, ProfileFacts, evaluate, parse_rule, to_select

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "tests" / "bench" / "results"
NOW = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)
SEED = 20261123
SPAN_DAYS = 400
GENERATOR_VERSION = 2  # bump when the generated data changes shape
TARGET_SECONDS = 60.0
NAIVE_PART_PROFILES = 100_000  # the naive scan reads its profiles in hash partitions of about this size
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

RULES: dict[str, dict[str, Any]] = {
    # event aggregate: spent > 3,000 in 30 days AND clicked a LINE link
    "spent_3000_30d_and_line_click": {
        "and": [
            {
                "event": {
                    "name": "Order Completed",
                    "within": {"last": {"days": 30}},
                    "aggregate": "sum",
                    "property": "revenue",
                    "op": "gt",
                    "value": 3000,
                }
            },
            {
                "event": {
                    "name": "Link Clicked",
                    "where": [{"property": "context.channel", "op": "eq", "value": "line"}],
                }
            },
        ]
    },
    # attribute / computed: bought before, nothing in 30 days, reachable on LINE
    "lapsed_30d_reachable_line": {
        "and": [
            {"attribute": {"field": "computed.orders.all_time", "op": "gte", "value": 1}},
            {"attribute": {"field": "computed.orders.30d", "op": "eq", "value": 0}},
            {"reachable": {"channel": "line"}},
        ]
    },
    # traits, tags and consent, no events
    "taipei_vip_or_asked_email": {
        "and": [
            {"attribute": {"field": "traits.city", "op": "in", "value": ["Taipei", "Hsinchu"]}},
            {"or": [{"tag": {"name": "vip"}}, {"tag": {"group": "asked"}}]},
            {"reachable": {"channel": "email"}},
        ]
    },
}
BATCH_RULES = ("spent_3000_30d_and_line_click", "lapsed_30d_reachable_line")
PREVIEW_RULES = tuple(RULES)
PREVIEW_SAMPLE = 20


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").replace("_", "").replace(",", "")
    return int(value) if value else default


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (DuckDB runs in process), MiB."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def load_average() -> list[float]:
    """1/5/15-minute load averages: this 2-core machine may be shared, so timings carry them."""
    return [round(x, 2) for x in os.getloadavg()]


def connection_settings(db: duckdb.DuckDBPyConnection) -> dict[str, str]:
    names = ("memory_limit", "temp_directory", "threads")
    row = db.execute("SELECT " + ", ".join(f"current_setting('{name}')" for name in names)).fetchone()
    return dict(zip(names, map(str, row), strict=True))


def connect() -> duckdb.DuckDBPyConnection:
    spill = Path(tempfile.gettempdir()) / "cdp-bench-duckdb"  # not `.tmp` in the working directory
    db = duckdb.connect(
        config={"memory_limit": os.environ.get("CDP_BENCH_DUCKDB_MEMORY", "12GB"), "temp_directory": str(spill)}
    )
    db.execute("SET enable_progress_bar = false")
    return db


# generation -----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Archive:
    files: ArchiveFiles
    profiles: int
    events: int
    folder: Path
    generated_s: float | None  # None: reused from the cache
    file_mib: float
    rows: dict[str, int]


def cache_root() -> Path:
    root = Path(os.environ.get("CDP_BENCH_CACHE", RESULTS / "cache"))
    root.mkdir(parents=True, exist_ok=True)
    ignore = root / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n")  # generated data stays out of git
    return root


def generate_archive(profiles: int, events: int, root: Path | None = None) -> Archive:
    """The archive's Parquet files for this many profiles / events, generated once per parameters."""
    root = root or cache_root()
    folder = root / f"archive-p{profiles}-e{events}-s{SEED}-v{GENERATOR_VERSION}-duckdb{duckdb.__version__}"
    names = {
        "events": folder / "events.parquet",
        "events_replayed": folder / "events-replayed.parquet",
        "profiles": folder / "profiles.parquet",
        "profiles_older": folder / "profiles-older.parquet",
    }
    done = folder / "done.json"
    generated_s: float | None = None
    if not done.exists():
        folder.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        rows = _generate(profiles, events, names)
        generated_s = round(time.perf_counter() - started, 1)
        done.write_text(json.dumps({"rows": rows, "generated_s": generated_s}))
    rows = json.loads(done.read_text())["rows"]
    files = ArchiveFiles(
        profiles=(names["profiles"], names["profiles_older"]),
        events=(names["events"], names["events_replayed"]),
    )
    size = sum(path.stat().st_size for path in names.values()) / 2**20
    return Archive(files, profiles, events, folder, generated_s, round(size, 1), rows)


def _q(path: Path) -> str:
    return str(path).replace("'", "''")


def _generate(profiles: int, events: int, names: dict[str, Path]) -> dict[str, int]:
    db = connect()
    try:
        db.execute("SET TimeZone = 'UTC'")
        db.execute("SET preserve_insertion_order = false")
        now = NOW.strftime("%Y-%m-%d %H:%M:%S+00")
        span = SPAN_DAYS * 86400
        s = SEED
        # LINE friendship per profile, agreeing with the profile's line_status (same hash as
        # _generate_profiles): a first follow, 0-2 block/unblock cycles, and a final block for
        # `blocked`; none for `never_followed`. Ages shrink step by step, so the order is plausible.
        db.execute(
            f"""
            CREATE TEMP TABLE follows AS
            WITH who AS (
                SELECT pn, hash(pn, {s}, 11) % 20 AS st, CAST(CASE WHEN hash(pn, {s}, 40) % 20 < 14 THEN 0 WHEN hash(pn, {s}, 40) % 20 < 19 THEN 1 ELSE 2 END AS BIGINT)
                    AS cycles,
                    3600 + CAST(hash(pn, {s}, 41) % {span - 3600} AS BIGINT) AS first_age
                FROM range({profiles}) t(pn)
            ), counted AS (
                SELECT *, 1 + 2 * cycles + CASE WHEN st >= 11 THEN 1 ELSE 0 END AS steps FROM who WHERE st < 15
            )
            SELECT pn, k, CASE WHEN k % 2 = 0 THEN 'LINE Followed' ELSE 'LINE Unfollowed' END AS name,
                k > 0 AND k % 2 = 0 AS unblocked,
                first_age - k * (first_age // steps) AS age
            FROM counted, range(steps) r(k)
            """
        )
        follows = db.execute("SELECT count(*) FROM follows").fetchone()[0]
        base_events = max(events - follows, 0)
        # events: groups of 4 consecutive ids; 40 % of the groups are one person's shopping trip
        # (Product Viewed -> Product Added -> Checkout Started -> Order Completed, minutes apart,
        # stopping after 1-4 steps, online); the other events are independent: views, clicks,
        # LINE messages and in-store (pos) orders. All from hash(i or group, seed, k).
        db.execute(
            f"""
            COPY (
                WITH base AS (
                    SELECT i, i // 4 AS g, i % 4 AS step,
                        hash(i // 4, {s}, 6) AS gh,
                        hash(i, {s}, 2) % 100 AS kind,
                        hash(i, {s}, 4) AS r
                    FROM range({base_events}) t(i)
                ), trip AS (
                    SELECT *,
                        gh % 100 < 40 AND step < (CASE WHEN (gh >> 8) % 10 < 3 THEN 1 WHEN (gh >> 8) % 10 < 5 THEN 2
                                                       WHEN (gh >> 8) % 10 < 6 THEN 3 ELSE 4 END) AS in_trip
                    FROM base
                ), named AS (
                    SELECT i, r,
                        CASE WHEN in_trip THEN hash(g, {s}, 1) % {profiles} ELSE hash(i, {s}, 1) % {profiles} END AS pn,
                        CASE WHEN in_trip
                             THEN greatest(3600 + CAST(hash(g, {s}, 3) % {span - 3600} AS BIGINT) - step * 900
                                           - CAST(r % 300 AS BIGINT), 0)
                             ELSE CAST(hash(i, {s}, 3) % {span} AS BIGINT) END AS age,
                        CASE WHEN in_trip THEN ['Product Viewed', 'Product Added', 'Checkout Started', 'Order Completed'][step + 1]
                             WHEN kind < 40 THEN 'Product Viewed' WHEN kind < 64 THEN 'Link Clicked'
                             WHEN kind < 88 THEN 'LINE Message Received' ELSE 'Order Completed' END AS name,
                        CASE WHEN in_trip THEN (CASE WHEN (gh >> 16) % 10 < 6 THEN 'web' ELSE 'app' END)
                             WHEN kind < 40 THEN (CASE WHEN r % 10 < 6 THEN 'web' ELSE 'app' END)
                             WHEN kind < 64 THEN (CASE WHEN r % 10 < 6 THEN 'line' ELSE 'web' END)
                             WHEN kind < 88 THEN 'line'
                             ELSE 'pos'
                        END AS channel,
                        CAST(NULL AS BOOLEAN) AS unblocked
                    FROM trip
                    UNION ALL
                    SELECT {base_events} + row_number() OVER (ORDER BY pn, k) - 1 AS i, hash(pn, {s}, 42, k) AS r,
                        pn, age, name, 'line' AS channel, unblocked
                    FROM follows
                )
                SELECT
                    'e' || lpad(CAST(i AS VARCHAR), 10, '0') AS event_id,
                    'p' || lpad(CAST(pn AS VARCHAR), 7, '0') AS profile_id,
                    lpad(CAST(1000000000 + i AS VARCHAR), 40, '0') AS seq,
                    'upsert' AS op,
                    'track' AS type,
                    name,
                    TIMESTAMPTZ '{now}' - to_seconds(age) AS ts,
                    channel,
                    CAST(CASE name
                        WHEN 'Order Completed' THEN json_object(
                            'order_id', 'o' || CAST(i AS VARCHAR), 'revenue', 100 + CAST((r >> 8) % 5900 AS BIGINT),
                            'currency', 'TWD', 'store_id', 'S' || lpad(CAST((r >> 24) % 20 AS VARCHAR), 3, '0'),
                            'context', json_object('channel', channel))
                        WHEN 'Link Clicked' THEN json_object(
                            'url', 'https://shop.example.com/p/' || CAST((r >> 8) % 100 AS VARCHAR),
                            'campaign', 'c' || CAST((r >> 16) % 12 AS VARCHAR),
                            'context', json_object('channel', channel))
                        WHEN 'LINE Message Received' THEN json_object(
                            'message_type', 'text', 'text', 'hello ' || CAST((r >> 8) % 50 AS VARCHAR),
                            'context', json_object('channel', channel))
                        WHEN 'LINE Followed' THEN json_object('isUnblocked', unblocked, 'context', json_object('channel', channel))
                        WHEN 'LINE Unfollowed' THEN json_object('context', json_object('channel', channel))
                        WHEN 'Checkout Started' THEN json_object(
                            'cart_id', 'k' || CAST(i // 4 AS VARCHAR), 'value', 100 + CAST((r >> 8) % 5900 AS BIGINT),
                            'context', json_object('channel', channel))
                        ELSE json_object(
                            'sku', 'SKU-' || CAST((r >> 8) % 5000 AS VARCHAR),
                            'price', 100 + CAST((r >> 24) % 3000 AS BIGINT),
                            'context', json_object('channel', channel))
                    END AS JSON) AS properties
                FROM named
            ) TO '{_q(names["events"])}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)
            """
        )
        db.execute("DROP TABLE follows")
        # a replayed stream batch: the same rows again
        db.execute(
            f"""
            COPY (SELECT * FROM read_parquet('{_q(names["events"])}') WHERE hash(event_id, {s}, 5) % 100 = 0)
            TO '{_q(names["events_replayed"])}' (FORMAT parquet, COMPRESSION zstd)
            """
        )
        _generate_profiles(db, profiles, names)
        counts = {}
        for key, path in names.items():
            columns = EVENT_COLUMNS if key.startswith("events") else PROFILE_COLUMNS
            found = [row[0] for row in db.execute(f"DESCRIBE SELECT * FROM read_parquet('{_q(path)}')").fetchall()]
            assert found == list(columns), (key, found)
            counts[key] = db.execute(f"SELECT count(*) FROM read_parquet('{_q(path)}')").fetchone()[0]
        return counts
    finally:
        db.close()


def _iso(expression: str) -> str:
    return f"strftime({expression}, '%Y-%m-%dT%H:%M:%S.000Z')"


def _generate_profiles(db: duckdb.DuckDBPyConnection, profiles: int, names: dict[str, Path]) -> None:
    """Profile rows as `profile_row` writes them, their order figures aggregated from the events."""
    s = SEED
    db.execute(
        f"""
        CREATE TEMP TABLE ev AS
        SELECT profile_id, name, ts, channel,
            CASE WHEN name = 'Order Completed' THEN CAST(json_extract(properties, '$.revenue') AS DOUBLE) END AS revenue,
            CASE WHEN name = 'Order Completed' THEN json_extract_string(properties, '$.store_id') END AS store
        FROM read_parquet('{_q(names["events"])}')
        """
    )
    db.execute(
        """
        CREATE TEMP TABLE agg AS
        SELECT profile_id,
            min(ts) AS first_seen, max(ts) AS last_seen,
            count(*) FILTER (WHERE name = 'Order Completed') AS orders,
            round(COALESCE(sum(revenue) FILTER (WHERE name = 'Order Completed'), 0), 4) AS ltv,
            min(ts) FILTER (WHERE name = 'Order Completed') AS first_order,
            max(ts) FILTER (WHERE name = 'Order Completed') AS last_order,
            count(*) FILTER (WHERE name = 'LINE Message Received') AS messages,
            count(*) FILTER (WHERE name = 'Link Clicked' AND channel = 'line') AS clicks,
            max(ts) FILTER (WHERE name = 'Link Clicked' AND channel = 'line') AS last_click,
            bool_or(channel IN ('web', 'app')) AS online, bool_or(channel = 'pos') AS offline
        FROM ev GROUP BY profile_id
        """
    )
    # daily buckets kept for the 366 days ending with the newest order's day (cdp.profiles.computed)
    db.execute(
        """
        CREATE TEMP TABLE days AS
        WITH d AS (
            SELECT profile_id, strftime(ts, '%Y-%m-%d') AS day, count(*) AS orders, round(sum(revenue), 4) AS revenue
            FROM ev WHERE name = 'Order Completed' GROUP BY ALL
        ), newest AS (SELECT profile_id, max(day) AS last_day FROM d GROUP BY profile_id)
        SELECT d.profile_id, list({'day': d.day, 'orders': d.orders, 'revenue': d.revenue} ORDER BY d.day) AS daily
        FROM d JOIN newest USING (profile_id)
        WHERE d.day >= strftime(CAST(newest.last_day AS DATE) - INTERVAL 365 DAY, '%Y-%m-%d')
        GROUP BY d.profile_id
        """
    )
    # preferred store: most orders, then most recent, then the smallest id
    db.execute(
        """
        CREATE TEMP TABLE stores AS
        SELECT profile_id, arg_min(store, (-orders, -epoch_us(last_at), store)) AS store FROM (
            SELECT profile_id, store, count(*) AS orders, max(ts) AS last_at
            FROM ev WHERE name = 'Order Completed' GROUP BY ALL
        ) GROUP BY profile_id
        """
    )
    db.execute("DROP TABLE ev")
    cities = "['Taipei', 'New Taipei', 'Taichung', 'Kaohsiung', 'Tainan', 'Hsinchu', 'Taoyuan']"
    tags = [
        ("asked:color", 9),
        ("asked:size", 7),
        ("interested:bags", 6),
        ("interested:shoes", 5),
        ("src:store-101", 11),
        ("vip", 10),
    ]
    tag_list = ", ".join(f"CASE WHEN hash(pn, {s}, {20 + k}) % {m} = 0 THEN '{t}' END" for k, (t, m) in enumerate(tags))
    profile_select = f"""
        WITH base AS (
            SELECT pn, 'p' || lpad(CAST(pn AS VARCHAR), 7, '0') AS profile_id,
                hash(pn, {s}, 11) AS h1, hash(pn, {s}, 12) AS h2, hash(pn, {s}, 13) AS h3
            FROM range({profiles}) t(pn)
        ), facts AS (
            SELECT base.*,
                CASE WHEN h1 % 20 < 11 THEN 'friend' WHEN h1 % 20 < 15 THEN 'blocked' ELSE 'never_followed' END
                    AS line_status,
                h2 % 10 < 7 AS has_email, h2 % 10 >= 4 AS has_phone, (h2 >> 8) % 10 < 6 AS has_member
            FROM base
        )
        SELECT
            f.profile_id,
            lpad(CAST(500000000 + f.pn AS VARCHAR), 40, '0') AS seq,
            'upsert' AS op,
            CAST(2 + h3 % 40 AS BIGINT) AS version,
            {_iso("COALESCE(a.last_seen, TIMESTAMPTZ '2025-06-01 00:00:00+00')")} AS updated_at,
            CAST(NULL AS VARCHAR) AS merged_into,
            json_object(
                'city', {cities}[1 + CAST(h1 >> 8 AS BIGINT) % 7],
                'age', 18 + CAST((h1 >> 16) % 53 AS BIGINT),
                'tier', ['bronze', 'silver', 'gold'][1 + CAST((h1 >> 24) % 3 AS BIGINT)],
                'gender', CASE WHEN (h1 >> 32) % 2 = 0 THEN 'f' ELSE 'm' END,
                'name', '會員' || CAST(f.pn AS VARCHAR)
            ) AS traits,
            json_object(
                'email:marketing', (h3 >> 8) % 3 <> 0,
                'sms:marketing', (h3 >> 16) % 4 = 0,
                'line:marketing', (h3 >> 24) % 5 <> 0
            ) AS consent,
            list_filter([{tag_list}], lambda x: x IS NOT NULL) AS tags,
            f.line_status,
            list_filter([
                CASE WHEN has_email THEN 'email' END,
                CASE WHEN line_status <> 'never_followed' THEN 'line' END,
                CASE WHEN has_member THEN 'member_id' END,
                CASE WHEN has_phone THEN 'phone' END
            ], lambda x: x IS NOT NULL) AS identifier_types,
            json_object(
                'currency', 'TWD',
                'first_seen_at', {_iso("a.first_seen")},
                'last_seen_at', {_iso("a.last_seen")},
                'first_purchase_at', {_iso("a.first_order")},
                'last_purchase_at', {_iso("a.last_order")},
                'orders', json_object('all_time', COALESCE(a.orders, 0)),
                'revenue', json_object('all_time', COALESCE(a.ltv, 0.0)),
                'average_order_value', CASE WHEN a.orders > 0 THEN round(a.ltv / a.orders, 2) END,
                'ltv', COALESCE(a.ltv, 0.0),
                'channel_mix', CASE WHEN a.online AND a.offline THEN 'omnichannel' WHEN a.offline THEN 'offline_only'
                                    WHEN a.online THEN 'online_only' END,
                'line_engagement', json_object(
                    'messages', COALESCE(a.messages, 0), 'postbacks', 0, 'clicks', COALESCE(a.clicks, 0),
                    'last_click_at', {_iso("a.last_click")}),
                'preferred_store', st.store
            ) AS computed,
            COALESCE(a.orders, 0) AS all_time_orders,
            COALESCE(a.ltv, 0.0) AS ltv,
            COALESCE(d.daily, []) AS daily
        FROM facts f
        LEFT JOIN agg a USING (profile_id)
        LEFT JOIN days d USING (profile_id)
        LEFT JOIN stores st USING (profile_id)
    """
    columns = ", ".join(f'CAST("{name}" AS {kind}) AS "{name}"' for name, kind in PROFILE_COLUMNS.items())
    db.execute(
        f"COPY (SELECT {columns} FROM ({profile_select})) TO '{_q(names['profiles'])}' "
        "(FORMAT parquet, COMPRESSION zstd)"
    )
    # older versions of 5 % of the profiles (lower seq: they lose) and 0.5 % merged-away profiles
    db.execute(
        f"""
        COPY (
            SELECT * REPLACE (
                lpad(CAST(100 + hash(profile_id) % 1000 AS VARCHAR), 40, '0') AS seq,
                version - 1 AS version,
                CAST(json_object('city', 'Pingtung', 'tier', 'bronze') AS JSON) AS traits,
                ['vip'] AS tags
            ) FROM read_parquet('{_q(names["profiles"])}') WHERE hash(profile_id, {s}, 30) % 20 = 0
            UNION ALL
            SELECT * REPLACE (
                'q' || substr(profile_id, 2) AS profile_id,
                'p' || lpad(CAST(hash(profile_id, {s}, 32) % {profiles} AS VARCHAR), 7, '0') AS merged_into,
                ['vip'] AS tags
            ) FROM read_parquet('{_q(names["profiles"])}') WHERE hash(profile_id, {s}, 31) % 200 = 0
        ) TO '{_q(names["profiles_older"])}' (FORMAT parquet, COMPRESSION zstd)
        """
    )
    for table in ("agg", "days", "stores"):
        db.execute(f"DROP TABLE {table}")


# batch -----------------------------------------------------------------------------------------------
def sql_select(db: duckdb.DuckDBPyConnection, rule: dict[str, Any], now: datetime = NOW) -> set[str]:
    query, params = to_select(parse_rule(rule), now)
    return {row[0] for row in db.execute(query, params).fetchall()}


def naive_rows(db: duckdb.DuckDBPyConnection, modulus: int, batch: int = 2000) -> Iterator[list[tuple[Any, ...]]]:
    """Profiles of the sample (hash(profile_id) % modulus = 0) with their events grouped
    (timestamps as epoch µs: no pytz needed), in batches. The sample is read in hash partitions
    of about NAIVE_PART_PROFILES profiles, each in profile-id order, so memory stays bounded."""
    population = db.execute("SELECT count(*) FROM profiles").fetchone()[0]
    parts = max(1, math.ceil(population / modulus / NAIVE_PART_PROFILES))
    for part in range(parts):
        where = f"WHERE hash(profile_id) % {modulus * parts} = {modulus * part}"
        db.execute(
            f"""
            SELECT p.profile_id, p.traits, p.computed, p.tags, p.line_status, p.consent, p.identifier_types, e.events
            FROM (SELECT * FROM profiles {where}) p
            LEFT JOIN (
                SELECT profile_id, list(struct_pack(name := name, us := epoch_us(ts), properties := properties)) AS events
                FROM events {where} GROUP BY profile_id
            ) e USING (profile_id)
            ORDER BY p.profile_id
            """
        )
        while rows := db.fetchmany(batch):
            yield rows


def build_facts(row: tuple[Any, ...]) -> tuple[ProfileFacts, list[EventFact]]:
    profile_id, traits, computed, tags, line_status, consent, identifier_types, events = row
    facts = ProfileFacts(
        profile_id,
        traits=orjson.loads(traits),
        computed=orjson.loads(computed),
        tags=frozenset(tags or ()),
        line_status=line_status,
        consent={k: v for k, v in orjson.loads(consent).items() if isinstance(v, bool)},
        identifier_types=frozenset(identifier_types or ()),
    )
    timeline = [
        EventFact(e["name"], EPOCH + timedelta(microseconds=e["us"]), orjson.loads(e["properties"]))
        for e in events or ()
        if e["name"] is not None
    ]
    return facts, timeline


def naive_scan(
    db: duckdb.DuckDBPyConnection, rules: dict[str, Any], modulus: int, now: datetime = NOW
) -> dict[str, Any]:
    """Every sampled profile through `evaluate` for each rule; the read + build time is shared by
    the rules and timed apart from each rule's evaluate time."""
    parsed = {name: parse_rule(rule) for name, rule in rules.items()}
    selected: dict[str, set[str]] = {name: set() for name in rules}
    evaluate_s = dict.fromkeys(rules, 0.0)
    sample: set[str] = set()
    events = 0
    clock = time.perf_counter
    started = clock()
    for rows in naive_rows(db, modulus):
        built = [build_facts(row) for row in rows]
        for name, rule in parsed.items():
            t0 = clock()
            chosen = selected[name]
            for facts, timeline in built:
                if evaluate(rule, facts, timeline, now, set()):
                    chosen.add(facts.profile_id)
            evaluate_s[name] += clock() - t0
        for facts, timeline in built:
            sample.add(facts.profile_id)
            events += len(timeline)
    total = clock() - started
    read_build = total - sum(evaluate_s.values())
    return {
        "sample_ids": sample,
        "selected": selected,
        "profiles": len(sample),
        "events": events,
        "read_build_s": read_build,
        "evaluate_s": evaluate_s,
        "total_s": total,
    }


def batch_benchmark(
    profiles: int | None = None,
    events: int | None = None,
    *,
    modulus: int | None = None,
    rules: tuple[str, ...] = BATCH_RULES,
    root: Path | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    profiles = profiles or _env_int("CDP_BENCH_PROFILES", 1_000_000)
    events = events if events is not None else _env_int("CDP_BENCH_EVENTS", 20_000_000)
    if modulus is None:
        # ~315 µs per profile with 20 events here: 1M profiles take ~5-6 min, so the default is all
        modulus = _env_int("CDP_BENCH_NAIVE_SAMPLE", 1)
    log(f"[segments] batch: archive of {profiles:,} profiles / {events:,} events ...")
    archive = generate_archive(profiles, events, root)
    log(
        f"[segments] archive {'generated in ' + str(archive.generated_s) + ' s' if archive.generated_s else 'reused'}"
        f" ({archive.file_mib} MiB): {archive.folder}"
    )
    gc.collect()
    db = connect()
    try:
        load_before = load_average()
        started = time.perf_counter()
        open_archive(archive.files, NOW, connection=db)
        open_s = time.perf_counter() - started
        load_after_open = load_average()
        live = db.execute("SELECT (SELECT count(*) FROM profiles), (SELECT count(*) FROM events)").fetchone()
        log(f"[segments] open_archive {open_s:.1f} s -> {live[0]:,} profiles, {live[1]:,} events")
        segments: dict[str, Any] = {}
        sql_sets: dict[str, set[str]] = {}
        query_times: dict[str, float] = {}
        for name in rules:
            started = time.perf_counter()
            sql_sets[name] = sql_select(db, RULES[name])
            query_s = time.perf_counter() - started
            query_times[name] = query_s
            segments[name] = {
                "rule": RULES[name],
                "selected": len(sql_sets[name]),
                "sql_query_s": round(query_s, 2),
                "sql_total_s": round(open_s + query_s, 2),
                "target_s": TARGET_SECONDS,
                "within_target": open_s + query_s < TARGET_SECONDS,
            }
            log(
                f"[segments]   {name}: query {query_s:.2f} s, open + query {open_s + query_s:.1f} s, "
                f"{len(sql_sets[name]):,} selected"
            )
        log(f"[segments] naive Python scan over {'all profiles' if modulus == 1 else f'1 in {modulus} profiles'} ...")
        scan = naive_scan(db, {name: RULES[name] for name in rules}, modulus)
        factor = live[0] / scan["profiles"] if scan["profiles"] else 0.0
        for name in rules:
            expected = {pid for pid in sql_sets[name] if pid in scan["sample_ids"]}
            got = scan["selected"][name]
            if expected != got:
                raise AssertionError(
                    f"{name}: SQL and Python disagree on {len(expected ^ got)} profiles, "
                    f"e.g. {sorted(expected ^ got)[:5]}"
                )
            one_rule = scan["read_build_s"] + scan["evaluate_s"][name]
            segments[name]["naive_python"] = {
                "sampled": modulus != 1,
                "sample": f"hash(profile_id) % {modulus} = 0" if modulus != 1 else None,
                "profiles": scan["profiles"],
                "events": scan["events"],
                "selected": len(got),
                "sql_selected_in_sample": len(expected),
                "equal_to_sql": True,
                "read_build_s": round(scan["read_build_s"], 2),
                "evaluate_s": round(scan["evaluate_s"][name], 2),
                "measured_s": round(one_rule, 2),
                "extrapolated_full_s": round(one_rule * factor, 1) if modulus != 1 else None,
                "full_population_s": round(one_rule * factor, 1),
                "us_per_profile": round(one_rule / max(scan["profiles"], 1) * 1e6, 1),
                "full_population_with_open_s": round(open_s + one_rule * factor, 1),
                "sql_speedup": round((open_s + one_rule * factor) / (open_s + query_times[name]), 1),
            }
        log(
            f"[segments] naive scan: {scan['profiles']:,} profiles / {scan['events']:,} events in "
            f"{scan['total_s']:.1f} s (read + build {scan['read_build_s']:.1f} s); selections equal SQL"
        )
        return {
            "profiles": profiles,
            "events": events,
            "archive_rows": archive.rows,
            "archive_mib": archive.file_mib,
            "archive_generated_s": archive.generated_s,
            "live_profiles": live[0],
            "live_events": live[1],
            "open_archive_s": round(open_s, 2),
            "load_average_before_open": load_before,
            "load_average_after_open": load_after_open,
            "load_average_after_naive": load_average(),
            "duckdb_connection": connection_settings(db),
            "naive_sample_modulus": modulus,
            "naive_extrapolation": (
                f"naive times measured on 1 in {modulus} profiles (hash(profile_id) % {modulus} = 0) with their"
                f" events, scaled linearly by {factor:.2f} (profiles {live[0]:,} / sample {scan['profiles']:,})"
                if modulus != 1
                else "naive scan ran over the whole population"
            ),
            "segments": segments,
            "peak_rss_mib": peak_rss_mib(),
        }
    finally:
        db.close()


# preview ---------------------------------------------------------------------------------------------
def preview_count_and_sample(
    db: duckdb.DuckDBPyConnection, rule: dict[str, Any], now: datetime = NOW
) -> tuple[int, list[str]]:
    query, params = to_select(parse_rule(rule), now)
    count, sample = db.execute(
        f"WITH s AS ({query}) SELECT (SELECT count(*) FROM s), "
        f"(SELECT list(profile_id ORDER BY profile_id) FROM (SELECT profile_id FROM s ORDER BY profile_id LIMIT {PREVIEW_SAMPLE}))",
        params,
    ).fetchone()
    return int(count), list(sample or [])


def preview_benchmark(
    profiles: int | None = None,
    events: int | None = None,
    *,
    runs: int | None = None,
    root: Path | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    profiles = profiles or _env_int("CDP_BENCH_PREVIEW_PROFILES", 100_000)
    events = events if events is not None else _env_int("CDP_BENCH_PREVIEW_EVENTS", 2_000_000)
    runs = runs or _env_int("CDP_BENCH_PREVIEW_RUNS", 5)
    log(f"[segments] preview: archive of {profiles:,} profiles / {events:,} events, {runs} runs per rule ...")
    archive = generate_archive(profiles, events, root)
    results: dict[str, Any] = {}
    load_before = load_average()
    for name in PREVIEW_RULES:
        opens, queries, totals = [], [], []
        count = 0
        for _ in range(runs):
            db = connect()
            try:
                started = time.perf_counter()
                open_archive(archive.files, NOW, connection=db)
                opened = time.perf_counter()
                count, _sample = preview_count_and_sample(db, RULES[name])
                finished = time.perf_counter()
            finally:
                db.close()
            opens.append(opened - started)
            queries.append(finished - opened)
            totals.append(finished - started)
        results[name] = {
            "count": count,
            "median_open_s": round(statistics.median(opens), 3),
            "median_query_s": round(statistics.median(queries), 3),
            "median_total_s": round(statistics.median(totals), 3),
            "max_total_s": round(max(totals), 3),
        }
        log(f"[segments]   {name}: median {statistics.median(totals):.2f} s (query {statistics.median(queries):.3f} s)")
    return {
        "profiles": profiles,
        "events": events,
        "archive_generated_s": archive.generated_s,
        "runs": runs,
        "sample_size": PREVIEW_SAMPLE,
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "rules": results,
    }


# real time -------------------------------------------------------------------------------------------
def realtime_segments(count: int = 50) -> list[tuple[str, dict[str, Any]]]:
    """`count` varied definitions: traits, tags, consent, reachability, computed traits, events,
    combinations and a few in_segment rules."""
    cities = ["Taipei", "New Taipei", "Taichung", "Kaohsiung", "Tainan", "Hsinchu", "Taoyuan"]
    base: list[tuple[str, dict[str, Any]]] = []
    for city in cities:
        base.append(
            (
                f"city-{city.lower().replace(' ', '-')}",
                {"attribute": {"field": "traits.city", "op": "eq", "value": city}},
            )
        )
    for tier in ("gold", "silver"):
        base.append((f"tier-{tier}", {"attribute": {"field": "traits.tier", "op": "eq", "value": tier}}))
    base += [
        (
            "age-30-39",
            {
                "and": [
                    {"attribute": {"field": "traits.age", "op": "gte", "value": 30}},
                    {"attribute": {"field": "traits.age", "op": "lt", "value": 40}},
                ]
            },
        ),
        (
            "young-women",
            {
                "and": [
                    {"attribute": {"field": "traits.gender", "op": "eq", "value": "f"}},
                    {"attribute": {"field": "traits.age", "op": "lt", "value": 30}},
                ]
            },
        ),
        ("tag-vip", {"tag": {"name": "vip"}}),
        ("asked-anything", {"tag": {"group": "asked"}}),
        ("interested-shoes", {"tag": {"name": "interested:shoes"}}),
        ("store-101", {"tag": {"name": "src:store-101"}}),
        ("line-friends", {"reachable": {"channel": "line"}}),
        ("emailable", {"reachable": {"channel": "email"}}),
        ("textable", {"reachable": {"channel": "sms"}}),
        ("line-blocked", {"attribute": {"field": "line_status", "op": "eq", "value": "blocked"}}),
        ("email-consent", {"consent": {"channel": "email", "purpose": "marketing"}}),
        ("members", {"identifier": {"type": "member_id"}}),
        ("buyers", {"attribute": {"field": "computed.orders.all_time", "op": "gte", "value": 1}}),
        (
            "lapsed-30d",
            {
                "and": [
                    {"attribute": {"field": "computed.orders.all_time", "op": "gte", "value": 1}},
                    {"attribute": {"field": "computed.orders.30d", "op": "eq", "value": 0}},
                ]
            },
        ),
        ("spent-90d-5000", {"attribute": {"field": "computed.revenue.90d", "op": "gt", "value": 5000}}),
        ("ltv-20000", {"attribute": {"field": "computed.ltv", "op": "gte", "value": 20000}}),
        ("aov-2000", {"attribute": {"field": "computed.average_order_value", "op": "gte", "value": 2000}}),
        ("omnichannel", {"attribute": {"field": "computed.channel_mix", "op": "eq", "value": "omnichannel"}}),
        ("line-clickers", {"attribute": {"field": "computed.line_engagement.clicks", "op": "gte", "value": 3}}),
        ("chatty", {"attribute": {"field": "computed.line_engagement.messages", "op": "gte", "value": 5}}),
        ("store-s001", {"attribute": {"field": "computed.preferred_store", "op": "eq", "value": "S001"}}),
        ("seen-7d", {"attribute": {"field": "computed.last_seen_at", "op": "within_last", "value": {"days": 7}}}),
        ("new-90d", {"attribute": {"field": "computed.first_seen_at", "op": "within_last", "value": {"days": 90}}}),
        ("spent-3000-30d-line-click", RULES["spent_3000_30d_and_line_click"]),
        ("bought-7d", {"event": {"name": "Order Completed", "within": {"last": {"days": 7}}}}),
        (
            "big-order",
            {
                "event": {
                    "name": "Order Completed",
                    "aggregate": "max",
                    "property": "revenue",
                    "op": "gte",
                    "value": 5000,
                }
            },
        ),
        ("viewer-7d", {"event": {"name": "Product Viewed", "within": {"last": {"days": 7}}, "op": "gte", "value": 3}}),
        (
            "app-viewer",
            {
                "event": {
                    "name": "Product Viewed",
                    "where": [{"property": "context.channel", "op": "eq", "value": "app"}],
                }
            },
        ),
        ("messaged-14d", {"event": {"name": "LINE Message Received", "within": {"last": {"days": 14}}}}),
        (
            "campaign-c3",
            {"event": {"name": "Link Clicked", "where": [{"property": "campaign", "op": "eq", "value": "c3"}]}},
        ),
        ("lapsed-line", RULES["lapsed_30d_reachable_line"]),
        ("taipei-vip-email", RULES["taipei_vip_or_asked_email"]),
        (
            "gold-buyers",
            {
                "and": [
                    {"attribute": {"field": "traits.tier", "op": "eq", "value": "gold"}},
                    {"attribute": {"field": "computed.orders.365d", "op": "gte", "value": 2}},
                ]
            },
        ),
        (
            "not-vip-big-spender",
            {
                "and": [
                    {"not": {"tag": {"name": "vip"}}},
                    {"attribute": {"field": "computed.ltv", "op": "gte", "value": 15000}},
                ]
            },
        ),
        ("south", {"attribute": {"field": "traits.city", "op": "in", "value": ["Kaohsiung", "Tainan"]}}),
        (
            "gold-in-taipei",
            {"and": [{"in_segment": {"segment_id": "tier-gold"}}, {"in_segment": {"segment_id": "city-taipei"}}]},
        ),
        ("vip-line", {"and": [{"in_segment": {"segment_id": "tag-vip"}}, {"reachable": {"channel": "line"}}]}),
        (
            "win-back",
            {
                "and": [
                    {"in_segment": {"segment_id": "lapsed-30d"}},
                    {"event": {"name": "Link Clicked", "within": {"last": {"days": 30}}}},
                ]
            },
        ),
    ]
    extra = 0
    while len(base) < count:  # more of the same shapes, other thresholds
        extra += 1
        base.append(
            (
                f"spent-{extra}-365d",
                {"attribute": {"field": "computed.revenue.365d", "op": "gte", "value": 1000 * extra}},
            )
        )
    return base[:count]


def _population(store: Any, profiles: int, events_per_profile: int) -> int:
    """Profiles folded from generated events (so computed traits are real), timelines stored."""
    from cdp.identity.identifiers import Identifier
    from cdp.identity.merge import TimelineEntry
    from cdp.profiles.model import Profile, Stamped, apply_event

    from tests.unit.builders import canonical

    cities = ["Taipei", "New Taipei", "Taichung", "Kaohsiung", "Tainan", "Hsinchu", "Taoyuan"]
    names = ["Product Viewed"] * 9 + ["Link Clicked"] * 4 + ["LINE Message Received"] * 4 + ["Order Completed"] * 3
    now_ms = int(NOW.timestamp() * 1000)
    total = 0
    for n in range(profiles):
        h = hash_int(n)
        profile_id = f"rt{n:06d}"
        created = _iso_ms(now_ms - 400 * 86_400_000)
        profile = Profile.new(profile_id, created)
        profile.version = 1 + h % 30
        profile.traits = {
            "city": Stamped(cities[h % 7], created, "bench", "e-city"),
            "age": Stamped(18 + (h >> 8) % 53, created, "bench", "e-age"),
            "tier": Stamped(["bronze", "silver", "gold"][(h >> 16) % 3], created, "bench", "e-tier"),
            "gender": Stamped("f" if (h >> 20) % 2 else "m", created, "bench", "e-gender"),
        }
        profile.consent = {
            "email:marketing": Stamped((h >> 24) % 3 != 0, created, "bench", "e-c1"),
            "sms:marketing": Stamped((h >> 26) % 4 == 0, created, "bench", "e-c2"),
        }
        profile.tags = {
            tag: {"source": "bench", "at": created}
            for k, tag in enumerate(["vip", "asked:size", "interested:shoes", "src:store-101"])
            if (h >> (28 + 2 * k)) % 4 == 0
        }
        attach = [Identifier("member_id", f"M{n:07d}")]
        if (h >> 40) % 10 < 7:
            attach.append(Identifier("email", f"m{n}@example.com"))
        if (h >> 44) % 10 < 4:
            attach.append(Identifier("phone", f"+8869{n:08d}"))
        entries = {}
        for k in range(events_per_profile):
            r = hash_int(n * 1000 + k)
            name = names[r % len(names)]
            channel = {
                "Product Viewed": "web" if r % 3 else "app",
                "Link Clicked": "line" if r % 2 else "web",
                "LINE Message Received": "line",
            }.get(name, ["pos", "web", "app"][(r >> 8) % 3])
            at = _iso_ms(now_ms - (r >> 12) % (400 * 86_400_000))
            event = canonical(event_id=f"{profile_id}-{k}", timestamp=at, event=name, channel=channel)
            if name == "Order Completed":
                properties: dict[str, Any] = {
                    "revenue": 100 + (r >> 16) % 5900,
                    "currency": "TWD",
                    "store_id": f"S{(r >> 24) % 20:03d}",
                }
            elif name == "Link Clicked":
                properties = {"url": "https://shop.example.com/", "campaign": f"c{(r >> 16) % 12}"}
            else:
                properties = {"sku": f"SKU-{(r >> 16) % 5000}"}
            event = _with_properties(event, properties)
            apply_event(profile, event, attach if k == 0 else [], at)
            entry = TimelineEntry(profile_id, f"EVENT#{at}#{event.event_id}", event.as_dict(), at)
            entries[entry.sort_key] = entry
            total += 1
        if (h >> 48) % 10 < 6:  # a LINE account following (or having blocked) the OA
            profile.line_accounts = {
                f"U{n:032d}": Stamped("friend" if (h >> 52) % 4 else "blocked", created, "line", "e-l")
            }
        store.seed(profile)
        store.timelines[profile_id] = entries
    return total


def _with_properties(event: Any, properties: dict[str, Any]) -> Any:
    from dataclasses import replace

    return replace(event, properties=properties)


def hash_int(n: int) -> int:
    """A deterministic 64-bit mix (splitmix64) - Python's hash() of ints is the identity."""
    z = (n + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return z ^ (z >> 31)


def _iso_ms(ms: int) -> str:
    from cdp.clock import iso_from_ms

    return iso_from_ms(ms)


def realtime_benchmark(
    profiles: int | None = None,
    *,
    events_per_profile: int | None = None,
    segments: int | None = None,
    passes: int = 3,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    from cdp.segments.realtime import SegmentEvaluator
    from cdp.segments.store import SegmentDefinition

    from tests.fakes import FakeProfileStore, FakePublisher, FakeSegmentStore, FixedClock

    profiles = profiles or _env_int("CDP_BENCH_RT_PROFILES", 2000)
    events_per_profile = events_per_profile or _env_int("CDP_BENCH_RT_EVENTS_PER_PROFILE", 20)
    segments = segments or _env_int("CDP_BENCH_RT_SEGMENTS", 50)
    log(f"[segments] real time: {segments} segments, {profiles:,} profiles x {events_per_profile} events ...")
    store, segment_store, publisher = FakeProfileStore(), FakeSegmentStore(), FakePublisher()
    clock = FixedClock(int(NOW.timestamp() * 1000))
    at = _iso_ms(clock.now_ms())
    for segment_id, rule in realtime_segments(segments):
        assert segment_store.create(SegmentDefinition.create(segment_id, segment_id, rule, at))
    events = _population(store, profiles, events_per_profile)
    evaluator = SegmentEvaluator(segment_store, store, publisher, clock)
    ids = sorted(store.profiles)
    active = len(evaluator.active_segments())

    def one_pass(changes: list[str]) -> tuple[float, int]:
        evaluated = 0
        started = time.perf_counter()
        for profile_id in ids:
            evaluated += len(evaluator.on_profile_changed(profile_id, changes).evaluated)
        return time.perf_counter() - started, evaluated

    first_s, _ = one_pass([])  # memberships entered and published: the first pass writes
    entered = len(publisher.published)
    results: dict[str, Any] = {
        "active_segments": active,
        "profiles": profiles,
        "timeline_events": events,
        "first_pass_all_segments": {
            "profiles_per_s": round(profiles / first_s, 1),
            "memberships_entered": entered,
        },
    }
    for label, changes in (("one_trait_changed", ["trait:city"]), ("no_change_names", [])):
        samples, evaluated = [], 0
        for _ in range(passes):
            seconds, evaluated = one_pass(changes)
            samples.append(seconds)
        median = statistics.median(samples)
        results[label] = {
            "changes": changes,
            "profiles_per_s": round(profiles / median, 1),
            "ms_per_profile": round(median / profiles * 1000, 3),
            "segments_evaluated_per_profile": round(evaluated / profiles, 1),
            "segment_evaluations_per_s": round(evaluated / median, 1),
            "passes": passes,
        }
        log(
            f"[segments]   {label}: {profiles / median:,.0f} profiles/s, "
            f"{evaluated / profiles:.1f} segments evaluated per profile"
        )
    results["published_after_first_pass"] = len(publisher.published) - entered  # replays publish nothing
    results["load_average_after"] = load_average()
    return results


# all ---------------------------------------------------------------------------------------------------
def run_all(log: Callable[[str], None] = print) -> dict[str, Any]:
    return {
        "batch": batch_benchmark(log=log),
        "preview": preview_benchmark(log=log),
        "realtime": realtime_benchmark(log=log),
        "peak_rss_mib": peak_rss_mib(),
    }


def summary(results: dict[str, Any]) -> list[str]:
    lines = []
    batch = results["batch"]
    lines.append(
        f"segments batch: {batch['live_profiles']:,} profiles / {batch['live_events']:,} events,"
        f" open_archive {batch['open_archive_s']} s, peak RSS {batch['peak_rss_mib']:,} MiB,"
        f" load average before / after open {batch['load_average_before_open'][0]} / {batch['load_average_after_open'][0]}"
        f" on {os.cpu_count()} CPUs"
    )
    for name, seg in batch["segments"].items():
        naive = seg["naive_python"]
        verdict = "OK" if seg["within_target"] else "OVER"
        how = "extrapolated from " + f"{naive['profiles']:,} sampled profiles" if naive["sampled"] else "measured"
        lines.append(
            f"  {name}: SQL open + query {seg['sql_total_s']} s (target {TARGET_SECONDS:.0f} s) -> {verdict};"
            f" {seg['selected']:,} selected; naive Python {naive['full_population_s']} s ({how}),"
            f" + open_archive = {naive['full_population_with_open_s']} s, same selection;"
            f" SQL {naive['sql_speedup']}x faster"
        )
    preview = results["preview"]
    lines.append(
        f"segments preview ({preview['profiles']:,} profiles / {preview['events']:,} events, median of {preview['runs']}):"
    )
    for name, item in preview["rules"].items():
        lines.append(
            f"  {name}: {item['median_total_s']} s (open {item['median_open_s']} s + query {item['median_query_s']} s)"
        )
    rt = results["realtime"]
    lines.append(
        f"segments real time ({rt['active_segments']} segments, {rt['profiles']:,} profiles):"
        f" one trait changed {rt['one_trait_changed']['profiles_per_s']:,} profiles/s"
        f" ({rt['one_trait_changed']['segments_evaluated_per_profile']} segments each),"
        f" no change names {rt['no_change_names']['profiles_per_s']:,} profiles/s"
        f" ({rt['no_change_names']['segments_evaluated_per_profile']} segments each)"
    )
    return lines


def main() -> None:
    started = datetime.now(tz=UTC)
    results = {
        "started_at": started.isoformat(),
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "duckdb": duckdb.__version__,
        "segments": run_all(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"bench-segments-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    print(f"\nwritten to {path.relative_to(ROOT)}")
    print("\n".join(summary(results["segments"])))


if __name__ == "__main__":
    main()
