"""`make serve`: the local stack in the foreground until Ctrl-C."""

from __future__ import annotations

import signal
import threading

from infra.local.stack import LocalStack


def main() -> None:
    stack = LocalStack().start()
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
