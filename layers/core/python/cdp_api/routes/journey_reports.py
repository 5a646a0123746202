"""What a marketer sees of a journey: its report (cdp.journeys.report, over the run records),
where one person is in it and why, and a dry run of the draft for one person
(cdp.journeys.dryrun) against a simulated clock, sending nothing.

Served by the CRUD function: the figures come from the run records in the core table, not from
the archive, so no DuckDB is needed.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from cdp.adapters.aws import client
from cdp.clock import SystemClock
from cdp.errors import BadRequest, NotFound
from cdp.journeys.definition import (
    ConditionSplit,
    DelayFor,
    DelayUntilTime,
    DelayUntilTimestamp,
    JourneyDefinition,
    RandomSplit,
    WaitForEvent,
    parse_definition,
)
from cdp.journeys.model import Journey
from cdp.journeys.runs import ACTIVE, Run

from cdp_api.context import admin_context
from cdp_api.docs import errors, ok
from cdp_api.errors import coded
from cdp_api.models import Body as BodyModel

if TYPE_CHECKING:
    from cdp.adapters.dynamodb.journey_runs import DynamoRunStore
    from cdp.adapters.dynamodb.journeys import DynamoJourneyStore

router = Router()  # type: ignore[no-untyped-call]

MAX_REPORT_RUNS = 100_000  # the newest runs a report reads (`runs_read`, `truncated` say so)
MAX_LISTED_RUNS = 50

ProfileQuery = Annotated[str, coded("invalid_profile_id", "`profileId` is a profile id")]
VersionQuery = Annotated[int, coded("invalid_version", "`version` is a published version number")]


class JourneyTest(BodyModel):
    unknown_field_code = "unknown_test_field"
    profile_id: Annotated[str, coded("invalid_profile_id", "`profile_id` is the profile to walk through the draft")]
    entry: Annotated[
        dict[str, Any] | None,
        coded("invalid_entry", '`entry` is {"event"?, "properties"?, "segment_id"?}: what starts the run'),
    ] = None
    events: Annotated[
        list[dict[str, Any]] | None,
        coded("invalid_test_events", '`events` is a list of {"event", "properties"?, "after"?: "PT20M"}'),
    ] = None
    at: Annotated[
        str | None, coded("invalid_at", "`at` is an ISO-8601 time with a zone (the simulated entry time)")
    ] = None
    version: Annotated[int | None, coded("invalid_version", "`version` is a published version number")] = None


def _journeys() -> DynamoJourneyStore:
    from cdp.adapters.dynamodb.journeys import DynamoJourneyStore

    return DynamoJourneyStore(client("dynamodb"), admin_context().settings.core_table)


def _runs() -> DynamoRunStore:
    from cdp.adapters.dynamodb.journey_runs import DynamoRunStore

    return DynamoRunStore(client("dynamodb"), admin_context().settings.core_table)


def _journey_or_404(journey_id: str) -> Journey:
    journey = _journeys().get(journey_id)
    if journey is None:
        raise NotFound(f"no journey {journey_id}", code="journey_not_found")
    return journey


def _definition(journey: Journey, version: int | None) -> JourneyDefinition:
    """The definition of `version`, else of the live (or newest) version, else the draft."""
    number = version or journey.live_version or (max(journey.versions) if journey.versions else None)
    if number is None:
        return parse_definition(journey.draft)
    published = _journeys().version(journey.journey_id, number)
    if published is None:
        raise NotFound(f"journey {journey.journey_id} has no version {number}", code="journey_version_not_found")
    return published.definition


@router.get(
    "/admin/v1/journeys/<journey_id>/report",
    responses={**ok(200, "The journey's figures from its runs", "JourneyReport"), **errors(404)},
)
def journey_report_route(
    journey_id: str,
    version: Annotated[VersionQuery | None, Query(ge=1, description="one version's runs; all runs if absent")] = None,
) -> dict[str, Any]:
    """Per node: entered, waiting now, exited by reason; per send node: sent, suppressed by
    reason, failed, clicked and CTR; conversions within the goal and their value; per branch:
    runs, CTR of the sends after it, conversion rate; per random split with a holdout: holdout
    versus treatment conversion, the difference in percentage points and the z-test's p-value."""
    from cdp.journeys.report import journey_report

    journey = _journey_or_404(journey_id)
    definition = _definition(journey, version)
    runs = _runs().of_journey(journey_id, limit=MAX_REPORT_RUNS)
    report = journey_report(journey_id, definition, runs, version=version)
    return {
        **report,
        "status": journey.status,
        "live_version": journey.live_version,
        "runs_read": len(runs),
        "truncated": len(runs) >= MAX_REPORT_RUNS,
        "as_of": SystemClock().now().isoformat(timespec="seconds").replace("+00:00", "Z"),
    }


def _why(run: Run, definition: JourneyDefinition | None) -> str:
    """Where the person is and why, in words."""
    if run.status != ACTIVE:
        return f"ended at {run.node or 'entry'}: {run.exit_reason or 'unknown'}"
    node = definition.nodes.get(run.node) if definition is not None and run.node else None
    waiting = run.waiting or {}
    until = waiting.get("until")
    if isinstance(node, WaitForEvent) or waiting.get("kind") == "event":
        event = waiting.get("event") or (node.event if isinstance(node, WaitForEvent) else "an event")
        timeout = f" until {until}" if until else ""
        keyed = " for the same entry key" if isinstance(node, WaitForEvent) and node.correlate else ""
        return f"waiting for {event}{keyed}{timeout}, then {'timed_out' if until else 'the next node'}"
    if isinstance(node, DelayFor | DelayUntilTime | DelayUntilTimestamp) or waiting.get("kind") == "delay":
        return f"in a delay until {until}" if until else "in a delay"
    if isinstance(node, ConditionSplit | RandomSplit):
        return f"at a split (branch so far: {run.branches.get(run.node or '', 'not chosen yet')})"
    return f"at {run.node or 'entry'} since {run.node_since or run.entered_at}"


def _run_view(run: Run, definition: JourneyDefinition | None) -> dict[str, Any]:
    node = definition.nodes.get(run.node) if definition is not None and run.node else None
    return {
        "run_id": run.run_id,
        "version": run.version,
        "entry_key": run.entry_key,
        "entered_at": run.entered_at,
        "status": run.status,
        "node": run.node,
        "node_type": node.type if node is not None else None,
        "since": run.node_since,
        "waiting": run.waiting,
        "why": _why(run, definition),
        "path": [{"node": step.node, "at": step.at, "outcome": step.outcome} for step in run.path],
        "branches": dict(run.branches),
        "sent": dict(run.sent),
        "clicked": dict(run.clicked),
        "converted_at": run.converted_at,
        "conversion_value": run.conversion_value,
        "exited_at": run.exited_at,
        "exit_reason": run.exit_reason,
    }


@router.get(
    "/admin/v1/journeys/<journey_id>/runs",
    responses={**ok(200, "The person's runs of the journey, newest first", "JourneyRuns"), **errors(404)},
)
def journey_runs_route(
    journey_id: str,
    profile_id: Annotated[
        ProfileQuery | None,
        Query(
            alias="profileId",
            min_length=1,
            max_length=128,
            description="the person (a merged-away id follows the merge)",
        ),
    ] = None,
) -> dict[str, Any]:
    """Where a person is and why: the node, since when, what the run waits for and until when,
    the path with times and outcomes, the branches taken, and the exit reason once it ended.
    Without `profileId`: the journey's newest runs."""
    journey = _journey_or_404(journey_id)
    store = _runs()
    survivor = None
    if profile_id is not None:
        from cdp.profiles.views import current_profile

        survivor = current_profile(admin_context().store, profile_id).profile_id
        runs = store.recent_for(survivor, journey_id)[:MAX_LISTED_RUNS]
    else:
        runs = store.of_journey(journey_id, limit=MAX_LISTED_RUNS)
    definitions: dict[int, JourneyDefinition | None] = {}
    for run in runs:
        if run.version not in definitions:
            published = _journeys().version(journey_id, run.version)
            definitions[run.version] = published.definition if published is not None else None
    return {
        "journey_id": journey.journey_id,
        "profile_id": survivor,
        "runs": [_run_view(run, definitions[run.version]) for run in runs],
    }


@router.post(
    "/admin/v1/journeys/<journey_id>/test",
    responses={**ok(200, "The path the person would take (nothing is sent)", "JourneyDryRun"), **errors(400, 404)},
)
def journey_test_route(journey_id: str, request: Annotated[JourneyTest, Body()]) -> dict[str, Any]:
    """A dry run of the draft (or of `version`) for one person against a simulated clock from
    `at` (default now): `events` are what the person would do, each `after` the entry
    (`PT20M`). Answers the path with times, the branch taken at each split and why, what each
    send would send (template version, channel chain, the channel that would reach the person)
    and whether the goal would convert. Nothing is sent, written or changed."""
    from cdp.journeys.dryrun import dry_run, parse_events
    from cdp.journeys.dryrun_runtime import runtime_semantics
    from cdp.profiles.views import current_profile

    journey = _journey_or_404(journey_id)
    if request.version is not None:
        published = _journeys().version(journey_id, request.version)
        if published is None:
            raise NotFound(f"journey {journey_id} has no version {request.version}", code="journey_version_not_found")
        definition, pinned = published.definition, dict(published.templates)
    else:
        definition, pinned = parse_definition(journey.draft), {}
    start = _start(request.at)
    profile = current_profile(admin_context().store, request.profile_id)
    entry = dict(request.entry or {})
    if not isinstance(entry.get("properties", {}), dict):
        raise BadRequest("`entry.properties` is an object", code="invalid_entry")
    semantics = runtime_semantics(admin_context(), definition, profile=profile, pinned=pinned)
    return dry_run(
        journey_id,
        definition,
        profile_id=profile.profile_id,
        entry=entry,
        events=parse_events(request.events, start),
        start=start,
        semantics=semantics,
    )


def _start(at: str | None) -> datetime:
    if at is None:
        return SystemClock().now()
    try:
        moment = datetime.fromisoformat(at.replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise BadRequest("`at` is an ISO-8601 time with a zone", code="invalid_at")
    return moment
