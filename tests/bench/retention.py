"""What the daily retention job costs: its own CPU per scanned page, measured here, and the AWS bill
of a run at a given size, computed at list prices (`tests.bench.cost.PRICES`).

`python -m tests.bench.retention` writes tests/bench/results/retention-<time>.json. The CPU is the
core-table sweep's (classify each item, batch the deletes) over canned 2,000-item scan pages: no
network, no moto. A real run adds DynamoDB's time per 1 MB page, which is assumed
(`SCAN_PAGE_SECONDS`), not measured: this machine has no AWS.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cdp.adapters.dynamodb.retention import CoreTableSweeper
from cdp.clock import iso_from_ms

from tests.bench.cost import PRICES, PRICES_AS_OF

RESULTS = Path(__file__).resolve().parent / "results"
DAY_MS = 86_400_000
NOW_MS = 1_800_000_000_000
PAGE_ITEMS = 2_000  # about 1 MB of timeline entries' keys and sizes
# Item sizes the cost bench measured (docs/costs.md): deflated timeline entry, profile, claim, marker.
TIMELINE_ENTRY_BYTES = 592
PROFILE_BYTES = 1_004
CLAIM_BYTES = 197
MARKER_BYTES = 346
CLAIMS_PER_PROFILE = 4
MARKER_DAYS = 35  # applied-event markers' TTL
SCAN_PAGE_BYTES = 1_000_000
SCAN_PAGE_SECONDS = 0.08  # assumed: DynamoDB's answer to a 1 MB Scan page in the same region
BATCH_WRITE_SECONDS = 0.01  # assumed, four in flight
JOB_MEMORY_GB = 0.5
RUNS_PER_MONTH = 30


class _CannedScan:
    """A scan client whose every page is the same 2,000 timeline entries (ages 0..999 days)."""

    def __init__(self, pages: int) -> None:
        self.pages = pages
        self.batch_writes = 0
        self._page = [
            {
                "pk": {"S": f"PROFILE#p{i // 20}"},
                "sk": {"S": f"EVENT#{iso_from_ms(NOW_MS - (i % 1000) * DAY_MS)}#e{i}"},
            }
            for i in range(PAGE_ITEMS)
        ]

    def scan(self, **request: Any) -> dict[str, Any]:
        number = int(request["ExclusiveStartKey"]["n"]["N"]) if "ExclusiveStartKey" in request else 0
        answer: dict[str, Any] = {"Items": self._page}
        if number + 1 < self.pages:
            answer["LastEvaluatedKey"] = {"n": {"N": str(number + 1)}}
        return answer

    def batch_write_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        self.batch_writes += 1
        return {}


def sweep_cpu(pages: int = 100, repeats: int = 3) -> dict[str, float]:
    """Milliseconds of the job's own work per 2,000-item page (median of `repeats`)."""
    cutoffs = {"timeline": NOW_MS - 730 * DAY_MS, "send_records": NOW_MS - 400 * DAY_MS}
    timings = []
    for _ in range(repeats):
        sweeper = CoreTableSweeper(_CannedScan(pages), "core")
        cursor: str | None = None
        started = time.perf_counter()
        while True:
            cursor = sweeper.sweep(cutoffs, cursor).cursor  # type: ignore[arg-type]
            if cursor is None:
                break
        timings.append(time.perf_counter() - started)
    seconds = statistics.median(timings)
    return {"ms_per_page": seconds / pages * 1000, "items_per_second": pages * PAGE_ITEMS / seconds}


@dataclass(frozen=True)
class RunCost:
    profiles: int
    events: int
    timeline_days: int
    scanned_gb: float
    pages: int
    removed_per_day: int
    scan_rru: float
    usd_scan: float
    usd_deletes: float
    usd_run_records: float
    lambda_seconds: float
    usd_lambda: float
    usd_per_run: float
    usd_per_month: float


def run_cost(profiles: int, events: int, *, timeline_days: int = 730, ms_per_page: float = 10.0) -> RunCost:
    """A daily run at steady state: events spread evenly over the timeline's retention, so a day's
    worth of them ages out each day."""
    events_per_day = events / timeline_days
    scanned = (
        events * TIMELINE_ENTRY_BYTES
        + profiles * (PROFILE_BYTES + CLAIMS_PER_PROFILE * CLAIM_BYTES)
        + events_per_day * MARKER_DAYS * MARKER_BYTES
    )
    pages = int(scanned // SCAN_PAGE_BYTES) + 1
    rru = scanned / 8192  # eventually consistent: 1 RRU per 8 KB scanned
    removed = round(events_per_day)
    usd_scan = rru / 1e6 * PRICES["dynamodb_on_demand_per_million_rru"]
    usd_deletes = removed / 1e6 * PRICES["dynamodb_on_demand_per_million_wru"]  # entries under 1 KB: 1 WRU
    usd_records = pages / 1e6 * PRICES["dynamodb_on_demand_per_million_wru"]  # the run saved per page
    seconds = pages * (SCAN_PAGE_SECONDS + ms_per_page / 1000) + removed / 25 * BATCH_WRITE_SECONDS / 4
    usd_lambda = seconds * JOB_MEMORY_GB * PRICES["lambda_arm64_per_gb_second"]
    per_run = usd_scan + usd_deletes + usd_records + usd_lambda
    return RunCost(
        profiles,
        events,
        timeline_days,
        round(scanned / 1e9, 2),
        pages,
        removed,
        round(rru),
        round(usd_scan, 4),
        round(usd_deletes, 4),
        round(usd_records, 4),
        round(seconds),
        round(usd_lambda, 4),
        round(per_run, 4),
        round(per_run * RUNS_PER_MONTH, 2),
    )


def main() -> dict[str, Any]:
    cpu = sweep_cpu()
    result = {
        "prices_as_of": PRICES_AS_OF,
        "assumed": {"scan_page_seconds": SCAN_PAGE_SECONDS, "batch_write_seconds": BATCH_WRITE_SECONDS},
        "sweep_cpu": cpu,
        "runs": [
            asdict(run_cost(profiles, events, ms_per_page=cpu["ms_per_page"]))
            for profiles, events in ((100_000, 2_000_000), (1_000_000, 20_000_000))
        ],
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(tz=UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS / f"retention-{stamp}.json").write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
