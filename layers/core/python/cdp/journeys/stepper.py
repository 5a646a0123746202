"""The journey step function's logic: one op per Task of a compiled journey (cdp.journeys.compiler).

Payload: `{"op", "node", "entered" ($$.State.EnteredTime), "execution", "run" (ExecutionInput),
"token" (wait), "reason" (exit)}`. Each op first moves the run to the node (`RunStore.reach`
with the state's entered time); a retried task finds that step and repeats only effects that are
idempotent by themselves (events stored once by id, the send point's send key, field writes), and
takes the decision it recorded the first time. A run that has ended (an exit rule or an archive
won the race, the holdout) raises `RunEnded`, which the state machine catches into its `Stopped`
end; only the exit op itself answers `{"stop": true}`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from cdp.clock import iso_from_ms
from cdp.errors import BadRequest, CdpError, NotFound
from cdp.events.canonical import CanonicalEvent
from cdp.identity.identifiers import Identifier
from cdp.identity.merge import TimelineEntry
from cdp.journeys.definition import (
    Action,
    ConditionSplit,
    DelayFor,
    DelayUntilTime,
    DelayUntilTimestamp,
    EventEntry,
    Exit,
    JourneyDefinition,
    Node,
    RandomSplit,
    Send,
    WaitForEvent,
    parse_duration,
)
from cdp.journeys.model import PublishedVersion
from cdp.journeys.ports import Wait, WaitStore
from cdp.journeys.runs import ACTIVE, COMPLETED, FAILED, HOLDOUT, NO_KEY, Run, RunStore, Step
from cdp.journeys.steps import (
    Happening,
    action_events,
    choose_branch,
    choose_split,
    condition_reads_events,
    condition_segments,
    delay_until,
    iso_z,
    send_request,
)
from cdp.messaging.request import SendRequest
from cdp.observability import logger
from cdp.ports import Clock, EventPublisher, RawEventStore
from cdp.profiles.model import Profile
from cdp.profiles.views import ProfileReader, current_profile
from cdp.segments.facts import event_fact, facts_from_profile

OPS = ("enter", "delay", "wait", "timed_out", "condition", "split", "send", "action", "exit")
EXIT_REASONS = (COMPLETED, FAILED)


class RetryLater(Exception):
    """The outcome is not known yet (a provider's answer, a send in progress elsewhere): Step
    Functions retries the task (Retry on `RetryLater`), with the same send key."""


class RunEnded(Exception):
    """The run has ended: the execution goes to `Stopped` (a Catch on `RunEnded`, never retried)."""


class Profiles(ProfileReader, Protocol):
    def timeline(self, profile_id: str) -> list[TimelineEntry]: ...

    def record_timeline(
        self, *, event: CanonicalEvent, profile: Profile, attached: Sequence[Identifier], applied_at: str
    ) -> None: ...


class Members(Protocol):
    def member_of(self, profile_id: str, segment_ids: Sequence[str]) -> set[str]: ...


class SendOutcome(Protocol):
    """What the send point answers (cdp.messaging.send_point.SendResult)."""

    @property
    def state(self) -> str: ...

    @property
    def reason(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class StepCall:
    op: str
    node: str | None
    entered: str
    run_id: str
    journey_id: str
    version: int
    profile_id: str
    run: Mapping[str, Any]
    token: str | None = None
    reason: str | None = None

    @classmethod
    def parse(cls, payload: Any) -> StepCall:
        if not isinstance(payload, Mapping):
            raise BadRequest("a journey step is a JSON object", code="invalid_step")
        op, run, entered = payload.get("op"), payload.get("run"), payload.get("entered")
        if op not in OPS:
            raise BadRequest(f"unknown op {op!r}", code="invalid_step")
        if not isinstance(run, Mapping) or not all(isinstance(run.get(k), str) for k in ("run_id", "journey_id")):
            raise BadRequest("`run` must carry run_id and journey_id", code="invalid_step")
        if not isinstance(entered, str) or not entered:
            raise BadRequest("`entered` is the state's entered time", code="invalid_step")
        node = payload.get("node")
        if op not in ("enter", "exit") and not isinstance(node, str):
            raise BadRequest(f"op {op} needs `node`", code="invalid_step")
        if op == "wait" and not isinstance(payload.get("token"), str):
            raise BadRequest("op wait needs the task `token`", code="invalid_step")
        reason = payload.get("reason")
        if op == "exit" and reason not in EXIT_REASONS:
            raise BadRequest(f"op exit takes reason {' or '.join(EXIT_REASONS)}", code="invalid_step")
        try:
            version = int(run.get("version", 0))
        except (TypeError, ValueError):
            raise BadRequest("`run.version` is a number", code="invalid_step") from None
        return cls(
            op=str(op),
            node=node if isinstance(node, str) else None,
            entered=entered,
            run_id=str(run["run_id"]),
            journey_id=str(run["journey_id"]),
            version=version,
            profile_id=str(run.get("profile_id", "")),
            run=run,
            token=payload.get("token"),
            reason=reason,
        )


class JourneyStepper:
    def __init__(
        self,
        *,
        runs: RunStore,
        waits: WaitStore,
        versions: Callable[[str, int], PublishedVersion | None],
        profiles: Profiles,
        members: Members,
        events: RawEventStore,
        send: Callable[[SendRequest], SendOutcome],
        clock: Clock,
        publisher: EventPublisher | None = None,
    ) -> None:
        self._runs = runs
        self._waits = waits
        self._versions = versions
        self._profiles = profiles
        self._members = members
        self._events = events
        self._send = send
        self._clock = clock
        self._publisher = publisher
        self._definitions: dict[tuple[str, int], JourneyDefinition] = {}

    # entry point ------------------------------------------------------------------------------
    def handle(self, payload: Any) -> dict[str, Any]:
        answer = self._handle(payload)
        if answer.get("stop") and payload.get("op") != "exit":
            raise RunEnded(f"run {payload['run']['run_id']} has ended")
        return answer

    def _handle(self, payload: Any) -> dict[str, Any]:
        call = StepCall.parse(payload)
        run = self._runs.get(call.run_id)
        if run is None:
            raise NotFound(f"no run {call.run_id}", code="run_not_found")
        if call.op == "exit" and call.reason == FAILED:
            return self._exit(call, run, None)
        if run.status != ACTIVE:
            return {"stop": True}
        version = self._version(run.journey_id, run.version)
        definition = self._definition(version)
        if call.op == "enter":
            return self._enter(call, run)
        node_id = call.node or ""
        node = definition.nodes.get(node_id)
        if node is None:
            raise BadRequest(f"journey {run.journey_id} v{run.version} has no node {node_id!r}", code="invalid_step")
        return self._dispatch(call, run, version, definition, node_id, node)

    def _dispatch(
        self,
        call: StepCall,
        run: Run,
        version: PublishedVersion,
        definition: JourneyDefinition,
        node_id: str,
        node: Node,
    ) -> dict[str, Any]:
        if call.op == "delay" and isinstance(node, DelayFor | DelayUntilTime | DelayUntilTimestamp):
            return self._delay(call, run, definition, node_id, node)
        if call.op == "wait" and isinstance(node, WaitForEvent):
            return self._wait(call, run, definition, node_id, node)
        if call.op == "timed_out" and isinstance(node, WaitForEvent):
            return self._timed_out(call, run, node_id, node)
        if call.op == "condition" and isinstance(node, ConditionSplit):
            return self._condition(call, run, node_id, node)
        if call.op == "split" and isinstance(node, RandomSplit):
            return self._split(call, run, node_id, node)
        if call.op == "send" and isinstance(node, Send):
            return self._send_node(call, run, version, definition, node_id, node)
        if call.op == "action" and isinstance(node, Action):
            return self._action(call, run, node_id, node)
        if call.op == "exit" and isinstance(node, Exit):
            return self._exit(call, run, node_id)
        raise BadRequest(f"op {call.op} does not fit node {node_id!r} ({node.type})", code="invalid_step")

    # ops -------------------------------------------------------------------------------------
    def _enter(self, call: StepCall, run: Run) -> dict[str, Any]:
        self._tell(Happening("entered", run, self._clock.now_ms()))
        return {"stop": False}

    def _delay(
        self,
        call: StepCall,
        run: Run,
        definition: JourneyDefinition,
        node_id: str,
        node: DelayFor | DelayUntilTime | DelayUntilTimestamp,
    ) -> dict[str, Any]:
        recorded = self._recorded(run, node_id, call.entered)
        if recorded is not None and recorded.startswith("until:"):
            until = recorded.removeprefix("until:")
        else:
            profile = self._profile(run.profile_id)
            now = self._now()
            traits = {name: stamped.value for name, stamped in profile.traits.items()} if profile else {}
            computed = facts_from_profile(profile, now).computed if profile else {}
            moment = delay_until(
                node, now=now, journey_zone=definition.time_zone, traits=traits, computed=computed, entry=run.entry
            )
            until = iso_z(moment)
        self._reach(call, run, node_id, node, f"until:{until}", waiting={"kind": "delay", "until": until})
        return {"until": until, "stop": False}

    def _wait(
        self, call: StepCall, run: Run, definition: JourneyDefinition, node_id: str, node: WaitForEvent
    ) -> dict[str, Any]:
        # The task's TimeoutSeconds runs from about now (the state's entered time is a key, not a clock).
        expires = iso_z(self._now() + parse_duration(node.timeout))
        self._reach(call, run, node_id, node, None, waiting={"kind": "event", "event": node.event, "until": expires})
        correlation = None
        if (
            node.correlate
            and isinstance(definition.entry, EventEntry)
            and definition.entry.key
            and run.entry_key != NO_KEY
        ):
            correlation = f"{definition.entry.key}={run.entry_key}"
        self._waits.register(
            Wait(
                run_id=run.run_id,
                journey_id=run.journey_id,
                node=node_id,
                profile_id=run.profile_id,
                event=node.event,
                correlation=correlation,
                where=[f.model_dump(mode="json") for f in node.where],
                task_token=call.token or "",
                expires_at=expires,
            )
        )
        return {"stop": False}

    def _timed_out(self, call: StepCall, run: Run, node_id: str, node: WaitForEvent) -> dict[str, Any]:
        for wait in self._waits.waiting_for(run.profile_id, node.event):
            if wait.run_id == run.run_id and wait.node == node_id:
                self._waits.remove(wait)
        self._reach(call, run, node_id, node, "timed_out")
        return {"branch": "timed_out", "next": node.timed_out, "stop": False}

    def _condition(self, call: StepCall, run: Run, node_id: str, node: ConditionSplit) -> dict[str, Any]:
        recorded = self._recorded(run, node_id, call.entered)
        if recorded is not None and recorded.startswith("branch:"):
            name = recorded.removeprefix("branch:")
            target = next((b.next for b in node.branches if b.name == name), node.else_)
        else:
            name, target = self._choose(run, node)
        self._runs.record_branch(run.run_id, node_id, name)
        self._reach(call, run, node_id, node, f"branch:{name}")
        return {"branch": name, "next": target, "stop": False}

    def _choose(self, run: Run, node: ConditionSplit) -> tuple[str, str]:
        now = self._now()
        profile = self._profile(run.profile_id)
        if profile is None:
            return "else", node.else_
        wanted = sorted(condition_segments(node))
        memberships = self._members.member_of(profile.profile_id, wanted) if wanted else set()
        events = []
        if condition_reads_events(node):
            facts = (event_fact(entry.event()) for entry in self._profiles.timeline(profile.profile_id))
            events = [fact for fact in facts if fact is not None]
        return choose_branch(
            node,
            facts=facts_from_profile(profile, now),
            events=events,
            now=now,
            memberships=memberships,
            clicked=run.clicked,
        )

    def _split(self, call: StepCall, run: Run, node_id: str, node: RandomSplit) -> dict[str, Any]:
        # The bucket hashes the person who entered (the run's), so a retry and a re-entry agree.
        branch = choose_split(node, profile_id=run.profile_id, journey_id=run.journey_id, node_id=node_id)
        self._runs.record_branch(run.run_id, node_id, branch.name)
        self._reach(call, run, node_id, node, f"branch:{branch.name}")
        if branch.holdout:
            self._finish(run, HOLDOUT)
            return {"branch": branch.name, "next": None, "stop": True}
        return {"branch": branch.name, "next": branch.next, "stop": False}

    def _send_node(
        self,
        call: StepCall,
        run: Run,
        version: PublishedVersion,
        definition: JourneyDefinition,
        node_id: str,
        node: Send,
    ) -> dict[str, Any]:
        self._reach(call, run, node_id, node, None)
        request = send_request(run, node_id, node, definition, version.templates)
        result = self._send(request)
        if result.state in ("retry", "in_progress"):
            raise RetryLater(f"send {request.send_key}: {result.state}")
        outcome = {"sent": "sent", "failed": "failed", "held": "held"}.get(result.state)
        if outcome is None:
            outcome = f"{result.state}:{result.reason}" if result.reason else result.state
        self._runs.record_send(run.run_id, node_id, outcome)
        return {"sent": outcome, "stop": False}

    def _action(self, call: StepCall, run: Run, node_id: str, node: Action) -> dict[str, Any]:
        self._reach(call, run, node_id, node, node.action)
        profile = self._profile(run.profile_id)
        if profile is not None and profile.identifiers:
            events = action_events(run, node_id, node, profile, now_ms=self._clock.now_ms())
            if events:
                self._events.store_once(events)
        return {"stop": False}

    def _exit(self, call: StepCall, run: Run, node_id: str | None) -> dict[str, Any]:
        reason = call.reason or COMPLETED
        if node_id is not None and run.status == ACTIVE:
            self._reach(call, run, node_id, None, reason)
        self._finish(run, reason)
        return {"stop": True}

    # helpers ---------------------------------------------------------------------------------
    def _finish(self, run: Run, reason: str) -> None:
        now_ms = self._clock.now_ms()
        if self._runs.finish(run.run_id, reason, iso_from_ms(now_ms)):
            self._tell(Happening("exited", run, now_ms, reason=reason))

    def _reach(
        self,
        call: StepCall,
        run: Run,
        node_id: str,
        node: Node | None,
        outcome: str | None,
        *,
        waiting: dict[str, Any] | None = None,
    ) -> None:
        self._runs.reach(run.run_id, Step(node_id, call.entered, outcome), waiting=waiting)
        happening = Happening(
            "node",
            run,
            self._clock.now_ms(),
            node=node_id,
            node_type=node.type if node is not None else "exit",
            entered=call.entered,
            outcome=outcome,
        )
        self._tell(happening)

    def _tell(self, happening: Happening) -> None:
        """The timeline entry (written once by id) and the bus event (consumers dedup on id)."""
        profile = self._profile(happening.run.profile_id)
        if profile is not None and profile.identifiers:
            try:
                entry = happening.timeline_entry(profile)
                self._profiles.record_timeline(event=entry, profile=profile, attached=(), applied_at=entry.timestamp)
            except CdpError:
                logger.warning("journey step not recorded on a timeline", extra={"run_id": happening.run.run_id})
        if self._publisher is not None:
            self._publisher.publish([happening.domain_event(iso_from_ms(happening.at_ms))])

    @staticmethod
    def _recorded(run: Run, node_id: str, entered: str) -> str | None:
        """The outcome this task recorded on an earlier attempt (None: first attempt)."""
        for step in reversed(run.path):
            if step.node == node_id and step.at == entered:
                return step.outcome
        return None

    def _profile(self, profile_id: str) -> Profile | None:
        try:
            return current_profile(self._profiles, profile_id)
        except NotFound:
            return None

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock.now_ms() / 1000, tz=UTC)

    def _version(self, journey_id: str, version: int) -> PublishedVersion:
        found = self._versions(journey_id, version)
        if found is None:
            raise NotFound(f"no journey {journey_id} v{version}", code="journey_version_not_found")
        return found

    def _definition(self, version: PublishedVersion) -> JourneyDefinition:
        key = (version.journey_id, version.version)
        if key not in self._definitions:  # versions are immutable: parsed once per container
            self._definitions[key] = version.definition
        return self._definitions[key]
