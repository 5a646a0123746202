"""The journey definition: a JSON document of an entry, named nodes and journey-level settings.

    {"name": "Cart reminder", "time_zone": "Asia/Taipei",
     "entry": {"type": "event", "event": "Product Added", "key": "cart_id"},
     "start": "wait_order",
     "nodes": {
       "wait_order": {"type": "wait_for_event", "event": "Order Completed", "correlate": true,
                      "timeout": "PT30M", "received": "done", "timed_out": "remind"},
       "remind": {"type": "send", "template_id": "cart-reminder", "channels": ["line"], "next": "done"},
       "done": {"type": "exit"}},
     "exit_rules": [{"type": "event", "event": "Order Completed", "correlate": true}],
     "goal": {"event": "Order Completed", "within": "P7D"},
     "reentry": {"mode": "per_key"}}

The shapes are pydantic models (their JSON Schema is published); `parse_definition` turns a
validation failure into `BadRequest(invalid_journey)` with the JSON pointer of the offending
field. Graph checks (reachability, loops without a delay, the one-year limit, templates that
exist) are in cdp.journeys.validation.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from cdp.errors import BadRequest

ERROR_CODE = "invalid_journey"
DEFAULT_TIME_ZONE = "Asia/Taipei"
MAX_NODES = 100
MAX_BRANCHES = 10
MAX_WHERE = 10
# A Standard execution lives at most one year; one wait may not outlast it.
MAX_WAIT = timedelta(days=365)

NodeId = Annotated[StrictStr, Field(min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9_]{0,39}$")]
Name = Annotated[StrictStr, Field(min_length=1, max_length=128)]
Ref = Annotated[StrictStr, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:#@-]+$")]
PropertyName = Annotated[StrictStr, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z_][A-Za-z0-9_.]{0,63}$")]
Scalar = StrictStr | StrictInt | StrictFloat | StrictBool
Channel = Literal["line", "email", "sms"]
HHMM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CALENDAR_PART = re.compile(r"^P[^T]*[YM]", re.IGNORECASE)
_DURATION = TypeAdapter(timedelta)


def parse_duration(text: str) -> timedelta:
    """ISO 8601 duration with fixed-length parts (`PT30M`, `P2D`, `P1W`); months and years vary."""
    if not isinstance(text, str) or not text.upper().startswith("P"):
        raise ValueError("an ISO 8601 duration such as PT30M or P2D")
    if _CALENDAR_PART.match(text):
        raise ValueError("months and years have no fixed length: give days (P30D)")
    try:
        value = _DURATION.validate_python(text)
    except ValidationError as error:
        raise ValueError("an ISO 8601 duration such as PT30M or P2D") from error
    return value


def _duration_field(value: str) -> str:
    parse_duration(value)
    return value


Duration = Annotated[StrictStr, Field(min_length=2, max_length=32, examples=["PT30M", "P2D"])]
SignedDuration = Annotated[StrictStr, Field(min_length=2, max_length=33, pattern=r"^-?P", examples=["-P1D", "PT2H"])]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# Matching events ------------------------------------------------------------------------------
class PropertyFilter(_Model):
    """One test on an event property: `eq`/`neq`/`gt`/`gte`/`lt`/`lte` a value, `in` values,
    `exists`. A dotted name reads a nested property (`items.0.sku` is not supported: objects only)."""

    property: PropertyName
    op: Literal["eq", "neq", "gt", "gte", "lt", "lte", "in", "exists"] = "eq"
    value: Scalar | list[Scalar] | None = None

    @model_validator(mode="after")
    def _value_fits(self) -> PropertyFilter:
        if self.op == "exists":
            if self.value is not None:
                raise ValueError("`exists` takes no value")
        elif self.op == "in":
            if not isinstance(self.value, list) or not self.value or len(self.value) > 100:
                raise ValueError("`in` takes a list of 1 to 100 values")
        elif self.value is None or isinstance(self.value, list):
            raise ValueError(f"`{self.op}` takes one value")
        elif self.op in ("gt", "gte", "lt", "lte") and isinstance(self.value, bool):
            raise ValueError(f"`{self.op}` compares numbers or text")
        return self


Where = Annotated[list[PropertyFilter], Field(max_length=MAX_WHERE)]


# Entry ----------------------------------------------------------------------------------------
class SegmentEntry(_Model):
    """A person entering the segment (`segment.entered`) starts a run."""

    type: Literal["segment"]
    segment_id: Ref


class EventEntry(_Model):
    """An event starts a run; `key` names the property that keys the run (one cart, one order)."""

    type: Literal["event"]
    event: Name
    where: Where = []
    key: PropertyName | None = None


class ScheduledEntry(_Model):
    """Everyone in the segment at a time: once (`at`, local wall-clock time) or recurring
    (`expression`, EventBridge Scheduler's cron()/rate()), in `time_zone`."""

    type: Literal["schedule"]
    segment_id: Ref
    at: Annotated[StrictStr, Field(pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$")] | None = None
    expression: Annotated[StrictStr, Field(pattern=r"^(cron|rate)\(.+\)$", max_length=256)] | None = None
    time_zone: StrictStr = DEFAULT_TIME_ZONE

    @model_validator(mode="after")
    def _one_of(self) -> ScheduledEntry:
        if (self.at is None) == (self.expression is None):
            raise ValueError("give exactly one of `at` (once) or `expression` (recurring)")
        _zone(self.time_zone)
        return self


Entry = Annotated[SegmentEntry | EventEntry | ScheduledEntry, Field(discriminator="type")]


# Nodes ----------------------------------------------------------------------------------------
class DelayFor(_Model):
    """Wait a fixed duration."""

    type: Literal["delay"]
    duration: Duration
    next: NodeId

    @field_validator("duration")
    @classmethod
    def _valid(cls, value: str) -> str:
        if parse_duration(value) <= timedelta(0):
            raise ValueError("a delay lasts longer than zero")
        return value


class DelayUntilTime(_Model):
    """Wait until the next `time` (HH:MM) in the person's time zone (trait `time_zone`, else the
    journey's) on one of `weekdays` (all days when empty); `at_least` first, if given."""

    type: Literal["delay_until_time"]
    time: StrictStr
    weekdays: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = []
    at_least: Duration | None = None
    next: NodeId

    @field_validator("time")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not HHMM.fullmatch(value):
            raise ValueError("HH:MM, 24-hour")
        return value

    @field_validator("at_least")
    @classmethod
    def _valid(cls, value: str | None) -> str | None:
        return None if value is None else _duration_field(value)


class DelayUntilTimestamp(_Model):
    """Wait until a timestamp plus `offset` (negative: before it): a profile trait / computed
    trait (`traits.birthday_at`, `computed.last_order_at`) or a property of the entry event
    (`entry.properties.delivery_at`). When it has passed or is missing, go on at once."""

    type: Literal["delay_until_timestamp"]
    field: Annotated[StrictStr, Field(pattern=r"^(traits|computed|entry\.properties)\.[A-Za-z_][A-Za-z0-9_.]{0,63}$")]
    offset: SignedDuration = "PT0S"
    next: NodeId

    @field_validator("offset")
    @classmethod
    def _valid(cls, value: str) -> str:
        parse_duration(value.removeprefix("-"))
        return value


class WaitForEvent(_Model):
    """Wait until the person does `event` (matching `where`; with `correlate`, carrying the
    entry key's value in the same property), at most `timeout`. Branches `received` and
    `timed_out`."""

    type: Literal["wait_for_event"]
    event: Name
    where: Where = []
    correlate: StrictBool = False
    timeout: Duration
    received: NodeId
    timed_out: NodeId

    @field_validator("timeout")
    @classmethod
    def _valid(cls, value: str) -> str:
        if parse_duration(value) < timedelta(seconds=1):
            raise ValueError("a timeout of at least one second")
        return value


class ClickedCondition(_Model):
    """The person clicked a tracked link of the message sent at `node` in this run."""

    clicked: NodeId


class InSegmentCondition(_Model):
    in_segment: Ref


class Branch(_Model):
    """`when` is a rule in the segment rule language (docs/segment-rules.md), or one of the
    shortcuts `{"in_segment": id}` / `{"clicked": node}`."""

    name: Annotated[StrictStr, Field(min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9_-]{0,39}$")]
    when: dict[str, Any]
    next: NodeId


class ConditionSplit(_Model):
    """The first branch (in order) whose condition holds; `else` when none does."""

    type: Literal["condition"]
    branches: Annotated[list[Branch], Field(min_length=1, max_length=MAX_BRANCHES)]
    else_: NodeId = Field(alias="else")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class SplitBranch(_Model):
    name: Annotated[StrictStr, Field(min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9_-]{0,39}$")]
    percent: Annotated[StrictInt | StrictFloat, Field(gt=0, le=100)]
    next: NodeId | None = None  # None only for the holdout
    holdout: StrictBool = False  # the control group: sends nothing from here, measured


class RandomSplit(_Model):
    """Sticky random assignment (hash of person, journey and node): percentages summing to 100;
    at most one branch is the holdout, which ends the run (`exited: holdout`) and is measured."""

    type: Literal["random_split"]
    branches: Annotated[list[SplitBranch], Field(min_length=2, max_length=MAX_BRANCHES)]

    @model_validator(mode="after")
    def _shares(self) -> RandomSplit:
        if abs(sum(float(b.percent) for b in self.branches) - 100.0) > 1e-6:
            raise ValueError("branch percentages add up to 100")
        if sum(1 for b in self.branches if b.holdout) > 1:
            raise ValueError("at most one holdout branch")
        for branch in self.branches:
            if branch.holdout and branch.next is not None:
                raise ValueError(f"the holdout branch {branch.name!r} has no `next`: it sends nothing")
            if not branch.holdout and branch.next is None:
                raise ValueError(f"branch {branch.name!r} needs `next`")
        if len({b.name for b in self.branches}) != len(self.branches):
            raise ValueError("branch names are distinct")
        return self


class Send(_Model):
    """Send a template through the send point on the first channel of `channels` that reaches
    the person (consent, caps, quiet hours and the journey's send limit apply)."""

    type: Literal["send"]
    template_id: Ref
    channels: Annotated[list[Channel], Field(min_length=1, max_length=3)] = ["line"]
    purpose: Literal["marketing", "transactional"] = "marketing"
    in_quiet_hours: Literal["hold", "drop"] = "hold"
    line_channel: Ref = "default"
    next: NodeId

    @field_validator("channels")
    @classmethod
    def _distinct(cls, channels: list[str]) -> list[str]:
        if len(set(channels)) != len(channels):
            raise ValueError("a channel appears twice in the chain")
        return channels


class Action(_Model):
    """Change the profile: `add_tag` / `remove_tag` (`tag`, e.g. `interested:{{entry.properties.category}}`)
    or `set_trait` (`trait`, `value`); recorded as an event on the person's timeline."""

    type: Literal["action"]
    action: Literal["add_tag", "remove_tag", "set_trait"]
    tag: Annotated[StrictStr, Field(min_length=1, max_length=128)] | None = None
    trait: PropertyName | None = None
    value: Scalar | None = None
    next: NodeId

    @model_validator(mode="after")
    def _fields(self) -> Action:
        if self.action in ("add_tag", "remove_tag") and (self.tag is None or self.trait is not None):
            raise ValueError(f"`{self.action}` takes `tag`")
        if self.action == "set_trait" and (self.trait is None or self.tag is not None):
            raise ValueError("`set_trait` takes `trait` and `value`")
        return self


class Exit(_Model):
    type: Literal["exit"]


Node = Annotated[
    DelayFor
    | DelayUntilTime
    | DelayUntilTimestamp
    | WaitForEvent
    | ConditionSplit
    | RandomSplit
    | Send
    | Action
    | Exit,
    Field(discriminator="type"),
]


# Journey-level settings -----------------------------------------------------------------------
class EventExitRule(_Model):
    """The person does `event` (matching `where`; with `correlate`, for the same entry key)."""

    type: Literal["event"]
    event: Name
    where: Where = []
    correlate: StrictBool = False


class LeftSegmentExitRule(_Model):
    """The person leaves `segment_id` (default: the entry segment)."""

    type: Literal["left_segment"]
    segment_id: Ref | None = None


ExitRule = Annotated[EventExitRule | LeftSegmentExitRule, Field(discriminator="type")]


class Goal(_Model):
    """A run converts when the person does `event` within `within` of entering."""

    event: Name
    where: Where = []
    correlate: StrictBool = False
    within: Duration = "P7D"
    value_property: PropertyName | None = "revenue"  # summed as the conversions' value

    @field_validator("within")
    @classmethod
    def _valid(cls, value: str) -> str:
        return _duration_field(value)


class Reentry(_Model):
    """`never`: once per person ever; `after_exit`: again once the previous run ended;
    `cooldown`: again `cooldown` after the previous run entered; `per_key`: once per entry key."""

    mode: Literal["never", "after_exit", "cooldown", "per_key"] = "after_exit"
    cooldown: Duration | None = None

    @model_validator(mode="after")
    def _cooldown(self) -> Reentry:
        if (self.mode == "cooldown") != (self.cooldown is not None):
            raise ValueError("`cooldown` is given exactly when mode is cooldown")
        if self.cooldown is not None:
            _duration_field(self.cooldown)
        return self


class JourneyDefinition(_Model):
    name: Name
    description: Annotated[StrictStr, Field(max_length=1000)] = ""
    time_zone: StrictStr = DEFAULT_TIME_ZONE
    entry: Entry
    start: NodeId
    nodes: Annotated[dict[NodeId, Node], Field(min_length=1, max_length=MAX_NODES)]
    exit_rules: Annotated[list[ExitRule], Field(max_length=10)] = []
    goal: Goal | None = None
    reentry: Reentry = Reentry()
    max_concurrent_runs: Annotated[StrictInt, Field(ge=1, le=100)] = 1
    # Sends per person over all runs of this journey (the send point's journey cap); None: no limit.
    send_limit: Annotated[StrictInt, Field(ge=1, le=1000)] | None = None

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return _zone(value)

    def node(self, node_id: str) -> Node:
        return self.nodes[node_id]

    def document(self) -> dict[str, Any]:
        """The definition as JSON (aliases, no defaults dropped: what was validated is what runs)."""
        return self.model_dump(mode="json", by_alias=True)


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"unknown time zone {value!r} (an IANA name such as Asia/Taipei)") from error
    return value


def successors(node: Node) -> list[str]:
    """The node ids a node can go to, in branch order."""
    if isinstance(node, WaitForEvent):
        return [node.received, node.timed_out]
    if isinstance(node, ConditionSplit):
        return [branch.next for branch in node.branches] + [node.else_]
    if isinstance(node, RandomSplit):
        return [branch.next for branch in node.branches if branch.next is not None]
    if isinstance(node, Exit):
        return []
    return [node.next]


def definition_schema() -> dict[str, Any]:
    """The published JSON Schema of a journey definition."""
    schema = JourneyDefinition.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://cdp.local/schemas/journey-definition.json"
    return schema


def pointer(location: tuple[int | str, ...]) -> str:
    """A pydantic error location as a JSON pointer (`/nodes/remind/template_id`)."""
    parts = []
    for part in location:
        text = str(part)
        # Discriminated unions add the tag to the location (`/nodes/x/send/next`): not a JSON key.
        parts.append(text.replace("~", "~0").replace("/", "~1"))
    return "".join(f"/{part}" for part in parts)


def _clean_location(location: tuple[int | str, ...], data: Any) -> tuple[int | str, ...]:
    """Drop the union tags pydantic inserts, keeping only keys present in the document."""
    kept: list[int | str] = []
    node: Any = data
    for part in location:
        if (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        ):
            kept.append(part)
            container: Any = node
            node = container[part]
        elif isinstance(node, dict | list):
            continue  # a union tag or a function-validator label, not a key of the document
        else:
            kept.append(part)
            node = None
    return tuple(kept)


def invalid(path: str, reason: str) -> BadRequest:
    return BadRequest(
        f"invalid journey at {path or '/'}: {reason}", code=ERROR_CODE, details={"path": path, "reason": reason}
    )


def parse_definition(data: Any) -> JourneyDefinition:
    """Validate the document's shape; raises BadRequest(invalid_journey) with the first error's
    pointer and every error in `details.errors`."""
    if not isinstance(data, dict):
        raise invalid("", "a journey definition is a JSON object")
    try:
        return JourneyDefinition.model_validate(data)
    except ValidationError as error:
        problems = []
        for item in error.errors(include_url=False):
            path = pointer(_clean_location(tuple(item["loc"]), data))
            reason = str(item["msg"]).removeprefix("Value error, ")
            problems.append({"path": path, "reason": reason})
        first = problems[0]
        raise BadRequest(
            f"invalid journey at {first['path'] or '/'}: {first['reason']}",
            code=ERROR_CODE,
            details={"path": first["path"], "reason": first["reason"], "errors": problems[:20]},
        ) from None
