"""In-memory fakes of the domain's ports, shared by the unit suite and the benchmarks.

They implement cdp.ports, cdp.profiles.processor.ProfileStore and cdp.profiles.views.ProfileReader
with the same observable semantics as the DynamoDB adapters: conditional writes, the order in
which a cancelled transaction's reasons are read, copies in and out.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from cdp.clock import epoch_seconds, iso_from_ms
from cdp.domain_events import DomainEvent
from cdp.errors import Conflict, StoreUnavailable
from cdp.events.canonical import CanonicalEvent
from cdp.events.raw import RawEvent
from cdp.identity.account_link import LinkNonce
from cdp.identity.identifiers import Identifier
from cdp.identity.merge import MergeLedger, TimelineEntry
from cdp.ingestion.rejections import MAX_RECORDED_PER_REQUEST, IngestRejection
from cdp.messaging.auto_reply import NO_AUTO_REPLIES, AutoReplies
from cdp.messaging.templates.model import Template, TemplateVersion
from cdp.profiles.model import Profile
from cdp.profiles.processor import CommitOutcome
from cdp.segments.rich_menus import SegmentRichMenu
from cdp.segments.store import Membership, MembershipChange, SegmentDefinition, SizeSample

from tests.unit.builders import NOW_MS


class FixedClock:
    def __init__(self, now_ms: int = NOW_MS) -> None:
        self.now = now_ms

    def now_ms(self) -> int:
        return self.now

    def advance(self, ms: int) -> None:
        self.now += ms


class FakeRawEventStore:
    """RawEventStore: stores an event unless its id is already there (the adapter's conditional put)."""

    def __init__(self) -> None:
        self.events: dict[str, RawEvent] = {}
        self.calls = 0

    def store_once(self, events: Sequence[RawEvent]) -> list[bool]:
        self.calls += 1
        stored: list[bool] = []
        for event in events:
            if event.event_id in self.events:
                stored.append(False)
            else:
                self.events[event.event_id] = event
                stored.append(True)
        return stored


class FakeSecrets:
    """SecretSource: values are JSON-able objects or raw strings; an unknown id fails like the adapter.

    With `caching=True` it keeps the first value read per id until `refresh`, like the adapter's
    TTL cache, so a value changed in `values` stays unseen until then.
    """

    def __init__(self, values: dict[str, Any] | None = None, *, caching: bool = False) -> None:
        self.values: dict[str, Any] = dict(values or {})
        self.reads: list[str] = []
        self.refreshes: list[str] = []
        self._caching = caching
        self._cache: dict[str, str] = {}

    def get_text(self, secret_id: str) -> str:
        self.reads.append(secret_id)
        if self._caching and secret_id in self._cache:
            return self._cache[secret_id]
        if secret_id not in self.values:
            raise StoreUnavailable(f"secret {secret_id} not found")
        value = self.values[secret_id]
        text = value if isinstance(value, str) else json.dumps(value)
        if self._caching:
            self._cache[secret_id] = text
        return text

    def refresh(self, secret_id: str) -> None:
        self.refreshes.append(secret_id)
        self._cache.pop(secret_id, None)

    def get_json(self, secret_id: str) -> Any:
        try:
            return json.loads(self.get_text(secret_id))
        except ValueError as exc:
            raise StoreUnavailable(f"secret {secret_id} is not valid JSON") from exc


class FakeRejectionLog:
    """RejectionLog: kept in memory, newest first on read; `fail` makes record raise like the adapter."""

    def __init__(self) -> None:
        self.records: list[IngestRejection] = []
        self.fail = False

    def record(self, rejections: Sequence[IngestRejection]) -> None:
        if self.fail:
            raise StoreUnavailable("recording ingest rejections failed: ProvisionedThroughputExceededException")
        self.records.extend(rejections[:MAX_RECORDED_PER_REQUEST])

    def recent(self, *, now_ms: int, limit: int) -> list[IngestRejection]:
        return sorted(self.records, key=lambda r: r.received_at, reverse=True)[:limit]


class FakePublisher:
    def __init__(self) -> None:
        self.published: list[DomainEvent] = []
        self.calls = 0

    def publish(self, events: Sequence[DomainEvent]) -> None:
        self.calls += 1
        self.published.extend(events)

    def names(self) -> list[str]:
        return [event.name for event in self.published]

    def named(self, name: str) -> list[DomainEvent]:
        return [event for event in self.published if event.name == name]


class FakeProfileStore:
    """ProfileStore + ProfileReader in memory, with the DynamoDB adapter's conditional semantics.

    commit() is one all-or-nothing transaction; when it is refused, the reason is read in the same
    order as the adapter reads DynamoDB's cancellation reasons: the event's APPLIED marker exists
    (ALREADY_APPLIED), then the profile version moved (PROFILE_CHANGED), then an identifier is
    already claimed (CLAIM_LOST). `before_commit` hooks run one per commit, first in first out, to
    let a test play a concurrent writer that wins a race.
    """

    def __init__(self) -> None:
        self.profiles: dict[str, Profile] = {}
        self.claims: dict[str, str] = {}  # identifier key -> profile id
        self.applied: dict[str, str] = {}  # event id -> profile id
        self.applied_domain_events: dict[str, list[DomainEvent]] = {}  # kept with the marker
        self.timelines: dict[str, dict[str, TimelineEntry]] = {}  # profile id -> sort key -> entry
        self.ledgers: dict[str, MergeLedger] = {}
        self._ledgers_by_survivor: dict[str, set[str]] = {}  # the gsi1 query's index
        self.separations: set[str] = set()
        self.transactions = 0  # merge-store transactions, for cost assertions
        self.outcomes: list[CommitOutcome] = []
        self.before_commit: list[Callable[[FakeProfileStore], None]] = []

    # ProfileStore ----------------------------------------------------------------------------
    def owners(self, identifiers: Sequence[Identifier]) -> dict[str, str]:
        return {i.key: self.claims[i.key] for i in identifiers if i.key in self.claims}

    def get(self, profile_id: str) -> Profile | None:
        profile = self.profiles.get(profile_id)
        return copy.deepcopy(profile) if profile is not None else None

    def get_many(self, profile_ids: Sequence[str]) -> dict[str, Profile]:
        return {pid: copy.deepcopy(self.profiles[pid]) for pid in profile_ids if pid in self.profiles}

    def separated(self, keys: Sequence[str]) -> set[str]:
        return {key for key in keys if key in self.separations}

    def load(self, profile_ids: Sequence[str], separations: Sequence[str] = ()) -> tuple[dict[str, Profile], set[str]]:
        return self.get_many(profile_ids), self.separated(separations)

    def was_applied(self, event_id: str) -> str | None:
        return self.applied.get(event_id)

    def commit(
        self,
        *,
        event: CanonicalEvent,
        profile: Profile,
        expected_version: int,
        claims: Sequence[Identifier],
        attached: Sequence[Identifier] = (),
        applied_at: str = "",
        events: Sequence[DomainEvent] = (),
    ) -> CommitOutcome:
        if self.before_commit:
            self.before_commit.pop(0)(self)
        outcome = self._commit(event, profile, expected_version, claims, attached, applied_at or profile.updated_at)
        if outcome is CommitOutcome.APPLIED:
            self.applied_domain_events[event.event_id] = [DomainEvent.from_record(e.to_record()) for e in events]
        self.outcomes.append(outcome)
        return outcome

    def applied_events(self, event_id: str) -> list[DomainEvent]:
        return list(self.applied_domain_events.get(event_id, []))

    def record_timeline(
        self, *, event: CanonicalEvent, profile: Profile, attached: Sequence[Identifier], applied_at: str
    ) -> None:
        if f"EVENT#{event.timestamp}#{event.event_id}" not in self.timelines.get(profile.profile_id, {}):
            self._put_timeline(event, profile.profile_id, (), attached, applied_at)

    def _put_timeline(
        self,
        event: CanonicalEvent,
        profile_id: str,
        claims: Sequence[Identifier],
        attached: Sequence[Identifier],
        applied_at: str,
    ) -> None:
        sort_key = f"EVENT#{event.timestamp}#{event.event_id}"
        self.timelines.setdefault(profile_id, {})[sort_key] = TimelineEntry(
            profile_id=profile_id,
            sort_key=sort_key,
            document=copy.deepcopy(event.as_dict()),
            applied_at=applied_at,
            claimed=tuple(i.key for i in claims),
            attached=tuple(i.key for i in attached),
        )

    def _commit(
        self,
        event: CanonicalEvent,
        profile: Profile,
        expected_version: int,
        claims: Sequence[Identifier],
        attached: Sequence[Identifier],
        applied_at: str,
    ) -> CommitOutcome:
        if event.event_id in self.applied:
            return CommitOutcome.ALREADY_APPLIED
        if not self._version_ok(profile.profile_id, expected_version):
            return CommitOutcome.PROFILE_CHANGED
        if any(identifier.key in self.claims for identifier in claims):
            return CommitOutcome.CLAIM_LOST
        self.applied[event.event_id] = profile.profile_id
        self._put_timeline(event, profile.profile_id, claims, attached, applied_at)
        self.profiles[profile.profile_id] = copy.deepcopy(profile)
        for identifier in claims:
            self.claims[identifier.key] = profile.profile_id
        return CommitOutcome.APPLIED

    # ProfileReader ---------------------------------------------------------------------------
    def owner(self, identifier: Identifier) -> str | None:
        return self.claims.get(identifier.key)

    def latest_events(self, profile_id: str, limit: int) -> list[dict[str, Any]]:
        entries = self.timelines.get(profile_id, {})
        return [copy.deepcopy(entries[key].document) for key in sorted(entries, reverse=True)[:limit]]

    # MergeStore ------------------------------------------------------------------------------
    def claim_owners(self, keys: Sequence[str]) -> dict[str, str]:
        return {key: self.claims[key] for key in keys if key in self.claims}

    def get_ledger(self, merge_id: str) -> MergeLedger | None:
        ledger = self.ledgers.get(merge_id)
        return copy.deepcopy(ledger) if ledger is not None else None

    def merges_into(self, profile_id: str, limit: int = 100) -> list[MergeLedger]:
        ids = self._ledgers_by_survivor.get(profile_id, set())
        found = [copy.deepcopy(self.ledgers[i]) for i in ids if self.ledgers[i].survivor == profile_id]
        return sorted(found, key=lambda ledger: (ledger.planned_at, ledger.merge_id))[:limit]

    def put_ledger(self, ledger: MergeLedger, *, expected_status: str | None) -> bool:
        return self._write(ledger, expected_status, (), None)

    def begin(
        self, ledger: MergeLedger, *, expected_status: str | None, profiles: Sequence[tuple[Profile, int]]
    ) -> bool:
        return self._write(ledger, expected_status, profiles, None)

    def finish(
        self,
        ledger: MergeLedger,
        *,
        expected_status: str,
        profiles: Sequence[tuple[Profile, int]],
        separation: str | None = None,
    ) -> bool:
        return self._write(ledger, expected_status, profiles, separation)

    def _write(
        self,
        ledger: MergeLedger,
        expected_status: str | None,
        profiles: Sequence[tuple[Profile, int]],
        separation: str | None,
    ) -> bool:
        self.transactions += 1
        stored = self.ledgers.get(ledger.merge_id)
        if (stored.status if stored else None) != expected_status:
            return False
        if not all(self._version_ok(profile.profile_id, expected) for profile, expected in profiles):
            return False
        kept = copy.deepcopy(ledger)
        if stored is not None:  # counters are ADDed by move_timeline, not overwritten
            kept.events_moved, kept.events_returned = stored.events_moved, stored.events_returned
        self.ledgers[ledger.merge_id] = kept
        self._ledgers_by_survivor.setdefault(kept.survivor, set()).add(kept.merge_id)
        for profile, _expected in profiles:
            self.profiles[profile.profile_id] = copy.deepcopy(profile)
        if separation is not None:
            self.separations.add(separation)
        return True

    def move_claims(self, keys: Sequence[str], *, source: str, target: str) -> None:
        self.transactions += 1
        if any(self.claims.get(key) not in (source, target) for key in keys):
            raise StoreUnavailable(f"identifier claims moved away from {source} during a merge; retrying")
        for key in keys:
            self.claims[key] = target

    def timeline_page(self, profile_id: str, *, limit: int, after: str | None = None) -> list[TimelineEntry]:
        entries = self.timelines.get(profile_id, {})
        keys = [key for key in sorted(entries) if after is None or key > after][:limit]
        return [entries[key] for key in keys]

    def timeline(self, profile_id: str) -> list[TimelineEntry]:
        entries = self.timelines.get(profile_id, {})
        return [entries[key] for key in sorted(entries)]

    def move_timeline(
        self,
        entries: Sequence[TimelineEntry],
        *,
        target: str,
        moved_by: Sequence[Sequence[str]],
        merge_id: str,
        counter: str,
    ) -> None:
        self.transactions += 1
        if any(entry.sort_key not in self.timelines.get(entry.profile_id, {}) for entry in entries):
            # the adapter's Delete is conditional on the entry still being there
            raise StoreUnavailable("a timeline entry changed while it was being moved; retrying")
        for entry, path in zip(entries, moved_by, strict=True):
            self.timelines.get(entry.profile_id, {}).pop(entry.sort_key, None)
            self.timelines.setdefault(target, {})[entry.sort_key] = dataclasses.replace(
                entry, profile_id=target, moved_by=tuple(path)
            )
        ledger = self.ledgers[merge_id]
        setattr(ledger, counter, getattr(ledger, counter) + len(entries))

    def _version_ok(self, profile_id: str, expected_version: int) -> bool:
        stored = self.profiles.get(profile_id)
        if expected_version == 0:
            return stored is None  # attribute_not_exists(pk)
        return stored is not None and stored.version == expected_version

    # test helpers ----------------------------------------------------------------------------
    def seed(self, profile: Profile, identifiers: Sequence[Identifier] = ()) -> Profile:
        """Put a profile and its claims directly, as if committed earlier."""
        for identifier in identifiers:
            self.claims[identifier.key] = profile.profile_id
            profile.identifiers.setdefault(
                identifier.key, {"type": identifier.type, "value": identifier.value, "added_at": profile.created_at}
            )
        self.profiles[profile.profile_id] = copy.deepcopy(profile)
        return profile


class FakeLinkNonceStore:
    """LinkNonceStore in memory, with the DynamoDB adapter's single conditional consume: ok when this
    event already consumed the nonce, or when it is unused, issued for this LINE user and unexpired."""

    def __init__(self) -> None:
        self.nonces: dict[str, LinkNonce] = {}
        self.consume_calls = 0

    def create(self, nonce: LinkNonce) -> bool:
        if nonce.nonce in self.nonces:
            return False
        self.nonces[nonce.nonce] = nonce
        return True

    def consume(
        self, nonce: str, *, line_user_id: str, event_id: str, now_seconds: int, retain_until_seconds: int
    ) -> tuple[bool, LinkNonce | None]:
        self.consume_calls += 1
        stored = self.nonces.get(nonce)
        if stored is None:
            return False, None
        usable = stored.consumed_by is None and stored.line_user_id == line_user_id
        if not (stored.consumed_by == event_id or (usable and epoch_seconds(stored.expires_at) > now_seconds)):
            return False, stored
        consumed = LinkNonce(
            nonce=stored.nonce,
            expires_at=iso_from_ms(retain_until_seconds * 1000),  # kept for replays, like the adapter
            member_id=stored.member_id,
            line_user_id=stored.line_user_id,
            channel=stored.channel,
            provider=stored.provider,
            created_at=stored.created_at,
            consumed_by=event_id,
        )
        self.nonces[nonce] = consumed
        return True, consumed


# Identity workflows run in process ---------------------------------------------------------
from cdp.identity.merge import (  # noqa: E402  (appended section)
    STATUS_MERGING,
    STATUS_UNMERGING,
    MergeBusy,
    MergeRace,
    MergeWorkflow,
    StepResult,
    merge_id_for,
)


class InjectedFailure(RuntimeError):
    """A failure a test injected into a workflow step; retried like any Lambda error (States.TaskFailed)."""


class FailOnce:
    """A MergeWorkflow `fail_at` hook: raises InjectedFailure the `nth` time `step` is reached (counted
    from construction or `arm`), once. The hook runs before the step's write: a Lambda that dies
    before its transaction."""

    def __init__(self, step: str | None = None, nth: int = 1) -> None:
        self.arm(step, nth)

    def arm(self, step: str | None, nth: int = 1) -> None:
        self.step, self.nth, self.seen, self.fired = step, nth, 0, False

    def __call__(self, step: str) -> None:
        if step != self.step or self.fired:
            return
        self.seen += 1
        if self.seen == self.nth:
            self.fired = True
            raise InjectedFailure(f"injected failure at {step} #{self.nth}")


class CrashAfterWrite:
    """A MergeStore in front of another that, once armed, raises InjectedFailure right after the
    `nth` call of `method` has written: a Lambda that dies after its transaction committed."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self._method: str | None = None
        self._nth = 0
        self.calls = 0
        self.fired = False

    def arm(self, method: str, nth: int = 1) -> None:
        """Crash after the `nth` call of `method` from now on."""
        self._method, self._nth, self.calls, self.fired = method, nth, 0, False

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._store, name)
        if name != self._method:
            return target

        def crashing(*args: Any, **kwargs: Any) -> Any:
            result = target(*args, **kwargs)
            self.calls += 1
            if self.calls == self._nth and not self.fired:
                self.fired = True
                raise InjectedFailure(f"injected crash after {name} #{self._nth}")
            return result

        return crashing


@dataclasses.dataclass
class WorkflowExecution:
    """One Step Functions execution of the merge or unmerge state machine, advanced step by step."""

    name: str
    kind: str  # merge / unmerge
    merge_id: str
    survivor: str = ""
    loser: str = ""
    requested_by: str = ""
    state: str = "begin"  # begin -> move -> finish -> done (or failed)
    status: str | None = None  # the last step's status
    steps: list[str] = dataclasses.field(default_factory=list)  # steps that completed, in order
    retries: int = 0
    error: BaseException | None = None

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed")


class SynchronousMerges:
    """MergeRequester running the identity workflows in process, as the state machines do.

    Merge: plan; if its status is `merging`, move until `done`; then finalize. Unmerge: begin_unmerge;
    if `unmerging`, move_back until `done`; then finalize_unmerge. A step that raises a retryable
    error (MergeBusy, MergeRace, StoreUnavailable, an injected failure) is run again later, like the
    state machine's Retry; any other error fails the execution and is raised.

    Executions are named like the Step Functions adapter names them (`merge_id_for`, `undo-<id>`):
    a request whose name was used before is a no-op, as StartExecution refuses a second execution.
    With `eager` a request runs to the end at once; otherwise it waits for `step()` (one step of one
    execution, to interleave with events) or `run_pending()`. `move_deadline` makes a fresh deadline
    for each move / move_back invocation (default: never hand back).
    """

    RETRYABLE: tuple[type[BaseException], ...] = (MergeBusy, MergeRace, StoreUnavailable, InjectedFailure)

    def __init__(
        self,
        workflow: MergeWorkflow,
        *,
        eager: bool = False,
        max_retries: int = 50,
        move_deadline: Callable[[], Callable[[], bool]] | None = None,
    ) -> None:
        self.workflow = workflow
        self.eager = eager
        self.max_retries = max_retries
        self.move_deadline = move_deadline or (lambda: lambda: False)
        self.requests: list[tuple[str, str, str]] = []  # every request, duplicates included
        self.executions: dict[str, WorkflowExecution] = {}

    # MergeRequester ----------------------------------------------------------------------------
    def request(self, survivor_id: str, loser_id: str, *, requested_by: str, merge_id: str | None = None) -> None:
        self.requests.append((survivor_id, loser_id, requested_by))
        merge_id = merge_id or merge_id_for(survivor_id, loser_id)
        execution = WorkflowExecution(
            name=merge_id,
            kind="merge",
            merge_id=merge_id,
            survivor=survivor_id,
            loser=loser_id,
            requested_by=requested_by,
        )
        self._start(execution)

    def unmerge(self, merge_id: str) -> WorkflowExecution:
        """Start the unmerge workflow; eager or not, it runs to the end (an admin waits for it)."""
        execution = self._start(WorkflowExecution(name=f"undo-{merge_id}", kind="unmerge", merge_id=merge_id))
        self.run(execution)
        return execution

    def start_unmerge(self, merge_id: str) -> WorkflowExecution:
        """Start the unmerge workflow without running it, to interleave its steps."""
        return self._start(WorkflowExecution(name=f"undo-{merge_id}", kind="unmerge", merge_id=merge_id))

    def _start(self, execution: WorkflowExecution) -> WorkflowExecution:
        base, attempt = execution.name, 1
        while execution.name in self.executions:
            earlier = self.executions[execution.name]
            if earlier.state != "failed":
                return earlier  # running or done: a duplicate request is a no-op
            attempt += 1  # like the Step Functions adapter: a failed run is restarted under the next name
            execution.name = f"{base}-{attempt}"
        self.executions[execution.name] = execution
        if self.eager:
            self.run(execution)
        return execution

    # driving ----------------------------------------------------------------------------------
    @property
    def pending(self) -> list[WorkflowExecution]:
        return [execution for execution in self.executions.values() if not execution.finished]

    def step(self, index: int = 0) -> WorkflowExecution | None:
        """Advance one step of the `index`-th unfinished execution (modulo their number)."""
        pending = self.pending
        if not pending:
            return None
        execution = pending[index % len(pending)]
        self.advance(execution)
        return execution

    def run(self, execution: WorkflowExecution) -> WorkflowExecution:
        """Run one execution to its end, stepping the others meanwhile only if it waits on them."""
        while not execution.finished:
            if not self.advance(execution):
                for other in self.pending:
                    if other is not execution:
                        self.advance(other)
        return execution

    def run_pending(self) -> None:
        """Run every execution to its end, round robin one step at a time (requests made meanwhile too)."""
        while self.pending:
            for execution in self.pending:
                self.advance(execution)

    def advance(self, execution: WorkflowExecution) -> bool:
        """Run the execution's next step once; False if it raised a retryable error (it will be retried)."""
        if execution.finished:
            return True
        try:
            if execution.kind == "merge":
                self._merge_step(execution)
            else:
                self._unmerge_step(execution)
        except self.RETRYABLE as exc:
            execution.retries += 1
            if execution.retries > self.max_retries:
                execution.state, execution.error = "failed", exc
                raise
            return False
        except Exception as exc:
            execution.state, execution.error = "failed", exc
            raise
        return True

    def _merge_step(self, execution: WorkflowExecution) -> None:
        workflow = self.workflow
        if execution.state == "begin":
            result = workflow.plan(
                execution.survivor, execution.loser, requested_by=execution.requested_by, merge_id=execution.merge_id
            )
            execution.state = "move" if result.status == STATUS_MERGING else "done"
            self._record(execution, "plan", result)
        elif execution.state == "move":
            result = workflow.move(execution.merge_id, deadline=self.move_deadline())
            execution.state = "finish" if result.done else "move"
            self._record(execution, "move", result)
        elif execution.state == "finish":
            result = workflow.finalize(execution.merge_id)
            execution.state = "done"
            self._record(execution, "finalize", result)

    def _unmerge_step(self, execution: WorkflowExecution) -> None:
        workflow = self.workflow
        if execution.state == "begin":
            result = workflow.begin_unmerge(execution.merge_id)
            execution.state = "move" if result.status == STATUS_UNMERGING else "done"
            self._record(execution, "begin_unmerge", result)
        elif execution.state == "move":
            result = workflow.move_back(execution.merge_id, deadline=self.move_deadline())
            execution.state = "finish" if result.done else "move"
            self._record(execution, "move_back", result)
        elif execution.state == "finish":
            result = workflow.finalize_unmerge(execution.merge_id)
            execution.state = "done"
            self._record(execution, "finalize_unmerge", result)

    @staticmethod
    def _record(execution: WorkflowExecution, step: str, result: StepResult) -> None:
        execution.steps.append(step)
        execution.status = result.status
        if result.survivor:
            execution.survivor, execution.loser = result.survivor, result.loser or ""


class FakeSegmentStore:
    """SegmentStore in memory, with the DynamoDB adapter's conditional enter / exit."""

    def __init__(self) -> None:
        self.definitions_by_id: dict[str, SegmentDefinition] = {}
        self.members_by_segment: dict[str, dict[str, Membership]] = {}
        self.history: list[tuple[str, str, str, str, int]] = []  # segment, profile, action, at, rule version
        self.size_samples: list[SizeSample] = []
        self.writes = 0
        self.audience_syncs: dict[str, dict[str, Any]] = {}  # segment id -> LINE audience sync record

    def changes(self, segment_id: str, *, limit: int) -> list[MembershipChange]:
        found = [MembershipChange(*entry) for entry in self.history if entry[0] == segment_id]
        return sorted(found, key=lambda c: (c.at, c.profile_id, c.action), reverse=True)[:limit]

    def profile_changes(self, profile_id: str, *, limit: int) -> list[MembershipChange]:
        found = [MembershipChange(*entry) for entry in self.history if entry[1] == profile_id]
        return sorted(found, key=lambda c: (c.at, c.segment_id, c.action), reverse=True)[:limit]

    def record_size(self, sample: SizeSample) -> None:
        self.size_samples.append(sample)

    def sizes(self, segment_id: str, *, limit: int) -> list[SizeSample]:
        found = [s for s in self.size_samples if s.segment_id == segment_id]
        return sorted(found, key=lambda s: s.at, reverse=True)[:limit]

    def create(self, definition: SegmentDefinition) -> bool:
        if definition.segment_id in self.definitions_by_id:
            return False
        self.definitions_by_id[definition.segment_id] = definition
        return True

    def replace(self, definition: SegmentDefinition, *, expected_version: int) -> bool:
        stored = self.definitions_by_id.get(definition.segment_id)
        if stored is None or stored.version != expected_version:
            return False
        self.definitions_by_id[definition.segment_id] = definition
        return True

    def get(self, segment_id: str) -> SegmentDefinition | None:
        return self.definitions_by_id.get(segment_id)

    def definitions(self) -> list[SegmentDefinition]:
        return [self.definitions_by_id[key] for key in sorted(self.definitions_by_id)]

    def memberships(self, profile_id: str) -> list[Membership]:
        return [
            members[profile_id]
            for _segment, members in sorted(self.members_by_segment.items())
            if profile_id in members
        ]

    def member_of(self, profile_id: str, segment_ids: Sequence[str]) -> set[str]:
        return {sid for sid in segment_ids if profile_id in self.members_by_segment.get(sid, {})}

    def members(self, segment_id: str, *, limit: int, after: str | None = None) -> tuple[list[Membership], str | None]:
        members = self.members_by_segment.get(segment_id, {})
        keys = [key for key in sorted(members) if after is None or key > after]
        page = [members[key] for key in keys[:limit]]
        return page, (page[-1].profile_id if len(keys) > limit else None)

    def count_members(self, segment_id: str) -> int:
        return len(self.members_by_segment.get(segment_id, {}))

    def enter(self, segment_id: str, profile_id: str, *, at: str, rule_version: int) -> bool:
        self.writes += 1
        members = self.members_by_segment.setdefault(segment_id, {})
        if profile_id in members:
            return False
        members[profile_id] = Membership(segment_id, profile_id, at, rule_version)
        self.history.append((segment_id, profile_id, "entered", at, rule_version))
        return True

    def exit(self, segment_id: str, profile_id: str, *, at: str, rule_version: int) -> bool:
        self.writes += 1
        members = self.members_by_segment.get(segment_id, {})
        if profile_id not in members:
            return False
        del members[profile_id]
        self.history.append((segment_id, profile_id, "exited", at, rule_version))
        return True

    # LINE audience sync (cdp.segments.audience_sync) -------------------------------------------
    def get_audience_sync(self, segment_id: str) -> dict[str, Any] | None:
        found = self.audience_syncs.get(segment_id)
        return copy.deepcopy(found) if found is not None else None

    def put_audience_sync(self, segment_id: str, record: dict[str, Any], *, replacing: str | None) -> bool:
        stored = self.audience_syncs.get(segment_id)
        if replacing is not None and (stored is None or stored["revision"] != replacing):
            return False
        self.audience_syncs[segment_id] = json.loads(json.dumps(record))  # as stored: JSON only
        return True

    def delete_audience_sync(self, segment_id: str) -> dict[str, Any] | None:
        return self.audience_syncs.pop(segment_id, None)

    def changes_between(self, segment_id: str, *, after: str, until: str) -> Iterator[MembershipChange]:
        found = [MembershipChange(*entry) for entry in self.history if entry[0] == segment_id]
        yield from sorted((c for c in found if after < c.at <= until), key=lambda c: (c.at, c.profile_id, c.action))


class FakeStreamRecords:
    """StreamRecords over a list of (sequence, event id, eventName) held in memory; `trimmed`
    plays the stream after 24 hours."""

    def __init__(self, records: Sequence[tuple[str, str, str]] = (), *, expires_at: int | None = None) -> None:
        self.records = list(records)
        self.expires_at = expires_at
        self.trimmed = False

    def keys(self, batch: Any) -> list[Any]:
        from cdp.operations.dead_letters import StreamRecordKey, StreamRecordsGone, sequence_order

        if self.trimmed:
            raise StreamRecordsGone("trimmed")
        low, high = sequence_order(batch.start_sequence), sequence_order(batch.end_sequence)
        return [
            StreamRecordKey(sequence, event_id, self.expires_at)
            for sequence, event_id, name in self.records
            if name == "INSERT" and low <= sequence_order(sequence) <= high
        ]


class FakeDeadLetterStore:
    """DeadLetterStore: letters by event id, listed in key order like the adapter's query."""

    def __init__(self) -> None:
        self.letters: dict[str, Any] = {}

    def put(self, letters: Sequence[Any]) -> None:
        for letter in letters:
            self.letters[letter.event_id] = letter

    def pending(self, limit: int) -> list[Any]:
        return [self.letters[key] for key in sorted(self.letters)][:limit]

    def get(self, event_ids: Sequence[str]) -> list[Any]:
        return [self.letters[event_id] for event_id in dict.fromkeys(event_ids) if event_id in self.letters]

    def remove(self, event_ids: Sequence[str]) -> None:
        for event_id in event_ids:
            self.letters.pop(event_id, None)


class FakeRawEventItems:
    def __init__(self, items: dict[str, dict[str, Any]] | None = None) -> None:
        self.items = dict(items or {})

    def get(self, event_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        return {event_id: copy.deepcopy(self.items[event_id]) for event_id in event_ids if event_id in self.items}


class FakeProcessorGateway:
    """ProcessorGateway: records what it was given; `failing` ids fail, and APPLIED-like markers
    make a repeated submit a no-op the way the processor's markers do."""

    def __init__(self, failing: set[str] | None = None) -> None:
        self.failing = set(failing or ())
        self.calls: list[list[str]] = []
        self.applied: list[str] = []

    def submit(self, items: Any) -> set[str]:
        self.calls.append(list(items))
        for event_id in items:
            if event_id not in self.failing and event_id not in self.applied:
                self.applied.append(event_id)
        return {event_id for event_id in items if event_id in self.failing}


# LINE Messaging API and LINE Login, as the adapters (cdp.adapters.line_api) present them ----------
import itertools  # noqa: E402  (appended section)
import re  # noqa: E402
import time  # noqa: E402

from cdp.adapters.line_api import LineApiError  # noqa: E402
from cdp.errors import BadRequest, NotFound  # noqa: E402

_LINE_USER_ID = re.compile(r"^U[0-9a-f]{32}$")
_MAX_AUDIENCE_IDS = 10_000


class FakeLineApi:
    """LineApi as LineApiClient answers: link tokens only for well-formed user ids of a known channel
    token; ID tokens checked for audience and expiry the way LINE Login's verify does."""

    def __init__(self, now: Callable[[], float] = time.time) -> None:
        self.now = now
        self.access_tokens: set[str] = set()
        self.link_tokens: list[tuple[str, str]] = []  # (access token, user id)
        self._claims: dict[str, dict[str, Any]] = {}
        self._counter = itertools.count(1)

    def register_channel(self, access_token: str) -> None:
        self.access_tokens.add(access_token)

    def issue_id_token(self, user_id: str, channel_id: str, *, expires_in: int = 3600) -> str:
        issued = int(self.now())
        token = f"idtoken-{next(self._counter)}"
        self._claims[token] = {
            "iss": "https://access.line.me",
            "sub": user_id,
            "aud": channel_id,
            "exp": issued + expires_in,
            "iat": issued,
            "auth_time": issued,
            "amr": ["linesso"],
        }
        return token

    def issue_link_token(self, *, access_token: str, user_id: str) -> str:
        if access_token not in self.access_tokens:
            raise LineApiError("LINE refused our credentials while issuing a link token", code="line_auth_failed")
        if not _LINE_USER_ID.match(user_id):
            raise NotFound(f"LINE could not issue a link token for {user_id}", code="line_user_not_found")
        self.link_tokens.append((access_token, user_id))
        return f"linktoken{next(self._counter)}"

    def verify_id_token(self, *, id_token: str, client_id: str) -> dict[str, Any]:
        claims = self._claims.get(id_token)
        if claims is None:
            raise BadRequest("LINE rejected the ID token: Invalid IdToken.", code="invalid_id_token")
        if claims["aud"] != client_id:
            raise BadRequest("LINE rejected the ID token: Invalid IdToken Audience.", code="invalid_id_token")
        if self.now() >= claims["exp"]:
            raise BadRequest("LINE rejected the ID token: IdToken expired.", code="invalid_id_token")
        return dict(claims)


class FakeAudienceApi:
    """AudienceApi as LineAudienceApi answers: groups per channel token, add is a union, 1 to 10,000 ids a call."""

    def __init__(self) -> None:
        self.access_tokens: set[str] = set()
        self.groups: dict[int, tuple[str, set[str]]] = {}  # id -> (owning channel token, members)
        self._next_id = 1_234_567_890_000

    def register_channel(self, access_token: str) -> None:
        self.access_tokens.add(access_token)

    def members(self, audience_group_id: int) -> set[str] | None:
        group = self.groups.get(audience_group_id)
        return set(group[1]) if group else None

    def create_audience(self, *, access_token: str, description: str, user_ids: list[str]) -> int:
        self._check(access_token, user_ids)
        self._next_id += 1
        self.groups[self._next_id] = (access_token, set(user_ids))
        return self._next_id

    def add_to_audience(self, *, access_token: str, audience_group_id: int, user_ids: list[str]) -> None:
        self._check(access_token, user_ids)
        group = self.groups.get(audience_group_id)
        if group is None or group[0] != access_token:
            raise LineApiError("LINE answered 400 while adding to an audience group: audience group not found")
        group[1].update(user_ids)

    def _check(self, access_token: str, user_ids: list[str]) -> None:
        if not 0 < len(user_ids) <= _MAX_AUDIENCE_IDS:
            raise ValueError(f"an audience upload carries 1 to {_MAX_AUDIENCE_IDS} ids, got {len(user_ids)}")
        if access_token not in self.access_tokens:
            raise LineApiError("LINE refused our credentials", code="line_auth_failed")
        if any(not _LINE_USER_ID.match(user_id) for user_id in user_ids):
            raise LineApiError("LINE answered 400 while uploading an audience: invalid audience ID")


# Tracked links (cdp.links) ------------------------------------------------------------------------
from cdp.links.model import ClickCounts, Link  # noqa: E402  (appended section)


class FakeLinkStore:
    """LinkReader and ClickCounter (and create) as DynamoLinkStore: a new link starts at zero clicks;
    a click on a link that is not there fails like the adapter's conditional update."""

    def __init__(self) -> None:
        self.links: dict[str, Link] = {}

    def create(self, link: Link) -> bool:
        if link.code in self.links:
            return False
        self.links[link.code] = dataclasses.replace(link, clicks=ClickCounts())
        return True

    def get(self, code: str, *, consistent: bool = False) -> Link | None:
        return self.links.get(code)

    def recent(self, *, limit: int, before: str | None = None) -> tuple[list[Link], str | None]:
        ordered = sorted(self.links.values(), key=lambda link: f"{link.created_at}#{link.code}", reverse=True)
        older = [link for link in ordered if before is None or f"{link.created_at}#{link.code}" < before]
        page = older[:limit]
        more = len(older) > limit
        return page, (f"{page[-1].created_at}#{page[-1].code}" if more else None)

    def count_click(self, code: str, *, known: bool) -> None:
        link = self.links.get(code)
        if link is None:
            raise StoreUnavailable("counting a click failed: ConditionalCheckFailedException")
        clicks = link.clicks
        self.links[code] = dataclasses.replace(
            link,
            clicks=ClickCounts(
                total=clicks.total + 1,
                known=clicks.known + (1 if known else 0),
                anonymous=clicks.anonymous + (0 if known else 1),
            ),
        )


class FakeTemplateStore:
    """TemplateStore in memory, as DynamoTemplateStore: versions written once, the record replaced
    only while its latest version and status are the ones read."""

    def __init__(self) -> None:
        self.records: dict[str, Template] = {}
        self.template_versions: dict[tuple[str, int], TemplateVersion] = {}

    def create(self, template: Template, first: TemplateVersion) -> bool:
        if template.template_id in self.records:
            return False
        self.records[template.template_id] = template
        self.template_versions[(first.template_id, first.version)] = copy.deepcopy(first)
        return True

    def replace(
        self, template: Template, *, expected_version: int, expected_status: str, new_version: TemplateVersion | None
    ) -> bool:
        stored = self.records.get(template.template_id)
        if stored is None or stored.latest_version != expected_version or stored.status != expected_status:
            return False
        if new_version is not None:
            key = (new_version.template_id, new_version.version)
            if key in self.template_versions:
                return False
            self.template_versions[key] = copy.deepcopy(new_version)
        self.records[template.template_id] = template
        return True

    def get(self, template_id: str) -> Template | None:
        return self.records.get(template_id)

    def version(self, template_id: str, version: int) -> TemplateVersion | None:
        found = self.template_versions.get((template_id, version))
        return copy.deepcopy(found) if found is not None else None

    def versions(self, template_id: str) -> list[tuple[int, str]]:
        return sorted(
            (number, stored.created_at)
            for (stored_id, number), stored in self.template_versions.items()
            if stored_id == template_id
        )

    def templates(self) -> list[Template]:
        return [self.records[key] for key in sorted(self.records)]


class FakeSendRequests:
    """The message sender's hand-over (cdp.messaging.auto_reply.SendRequests): what was submitted,
    and `fail` hand-overs that raise first (an invoke that did not go through)."""

    def __init__(self, fail: int = 0) -> None:
        self.submitted: list[dict[str, Any]] = []
        self.fail = fail

    def submit(self, requests: Sequence[dict[str, Any]]) -> None:
        if self.fail:
            self.fail -= 1
            raise InjectedFailure("the invoke did not go through")
        self.submitted.extend(requests)


class FakeAutoReplies:
    """The auto-replies configuration item (cdp.adapters.dynamodb.auto_replies) in memory:
    versioned, compare-and-set."""

    def __init__(self) -> None:
        self.stored = NO_AUTO_REPLIES

    def get(self) -> AutoReplies:
        return self.stored

    def put(self, replies: AutoReplies, *, expected_version: int) -> AutoReplies:
        if expected_version != self.stored.version:
            raise Conflict(
                f"the auto-replies changed since version {expected_version}; read them again",
                code="rules_version_conflict",
            )
        self.stored = AutoReplies.from_dict(replies.as_dict(), version=expected_version + 1)
        return self.stored


class FakeSegmentRichMenus:
    """Which rich menu a segment has (cdp.adapters.dynamodb.segment_rich_menus) in memory."""

    def __init__(self) -> None:
        self.links: dict[str, SegmentRichMenu] = {}

    def get_rich_menu(self, segment_id: str) -> SegmentRichMenu | None:
        return self.links.get(segment_id)

    def put_rich_menu(self, link: SegmentRichMenu) -> None:
        self.links[link.segment_id] = link

    def delete_rich_menu(self, segment_id: str) -> SegmentRichMenu | None:
        return self.links.pop(segment_id, None)


class FakeRichMenuLinks:
    """LINE's per-user rich menus (cdp.adapters.line_api.LineRichMenuApi): the menus that exist,
    who sees which, and every bulk request with its size (at most 500 users, as LINE's)."""

    def __init__(self, menus: Sequence[str] = ()) -> None:
        self.menus = set(menus)
        self.users: dict[str, str] = {}
        self.requests: list[tuple[str, int]] = []

    def exists(self, *, access_token: str, rich_menu_id: str) -> bool:
        return rich_menu_id in self.menus

    def link(self, *, access_token: str, rich_menu_id: str, user_ids: Sequence[str]) -> None:
        assert 0 < len(user_ids) <= 500 and rich_menu_id in self.menus
        self.requests.append(("link", len(user_ids)))
        self.users.update(dict.fromkeys(user_ids, rich_menu_id))

    def unlink(self, *, access_token: str, user_ids: Sequence[str]) -> None:
        assert 0 < len(user_ids) <= 500
        self.requests.append(("unlink", len(user_ids)))
        for user in user_ids:
            self.users.pop(user, None)


class FakeAuditLog:
    """cdp.access.audit.AuditLog in memory, with the adapter's order (newest first by time, then
    request id) and cursor; `fail` makes record raise like the adapter, `failures` counts calls."""

    def __init__(self) -> None:
        self.records: dict[tuple[int, str], Any] = {}
        self.fail = False
        self.failures = 0

    def record(self, record: Any) -> None:
        if self.fail:
            self.failures += 1
            raise StoreUnavailable("recording an audit record failed: ProvisionedThroughputExceededException")
        self.records[(record.at_ms, record.request_id)] = record

    def page(self, query: Any, cursor: Any) -> Any:
        from cdp.access.audit import AuditPage, Cursor, day_of

        ordered = sorted(self.records.values(), key=lambda r: (r.at, r.request_id), reverse=True)
        if cursor is not None and cursor.after_sk is not None:
            ordered = [r for r in ordered if f"{r.at}#{r.request_id}" < cursor.after_sk]
        found = [r for r in ordered if query.matches(r)]
        if len(found) > query.limit:
            last = found[query.limit - 1]
            return AuditPage(found[: query.limit], Cursor(day_of(last.at_ms), f"{last.at}#{last.request_id}"))
        return AuditPage(found, None)


# --- privacy: erase and suppression (cdp.privacy) ---------------------------------------------
class FakeEraseLedger:
    """EraseLedger in memory: records, the person while erased, pointers from hashed profile ids."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, Any]] = {}
        self.people: dict[str, dict[str, Any]] = {}
        self.pointers: dict[str, str] = {}  # profile digest -> erase id
        self.dropped: dict[str, int] = {}  # erase id -> events its suppression dropped (a counter)

    def erase_for(self, profile_digests: Sequence[str]) -> str | None:
        return next((self.pointers[d] for d in profile_digests if d in self.pointers), None)

    def create(self, record: Any, person: Any, pointers: Sequence[str]) -> bool:
        if record.erase_id in self.records:
            return False
        self.records[record.erase_id] = copy.deepcopy(record.as_dict())
        self.people[record.erase_id] = person.as_dict()
        for digest in pointers:
            self.pointers[digest] = record.erase_id
        return True

    def get(self, erase_id: str) -> Any:
        from cdp.privacy.erase import EraseRecord

        data = self.records.get(erase_id)
        if data is None:
            return None
        record = EraseRecord.from_dict(copy.deepcopy(data))
        record.suppressed_events = self.dropped.get(erase_id, 0)
        return record

    def save(self, record: Any) -> None:
        self.records[record.erase_id] = copy.deepcopy(record.as_dict())

    def person(self, erase_id: str) -> Any:
        from cdp.privacy.erase import Person

        data = self.people.get(erase_id)
        return Person.from_dict(data) if data is not None else None

    def forget_person(self, erase_id: str) -> None:
        self.people.pop(erase_id, None)


class FakeSuppressions:
    def __init__(self, ledger: FakeEraseLedger | None = None) -> None:
        self.digests: dict[str, str] = {}  # digest -> erase id
        self.reads = 0
        self.dropped_events: set[str] = set()
        self._ledger = ledger

    def add(self, digests: Sequence[str], erase_id: str, at: str) -> None:
        for digest in digests:
            self.digests[digest] = erase_id

    def matching(self, digests: Sequence[str]) -> dict[str, str]:
        self.reads += 1
        return {d: self.digests[d] for d in digests if d in self.digests}

    def lift(self, erase_id: str) -> int:
        lifted = [d for d, owner in self.digests.items() if owner == erase_id]
        for digest in lifted:
            del self.digests[digest]
        return len(lifted)

    def drop(self, erase_id: str, event_id: str) -> bool:
        if event_id in self.dropped_events:
            return False
        self.dropped_events.add(event_id)
        if self._ledger is not None:
            self._ledger.dropped[erase_id] = self._ledger.dropped.get(erase_id, 0) + 1
        return True


class FakeErasureStore:
    """An ErasureStore over items that each mention some profile ids and identifier keys: the
    person's items are those mentioning any of theirs. `fail_after` removes that many items in
    all, then raises (a crash mid-erase); `late` items appear after the first full pass (a
    stream that had not settled)."""

    def __init__(self, name: str, items: dict[str, set[str]] | None = None) -> None:
        self.name = name
        self.items: dict[str, set[str]] = dict(items or {})
        self.fail_after: int | None = None
        self.late: dict[str, set[str]] = {}
        self.calls = 0

    def _theirs(self, person: Any) -> list[str]:
        mentions = set(person.profile_ids) | set(person.identifiers)
        return sorted(key for key, tokens in self.items.items() if tokens & mentions)

    def erase(self, person: Any, *, limit: int) -> tuple[int, bool]:
        self.calls += 1
        removed = 0
        for key in self._theirs(person)[:limit]:
            if self.fail_after is not None and self.fail_after <= 0:
                raise StoreUnavailable("injected crash mid-erase")
            del self.items[key]
            removed += 1
            if self.fail_after is not None:
                self.fail_after -= 1
        done = not self._theirs(person)
        if done and self.late:
            self.items.update(self.late)
            self.late = {}
        return removed, done

    def remaining(self, person: Any) -> int:
        return len(self._theirs(person))
