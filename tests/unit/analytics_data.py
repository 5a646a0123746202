"""Small generated archives for the analytics reports' differential tests: rows in the query
tables' columns (ANALYTICS: profiles, events), loaded into DuckDB, and the same rows kept as
Python dicts for the naive references."""

from __future__ import annotations

import json
import random
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

START = datetime(2026, 9, 20, tzinfo=UTC)  # spans the New York DST change of 2026-11-01
SPAN = timedelta(days=80)
CHANNELS = ("line", "web", "app", "pos", "crm", None)
FUNNEL = ("Product Viewed", "Product Added", "Checkout Started", "Order Completed")
CITIES = ("Taipei", "Taichung", "Tainan", "Kaohsiung", "Hsinchu")


@dataclass
class Archive:
    profiles: list[dict[str, Any]]
    events: list[dict[str, Any]]

    def connect(self) -> duckdb.DuckDBPyConnection:
        db = duckdb.connect()
        with tempfile.TemporaryDirectory() as folder:
            profiles = Path(folder) / "p.ndjson"
            events = Path(folder) / "e.ndjson"
            profiles.write_text("\n".join(json.dumps(row) for row in self.profiles) + "\n")
            events.write_text("\n".join(json.dumps({**row, "ts": row["ts"].isoformat()}) for row in self.events) + "\n")
            db.execute(
                "CREATE TABLE profiles AS SELECT * FROM read_json(?, format = 'newline_delimited', columns = "
                "{profile_id: 'VARCHAR', version: 'BIGINT', traits: 'JSON', consent: 'JSON', tags: 'VARCHAR[]', "
                "line_status: 'VARCHAR', identifier_types: 'VARCHAR[]', computed: 'JSON'})",
                [str(profiles)],
            )
            db.execute(
                "CREATE TABLE events AS SELECT * FROM read_json(?, format = 'newline_delimited', columns = "
                "{event_id: 'VARCHAR', profile_id: 'VARCHAR', type: 'VARCHAR', name: 'VARCHAR', "
                "ts: 'TIMESTAMPTZ', channel: 'VARCHAR', properties: 'JSON'})",
                [str(events)],
            )
        db.execute("CREATE TABLE segment_members (segment_id VARCHAR, profile_id VARCHAR)")
        return db


def generate(seed: int, people: int = 60) -> Archive:
    rng = random.Random(seed)
    profiles: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    counter = 0

    def add(profile_id: str, name: str, at: datetime, channel: str | None, properties: dict[str, Any]) -> None:
        nonlocal counter
        counter += 1
        events.append(
            {
                "event_id": f"e{counter:06d}",
                "profile_id": profile_id,
                "type": "track",
                "name": name,
                "ts": at.replace(microsecond=0),
                "channel": channel,
                "properties": properties,
            }
        )

    def moment() -> datetime:
        return START + timedelta(seconds=rng.randrange(int(SPAN.total_seconds())))

    for n in range(people):
        profile_id = f"p{n:04d}"
        kinds = [kind for kind in ("email", "phone", "line_user_id") if rng.random() < 0.6]
        consent: dict[str, bool] = {}
        for key in ("email:marketing", "sms:marketing", "line:marketing"):
            if rng.random() < 0.5:
                consent[key] = rng.random() < 0.7
        traits: dict[str, Any] = {}
        if rng.random() < 0.8:
            traits["city"] = rng.choice(CITIES)
        if rng.random() < 0.8:
            traits["age"] = rng.randrange(15, 80)
        if rng.random() < 0.5:
            traits["score"] = round(rng.uniform(-5, 50), 2)
        traits["vip"] = rng.random() < 0.3
        # LINE friendship: follows, blocks and unblocks in time order
        at = moment()
        friend = False
        for _ in range(rng.randrange(0, 4)):
            if friend:
                add(profile_id, "LINE Unfollowed", at, "line", {})
            else:
                unblock = rng.random() < 0.4
                add(profile_id, "LINE Followed", at, "line", {"isUnblocked": True} if unblock else {})
            friend = not friend
            at += timedelta(hours=rng.randrange(1, 24 * 20))
        # commerce: funnel attempts with random gaps, some skipping a step or falling outside 7 days
        for _ in range(rng.randrange(0, 5)):
            at = moment()
            channel = rng.choice(CHANNELS)
            for step in FUNNEL:
                if rng.random() < 0.25:
                    break
                properties: dict[str, Any] = {}
                if step == "Order Completed":
                    choice = rng.random()
                    if choice < 0.7:
                        properties["revenue"] = rng.choice([rng.randrange(100, 5000), round(rng.uniform(10, 900), 2)])
                    elif choice < 0.85:
                        properties["total"] = rng.randrange(100, 3000)
                    properties["coupon"] = rng.choice(["A", "B", "C", None])
                if rng.random() < 0.2:
                    channel = rng.choice(CHANNELS)
                add(profile_id, step, at, channel, properties)
                at += timedelta(minutes=rng.choice([0, 1, 5, 60, 600, 3000, 9000, 12000]))
        for _ in range(rng.randrange(0, 6)):
            add(
                profile_id,
                rng.choice(["Page Viewed", "Product Viewed", "Link Clicked"]),
                moment(),
                rng.choice(CHANNELS),
                {},
            )
        # messages of two campaigns and a journey: outcomes per send key (the latest wins), email
        # deliveries, tracked-link clicks
        for owner in ("campaign_id:c1", "campaign_id:c2", "journey_id:j1"):
            if rng.random() < 0.5:
                continue
            key, value = owner.split(":")
            at = moment()
            channel = rng.choice(["line", "email", "sms"])
            send_key = f"{value}:{profile_id}"
            tagged = {key: value, "send_key": send_key, "channel": channel, "message_id": f"m-{send_key}"}
            outcome = rng.choice(["Message Sent", "Message Sent", "Message Suppressed"])
            add(profile_id, outcome, at, "crm", {**tagged, "cost_units": rng.choice([1, 2]), "reason": "cap"})
            if rng.random() < 0.1:  # failed on a retry after the send: the latest outcome wins
                add(profile_id, "Message Failed", at + timedelta(seconds=5), "crm", tagged)
            if channel == "email" and rng.random() < 0.8:
                add(
                    profile_id,
                    "Email Delivered",
                    at + timedelta(minutes=1),
                    "system",
                    {key: value, "message_id": f"m-{send_key}"},
                )
            if rng.random() < 0.4:
                add(profile_id, "Link Clicked", at + timedelta(hours=rng.randrange(1, 50)), "web", {key: value})
            if rng.random() < 0.3:
                order_at = at + timedelta(hours=rng.randrange(1, 240))
                add(profile_id, "Order Completed", order_at, "web", {"revenue": rng.randrange(100, 900)})
            if channel == "line" and rng.random() < 0.3:
                add(profile_id, "LINE Unfollowed", at + timedelta(hours=rng.randrange(1, 72)), "line", {})
        tags = sorted(rng.sample(["vip", "interest:shoes", "interest:bags", "region:north"], rng.randrange(0, 3)))
        orders = sum(1 for e in events if e["profile_id"] == profile_id and e["name"] == "Order Completed")
        profiles.append(
            {
                "profile_id": profile_id,
                "version": 1,
                "traits": traits,
                "consent": consent,
                "tags": tags,
                "line_status": "friend" if friend else "unknown",
                "identifier_types": kinds,
                "computed": {"orders": {"all_time": orders}, "ltv": rng.choice([0, 120.5, 999])},
            }
        )
    # follow events of a person no longer in `profiles` (removed): still a friendship change
    add("gone", "LINE Followed", moment(), "line", {})
    return Archive(profiles, events)
