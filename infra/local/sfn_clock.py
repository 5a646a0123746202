"""moto's Step Functions on the local clock: Wait states, task `TimeoutSeconds` and
`.waitForTaskToken` waits end when the local clock (infra/local/clock.py) reaches their deadline.

moto 5.2.5 measures these on the machine's clock (`Event.wait(seconds)`, `datetime.now()`), so a
30-minute cart wait would take 30 real minutes. Here each of them waits for a deadline in local
time instead, and wakes when:
- the clock moves (`POST /_local/clock`): every waiter looks at its deadline again;
- the execution (or the task's frame) stops, ends or fails: its own waiters only;
- a task token gets its answer (SendTaskSuccess / SendTaskFailure): that task's waiter only;
- the task's work finishes (the `TimeoutSeconds` watch): that task's watcher only.
Nothing polls: a waiter blocks on its own event, with a long bounded re-check as a safety net.

The context object's `$$.State.EnteredTime` and the history's timestamps read the local clock
too, so what a task is told and what the history shows agree with the waits.

Only the clock differs from moto: the state machines, their history and retries are moto's.
The retry back-off (`Retry.IntervalSeconds`) stays real time: seconds, not minutes.
"""

from __future__ import annotations

import copy
import datetime
import threading
from collections.abc import Callable
from threading import Thread
from typing import Any

from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEventException
from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import EvalTimeoutError
from moto.stepfunctions.parser.asl.component.state import state as state_module
from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (
    StateTaskServiceCallback,
)
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.timestamp import Timestamp
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackEndpoint, CallbackOutcomeTimedOut
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.event import event_manager as event_manager_module
from moto.stepfunctions.parser.utils import TMP_THREADS

RECHECK_SECONDS = 60.0  # a waiter looks at its deadline at least this often, told or not


class VirtualWaits:
    """Deadlines in local time; waiters block on their own event until told to look again."""

    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now
        self._lock = threading.Lock()
        self._by_key: dict[int, set[threading.Event]] = {}
        self._all: set[threading.Event] = set()

    def now(self) -> float:
        return self._now()

    @property
    def waiting(self) -> int:
        """How many waits are blocked now (tests, the stack's status)."""
        with self._lock:
            return len(self._all)

    def moved(self) -> None:
        """The clock moved: every deadline may have passed."""
        with self._lock:
            wakes = list(self._all)
        for wake in wakes:
            wake.set()

    def poke(self, subject: object) -> None:
        """Something a waiter watches changed (an environment's state, a task token's answer)."""
        with self._lock:
            wakes = list(self._by_key.get(id(subject), ()))
        for wake in wakes:
            wake.set()

    def wait(self, seconds: float, *, watching: tuple[object, ...], done: Callable[[], bool]) -> bool:
        """Block until `done()` (True) or `seconds` of local time have passed (False).

        `watching` are the objects whose pokes make the waiter check `done()` again; they stay
        referenced for the whole wait, so their ids cannot be reused meanwhile."""
        deadline = self._now() + seconds
        wake = threading.Event()
        keys = [id(subject) for subject in watching]
        with self._lock:
            self._all.add(wake)
            for key in keys:
                self._by_key.setdefault(key, set()).add(wake)
        try:
            while True:
                if done():
                    return True
                remaining = deadline - self._now()
                if remaining <= 0:
                    return False
                wake.wait(min(remaining, RECHECK_SECONDS))
                wake.clear()
        finally:
            with self._lock:
                self._all.discard(wake)
                for key in keys:
                    members = self._by_key.get(key)
                    if members is not None:
                        members.discard(wake)
                        if not members:
                            del self._by_key[key]


_install_lock = threading.Lock()
_waits: VirtualWaits | None = None
_stack: list[VirtualWaits] = []
_originals: dict[tuple[type, str], Any] = {}


def _current() -> VirtualWaits:
    waits = _waits
    if waits is None:  # pragma: no cover - only reachable if a patched method outlives `undo`
        raise RuntimeError("the local Step Functions clock is not installed")
    return waits


# Wait states ---------------------------------------------------------------------------------------
def _wait_interval(self: WaitFunction, env: Environment, wait_seconds: float) -> None:
    if wait_seconds > 0:
        _current().wait(wait_seconds, watching=(env,), done=lambda: not env.is_running())


def _timestamp_wait_seconds(self: Timestamp, env: Environment) -> float:
    self.string.eval(env=env)
    timestamp_str: str = env.stack.pop()
    timestamp = self._from_timestamp_string(timestamp=timestamp_str)
    if timestamp is None:
        raise FailureEventException(self._create_failure_event(env, timestamp_str))
    # moto parses the `Z` timestamp as a naive date-time; it is UTC.
    return timestamp.replace(tzinfo=datetime.UTC).timestamp() - _current().now()


# TimeoutSeconds of task states ------------------------------------------------------------------------
def _evaluate_with_timeout(self: ExecutionState, env: Environment) -> None:
    """moto's ExecutionState._evaluate_with_timeout, with the timeout measured in local time."""
    self.timeout.eval(env=env)
    timeout_seconds: int = env.stack.pop()

    frame: Environment = env.open_frame()
    frame.states.reset(input_value=env.states.get_input())
    frame.stack = copy.deepcopy(env.stack)
    execution_outputs: list[Any] = []
    execution_exceptions: list[Exception | None] = [None]
    terminated_event = threading.Event()
    waits = _current()

    def _exec_and_notify() -> None:
        try:
            self._eval_execution(frame)
            execution_outputs.extend(frame.stack)
        except Exception as ex:
            execution_exceptions.append(ex)
        terminated_event.set()
        waits.poke(terminated_event)

    thread = Thread(target=_exec_and_notify, daemon=True)
    TMP_THREADS.append(thread)
    thread.start()

    waits.wait(
        timeout_seconds,
        watching=(env, terminated_event),
        done=lambda: terminated_event.is_set() or not env.is_running(),
    )
    finished_on_time = terminated_event.is_set()
    stopped = not env.is_running()
    frame.set_ended()
    env.close_frame(frame)

    if stopped:
        # The execution was stopped mid-task (the task's frame may have given up meanwhile): it
        # ends here and nothing reads this state's output.
        env.stack.append(env.states.get_input())
        return

    execution_exception = execution_exceptions.pop()
    if execution_exception:
        raise execution_exception

    if not finished_on_time:
        raise EvalTimeoutError()

    execution_output = execution_outputs.pop()
    env.stack.append(execution_output)

    if not self._is_language_query_jsonpath():
        env.states.set_result(execution_output)

    if self.assign_decl:
        self.assign_decl.eval(env=env)

    if self.result_selector:
        self.result_selector.eval(env=env)

    if self.result_path:
        self.result_path.eval(env)
    else:
        res = env.stack.pop()
        env.states.reset(input_value=res)


# .waitForTaskToken -------------------------------------------------------------------------------------
def _eval_wait_for_task_token(
    self: StateTaskServiceCallback,
    env: Environment,
    timeout_seconds: int,
    callback_endpoint: CallbackEndpoint,
    heartbeat_endpoint: Any,
) -> Any:
    if heartbeat_endpoint is not None:  # heartbeats keep moto's real-time wait
        return _originals[(StateTaskServiceCallback, "_eval_wait_for_task_token")](
            self, env, timeout_seconds, callback_endpoint, heartbeat_endpoint
        )
    _wait_for_task_token(timeout_seconds, callback_endpoint, env)
    outcome = callback_endpoint.get_outcome()
    if outcome is None:
        return CallbackOutcomeTimedOut(callback_id=callback_endpoint.callback_id)
    return outcome


def _wait_for_task_token(timeout_seconds: float, callback_endpoint: CallbackEndpoint, env: Environment) -> None:
    """Until the token is answered (or the endpoint interrupted), the frame stops, or the timeout."""
    _current().wait(
        timeout_seconds,
        watching=(env, callback_endpoint),
        done=lambda: (
            callback_endpoint.get_outcome() is not None
            or callback_endpoint._notify_event.is_set()
            or not env.is_running()
        ),
    )


class _LocalDatetime(datetime.datetime):
    """`datetime.now()` on the local clock (what moto reads for entered times and history)."""

    @classmethod
    def now(cls, tz: datetime.tzinfo | None = None) -> datetime.datetime:  # type: ignore[override]
        waits = _waits
        if waits is None:
            return datetime.datetime.now(tz)
        return datetime.datetime.fromtimestamp(waits.now(), tz)


class _LocalDatetimeModule:
    """The `datetime` module as moto's state and event modules see it: only `now` differs."""

    datetime = _LocalDatetime

    def __getattr__(self, name: str) -> Any:
        return getattr(datetime, name)


_MODULES = (state_module, event_manager_module)


def _poking(owner: type, name: str) -> Callable[..., Any]:
    original = owner.__dict__[name]

    def poked(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return original(self, *args, **kwargs)
        finally:
            waits = _waits
            if waits is not None:
                waits.poke(self)

    return poked


# installation -------------------------------------------------------------------------------------------
_PATCHES: list[tuple[type, str, Any]] = [
    (WaitFunction, "_wait_interval", _wait_interval),
    (Timestamp, "_get_wait_seconds", _timestamp_wait_seconds),
    (ExecutionState, "_evaluate_with_timeout", _evaluate_with_timeout),
    (StateTaskServiceCallback, "_eval_wait_for_task_token", _eval_wait_for_task_token),
]
_POKED: list[tuple[type, str]] = [
    (Environment, "set_ended"),
    (Environment, "set_error"),
    (Environment, "set_timed_out"),
    (Environment, "set_stop"),
    (CallbackEndpoint, "notify"),
    (CallbackEndpoint, "interrupt_all"),
]


def install(
    now: Callable[[], float], on_move: Callable[[Callable[[], None]], Callable[[], None]]
) -> Callable[[], None]:
    """Measure moto's Step Functions waits with `now` (epoch seconds); `on_move(listener)` subscribes
    to clock moves and returns the unsubscribe (LocalClock.on_move). Returns `undo`.

    One clock at a time per process: a nested install uses its clock until its `undo`."""
    global _waits
    waits = VirtualWaits(now)
    with _install_lock:
        if not _stack:
            for module in _MODULES:
                module.datetime = _LocalDatetimeModule()  # type: ignore[attr-defined]
            for owner, name, value in _PATCHES:
                _originals[(owner, name)] = owner.__dict__[name]
                setattr(owner, name, value)
            for owner, name in _POKED:
                _originals[(owner, name)] = owner.__dict__[name]
                setattr(owner, name, _poking(owner, name))
        _stack.append(waits)
        _waits = waits
        unsubscribe = on_move(waits.moved)
    undone = threading.Event()

    def undo() -> None:
        global _waits
        if undone.is_set():
            return
        undone.set()
        unsubscribe()
        with _install_lock:
            _stack.remove(waits)
            _waits = _stack[-1] if _stack else None
            if not _stack:
                for module in _MODULES:
                    module.datetime = datetime  # type: ignore[attr-defined]
                for (owner, name), original in _originals.items():
                    setattr(owner, name, original)
                _originals.clear()
        waits.moved()  # a wait still blocked looks again

    return undo


def waits() -> VirtualWaits | None:
    """The installed waits (None when not installed)."""
    return _waits
