"""The retention bench measures a real sweep and prices a run from the stated sizes (fast smoke)."""

from __future__ import annotations

from cdp.adapters.dynamodb.retention import CoreTableSweeper

from tests.bench import retention


def test_the_canned_pages_go_through_the_real_sweep() -> None:
    client = retention._CannedScan(pages=3)
    sweeper = CoreTableSweeper(client, "core")
    cutoffs = {"timeline": retention.NOW_MS - 730 * retention.DAY_MS, "send_records": 0}
    removed, cursor, pages = 0, None, 0
    while True:
        page = sweeper.sweep(cutoffs, cursor)  # type: ignore[arg-type]
        removed, cursor, pages = removed + page.removed["timeline"], page.cursor, pages + 1
        if cursor is None:
            break
    # Ages 0..999 days, twice a page: 731..999 days are past 730.
    assert (pages, removed, client.batch_writes) == (3, 3 * 538, 3 * 22)
    assert retention.sweep_cpu(pages=2, repeats=1)["items_per_second"] > 0


def test_a_run_is_priced_from_the_table_size() -> None:
    small, large = retention.run_cost(100_000, 2_000_000), retention.run_cost(1_000_000, 20_000_000)
    assert large.removed_per_day == round(20_000_000 / 730)
    assert 13 < large.scanned_gb < 15 and 13_000 < large.pages < 15_000  # 1 MB pages
    assert large.usd_scan > 10 * large.usd_deletes  # the scan, not the deletes, is the bill
    assert 9 < large.usd_per_month / small.usd_per_month < 11
