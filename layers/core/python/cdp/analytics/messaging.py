"""Campaign and journey results over the range, with the campaign report's definitions
(cdp.campaigns.report) applied to every campaign and journey at once:

- sends: the send point's latest outcome per send key (`Message Sent` / `Suppressed` / `Failed`
  carry `campaign_id` or `journey_id`); a send counts when its outcome is `Message Sent` inside
  the range;
- delivered: LINE and SMS sends, plus the email sends with an SES `Email Delivered` of their
  message id;
- clicks: recipients who clicked a tracked link of the owner (`Link Clicked` / `LINE Link
  Clicked`) at or after their first send in the range; CTR = clicks / sent;
- conversions: recipients with an `Order Completed` within `attribution_days` after their first
  send in the range, and the revenue of those orders;
- block rate: LINE recipients who unfollowed within 48 hours of their first LINE send, over
  LINE recipients;
- cost units: LINE messages, emails and SMS segments, priced by the route (cdp.campaigns.pricing).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from cdp.analytics.range import ReportRange, rate, run
from cdp.events import names

if TYPE_CHECKING:
    import duckdb

OWNERS = ("campaign", "journey")
_REVENUE = (
    "coalesce(TRY_CAST(json_extract_string(e.properties, '$.revenue') AS DOUBLE), "
    "TRY_CAST(json_extract_string(e.properties, '$.total') AS DOUBLE), 0)"
)
_OWNER = (
    "CASE WHEN json_extract_string(properties, '$.campaign_id') IS NOT NULL THEN 'campaign' ELSE 'journey' END AS kind, "
    "coalesce(json_extract_string(properties, '$.campaign_id'), json_extract_string(properties, '$.journey_id')) AS id"
)


def messaging(
    db: duckdb.DuckDBPyConnection, span: ReportRange, *, attribution_days: int | None = None
) -> dict[str, Any]:
    # the campaign report's windows (imported here: that module loads DuckDB)
    from cdp.campaigns.report import ATTRIBUTION_DAYS, BLOCK_WINDOW_HOURS, UNFOLLOW_EVENT

    attribution_days = ATTRIBUTION_DAYS if attribution_days is None else attribution_days
    params: dict[str, Any] = {
        "start": span.start_utc,
        "end": span.end_utc,
        "window": timedelta(days=attribution_days),
        "block": timedelta(hours=BLOCK_WINDOW_HOURS),
        "o1": names.MESSAGE_SENT,
        "o2": names.MESSAGE_SUPPRESSED,
        "o3": names.MESSAGE_FAILED,
        "sent": names.MESSAGE_SENT,
        "delivered": names.EMAIL_DELIVERED,
        "c1": names.LINK_CLICKED,
        "c2": names.LINE_LINK_CLICKED,
        "order": names.ORDER_COMPLETED,
        "unfollow": UNFOLLOW_EVENT,
    }
    sends = f"""
        SELECT kind, id, profile_id, channel, units, ts, message_id FROM (
            SELECT kind, id, arg_max(name, ts) AS name, arg_max(profile_id, ts) AS profile_id, max(ts) AS ts,
                   arg_max(coalesce(json_extract_string(properties, '$.channel'), ''), ts) AS channel,
                   arg_max(coalesce(TRY_CAST(json_extract_string(properties, '$.cost_units') AS BIGINT), 0), ts)
                       AS units,
                   arg_max(coalesce(json_extract_string(properties, '$.message_id'), ''), ts) AS message_id
            FROM (
                SELECT {_OWNER}, json_extract_string(properties, '$.send_key') AS send_key, name, profile_id, ts,
                       properties
                FROM events WHERE name IN ($o1, $o2, $o3) AND ts >= $start
            ) WHERE id IS NOT NULL AND send_key IS NOT NULL
            GROUP BY kind, id, send_key
        ) WHERE name = $sent AND ts < $end
    """
    delivered_emails = """
        SELECT DISTINCT json_extract_string(properties, '$.message_id') AS message_id
        FROM events WHERE name = $delivered AND ts >= $start
    """
    sent_rows = run(
        db,
        f"""
        WITH s AS ({sends}), d AS ({delivered_emails})
        SELECT kind, id, count(*), count(*) FILTER (WHERE channel = 'email'),
               count(*) FILTER (WHERE channel = 'email' AND message_id IN (SELECT message_id FROM d)),
               coalesce(sum(units) FILTER (WHERE channel = 'line'), 0),
               coalesce(sum(units) FILTER (WHERE channel = 'sms'), 0),
               count(DISTINCT profile_id) FILTER (WHERE channel = 'line')
        FROM s GROUP BY kind, id
        """,
        params,
    )
    firsts = f"""
        SELECT kind, id, profile_id, min(ts) AS ts, min(ts) FILTER (WHERE channel = 'line') AS line_ts
        FROM ({sends}) GROUP BY kind, id, profile_id
    """
    conversions = run(
        db,
        f"""
        SELECT f.kind, f.id, count(DISTINCT e.profile_id), coalesce(sum({_REVENUE}), 0)
        FROM ({firsts}) f JOIN (
            SELECT profile_id, ts, properties FROM events WHERE name = $order AND ts >= $start
        ) e ON e.profile_id = f.profile_id
        WHERE e.ts >= f.ts AND e.ts < f.ts + $window
        GROUP BY ALL
        """,
        params,
    )
    blocks = run(
        db,
        f"""
        SELECT f.kind, f.id, count(DISTINCT e.profile_id)
        FROM ({firsts}) f JOIN (
            SELECT profile_id, ts FROM events WHERE name = $unfollow AND ts >= $start
        ) e ON e.profile_id = f.profile_id
        WHERE f.line_ts IS NOT NULL AND e.ts >= f.line_ts AND e.ts < f.line_ts + $block
        GROUP BY ALL
        """,
        params,
    )
    clicks = run(
        db,
        f"""
        SELECT f.kind, f.id, count(DISTINCT c.profile_id)
        FROM ({firsts}) f JOIN (
            SELECT {_OWNER}, profile_id, ts FROM events WHERE name IN ($c1, $c2) AND ts >= $start
        ) c ON c.profile_id = f.profile_id AND c.kind = f.kind AND c.id = f.id AND c.ts >= f.ts
        GROUP BY ALL
        """,
        params,
    )
    converted = {(kind, key): (people, revenue) for kind, key, people, revenue in conversions}
    blocked = {(kind, key): people for kind, key, people in blocks}
    clicked = {(kind, key): people for kind, key, people in clicks}
    items: dict[str, list[dict[str, Any]]] = {"campaigns": [], "journeys": []}
    for kind, key, sent, emails, emailed, line_units, sms_units, line_people in sorted(sent_rows):
        people, revenue = converted.get((kind, key), (0, 0.0))
        items[f"{kind}s"].append(
            {
                "id": key,
                "sent": sent,
                "delivered": sent - emails + emailed,
                "clicks": clicked.get((kind, key), 0),
                "ctr": rate(clicked.get((kind, key), 0), sent),
                "conversions": people,
                "revenue": round(float(revenue), 2),
                "line_recipients": line_people,
                "blocked": blocked.get((kind, key), 0),
                "block_rate": rate(blocked.get((kind, key), 0), line_people),
                "units": {"line_messages": int(line_units), "emails": emails, "sms_segments": int(sms_units)},
            }
        )
    return {"attribution_days": attribution_days, **items}


def totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The sum of campaign and journey rows, rates recomputed."""
    summed = {
        name: sum(row[name] for row in rows)
        for name in ("sent", "delivered", "clicks", "conversions", "line_recipients", "blocked")
    }
    revenue = round(sum(row["revenue"] for row in rows), 2)
    cost = round(sum(row.get("cost") or 0.0 for row in rows), 2)
    return {
        **summed,
        "ctr": rate(summed["clicks"], summed["sent"]),
        "revenue": revenue,
        "block_rate": rate(summed["blocked"], summed["line_recipients"]),
        "cost": cost,
    }
