"""The runtime's node semantics (cdp.journeys.steps) for a dry run (cdp.journeys.dryrun): the
same delay times, condition and split choices, send request and action as a real run, read
against the stored profile plus what the dry run has changed so far, with no writes.

A send answers what the send point would be asked (template and pinned version, the channel
chain) and the first channel of the chain that reaches the person (LINE friend, or a known and
consented email / phone), or `unreachable`; the send point's caps and quiet hours depend on the
person's history at send time and are not simulated.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from cdp.journeys.definition import (
    Action,
    ConditionSplit,
    DelayFor,
    DelayUntilTime,
    DelayUntilTimestamp,
    JourneyDefinition,
    RandomSplit,
    Send,
)
from cdp.journeys.dryrun import DryRunState
from cdp.journeys.runs import Run, send_key
from cdp.journeys.steps import (
    choose_branch,
    choose_split,
    condition_reads_events,
    condition_segments,
    delay_until,
    fill,
    iso_z,
    send_request,
)
from cdp.profiles.consent import reachability
from cdp.profiles.model import Profile
from cdp.segments.evaluate import EventFact
from cdp.segments.facts import facts_from_profile

ELSE = "else"


class RuntimeSemantics:
    """`DryRunSemantics` over the runtime's own functions."""

    def __init__(
        self,
        definition: JourneyDefinition,
        profile: Profile,
        *,
        pinned: Mapping[str, int],
        latest_version: Callable[[str], int | None],
        memberships: Callable[[Sequence[str]], set[str]],
        timeline: Callable[[], list[EventFact]],
    ) -> None:
        self.definition = definition
        self.profile = profile
        self.pinned = pinned
        self.latest_version = latest_version
        self.memberships = memberships
        self.timeline = timeline

    def _traits(self, state: DryRunState) -> dict[str, Any]:
        return {**{name: stamped.value for name, stamped in self.profile.traits.items()}, **state.traits}

    def _run(self, state: DryRunState) -> Run:
        return Run(
            run_id="dry-run",
            journey_id=state.journey_id,
            version=0,
            profile_id=self.profile.profile_id,
            entry_key=state.entry_key or "-",
            entered_at=iso_z(state.at),
            clicked={node: iso_z(at) for node in state.sends if (at := state.clicked(node)) is not None},
            entry=dict(state.entry),
        )

    def delay_until(self, node: DelayFor | DelayUntilTime | DelayUntilTimestamp, state: DryRunState) -> datetime:
        facts = facts_from_profile(self.profile, state.at)
        return delay_until(
            node,
            now=state.at,
            journey_zone=self.definition.time_zone,
            traits=self._traits(state),
            computed=facts.computed,
            entry=state.entry,
        )

    def condition(self, node_id: str, node: ConditionSplit, state: DryRunState) -> tuple[str, str, str]:
        facts = facts_from_profile(self.profile, state.at)
        tags = (set(facts.tags) | state.tags_added) - state.tags_removed
        facts = replace(facts, traits=self._traits(state), tags=frozenset(tags))
        wanted = sorted(condition_segments(node))
        members = self.memberships(wanted) if wanted else set()
        events: list[EventFact] = []
        if condition_reads_events(node):
            events = [
                *self.timeline(),
                *(_fact(event.event, event.properties, event.at) for event in state.past_events()),
            ]
        clicked = self._run(state).clicked
        name, target = choose_branch(
            node, facts=facts, events=events, now=state.at, memberships=members, clicked=clicked
        )
        if name == ELSE:
            why = "no branch's condition held"
        else:
            branch = next(b for b in node.branches if b.name == name)
            why = f"the condition of branch {name!r} held: {branch.when}"
        return name, target, why

    def split(self, node_id: str, node: RandomSplit, state: DryRunState) -> tuple[str, str | None, str]:
        branch = choose_split(node, profile_id=self.profile.profile_id, journey_id=state.journey_id, node_id=node_id)
        why = f"the person's sticky bucket falls in {branch.name!r} ({branch.percent}%)"
        return branch.name, None if branch.holdout else branch.next, why

    def send(self, node_id: str, node: Send, state: DryRunState) -> dict[str, Any]:
        templates = dict(self.pinned)
        if node.template_id not in templates:
            latest = self.latest_version(node.template_id)
            if latest is not None:
                templates[node.template_id] = latest
        request = send_request(self._run(state), node_id, node, self.definition, templates)
        reach = reachability(self.profile, node.purpose)
        channel = next((ch for ch in node.channels if reach.get(ch, {}).get("reachable")), None)
        answer: dict[str, Any] = {
            "template_id": request.template_id,
            "template_version": request.template_version,
            "channels": list(request.channels),
            "purpose": request.purpose,
            "send_key": send_key("<run>", node_id),
            "would_send": channel is not None,
            "channel": channel,
        }
        if channel is None:
            answer["reason"] = "unreachable"
        return answer

    def action(self, node_id: str, node: Action, state: DryRunState) -> dict[str, Any]:
        if node.action == "set_trait":
            return {"set_trait": node.trait, "value": node.value}
        tag = fill(node.tag or "", entry=state.entry, traits=self._traits(state)).strip()
        return {node.action: tag}


def _fact(name: str, properties: Mapping[str, Any], at: datetime) -> EventFact:
    return EventFact(name=name, timestamp=at, properties=dict(properties))


def runtime_semantics(
    context: Any, definition: JourneyDefinition, *, profile: Profile, pinned: Mapping[str, int]
) -> RuntimeSemantics:
    """Wired to the admin API's stores (cdp_api.context.AdminContext)."""
    from cdp.segments.facts import event_fact

    templates = context.templates()
    segments = context.segments()

    def latest_version(template_id: str) -> int | None:
        template = templates.get(template_id)
        return None if template is None else int(template.latest_version)

    def timeline() -> list[EventFact]:
        facts = (event_fact(entry.event()) for entry in context.store.timeline(profile.profile_id))
        return [fact for fact in facts if fact is not None]

    return RuntimeSemantics(
        definition,
        profile,
        pinned=pinned,
        latest_version=latest_version,
        memberships=lambda wanted: segments.member_of(profile.profile_id, wanted),
        timeline=timeline,
    )
