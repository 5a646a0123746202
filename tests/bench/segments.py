"""Segment evaluation benchmark: one typical rule over N generated profiles, DuckDB vs Python.

    .venv/bin/python -m tests.bench.segments [profiles]   (default 100,000)

The rule is S1 step 6 plus an attribute and a tag group ("spent > 3,000 in 30 days AND clicked
a LINE push AND (city is Taipei OR asked something)"). DuckDB runs the compiled SQL over the
`profiles` / `events` tables (loaded from NDJSON, load time reported apart); Python runs
`evaluate` once per profile with its events grouped beforehand. Both must select the same ids.
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
from cdp.segments import EventFact, ProfileFacts, evaluate, parse_rule, to_select

NOW = datetime(2026, 11, 23, tzinfo=UTC)
RULE = {
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
        {"event": {"name": "Link Clicked", "where": [{"property": "context.channel", "op": "eq", "value": "line"}]}},
        {"or": [{"attribute": {"field": "traits.city", "op": "eq", "value": "Taipei"}}, {"tag": {"group": "asked"}}]},
    ]
}


def generate(count: int, seed: int = 7) -> tuple[list[ProfileFacts], list[tuple[str, EventFact]]]:
    rng = random.Random(seed)
    profiles, events = [], []
    for index in range(count):
        profile_id = f"p{index:07d}"
        traits: dict[str, Any] = {"city": rng.choice(["Taipei", "Taichung", "Kaohsiung"]), "age": rng.randint(18, 70)}
        tags = frozenset(rng.sample(["vip", "asked:size", "asked:color", "src:store-101", "interested:shoes"], 2))
        profiles.append(
            ProfileFacts(
                profile_id,
                traits=traits,
                computed={"ltv": rng.randint(0, 20_000)},
                tags=tags,
                line_status=rng.choice(["friend", "friend", "blocked", None]),
                consent={"email:marketing": rng.random() < 0.5},
                identifier_types=frozenset(rng.sample(["line", "email", "phone", "member_id"], 2)),
            )
        )
        for _ in range(rng.randint(0, 6)):
            name = rng.choice(["Order Completed", "Link Clicked", "Product Viewed"])
            properties: dict[str, Any] = (
                {"revenue": rng.randint(100, 4000)}
                if name == "Order Completed"
                else {"context": {"channel": rng.choice(["line", "web"])}}
            )
            timestamp = NOW - timedelta(minutes=rng.randint(0, 90 * 24 * 60))
            events.append((profile_id, EventFact(name, timestamp, properties)))
    return profiles, events


def load(db: duckdb.DuckDBPyConnection, profiles: list[ProfileFacts], events: list[tuple[str, EventFact]]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        profiles_file, events_file = Path(directory) / "profiles.ndjson", Path(directory) / "events.ndjson"
        with profiles_file.open("w") as out:
            for p in profiles:
                row = {
                    "profile_id": p.profile_id,
                    "traits": json.dumps(p.traits),
                    "computed": json.dumps(p.computed),
                    "tags": sorted(p.tags),
                    "line_status": p.line_status,
                    "consent": json.dumps(p.consent),
                    "identifier_types": sorted(p.identifier_types),
                }
                out.write(json.dumps(row) + "\n")
        with events_file.open("w") as out:
            for profile_id, e in events:
                row = {
                    "profile_id": profile_id,
                    "name": e.name,
                    "ts": e.timestamp.isoformat(),
                    "properties": json.dumps(e.properties),
                }
                out.write(json.dumps(row) + "\n")
        db.execute(
            "CREATE TABLE profiles AS SELECT profile_id, CAST(traits AS JSON) AS traits, "
            "CAST(computed AS JSON) AS computed, tags, line_status, CAST(consent AS JSON) AS consent, identifier_types "
            "FROM read_json(?, columns = {profile_id: 'VARCHAR', traits: 'VARCHAR', computed: 'VARCHAR', "
            "tags: 'VARCHAR[]', line_status: 'VARCHAR', consent: 'VARCHAR', identifier_types: 'VARCHAR[]'})",
            [str(profiles_file)],
        )
        db.execute(
            "CREATE TABLE events AS SELECT profile_id, name, CAST(ts AS TIMESTAMPTZ) AS ts, "
            "CAST(properties AS JSON) AS properties FROM read_json(?, columns = {profile_id: 'VARCHAR', "
            "name: 'VARCHAR', ts: 'VARCHAR', properties: 'VARCHAR'})",
            [str(events_file)],
        )
    db.execute("CREATE TABLE segment_members(segment_id VARCHAR, profile_id VARCHAR)")


def run(count: int = 100_000) -> dict[str, Any]:
    rule = parse_rule(RULE)
    profiles, events = generate(count)
    db = duckdb.connect()
    started = time.perf_counter()
    load(db, profiles, events)
    load_seconds = time.perf_counter() - started

    query, params = to_select(rule, NOW)
    started = time.perf_counter()
    selected_sql = {row[0] for row in db.execute(query, params).fetchall()}
    sql_seconds = time.perf_counter() - started

    started = time.perf_counter()
    by_profile: dict[str, list[EventFact]] = defaultdict(list)
    for profile_id, event in events:
        by_profile[profile_id].append(event)
    group_seconds = time.perf_counter() - started
    started = time.perf_counter()
    selected_python = {p.profile_id for p in profiles if evaluate(rule, p, by_profile[p.profile_id], NOW, set())}
    python_seconds = time.perf_counter() - started

    if selected_sql != selected_python:
        raise AssertionError(f"DuckDB and Python disagree on {len(selected_sql ^ selected_python)} profiles")
    return {
        "profiles": count,
        "events": len(events),
        "selected": len(selected_sql),
        "duckdb_load_s": round(load_seconds, 3),
        "duckdb_query_s": round(sql_seconds, 3),
        "python_group_events_s": round(group_seconds, 3),
        "python_evaluate_s": round(python_seconds, 3),
        "python_us_per_profile": round(python_seconds / count * 1e6, 2),
    }


if __name__ == "__main__":
    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000), indent=2))
