"""A campaign's report, computed from the timeline in the Parquet archive (DuckDB), not from
counters: every figure is a question over events the product already records, so nothing has
to be counted twice and a replayed event cannot inflate a number.

- outcomes: the send point's `Message Sent` / `Message Suppressed` / `Message Failed`, one per
  send key (`campaign:<campaign>:<run>:<profile>`), carrying `campaign_id`, channel, reason and
  cost units;
- email: SES's `Email Delivered` / `Email Bounced`, tagged with the campaign id;
- clicks: `Link Clicked` of the campaign's tracked links (they carry `campaign_id`);
- conversions: a recipient's `Order Completed` within the attribution window after the send
  (default 7 days), with revenue (`revenue`, else `total`);
- block rate: LINE recipients who unfollowed within 48 hours of the send, over LINE recipients.

The archive trails the live table by its batching window (seconds to a minute): the report says
`archive_as_of`.
"""

from __future__ import annotations

from typing import Any

import duckdb

from cdp.events import names

ATTRIBUTION_DAYS = 7
BLOCK_WINDOW_HOURS = 48
UNFOLLOW_EVENT = "LINE Unfollowed"
OUTCOMES = (names.MESSAGE_SENT, names.MESSAGE_SUPPRESSED, names.MESSAGE_FAILED)

_OUTCOMES_SQL = """
CREATE OR REPLACE TEMP TABLE campaign_outcomes AS
SELECT send_key,
       arg_max(profile_id, ts) AS profile_id,
       arg_max(name, ts) AS name,
       max(ts) AS ts,
       arg_max(json_extract_string(properties, '$.channel'), ts) AS channel,
       arg_max(json_extract_string(properties, '$.reason'), ts) AS reason,
       arg_max(TRY_CAST(json_extract_string(properties, '$.cost_units') AS BIGINT), ts) AS units
FROM (
    SELECT *, json_extract_string(properties, '$.send_key') AS send_key FROM events
    WHERE name IN (?, ?, ?) AND json_extract_string(properties, '$.campaign_id') = ?
) WHERE send_key LIKE ?
GROUP BY send_key
"""


def campaign_report(
    db: duckdb.DuckDBPyConnection,
    campaign_id: str,
    *,
    run_id: str | None = None,
    attribution_days: int = ATTRIBUTION_DAYS,
) -> dict[str, Any]:
    prefix = f"campaign:{campaign_id}:{run_id}:%" if run_id else f"campaign:{campaign_id}:%"
    db.execute(_OUTCOMES_SQL, [*OUTCOMES, campaign_id, prefix])

    def rows(sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        return db.execute(sql, params or []).fetchall()

    targeted = rows("SELECT count(*) FROM campaign_outcomes")[0][0]
    sent = dict(rows("SELECT channel, count(*) FROM campaign_outcomes WHERE name = ? GROUP BY 1", [names.MESSAGE_SENT]))
    suppressed = dict(
        rows("SELECT reason, count(*) FROM campaign_outcomes WHERE name = ? GROUP BY 1", [names.MESSAGE_SUPPRESSED])
    )
    failed = dict(
        rows("SELECT reason, count(*) FROM campaign_outcomes WHERE name = ? GROUP BY 1", [names.MESSAGE_FAILED])
    )
    units = dict(
        rows(
            "SELECT channel, coalesce(sum(units), 0) FROM campaign_outcomes WHERE name = ? GROUP BY 1",
            [names.MESSAGE_SENT],
        )
    )
    tagged = "json_extract_string(properties, '$.campaign_id') = ?"
    email = dict(
        rows(
            f"SELECT name, count(DISTINCT json_extract_string(properties, '$.message_id')) FROM events WHERE name IN (?, ?) AND {tagged} GROUP BY 1",  # noqa: S608
            [names.EMAIL_DELIVERED, names.EMAIL_BOUNCED, campaign_id],
        )
    )
    clicks, unique_clicks = rows(
        f"SELECT count(*), count(DISTINCT profile_id) FROM events WHERE name IN (?, ?) AND {tagged}",  # noqa: S608
        [names.LINK_CLICKED, names.LINE_LINK_CLICKED, campaign_id],
    )[0]
    orders, buyers, revenue = rows(
        f"""
        SELECT count(DISTINCT e.event_id), count(DISTINCT e.profile_id),
               coalesce(sum(coalesce(TRY_CAST(json_extract_string(e.properties, '$.revenue') AS DOUBLE),
                                     TRY_CAST(json_extract_string(e.properties, '$.total') AS DOUBLE), 0)), 0)
        FROM events e JOIN (
            SELECT profile_id, min(ts) AS ts FROM campaign_outcomes WHERE name = ? GROUP BY 1
        ) s ON e.profile_id = s.profile_id
        WHERE e.name = ? AND e.ts >= s.ts AND e.ts < s.ts + INTERVAL {int(attribution_days)} DAY
        """,  # noqa: S608 (an int)
        [names.MESSAGE_SENT, names.ORDER_COMPLETED],
    )[0]
    blocked = rows(
        f"""
        SELECT count(DISTINCT e.profile_id) FROM events e JOIN (
            SELECT profile_id, min(ts) AS ts FROM campaign_outcomes WHERE name = ? AND channel = 'line' GROUP BY 1
        ) s ON e.profile_id = s.profile_id
        WHERE e.name = ? AND e.ts >= s.ts AND e.ts < s.ts + INTERVAL {BLOCK_WINDOW_HOURS} HOUR
        """,  # noqa: S608 (a constant)
        [names.MESSAGE_SENT, UNFOLLOW_EVENT],
    )[0][0]
    sent_total = sum(sent.values())
    line_recipients = sent.get("line", 0)
    return {
        "campaign_id": campaign_id,
        "run_id": run_id,
        "targeted": targeted,
        "sent": {channel: count for channel, count in sorted(sent.items()) if channel},
        "sent_total": sent_total,
        "suppressed": {reason or "unknown": count for reason, count in sorted(suppressed.items(), key=str)},
        "failed": {reason or "unknown": count for reason, count in sorted(failed.items(), key=str)},
        "email": {"delivered": email.get(names.EMAIL_DELIVERED, 0), "bounced": email.get(names.EMAIL_BOUNCED, 0)},
        "clicks": clicks,
        "unique_clicks": unique_clicks,
        "ctr": round(unique_clicks / sent_total, 4) if sent_total else None,
        "conversions": {
            "window_days": attribution_days,
            "orders": orders,
            "buyers": buyers,
            "revenue": round(float(revenue), 2),
            "rate": round(buyers / sent_total, 4) if sent_total else None,
        },
        "line": {
            "recipients": line_recipients,
            "messages": int(units.get("line", 0) or 0),
            "blocked_within_48h": blocked,
            "block_rate": round(blocked / line_recipients, 4) if line_recipients else None,
        },
        "sms_segments": int(units.get("sms", 0) or 0),
    }
