"""The campaign report's questions over the archive's `events` table (DuckDB): outcomes per send
key, clicks and CTR, conversions inside the attribution window, block rate within 48 hours."""

from __future__ import annotations

import json
from typing import Any

import duckdb
from cdp.campaigns.report import campaign_report


def _db(rows: list[tuple[str, str, str, str, dict[str, Any]]]) -> duckdb.DuckDBPyConnection:
    db = duckdb.connect()
    db.execute(
        "CREATE TEMP TABLE events (event_id VARCHAR, profile_id VARCHAR, type VARCHAR, name VARCHAR, "
        "ts TIMESTAMPTZ, channel VARCHAR, properties JSON)"
    )
    db.executemany(
        "INSERT INTO events VALUES (?, ?, 'track', ?, ?, 'crm', ?)",
        [(event_id, profile, name, ts, json.dumps(props)) for event_id, profile, name, ts, props in rows],
    )
    return db


def _outcome(
    profile: str, name: str, ts: str, *, run: str = "r1", **props: Any
) -> tuple[str, str, str, str, dict[str, Any]]:
    key = f"campaign:spring:{run}:{profile}"
    return (f"{key}\n{name}", profile, name, ts, {"campaign_id": "spring", "send_key": key, **props})


def test_the_report_counts_outcomes_clicks_conversions_and_blocks() -> None:
    rows = [
        _outcome("p_amy", "Message Sent", "2026-05-04T03:00:00Z", channel="line", cost_units=1),
        _outcome("p_ben", "Message Sent", "2026-05-04T03:00:01Z", channel="line", cost_units=1),
        _outcome("p_cat", "Message Sent", "2026-05-04T03:00:02Z", channel="email", cost_units=1),
        _outcome("p_dan", "Message Suppressed", "2026-05-04T03:00:03Z", reason="capped_day"),
        _outcome("p_eve", "Message Failed", "2026-05-04T03:00:04Z", reason="line_rejected"),
        ("c1", "p_amy", "Link Clicked", "2026-05-04T04:00:00Z", {"campaign_id": "spring"}),
        ("c2", "p_amy", "Link Clicked", "2026-05-04T05:00:00Z", {"campaign_id": "spring"}),
        ("c3", "p_cat", "Link Clicked", "2026-05-04T05:00:00Z", {"campaign_id": "other"}),
        ("o1", "p_amy", "Order Completed", "2026-05-06T03:00:00Z", {"revenue": 1200}),
        ("o2", "p_ben", "Order Completed", "2026-05-20T03:00:00Z", {"revenue": 900}),  # after 7 days
        ("o3", "p_dan", "Order Completed", "2026-05-05T03:00:00Z", {"total": 300}),  # not sent to
        ("u1", "p_ben", "LINE Unfollowed", "2026-05-05T02:00:00Z", {}),  # 47 h after
        ("u2", "p_amy", "LINE Unfollowed", "2026-05-07T03:00:00Z", {}),  # 72 h after
        ("d1", "p_cat", "Email Delivered", "2026-05-04T03:01:00Z", {"campaign_id": "spring", "message_id": "m1"}),
        _outcome("p_other", "Message Sent", "2026-05-04T03:00:00Z", channel="line", cost_units=1, run="r2"),
    ]
    report = campaign_report(_db(rows), "spring", run_id="r1")
    assert report["targeted"] == 5
    assert report["sent"] == {"email": 1, "line": 2} and report["sent_total"] == 3
    assert report["suppressed"] == {"capped_day": 1} and report["failed"] == {"line_rejected": 1}
    assert report["email"] == {"delivered": 1, "bounced": 0}
    assert (report["clicks"], report["unique_clicks"], report["ctr"]) == (2, 1, round(1 / 3, 4))
    assert report["conversions"] == {
        "window_days": 7,
        "orders": 1,
        "buyers": 1,
        "revenue": 1200.0,
        "rate": round(1 / 3, 4),
    }
    assert report["line"] == {"recipients": 2, "messages": 2, "blocked_within_48h": 1, "block_rate": 0.5}
    every_run = campaign_report(_db(rows), "spring")
    assert every_run["targeted"] == 6 and every_run["line"]["recipients"] == 3
