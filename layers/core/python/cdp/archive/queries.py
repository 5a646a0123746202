"""Questions asked of the archive (an `open_view` or `open_archive` connection): segment preview, profile search
and the data-health report. Every value from a request is a query parameter."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import duckdb

from cdp.segments.rules import Rule
from cdp.segments.sql import to_sql

IDENTIFIER_TYPES = ("line", "member_id", "email", "phone", "anonymous_id", "wechat_unionid", "wechat_openid", "idfa")
_SUMMARY = (
    "p.profile_id, json_extract_string(p.traits, '$.name') AS name, p.line_status, p.tags, "
    "TRY_CAST(json_extract(p.computed, '$.ltv') AS DOUBLE) AS ltv, "
    "json_extract_string(p.computed, '$.channel_mix') AS channel_mix"
)


@dataclass(frozen=True, slots=True)
class Preview:
    count: int
    population: int
    sample: list[dict[str, Any]]
    query_ms: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "population": self.population,
            "share": round(self.count / self.population, 4) if self.population else None,
            "sample": self.sample,
            "query_ms": round(self.query_ms, 1),
        }


def preview(db: duckdb.DuckDBPyConnection, rule: Rule, now: Any, *, sample_size: int) -> Preview:
    """How many people the rule selects now, and a sample of them spread over the population
    (ordered by a hash of the id, so the sample is stable and not the oldest ids)."""
    started = time.perf_counter()
    where, params = to_sql(rule, now)
    db.execute(
        f"CREATE OR REPLACE TEMP TABLE preview_hits AS SELECT p.profile_id FROM profiles p WHERE {where}",  # noqa: S608
        params,
    )
    count = _scalar(db, "SELECT count(*) FROM preview_hits")
    # the sample's ids first, then only their rows of `profiles` (a constant list prunes the scan)
    chosen = [
        row[0]
        for row in db.execute(
            "SELECT profile_id FROM preview_hits ORDER BY hash(profile_id), profile_id LIMIT ?", [sample_size]
        ).fetchall()
    ]
    rows = []
    if chosen:
        marks = ", ".join("?" for _ in chosen)
        rows = db.execute(
            f"SELECT {_SUMMARY} FROM profiles p WHERE p.profile_id IN ({marks}) "  # noqa: S608 (placeholders)
            "ORDER BY hash(p.profile_id), p.profile_id",
            chosen,
        ).fetchall()
    population = _scalar(db, "SELECT count(*) FROM profiles")
    return Preview(count, population, [_summary(row) for row in rows], (time.perf_counter() - started) * 1000)


def search(
    db: duckdb.DuckDBPyConnection, rule: Rule, now: Any, *, limit: int, after: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of the people a search rule selects, by profile id; the cursor of the next page."""
    where, params = to_sql(rule, now)
    if after is not None:
        where, params = f"({where}) AND p.profile_id > ?", [*params, after]
    rows = db.execute(
        f"SELECT {_SUMMARY} FROM profiles p WHERE {where} ORDER BY p.profile_id LIMIT ?",  # noqa: S608
        [*params, limit + 1],
    ).fetchall()
    page = [_summary(row) for row in rows[:limit]]
    return page, (page[-1]["profile_id"] if len(rows) > limit else None)


def data_health(db: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Tag coverage (the share of reachable LINE friends with at least one tag, overall and per
    tag group: the part before ':'), and how many profiles lack each identifier type."""
    population = _scalar(db, "SELECT count(*) FROM profiles")
    friends, tagged = db.execute(
        "SELECT count(*), count(*) FILTER (WHERE len(tags) > 0) FROM profiles WHERE line_status = 'friend'"
    ).fetchone() or (0, 0)
    groups = db.execute(
        """
        SELECT grp, count(DISTINCT profile_id) FROM (
            SELECT profile_id, split_part(tag, ':', 1) AS grp
            FROM (SELECT profile_id, unnest(tags) AS tag FROM profiles WHERE line_status = 'friend')
            WHERE strpos(tag, ':') > 0
        ) GROUP BY grp ORDER BY grp
        """
    ).fetchall()
    present = dict(
        db.execute(
            "SELECT kind, count(DISTINCT profile_id) FROM "
            "(SELECT profile_id, unnest(identifier_types) AS kind FROM profiles) GROUP BY kind"
        ).fetchall()
    )
    return {
        "profiles": population,
        "tag_coverage": {
            "friends": friends,
            "tagged": tagged,
            "rate": round(tagged / friends, 4) if friends else None,
            "groups": {group: {"tagged": count, "rate": round(count / friends, 4)} for group, count in groups},
        },
        "identifiers": {
            kind: {
                "present": present.get(kind, 0),
                "missing": population - present.get(kind, 0),
                "missing_rate": round((population - present.get(kind, 0)) / population, 4) if population else None,
            }
            for kind in IDENTIFIER_TYPES
        },
    }


def customer_groups(db: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Buyers (at least one order) by channel group (online only / offline only / omnichannel)
    and by RFM group: how many, their revenue (TWD, all time) and revenue per person."""

    def grouped(expression: str) -> dict[str, Any]:
        rows = db.execute(
            f"""
            SELECT {expression} AS grp, count(*) AS people,
                   round(sum(TRY_CAST(json_extract(computed, '$.ltv') AS DOUBLE)), 2) AS revenue,
                   round(sum(TRY_CAST(json_extract(computed, '$.orders.all_time') AS DOUBLE)), 0) AS orders
            FROM profiles
            WHERE TRY_CAST(json_extract(computed, '$.orders.all_time') AS DOUBLE) >= 1
            GROUP BY grp ORDER BY grp NULLS LAST
            """  # noqa: S608 (constant expressions only)
        ).fetchall()
        return {
            str(group or "unknown"): {
                "people": people,
                "revenue": revenue or 0.0,
                "orders": int(orders or 0),
                "revenue_per_person": round((revenue or 0.0) / people, 2),
            }
            for group, people, revenue, orders in rows
        }

    return {
        "channel_groups": grouped("json_extract_string(computed, '$.channel_mix')"),
        "rfm_groups": grouped("json_extract_string(traits, '$.rfm_group')"),
    }


def _scalar(db: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = db.execute(sql).fetchone()
    return int(row[0]) if row else 0


def _summary(row: tuple[Any, ...]) -> dict[str, Any]:
    profile_id, name, line_status, tags, ltv, channel_mix = row
    return {
        "profile_id": profile_id,
        "name": name,
        "line_status": line_status,
        "tags": list(tags or []),
        "ltv": ltv,
        "channel_mix": channel_mix,
    }
