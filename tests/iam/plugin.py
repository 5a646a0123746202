"""pytest plugin: every AWS call a function makes in the suite must be one its IAM policy allows.

Calls are recorded in each process that runs handlers (the test process for integration tests;
the local stack's process for e2e, which hands its records over when it stops). Each process
checks its own records when the session ends; under pytest-xdist the workers send their reports
to the controller, which fails the run on any denial and prints it.
"""

from __future__ import annotations

from typing import Any

import pytest

from infra.local import aws_calls
from tests.iam.check import check

_REPORTS = pytest.StashKey[list[dict[str, Any]]]()


def pytest_configure(config: pytest.Config) -> None:
    aws_calls.install()
    config.stash[_REPORTS] = []


def _own_report(session: pytest.Session) -> dict[str, Any] | None:
    recorder = aws_calls.RECORDER
    if not recorder.requests and not recorder.unmapped and not recorder.problems:
        return None
    try:
        return check(recorder).as_json()
    except RuntimeError as error:
        return {
            "calls": recorder.calls,
            "requests": len(recorder.requests),
            "simulations": 0,
            "actions": [],
            "denials": [],
            "problems": [str(error)],
        }


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    report = _own_report(session)
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: the controller decides
        if report is not None:
            workeroutput["iam_check"] = report
        return
    reports = session.config.stash[_REPORTS]
    if report is not None:
        reports.append(report)
    if any(r["denials"] or r["problems"] for r in reports) and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    report = getattr(node, "workeroutput", {}).get("iam_check")
    if report is not None:
        node.config.stash[_REPORTS].append(report)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    reports = config.stash.get(_REPORTS, [])
    if not reports:
        return
    calls = sum(r["calls"] for r in reports)
    requests = sum(r["requests"] for r in reports)
    simulations = sum(r["simulations"] for r in reports)
    actions = len({a for r in reports for a in r.get("actions", [])})
    denials = [d for r in reports for d in r["denials"]]
    problems = [p for r in reports for p in r["problems"]]
    line = (
        f"IAM check: {calls} AWS calls by functions, {requests} distinct IAM requests "
        f"({actions} function x action pairs), {simulations} policy simulations, "
        f"{len(denials)} denied, {len(problems)} problems"
    )
    if not denials and not problems:
        terminalreporter.write_line(line)
        return
    terminalreporter.section("IAM check: calls the synthesized policies would deny", sep="=", red=True)
    for text in denials + problems:
        terminalreporter.write_line(text)
    terminalreporter.write_line(line, red=True)
