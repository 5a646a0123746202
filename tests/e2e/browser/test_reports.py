"""Each report in Chromium: its chart drew data (pixels in the series colours, not an empty
canvas), its table shows the API's numbers (the test asks the same route with the same query),
and the table exports as CSV. S1's Amy (a store order, web browsing, a LINE follow, all today)
makes every report non-empty."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.browser.conftest import Console, data_pixels
from tests.e2e.browser.seed import ADMIN, Person
from tests.e2e.conftest import HTTP_TIMEOUT_SECONDS, Stack

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

Rows = list[tuple[Any, ...]]


def _trend(answer: dict[str, Any]) -> tuple[Rows, int]:
    assert answer["total"] > 0
    rows = [(s["key"], s["total"]) for s in answer["series"]]
    return rows, sum(len(s["values"]) for s in answer["series"])


def _funnel(answer: dict[str, Any]) -> tuple[Rows, int]:
    steps = answer["groups"]["all"]["steps"]
    assert steps[0]["people"] > 0
    return [(s["name"], s["people"]) for s in steps], len(steps) * 4


def _retention(answer: dict[str, Any]) -> tuple[Rows, int]:
    assert answer["cohorts"] and answer["cohorts"][-1]["size"] > 0
    return [(c["cohort"], c["size"], c["repeat_buyers"]) for c in answer["cohorts"]], len(answer["cohorts"]) * 2


def _distribution(answer: dict[str, Any]) -> tuple[Rows, int]:
    assert answer["kind"] == "numeric" and answer["count"] > 0
    return [(b["count"],) for b in answer["bins"]], len(answer["bins"])


def _friends(answer: dict[str, Any]) -> tuple[Rows, int]:
    assert answer["totals"]["new_friends"] > 0
    return [(d["date"], d["new_friends"], d["blocks"]) for d in answer["days"]], len(answer["days"]) * 3


def _groups(answer: dict[str, Any]) -> tuple[Rows, int]:
    groups = [*answer["channel_groups"].items(), *answer["rfm_groups"].items()]
    assert answer["channel_groups"]["omnichannel"]["people"] > 0
    return [(name, figures["people"]) for name, figures in groups], len(answer["channel_groups"])


def _health(answer: dict[str, Any]) -> tuple[Rows, int]:
    assert answer["profiles"] > 0
    ids = answer["identifiers"]
    return [(name, c["present"], c["missing"]) for name, c in ids.items()], len(ids) * 2


# report tab -> (table columns compared, expected rows and drawn values from the API's answer)
REPORTS: dict[str, tuple[tuple[str, ...], Callable[[dict[str, Any]], tuple[Rows, int]]]] = {
    "trend": (("key", "total"), _trend),
    "funnel": (("name", "people"), _funnel),
    "retention": (("cohort", "size", "repeat_buyers"), _retention),
    "distribution": (("count",), _distribution),
    "friends": (("date", "new_friends", "blocks"), _friends),
    "groups": (("group", "people"), _groups),
    "health": (("identifier", "present", "missing"), _health),
}


def _cell(text: str) -> Any:
    plain = text.strip().replace(",", "")
    return int(plain) if plain.lstrip("-").isdigit() else text.strip()


@pytest.mark.parametrize("report", list(REPORTS))
def test_each_report_draws_its_chart_with_the_apis_numbers(
    report: str, console: Console, stack: Stack, amy: Person
) -> None:
    columns, expected_from = REPORTS[report]
    stack.drain()  # nothing left in flight from earlier tests: the page and the test read the same data
    console.sign_in()
    console.open("reports", report)

    # The chart drew data: its canvas has pixels in the series colours, not just axes
    chart = console.page.get_by_test_id(f"reports-{report}-chart")
    expect(chart).to_have_attribute("data-rendered", "true")
    assert data_pixels(chart) > 0, f"the {report} chart's canvas shows no data"

    # And the table shows what the API answers to the same query
    body = console.page.get_by_test_id(f"reports-{report}-body")
    path, query = body.get_attribute("data-path"), body.get_attribute("data-query")
    answer = stack.http.get(stack.url(f"{path}?{query}"), headers=ADMIN, timeout=HTTP_TIMEOUT_SECONDS)
    assert answer.status_code == 200, answer.text
    expected, points = expected_from(answer.json())
    rows = console.page.get_by_test_id(f"reports-{report}-table-row")
    shown = [
        tuple(_cell(row.locator(f'td[data-col="{column}"]').inner_text()) for column in columns) for row in rows.all()
    ]
    assert shown == expected
    expect(chart).to_have_attribute("data-points", str(points))
    console.shot(f"reports-{report}")

    # And the table exports as CSV, one line per row under a header
    with console.page.expect_download() as download:
        console.page.get_by_test_id(f"reports-{report}-export").click()
    text = download.value.path().read_text(encoding="utf-8-sig")
    exported = list(csv.reader(io.StringIO(text)))
    assert len(exported) == len(expected) + 1
