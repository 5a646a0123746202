"""`make serve`: the local stack in the foreground until Ctrl-C, the console at `/`."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

from infra.local.stack import LocalStack

CONSOLE_DIST = Path(__file__).resolve().parents[2] / "console" / "dist"


def main() -> None:
    # `make serve` builds the console first (`make console`); run directly, it serves the API alone
    # until console/dist exists.
    console = CONSOLE_DIST if (CONSOLE_DIST / "index.html").is_file() else None
    if console is None:
        print("console/dist is not built (`make console`): serving the API only", file=sys.stderr)
    stack = LocalStack(console_dir=console).start()
    print("LINE CDP local stack is up:")
    print(stack.describe())
    print("Ctrl-C to stop.", flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
