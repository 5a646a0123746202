"""The whole suite: AWS calls made by functions are checked against their IAM policies (tests/iam).

Browser tests (tests/e2e/browser) record their screenshots and measurements as user properties;
they are printed at the end of the run (the reports carry them back from the xdist workers).
"""

from __future__ import annotations

import pytest

pytest_plugins = ["tests.iam.plugin"]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    screenshots: list[str] = []
    measured: list[str] = []
    for reports in terminalreporter.stats.values():
        for report in reports:
            if getattr(report, "when", None) not in ("call", "teardown"):
                continue
            for name, value in getattr(report, "user_properties", ()):
                if name == "screenshot":
                    screenshots.append(str(value))
                else:
                    measured.append(f"{name}: {value}")
    if measured:
        terminalreporter.write_sep("-", "browser measurements")
        for line in sorted(set(measured)):
            terminalreporter.write_line(line)
    if screenshots:
        terminalreporter.write_sep("-", f"browser screenshots ({len(set(screenshots))})")
        for path in sorted(set(screenshots)):
            terminalreporter.write_line(path)
