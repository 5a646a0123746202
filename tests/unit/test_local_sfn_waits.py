"""The local Step Functions clock's waits: a deadline in local time that ends when the clock moves
past it, and a wait that ends when what it watches is poked, without polling."""

from __future__ import annotations

import threading
import time

from infra.local.sfn_clock import VirtualWaits


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def waiting(waits: VirtualWaits, count: int) -> None:
    deadline = time.monotonic() + 2
    while waits.waiting != count:
        assert time.monotonic() < deadline
        time.sleep(0.005)


def test_a_deadline_passes_when_the_clock_moves_past_it() -> None:
    clock = Clock()
    waits = VirtualWaits(clock)
    outcome: list[bool] = []
    thread = threading.Thread(target=lambda: outcome.append(waits.wait(3600, watching=(), done=lambda: False)))
    thread.start()
    waiting(waits, 1)
    clock.now += 1800
    waits.moved()
    time.sleep(0.05)
    assert thread.is_alive()  # half-way: still waiting
    clock.now += 1800
    waits.moved()
    thread.join(1)
    assert outcome == [False] and waits.waiting == 0


def test_a_poke_on_what_it_watches_ends_the_wait_and_others_stay() -> None:
    waits = VirtualWaits(Clock())
    watched, other = object(), object()
    done = threading.Event()
    outcomes: list[tuple[str, bool]] = []
    first = threading.Thread(
        target=lambda: outcomes.append(("first", waits.wait(3600, watching=(watched,), done=done.is_set)))
    )
    second = threading.Thread(
        target=lambda: outcomes.append(("second", waits.wait(3600, watching=(other,), done=lambda: False)))
    )
    first.start()
    second.start()
    waiting(waits, 2)
    done.set()
    waits.poke(watched)
    first.join(1)
    assert outcomes == [("first", True)] and second.is_alive()
    waits.moved()  # the other looks again, its deadline has not come
    time.sleep(0.05)
    assert second.is_alive()
    waits._now = lambda: 1_900_000_000.0  # type: ignore[method-assign]
    waits.moved()
    second.join(1)
    assert outcomes[-1] == ("second", False)


def test_a_wait_already_done_returns_at_once() -> None:
    waits = VirtualWaits(Clock())
    assert waits.wait(3600, watching=(), done=lambda: True) is True
    assert waits.wait(0, watching=(), done=lambda: False) is False
