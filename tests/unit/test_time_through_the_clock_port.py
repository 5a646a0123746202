"""Product code reads the time only through the clock port (cdp.clock), so the local stack's
virtual clock (and a test's fixed clock) is the time every function sees.

Durations (time.monotonic, time.perf_counter) are not the time of day and stay free.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = [ROOT / "layers" / "core" / "python", ROOT / "functions"]
# module -> why it may read the machine's clock
ALLOWED = {
    "layers/core/python/cdp/clock.py": "the port itself: the machine's clock is its default source",
    "layers/core/python/cdp/adapters/s3_archive.py": "compared with cache files' mtimes, which the machine's clock wrote",
}
WALL_CLOCK = {
    ("time", "time"),
    ("time", "time_ns"),
    ("time", "gmtime"),
    ("time", "localtime"),
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
}


def _wall_clock_reads(path: Path, root: Path = ROOT) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", None)
            if (name, node.func.attr) in WALL_CLOCK and not (
                node.func.attr in ("gmtime", "localtime") and node.args  # converting a given instant
            ):
                found.append(f"{path.relative_to(root)}:{node.lineno} {name}.{node.func.attr}()")
    return found


def test_no_product_module_reads_the_machine_clock_around_the_port() -> None:
    offenders = [
        read
        for base in PRODUCT
        for path in sorted(base.rglob("*.py"))
        if str(path.relative_to(ROOT)) not in ALLOWED
        for read in _wall_clock_reads(path)
    ]
    assert offenders == [], "read the time through cdp.clock.SystemClock (now_ms() or now()):\n" + "\n".join(offenders)


def test_the_check_sees_each_way_of_reading_the_clock(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import time, datetime as dt\nfrom datetime import datetime, date\n"
        "a = time.time()\nb = datetime.now()\nc = dt.datetime.utcnow()\nd = date.today()\n"
        "e = time.monotonic()\nf = time.gmtime(0)\n",
        encoding="utf-8",
    )
    reads = _wall_clock_reads(sample, tmp_path)
    assert [r.split(" ")[1] for r in reads] == ["time.time()", "datetime.now()", "datetime.utcnow()", "date.today()"]
