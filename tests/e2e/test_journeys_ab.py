"""An A/B split with a 10% holdout over generated LINE friends, over HTTP on the local stack:
branch sizes within tolerance of 45/45/10, the holdout receives nothing, every treated person
exactly one offer, and the report shows both conversions (the offer claimed with a LINE
postback), their difference and the z-test.

`CDP_E2E_AB_PEOPLE` sets how many: 200 in the suite (its time allows that), the scenario's 1,000
in `make test-scale`, which CI runs after the suite (about 13 minutes on 2 cores)."""

from __future__ import annotations

import os
import random
from concurrent.futures import ThreadPoolExecutor
from statistics import NormalDist

import pytest

from tests.e2e.conftest import Stack, now_ms, unique
from tests.e2e.journey_helpers import (
    definition,
    published_journey,
    report,
    runs,
    settle,
    template,
    texts,
    wait_for,
)
from tests.e2e.test_campaigns import taipei_at
from tests.fixtures.line_events import follow, postback, user_id, user_source

# Journeys run on a local stack of their own (the other worker's): they are the longest e2e group.
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e-journeys")]

PEOPLE = int(os.environ.get("CDP_E2E_AB_PEOPLE", "200"))
BATCH = 100  # follows per webhook delivery
# Four standard deviations of a binomial count: a fair split fails this about once in 15,000 runs.
SIGMAS = 4
OFFERS = {"spring-a": "春季優惠 A：滿千折百", "spring-b": "春季優惠 B：第二件 5 折"}


def _within(count: int, share: float) -> bool:
    mean = PEOPLE * share
    return abs(count - mean) <= SIGMAS * (PEOPLE * share * (1 - share)) ** 0.5


def test_an_ab_split_with_a_holdout_over_generated_people(clock: Stack) -> None:
    stack = clock
    taipei_at(stack, 11)
    rng = random.Random(20261207)
    ids = {name: template(stack, name, text) for name, text in OFFERS.items()}
    users = [user_id(unique("ab")) for _ in range(PEOPLE)]

    with published_journey(stack, definition("ab-holdout", ids)) as journey_id:
        start = now_ms()
        for first in range(0, PEOPLE, BATCH):
            batch = users[first : first + BATCH]
            events = [follow(source=user_source(u), timestamp=start + first + i) for i, u in enumerate(batch)]
            assert stack.line(events).status_code == 200
        settle(stack)
        with ThreadPoolExecutor(8) as pool:
            profiles = list(pool.map(lambda u: str(stack.lookup("line", u)["profile_id"]), users))

        def all_ended() -> bool:
            figures = report(stack, journey_id)
            return bool(figures["runs"]["total"] == PEOPLE and figures["runs"]["active"] == 0)

        wait_for(stack, all_ended, f"{PEOPLE} runs to end", seconds=1800)

        with ThreadPoolExecutor(8) as pool:
            person_runs = list(pool.map(lambda p: runs(stack, journey_id, p), profiles))
        assert all(len(found) == 1 for found in person_runs), "one run per person"
        branch = [found[0]["branches"]["split"] for found in person_runs]
        sizes = {name: branch.count(name) for name in ("a", "b", "control")}
        assert sum(sizes.values()) == PEOPLE
        assert _within(sizes["a"], 0.45) and _within(sizes["b"], 0.45) and _within(sizes["control"], 0.10), sizes

        # The holdout received nothing; every treated person exactly their branch's offer.
        for index, user in enumerate(users):
            delivered = texts(stack, user)
            if branch[index] == "control":
                assert delivered == [], user
                assert person_runs[index][0]["exit_reason"] == "holdout" and person_runs[index][0]["sent"] == {}
            else:
                assert delivered == [OFFERS[f"spring-{branch[index]}"]], user

        # A third of the treated claim the offer, a tenth of the holdout (who heard of it elsewhere).
        claimed = [index for index in range(PEOPLE) if rng.random() < (0.10 if branch[index] == "control" else 0.33)]
        claims = [
            postback("claim=spring", source=user_source(users[index]), timestamp=now_ms() + i)
            for i, index in enumerate(claimed)
        ]
        for first in range(0, len(claims), BATCH):
            assert stack.line(claims[first : first + BATCH]).status_code == 200
        settle(stack)
        held = sum(1 for index in claimed if branch[index] == "control")
        treated = len(claimed) - held

        def conversions_counted() -> bool:
            return bool(report(stack, journey_id)["converted"] == len(claimed))

        wait_for(stack, conversions_counted, "the claims to count as conversions", seconds=300)
        figures = report(stack, journey_id)
        holdout = figures["holdouts"]["split"]
        assert holdout["holdout_branch"] == "control"
        assert holdout["holdout"] == {
            "runs": sizes["control"],
            "converted": held,
            "conversion_rate": round(held / sizes["control"], 6),
        }
        assert holdout["treatment"]["runs"] == sizes["a"] + sizes["b"]
        assert holdout["treatment"]["converted"] == treated
        expected_pp = (treated / (sizes["a"] + sizes["b"]) - held / sizes["control"]) * 100
        assert holdout["difference_pp"] == pytest.approx(expected_pp, abs=1e-3)
        treated_n, held_n = sizes["a"] + sizes["b"], sizes["control"]
        pooled = len(claimed) / PEOPLE
        z = (treated / treated_n - held / held_n) / (pooled * (1 - pooled) * (1 / treated_n + 1 / held_n)) ** 0.5
        assert holdout["p_value"] == pytest.approx(2 * (1 - NormalDist().cdf(abs(z))), abs=1e-5)
        assert figures["branches"]["split"]["control"]["sent"] == 0
        assert figures["nodes"]["split"]["exited"] == {"holdout": sizes["control"]}
        assert figures["nodes"]["offer_a"]["sent"] == sizes["a"] and figures["nodes"]["offer_b"]["sent"] == sizes["b"]
