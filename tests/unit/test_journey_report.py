"""The journey report (cdp.journeys.report) against a naive reference over generated runs: every
figure recounted run by run, the way a marketer would tally them by hand."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from statistics import NormalDist
from typing import Any

import pytest
from cdp.journeys.definition import JourneyDefinition, parse_definition, successors
from cdp.journeys.report import journey_report, two_proportion_test
from cdp.journeys.runs import ACTIVE, COMPLETED, EXIT_EVENT, EXITED, HOLDOUT, Run, Step

T0 = datetime(2026, 5, 4, 1, 0, tzinfo=UTC)

DOCUMENT: dict[str, Any] = {
    "name": "Welcome with a test",
    "entry": {"type": "segment", "segment_id": "new-friends"},
    "start": "split",
    "nodes": {
        "split": {
            "type": "random_split",
            "branches": [
                {"name": "a", "percent": 45, "next": "welcome_a"},
                {"name": "b", "percent": 45, "next": "welcome_b"},
                {"name": "control", "percent": 10, "holdout": True},
            ],
        },
        "welcome_a": {"type": "send", "template_id": "welcome-a", "next": "wait"},
        "welcome_b": {"type": "send", "template_id": "welcome-b", "next": "wait"},
        "wait": {
            "type": "wait_for_event",
            "event": "Order Completed",
            "timeout": "P1D",
            "received": "done",
            "timed_out": "pause",
        },
        "pause": {"type": "delay", "duration": "P2D", "next": "clicked"},
        "clicked": {
            "type": "condition",
            "branches": [
                {"name": "clicked_a", "when": {"clicked": "welcome_a"}, "next": "promo"},
                {"name": "clicked_b", "when": {"clicked": "welcome_b"}, "next": "promo"},
            ],
            "else": "nudge",
        },
        "promo": {"type": "send", "template_id": "promo", "next": "done"},
        "nudge": {"type": "send", "template_id": "nudge", "channels": ["email", "line"], "next": "done"},
        "done": {"type": "exit"},
    },
    "goal": {"event": "Order Completed", "within": "P7D"},
}
OUTCOMES = ("sent", "sent", "sent", "held", "suppressed:capped_journey", "suppressed:no_consent", "failed")


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _generate(definition: JourneyDefinition, count: int, seed: int) -> list[Run]:
    """Runs that walk the graph as the runtime would, stopping anywhere (still waiting, or ended by
    an exit rule), with random send outcomes, clicks and conversions in and out of the window."""
    rng = random.Random(seed)
    runs = []
    for index in range(count):
        entered = T0 + timedelta(minutes=index)
        at = entered
        node_id: str | None = definition.start
        path: list[Step] = []
        branches: dict[str, str] = {}
        sent: dict[str, str] = {}
        clicked: dict[str, str] = {}
        status, reason, exited_at = ACTIVE, None, None
        while node_id is not None:
            node = definition.nodes[node_id]
            at += timedelta(minutes=rng.randint(1, 90))
            path.append(Step(node_id, _iso(at)))
            if rng.random() < 0.08:  # still here, or an exit rule ended the run here
                if rng.random() < 0.5:
                    status, reason, exited_at = EXITED, EXIT_EVENT, _iso(at)
                break
            nxt: str | None
            if node.type == "random_split":
                choice = rng.choices(node.branches, weights=[b.percent for b in node.branches])[0]
                branches[node_id] = choice.name
                nxt = choice.next
                if choice.holdout:
                    status, reason, exited_at = EXITED, HOLDOUT, _iso(at)
            elif node.type == "condition":
                names = [b.name for b in node.branches] + ["else"]
                name = rng.choice(names)
                branches[node_id] = name
                nxt = successors(node)[names.index(name)]
            elif node.type == "wait_for_event":
                nxt = rng.choice([node.received, node.timed_out])
            elif node.type == "send":
                sent[node_id] = rng.choice(OUTCOMES)
                if sent[node_id] == "sent" and rng.random() < 0.3:
                    clicked[node_id] = _iso(at + timedelta(hours=1))
                nxt = node.next
            elif node.type == "exit":
                status, reason, exited_at = EXITED, COMPLETED, _iso(at)
                nxt = None
            else:
                nxt = successors(node)[0]
            node_id = nxt
        converted_at = value = None
        if rng.random() < 0.3:
            converted_at = _iso(entered + timedelta(days=rng.choice([1, 3, 6.9, 7.5, 10])))
            value = float(rng.randint(100, 5000))
        runs.append(
            Run(
                run_id=f"jr-{seed}-{index}",
                journey_id="welcome",
                version=1 + index % 2,
                profile_id=f"p{index}",
                entry_key="-",
                entered_at=_iso(entered),
                status=status,
                node=path[-1].node,
                node_since=path[-1].at,
                path=tuple(path),
                branches=branches,
                sent=sent,
                clicked=clicked,
                converted_at=converted_at,
                conversion_value=value,
                exited_at=exited_at,
                exit_reason=reason,
            )
        )
    return runs


def _reference(runs: list[Run], version: int | None = None) -> dict[str, Any]:
    """Tally by hand: sends after a split are those whose step comes after the split's step."""
    runs = [run for run in runs if version is None or run.version == version]

    def is_converted(run: Run) -> bool:
        if run.converted_at is None:
            return False
        delta = datetime.fromisoformat(run.converted_at) - datetime.fromisoformat(run.entered_at)
        return timedelta(0) <= delta <= timedelta(days=7)

    expected: dict[str, Any] = {"nodes": {}, "branches": {}}
    for node_id in DOCUMENT["nodes"]:
        entered = [run for run in runs if node_id in [step.node for step in run.path]]
        at_node = [run for run in runs if run.node == node_id]
        row: dict[str, Any] = {
            "entered": len(entered),
            "waiting_now": len([run for run in at_node if run.status == ACTIVE]),
            "converted": len([run for run in entered if is_converted(run)]),
        }
        exited: dict[str, int] = {}
        for run in at_node:
            if run.status == EXITED:
                exited[str(run.exit_reason)] = exited.get(str(run.exit_reason), 0) + 1
        row["exited"] = exited
        if DOCUMENT["nodes"][node_id]["type"] == "send":
            outcomes = [run.sent[node_id] for run in runs if node_id in run.sent]
            row["sent"] = outcomes.count("sent")
            row["failed"] = outcomes.count("failed")
            row["held"] = outcomes.count("held")
            suppressed: dict[str, int] = {}
            for outcome in outcomes:
                if outcome.startswith("suppressed:"):
                    suppressed[outcome[11:]] = suppressed.get(outcome[11:], 0) + 1
            row["suppressed"] = suppressed
            row["clicked"] = len([r for r in runs if r.sent.get(node_id) == "sent" and node_id in r.clicked])
        expected["nodes"][node_id] = row

    def taken(run: Run, split: str) -> str | None:
        if split != "wait":
            return run.branches.get(split)
        order = [step.node for step in run.path]
        if "wait" not in order or order[-1] == "wait":
            return None
        return "received" if order[order.index("wait") + 1] == "done" else "timed_out"

    for split in ("split", "clicked", "wait"):
        names = {taken(run, split) for run in runs} - {None}
        expected["branches"][split] = {}
        for name in names:
            took = [run for run in runs if taken(run, split) == name]
            sent = clicks = 0
            for run in took:
                order = [step.node for step in run.path]
                after = order[order.index(split) + 1 :]
                for node_id in after:
                    if run.sent.get(node_id) == "sent":
                        sent += 1
                        clicks += node_id in run.clicked
            conversions = [run for run in took if is_converted(run)]
            expected["branches"][split][name] = {
                "runs": len(took),
                "sent": sent,
                "clicked": clicks,
                "converted": len(conversions),
                "conversion_value": round(sum(run.conversion_value or 0 for run in conversions), 2),
            }
    control = [run for run in runs if run.branches.get("split") == "control"]
    treated = [run for run in runs if run.branches.get("split") in ("a", "b")]
    expected["holdout"] = (
        len(treated),
        len([run for run in treated if is_converted(run)]),
        len(control),
        len([run for run in control if is_converted(run)]),
    )
    expected["total"] = len(runs)
    expected["converted"] = len([run for run in runs if is_converted(run)])
    return expected


@pytest.mark.parametrize(("seed", "version"), [(1, None), (2, None), (3, 1), (4, 2)])
def test_the_report_matches_a_tally_by_hand(seed: int, version: int | None) -> None:
    definition = parse_definition(DOCUMENT)
    runs = _generate(definition, 600, seed)
    other = _generate(definition, 20, seed + 100)
    other = [Run.from_dict({**run.as_dict(), "journey_id": "other"}) for run in other]
    report = journey_report("welcome", definition, runs + other, version=version)
    expected = _reference(runs, version)

    assert report["runs"]["total"] == expected["total"]
    assert report["converted"] == expected["converted"]
    for node_id, row in expected["nodes"].items():
        got = report["nodes"][node_id]
        for key, value in row.items():
            assert got[key] == value, (node_id, key)
        if "sent" in row:
            assert got["ctr"] == (round(row["clicked"] / row["sent"], 6) if row["sent"] else None)
    for split, names in expected["branches"].items():
        for name, figures in names.items():
            got = report["branches"][split][name]
            for key, value in figures.items():
                assert got[key] == value, (split, name, key)
            assert got["conversion_rate"] == round(figures["converted"] / figures["runs"], 6)
    treated, treated_hits, control, control_hits = expected["holdout"]
    holdout = report["holdouts"]["split"]
    assert holdout["holdout_branch"] == "control"
    assert (holdout["treatment"]["runs"], holdout["treatment"]["converted"]) == (treated, treated_hits)
    assert (holdout["holdout"]["runs"], holdout["holdout"]["converted"]) == (control, control_hits)
    assert holdout["difference_pp"] == pytest.approx((treated_hits / treated - control_hits / control) * 100, abs=1e-3)
    # No send ever follows the holdout.
    assert report["branches"]["split"]["control"]["sent"] == 0
    assert sum(report["runs"]["exited"].values()) + report["runs"]["active"] == expected["total"]


def test_the_z_test_agrees_with_the_textbook_formula() -> None:
    # 120 of 900 treated converted against 8 of 100 held out.
    z, p_value = two_proportion_test(120, 900, 8, 100)
    pooled = 128 / 1000
    z_ref = (120 / 900 - 8 / 100) / (pooled * (1 - pooled) * (1 / 900 + 1 / 100)) ** 0.5
    assert z == pytest.approx(z_ref)
    assert p_value == pytest.approx(2 * (1 - NormalDist().cdf(abs(z_ref))))
    assert two_proportion_test(0, 900, 0, 100) == (None, None)
    assert two_proportion_test(3, 10, 0, 0) == (None, None)


def test_without_a_goal_conversions_are_not_reported() -> None:
    document = {key: value for key, value in DOCUMENT.items() if key != "goal"}
    definition = parse_definition(document)
    report = journey_report("welcome", definition, _generate(definition, 50, 9))
    assert report["goal"] is None and report["converted"] is None
    assert report["holdouts"]["split"]["difference_pp"] is None
    assert report["holdouts"]["split"]["p_value"] is None


def test_nodes_of_another_version_are_listed_without_a_type() -> None:
    definition = parse_definition(DOCUMENT)
    run = Run(
        run_id="jr-old",
        journey_id="welcome",
        version=1,
        profile_id="p1",
        entry_key="-",
        entered_at=_iso(T0),
        node="old_send",
        node_since=_iso(T0),
        path=(Step("old_send", _iso(T0)),),
        sent={"old_send": "sent"},
        clicked={"old_send": _iso(T0)},
    )
    report = journey_report("welcome", definition, [run])
    assert report["nodes"]["old_send"]["type"] is None
    assert report["nodes"]["old_send"]["entered"] == 1 and report["nodes"]["old_send"]["waiting_now"] == 1
    assert (report["nodes"]["old_send"]["sent"], report["nodes"]["old_send"]["ctr"]) == (1, 1.0)
