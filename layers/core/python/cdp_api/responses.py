"""Success answers of the admin API, one pydantic model each, for the OpenAPI document only.

Routes name their answer's model (`docs.ok(status, description, "ProfileView")`); the document
adds these schemas under components/schemas. They are never imported at cold start nor used to
serialize an answer: the handlers return the domain's dicts (`as_dict()`, views) as they are, and
these models describe them field for field. A field that is sometimes left out has no default
in the schema and is not required; `Open` marks the open maps (traits, rules, event documents).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import GenerateJsonSchema, models_json_schema

Open = dict[str, Any]
Channel = Literal["line", "email", "sms"]


def _no_defaults(schema: dict[str, Any]) -> None:
    # An answer has no defaults: a field that may be absent is simply not required.
    for prop in schema.get("properties", {}).values():
        prop.pop("default", None)


def absent(description: str | None = None) -> Any:
    """A field that is left out of the answer when it has no value (never null)."""
    return Field(default=None, description=description)


class Answer(BaseModel):
    """An answer with exactly these fields."""

    model_config = ConfigDict(extra="forbid", defer_build=True, json_schema_extra=_no_defaults)


# --- profiles ------------------------------------------------------------------------------
class ProfileIdentifier(Answer):
    type: str = Field(examples=["email"])
    value: str
    added_at: str


class TraitSource(Answer):
    source: str = Field(examples=["partner:web-shop"])
    updated_at: str


class LineAccount(Answer):
    user: str = Field(description="the LINE identifier (provider:user id)")
    status: str = Field(description="friend or blocked")
    since: str


class LineState(Answer):
    status: Literal["friend", "blocked", "never_followed"]
    accounts: list[LineAccount]


ChannelMix = Literal["omnichannel", "offline_only", "online_only"]


class ProfileStats(Answer):
    event_count: int
    first_seen_at: str | None
    last_seen_at: str | None
    channels: dict[str, int] = Field(description="events per channel")
    channel_mix: ChannelMix | None


class ProfileOrders(Answer):
    count: int
    revenue: dict[str, float] = Field(description="total per currency")
    first_order_at: str | None
    last_order_at: str | None


class ConsentState(Answer):
    granted: bool
    source: str
    updated_at: str


class WindowCounts(Answer):
    model_config = ConfigDict(populate_by_name=True)
    all_time: int
    d30: int = Field(alias="30d")
    d90: int = Field(alias="90d")
    d365: int = Field(alias="365d")


class WindowAmounts(Answer):
    model_config = ConfigDict(populate_by_name=True)
    all_time: float
    d30: float = Field(alias="30d")
    d90: float = Field(alias="90d")
    d365: float = Field(alias="365d")


class LineEngagement(Answer):
    messages: int
    postbacks: int
    clicks: int
    last_click_at: str | None


class RfmScores(Answer):
    r: Any = Field(description="recency score (a trait the RFM run writes)")
    f: Any = Field(description="frequency score")
    m: Any = Field(description="monetary score")
    group: Any = Field(description="the RFM group")
    window_days: Any
    scored_at: str


class ComputedTraits(Answer):
    evaluated_at: str
    currency: str = Field(examples=["TWD"])
    first_seen_at: str | None
    last_seen_at: str | None
    first_purchase_at: str | None
    last_purchase_at: str | None
    orders: WindowCounts
    revenue: WindowAmounts
    average_order_value: float | None
    ltv: float
    channel_mix: ChannelMix | None
    line_engagement: LineEngagement
    preferred_store: str | None
    rfm: RfmScores | None = Field(description="null before the first scheduled RFM run")


class TagState(Answer):
    source: str
    at: str


class LineReachability(Answer):
    reachable: bool
    status: Literal["friend", "blocked", "never_followed"]
    consent: bool | None


class ContactReachability(Answer):
    reachable: bool
    known: bool
    consent: bool | None


class Reachability(Answer):
    line: LineReachability
    email: ContactReachability
    sms: ContactReachability


class SegmentMembership(Answer):
    segment_id: str
    entered_at: str
    rule_version: int


class ProfileView(Answer):
    """The 360 view of one person."""

    profile_id: str
    requested_id: str | None = Field(description="the id asked for, when it was merged into `profile_id`")
    created_at: str
    updated_at: str
    identifiers: list[ProfileIdentifier]
    traits: Open = Field(description="trait name -> value")
    trait_sources: dict[str, TraitSource]
    line: LineState
    stats: ProfileStats
    orders: ProfileOrders
    consent: dict[str, ConsentState] = Field(description='"channel:purpose" -> state')
    computed_traits: ComputedTraits
    tags: dict[str, TagState] = Field(description="tag -> where and when it was added")
    reachability: Reachability
    merging_into: str | None
    rejected_identifiers: list[dict[str, str]]
    events: list[Open] = Field(description="the latest events, newest first (stored event documents)")
    segments: list[SegmentMembership]
    timeline_url: str


class ConsentRecorded(Answer):
    profileId: str
    eventId: str
    consent: dict[str, bool] = Field(description='"channel:purpose" -> granted')
    textVersion: str | None = Field(description="the version of the consent text agreed to, if given")
    duplicate: bool = Field(description="the same request (Idempotency-Key) was already recorded")


class ConsentHistoryEntry(Answer):
    key: str = Field(examples=["email:marketing"])
    channel: str
    purpose: str | None
    granted: bool
    changed: bool = Field(description="false when the value in force was only confirmed again")
    at: str = Field(description="when the change happened (event time)")
    source: str = Field(description="where it came from (origin:source), e.g. partner:admin-consent")
    event_channel: str | None = Field(description="the channel of the event that carried it (crm, web, pos, ...)")
    text_version: str | None = Field(description="the version of the consent text the person agreed to")
    event_id: str


class ConsentHistory(Answer):
    profile_id: str
    requested_id: str | None
    history: list[ConsentHistoryEntry] = Field(description="oldest first; the last entry per key is in force")


class ExportProgress(Answer):
    stage: str = Field(description="queued, then each of `stages`, then done")
    stages: list[str]
    done: int = Field(description="how many of `stages` are finished")


class ExportFile(Answer):
    url: str = Field(description="a presigned GET of the file")
    bytes: int
    expires_at: str = Field(description="when the link stops working; GET the job again for a fresh one")


class PersonExportJob(Answer):
    job_id: str
    profile_id: str = Field(description="the person exported (a merged-away id resolves to the survivor)")
    requested_id: str
    status: Literal["running", "done", "failed"]
    progress: ExportProgress
    created_at: str
    finished_at: str | None
    counts: dict[str, int] | None = Field(description="what the document holds, per section, once done")
    files: dict[str, ExportFile] | None = Field(description="`json` (everything) and `csv` (the timeline), once done")
    error: Open | None = Field(description="{error, message, status} when failed")
    status_url: str


class TagsRecorded(Answer):
    profileId: str
    eventIds: list[str]
    add: list[str]
    remove: list[str]
    duplicate: bool


# --- identity ------------------------------------------------------------------------------
class IdentityRules(Answer):
    blocked_values: list[str]
    max_per_type: dict[str, int]
    priority: list[str]
    version: int


MergeStatus = Literal["merging", "merged", "rejected", "unmerging", "unmerged", "noop"]


class MergeLedger(Answer):
    merge_id: str
    survivor: str
    loser: str
    status: MergeStatus
    requested_by: str
    planned_at: str
    survivor_created_at: str
    loser_created_at: str
    identifiers: list[str]
    events_moved: int
    reason: str | None
    finalized_at: str | None
    unmerge_started_at: str | None
    unmerged_at: str | None
    events_returned: int


class ProfileMerges(Answer):
    profile_id: str
    merges: list[MergeLedger]


class UnmergeDone(Answer):
    mergeId: str
    status: Literal["unmerged"]
    statusUrl: str


class UnmergeStarted(Answer):
    mergeId: str
    status: Literal["unmerging"]
    execution: str = Field(description="the Step Functions execution's name")
    statusUrl: str


# --- tags ----------------------------------------------------------------------------------
class Reply(Answer):
    template_id: str
    purpose: Literal["marketing", "transactional"]
    fallback_to_push: bool = Field(description="push when LINE's reply token has expired")


class KeywordRule(Answer):
    keyword: str
    match: Literal["contains", "equals", "regex"]
    tag: str | None
    reply: Reply | None = absent("the reply sent through LINE's reply API when the keyword matches")


class PostbackRule(Answer):
    match: dict[str, str] = Field(description="postback parameters that must all hold")
    trait: str | None
    value_param: str
    tag: str | None
    reply: Reply | None = absent("the reply sent through LINE's reply API when the postback matches")


class TagRules(Answer):
    keywords: list[KeywordRule]
    postbacks: list[PostbackRule]
    version: int


class ChannelReplies(Answer):
    greeting: Reply | None = Field(description="sent when someone follows the LINE channel")
    fallback: Reply | None = Field(description="sent when a message matches no keyword reply")


class AutoReplies(Answer):
    channels: dict[str, ChannelReplies] = Field(description="by configured LINE channel name")
    version: int


# --- LINE ----------------------------------------------------------------------------------
class SegmentRichMenu(Answer):
    segment_id: str
    rich_menu_id: str
    channel: str
    linked_at: str


class SegmentRichMenuSync(SegmentRichMenu):
    sync: Literal["started"] = Field(description="members are linked (or given the default back) in the background")


class LinkTokenIssued(Answer):
    linkToken: str
    nonce: str
    url: str
    expiresAt: str


class LineLoginBound(Answer):
    lineUserId: str
    memberId: str
    eventId: str


# --- messaging policy ----------------------------------------------------------------------
class QuietHours(Answer):
    start: str = Field(examples=["22:00"])
    end: str = Field(examples=["09:00"])


class OptIns(Answer):
    line: bool
    email: bool
    sms: bool


class Cap(Answer):
    day: int | None
    week: int | None


class Caps(Answer):
    line: Cap
    email: Cap
    sms: Cap


class MessagingPolicy(Answer):
    version: int
    time_zone: str
    quiet_hours: QuietHours | None
    require_opt_in: OptIns
    caps: Caps


# --- ingest rejections ---------------------------------------------------------------------
class IngestRejection(Answer):
    received_at: str
    source: str
    call: str
    error: str
    message: str
    index: int = absent("the event's position in a batch (absent for a single call)")
    field: str = absent("the JSON pointer of the field")
    message_id: str = absent("LINE's webhookEventId")
    type: str = absent("the LINE webhook event type")
    event: str = absent("a track call's event name")


class IngestRejections(Answer):
    rejections: list[IngestRejection]
    retention_days: int


# --- audit log -----------------------------------------------------------------------------
class AuditActor(Answer):
    subject: str = Field(description="a user's id, a service token's id, or bootstrap")
    kind: Literal["user", "service", "bootstrap"]
    role: Literal["viewer", "marketer", "admin"]
    name: str = Field(description="a user's email or a token's label")


class AuditRecord(Answer):
    at: str
    request_id: str
    action: Literal["write", "download", "pii.reveal"]
    method: str
    route: str = Field(description="the route template, e.g. /admin/v1/segments/{id}")
    status: int = Field(description="the status code the request was answered with")
    actor: AuditActor
    targets: dict[str, str] = Field(description="path parameter -> id")
    source_ip: str
    user_agent: str


class AuditLogPage(Answer):
    records: list[AuditRecord]
    next: str | None = Field(description="the `cursor` of the next page; null on the last")
    retention_days: int


# --- segments ------------------------------------------------------------------------------
class RuleReads(Answer):
    """What the rule reads (absent keys only on definitions stored before this was recorded)."""

    traits: list[str] = absent()
    computed: list[str] = absent()
    profile_fields: list[str] = absent()
    events: list[str] = absent()
    tags: list[str] = absent()
    tag_groups: list[str] = absent()
    consent: list[str] = absent()
    identifiers: list[str] = absent()
    segments: list[str] = absent()
    time: bool = absent()


class Segment(Answer):
    segment_id: str
    name: str
    rule: Open = Field(description="the rule as sent (docs/segments.md)")
    status: Literal["active", "archived"]
    created_at: str
    updated_at: str
    version: int
    reads: RuleReads
    refresh_minutes: int


class SegmentRuleSchema(Answer):
    """The published JSON Schema (draft 2020-12) of a segment rule."""

    schema_: str = Field(alias="$schema")
    id_: str = Field(alias="$id")
    title: str
    description: str
    ref: str = Field(alias="$ref")
    defs: Open = Field(alias="$defs")


class SegmentWithCount(Segment):
    member_count: int


class SegmentList(Answer):
    segments: list[Segment]


class SegmentMember(Answer):
    profile_id: str
    entered_at: str
    rule_version: int


class SegmentMembers(Answer):
    segment_id: str
    members: list[SegmentMember]
    next: str | None = Field(description="the `after` of the next page; null on the last")


class ProfileSegments(Answer):
    profile_id: str
    segments: list[SegmentMembership]


class SizeSample(Answer):
    at: str
    members: int
    entered: int
    exited: int
    rule_version: int


class MembershipChange(Answer):
    segment_id: str
    profile_id: str
    action: Literal["entered", "exited"]
    at: str
    rule_version: int


class SegmentHistory(Answer):
    segment_id: str
    members: int
    sizes: list[SizeSample]
    changes: list[MembershipChange]


class RecomputeStarted(Answer):
    segment_id: str
    status: Literal["started"]
    rule_version: int


class ProfileTimeline(Answer):
    profile_id: str
    events: list[Open] = Field(description="stored event documents, newest first")
    next: str | None = Field(description="the `before` of the next page; null on the last")
    segment_history: list[MembershipChange]


# --- segment exports -----------------------------------------------------------------------
class AudienceSync(Answer):
    segmentId: str
    channel: str
    audienceGroupId: int
    description: str
    enabledAt: str
    builtAt: str
    cursor: str
    uploaded: int
    lastSyncedAt: str
    status: Literal["synced", "below_minimum", "failed"]
    stale: bool
    replacedAudienceGroupId: int | None
    replacedAt: str | None
    lastError: Open | None
    lastRun: Open | None


class LineAudienceExported(Answer):
    segmentId: str
    kind: Literal["line-audience"]
    exportedAt: str
    channel: str
    audienceGroupId: int
    description: str
    members: int
    uploaded: int
    requests: int
    previousAudienceGroupId: int | None
    sync: AudienceSync = absent('present when `"sync": true` was asked')


class LineAudienceSyncStopped(Answer):
    segmentId: str
    sync: None
    stopped: AudienceSync | None = Field(description="the sync that was stopped; null if there was none")


class HashedCsvExported(Answer):
    segmentId: str
    kind: Literal["hashed-csv"]
    exportedAt: str
    key: str
    members: int
    membersWithHashes: int
    emails: int
    phones: int
    url: str = Field(description="presigned GET URL of the CSV")
    expires_in_seconds: int


# --- links ---------------------------------------------------------------------------------
class ClickCounts(Answer):
    total: int
    known: int
    anonymous: int


class TrackedLink(Answer):
    code: str
    url: str
    src: str
    campaign: str | None
    tags: list[str]
    created_at: str
    clicks: ClickCounts
    attribution: dict[str, str] = absent("the message a minted link was made for")
    public_url: str


class TrackedLinkList(Answer):
    links: list[TrackedLink]
    next: str | None = Field(description="the `before` of the following page; null after the oldest link")


class PersonalLinkIssued(Answer):
    code: str
    url: str
    token: str
    channel: str
    identifier_type: str
    profile_id: str | None = Field(description="null when the link names a LINE user")


# --- imports -------------------------------------------------------------------------------
class ImportProblem(Answer):
    code: str
    message: str


class MemberImport(Answer):
    import_id: str
    kind: Literal["members"]
    status: Literal["awaiting_upload", "queued", "running", "completed", "failed"]
    created_at: str
    updated_at: str
    started_at: str | None
    completed_at: str | None
    rows_total: int | None
    rows_done: int
    rows_accepted: int
    rows_rejected: int
    rows_with_warnings: int
    progress: float | None
    file_bytes: int | None
    columns: dict[str, str] | None = Field(description="canonical column -> the header as written")
    ignored_columns: list[str] | None
    error: ImportProblem | None
    status_url: str
    rejected_rows_url: str | None


class PresignedUpload(Answer):
    method: Literal["PUT"]
    url: str
    headers: dict[str, str]
    expires_in_seconds: int


class PresignedMemberImport(MemberImport):
    upload: PresignedUpload
    start_url: str


class RejectedRows(Answer):
    import_id: str
    rows: int
    url: str
    expires_in_seconds: int


# --- templates -----------------------------------------------------------------------------
class Template(Answer):
    id: str
    name: str
    description: str
    status: Literal["active", "archived"]
    latest_version: int
    channels: list[Channel]
    created_at: str
    updated_at: str
    archived_at: str | None


class LineTemplateContent(Answer):
    messages: list[Open]


class EmailTemplateContent(Answer):
    subject: str
    html: str = absent()
    text: str = absent()


class SmsTemplateContent(Answer):
    text: str


class TemplateContent(Answer):
    line: LineTemplateContent = absent()
    email: EmailTemplateContent = absent()
    sms: SmsTemplateContent = absent()


class TemplateVersion(Answer):
    version: int
    created_at: str
    channels: list[Channel]
    content: TemplateContent


class TemplateVersionEntry(Answer):
    version: int
    created_at: str


class TemplateDetail(Template):
    version: TemplateVersion
    versions: list[TemplateVersionEntry]


class TemplateList(Answer):
    templates: list[Template]


class RenderedLine(Answer):
    messages: list[Open]
    links: list[str] = Field(description="the URLs a send would replace by tracked links")


class RenderedEmail(Answer):
    subject: str
    html: str | None
    text: str | None
    links: list[str]


class RenderedSms(Answer):
    text: str | None
    segments: int
    encoding: str
    links: list[str]


class RenderedChannels(Answer):
    line: RenderedLine = absent()
    email: RenderedEmail = absent()
    sms: RenderedSms = absent()


class RenderFailure(Answer):
    reason: str
    message: str


class TemplateRendered(Answer):
    template_id: str
    version: int
    preview: Literal[True]
    profile_id: str = Field(description='the profile, or "preview" for sample data')
    channels: RenderedChannels
    failures: dict[str, RenderFailure] = Field(description="channel -> why it could not be rendered")


# --- archive queries -----------------------------------------------------------------------
class ProfileSummary(Answer):
    profile_id: str
    name: str | None
    line_status: str | None
    tags: list[str]
    ltv: float | None
    channel_mix: str | None


class SegmentPreviewResult(Answer):
    count: int
    population: int
    share: float | None
    sample: list[ProfileSummary]
    query_ms: float
    evaluated_at: str
    archive_as_of: str | None = Field(description="how recent the archive is; null when it is empty")
    as_of: str | None = Field(
        description="the newest change the answer includes (ISO-8601 UTC); null when the archive is empty"
    )


class ProfileSearchResult(Answer):
    profiles: list[ProfileSummary]
    next: str | None
    archive_as_of: str | None
    as_of: str | None = Field(
        description="the newest change the answer includes (ISO-8601 UTC); null when the archive is empty"
    )


class TagGroupCoverage(Answer):
    tagged: int
    rate: float


class TagCoverage(Answer):
    friends: int
    tagged: int
    rate: float | None
    groups: dict[str, TagGroupCoverage] = Field(description="tag group (before ':') -> coverage")


class IdentifierCoverage(Answer):
    present: int
    missing: int
    missing_rate: float | None


class DataHealthReport(Answer):
    profiles: int
    tag_coverage: TagCoverage
    identifiers: dict[str, IdentifierCoverage] = Field(description="identifier type -> coverage")
    archive_as_of: str | None
    as_of: str | None = Field(
        description="the newest change the answer includes (ISO-8601 UTC); null when the archive is empty"
    )


class GroupFigures(Answer):
    people: int
    revenue: float
    orders: int
    revenue_per_person: float


class CustomerGroupsReport(Answer):
    channel_groups: dict[str, GroupFigures]
    rfm_groups: dict[str, GroupFigures]
    archive_as_of: str | None
    as_of: str | None = Field(
        description="the newest change the answer includes (ISO-8601 UTC); null when the archive is empty"
    )


class JobError(Answer):
    model_config = ConfigDict(extra="allow")
    error: str
    message: str
    status: int = absent()


class QueryJob(Answer):
    job_id: str
    kind: Literal[
        "segment_preview",
        "profile_search",
        "data_health",
        "customer_groups",
        "campaign_preflight",
        "report_overview",
        "report_trend",
        "report_funnel",
        "report_retention",
        "report_distribution",
        "report_friends",
        "report_messaging",
    ]
    status: Literal["running", "done", "failed"]
    created_at: str
    finished_at: str | None
    result: Open | None = Field(description="when done: the synchronous answer's body")
    error: JobError | None
    status_url: str


# --- analytics (cdp.analytics; docs/analytics.md) ------------------------------------------
Rate = float | None


class ReportHeader(Answer):
    """What every analytics report answers beside its figures."""

    model_config = ConfigDict(populate_by_name=True)
    report: str = Field(examples=["friends"])
    from_: str = Field(alias="from", description="first local day, YYYY-MM-DD")
    to: str = Field(description="last local day (inclusive), YYYY-MM-DD")
    tz: str = Field(examples=["Asia/Taipei"])
    as_of: str | None = Field(description="how fresh the data is (ISO-8601 UTC)")
    archive_as_of: str | None = Field(description="the same as `as_of` (kept for older clients)")


class Kpi(Answer):
    value: float | None
    trend: list[float | None] = Field(description="one value per day of `days`")


class OverviewKpis(Answer):
    friends: Kpi
    reachable: Kpi
    buyers: Kpi
    revenue: Kpi
    block_rate: Kpi
    tag_coverage: Kpi


class OverviewReport(ReportHeader):
    days: list[str]
    kpis: OverviewKpis


class TrendSeries(Answer):
    key: str = Field(description="a channel, an event name, `all` or `other`")
    values: list[int] = Field(description="one count per bucket")
    total: int


class TrendReport(ReportHeader):
    interval: Literal["day", "week"]
    by: Literal["channel", "name", "none"]
    measure: Literal["events", "people"]
    buckets: list[str] = Field(description="local days, or the Mondays of the weeks")
    series: list[TrendSeries]
    total: int


class FunnelStep(Answer):
    name: str
    people: int
    conversion: Rate = Field(description="people / people of the previous step")
    overall: Rate = Field(description="people / people who entered")
    median_seconds: float | None = Field(description="median time from the previous step")


class FunnelGroup(Answer):
    entered: int
    steps: list[FunnelStep]


class FunnelReport(ReportHeader):
    steps: list[str]
    window_days: int
    groups: dict[str, FunnelGroup] = Field(description="all, online, offline, line, other")


class RetentionCohort(Answer):
    cohort: str = Field(description="the first day of the week (Monday) or month")
    size: int
    retained: list[int | None] = Field(description="per period offset; null: not begun yet")
    rates: list[Rate]
    repeat_buyers: int


class RepeatPurchase(Answer):
    buyers: int
    repeat_buyers: int
    rate: Rate


class RetentionReport(ReportHeader):
    period: Literal["week", "month"]
    periods: int
    cohorts: list[RetentionCohort]
    repeat_purchase: RepeatPurchase


class HistogramBin(Answer):
    lower: float
    upper: float
    count: int


class TopValue(Answer):
    value: str
    count: int


class DistributionReport(ReportHeader):
    field: str
    event: str | None
    kind: Literal["numeric", "categorical"]
    count: int
    missing: int
    min: float | None
    max: float | None
    mean: float | None
    median: float | None
    bins: list[HistogramBin] | None
    top: list[TopValue] | None
    other: int | None


class FriendsTotals(Answer):
    new_friends: int
    unblocks: int
    blocks: int
    net_growth: int
    friends_start: int
    friends_end: int
    block_rate: Rate


class FriendsDay(FriendsTotals):
    date: str


class FriendsReport(ReportHeader):
    days: list[FriendsDay]
    totals: FriendsTotals


class MessagingUnits(Answer):
    line_messages: int
    emails: int
    sms_segments: int


class MessagingTotals(Answer):
    sent: int
    delivered: int
    clicks: int
    ctr: Rate
    conversions: int
    revenue: float
    line_recipients: int
    blocked: int
    block_rate: Rate
    cost: float


class MessagingItem(MessagingTotals):
    id: str
    name: str | None
    units: MessagingUnits


class MessagingReport(ReportHeader):
    attribution_days: int
    currency: str
    campaigns: list[MessagingItem]
    journeys: list[MessagingItem]
    totals: MessagingTotals


# --- campaigns -----------------------------------------------------------------------------
CampaignStatus = Literal["draft", "scheduled", "sending", "sent", "paused", "cancelled"]


class CampaignSchedule(Answer):
    kind: Literal["now", "at", "recurring"]
    at: str = absent("`at`: the local wall-clock time, YYYY-MM-DDTHH:MM:SS in `time_zone`")
    expression: str = absent("`recurring`: EventBridge Scheduler's cron(...) or rate(...)")
    time_zone: str = Field(examples=["Asia/Taipei"])


class ChannelCounts(Answer):
    """People per channel of the chain (a channel is left out when it is not counted)."""

    line: int = absent()
    email: int = absent()
    sms: int = absent()


class CostEstimate(Answer):
    currency: str = Field(examples=["TWD"])
    line_extra_messages: int = Field(description="LINE messages beyond the plan's included ones")
    line: float
    email: float
    sms: float
    total: float


class PreflightLine(Answer):
    messages: int = Field(description="LINE messages the send would count")
    consumption: int = Field(description="LINE messages counted this month so far")
    quota: int | None = absent("LINE's monthly limit (null when LINE sets none); absent without LINE in the chain")
    remaining: int | None = absent("what the quota leaves (null without a limit); absent without LINE in the chain")
    over_quota: bool = absent("the send exceeds what the quota leaves; absent without LINE in the chain")
    included_remaining: int = Field(description="messages of the plan's included ones left this month")


class CampaignPreflight(Answer):
    campaign_id: str
    evaluated_at: str
    audience: int = Field(description="segment members read")
    targeted: int = Field(description="distinct people, within `max_recipients`")
    recipients: int = Field(description="people a send reaches (held by quiet hours included)")
    reachable: ChannelCounts = Field(description="people each channel of the chain reaches with consent")
    sending: ChannelCounts = Field(description="people each channel of the chain would be sent on")
    suppressed: dict[str, int] = Field(
        description="reason (unreachable, no_consent, capped_*, quiet_hours...) -> people not sent to"
    )
    held_quiet_hours: int
    line: PreflightLine
    cost: CostEstimate
    budget: float | None
    over_budget: bool
    job_id: str = absent("the preflight job that walked the audience (a big audience only)")


class PreflightJobRef(Answer):
    job_id: str
    started_at: str


class Campaign(Answer):
    campaign_id: str
    name: str
    segment_id: str
    template_id: str
    channels: list[Channel] = Field(description="the chain: the first that reaches a person is used")
    purpose: Literal["marketing", "transactional"]
    schedule: CampaignSchedule
    created_at: str
    updated_at: str
    status: CampaignStatus
    rule: Open | None = Field(description="narrows the segment (the segment rule language)")
    template_version: int | None = Field(description="pinned at send; null on a draft that named none")
    budget: float | None
    max_recipients: int | None
    in_quiet_hours: Literal["hold", "drop"]
    quiet_hours: QuietHours | None = Field(description="a window of its own; null: the workspace's")
    frequency_cap: int | None
    line_channel: str
    version: int
    current_run: str | None
    runs: list[str] = Field(description="run ids, oldest first (`r1`, or one per recurring firing)")
    resume_to: CampaignStatus | None = Field(description="the status a paused campaign resumes to")
    paused_reason: Literal["quota_exhausted"] | None = Field(
        description="`quota_exhausted`: LINE's monthly limit paused it (null: paused by an operator, or not paused)"
    )
    last_preflight: CampaignPreflight | None = Field(
        description="the figures of the send, or of the last preflight job; null before either"
    )
    preflight_job: PreflightJobRef | None = Field(description="the preflight job walking the audience, if any")


class CampaignDeleted(Answer):
    campaign_id: str
    deleted: Literal[True]


class CampaignRun(Answer):
    campaign_id: str
    run_id: str
    status: Literal["sending", "sent", "paused", "cancelled", "quota_exhausted"]
    started_at: str
    template_version: int | None
    cursor: str | None = Field(description="the last member page handed to the sender")
    enqueued: int = Field(description="send requests handed to the sender")
    audience: int = Field(description="members read")
    finished_at: str | None
    version: int


class CampaignDetail(Campaign):
    runs_detail: list[CampaignRun]


class CampaignList(Answer):
    campaigns: list[Campaign]


class CampaignSent(Campaign):
    preflight: CampaignPreflight
    schedule_name: str = absent("the EventBridge Scheduler schedule (`at`, `recurring`)")


class ReportEmail(Answer):
    delivered: int
    bounced: int


class ReportConversions(Answer):
    window_days: int
    orders: int
    buyers: int
    revenue: float
    rate: float | None = Field(description="buyers over people sent to; null when nobody was sent to")


class ReportLine(Answer):
    recipients: int
    messages: int
    blocked_within_48h: int
    block_rate: float | None


class CampaignReport(Answer):
    campaign_id: str
    run_id: str | None = Field(description="the run asked for; null: all runs")
    targeted: int
    sent: ChannelCounts
    sent_total: int
    suppressed: dict[str, int] = Field(description="reason -> people")
    failed: dict[str, int] = Field(description="reason -> people")
    email: ReportEmail
    clicks: int
    unique_clicks: int
    ctr: float | None
    conversions: ReportConversions
    line: ReportLine
    sms_segments: int
    cost: CostEstimate
    status: CampaignStatus
    runs: list[str]
    archive_as_of: str | None


class MessagingPricing(Answer):
    currency: str = Field(examples=["TWD"])
    line_monthly_fee: float
    line_included_messages: int
    line_extra_message: float
    email_unit: float
    sms_segment: float
    version: int = Field(description="0 before any change")


# --- journeys ------------------------------------------------------------------------------
JourneyStatus = Literal["draft", "published", "paused", "archived"]


class JourneyDefinitionSchema(Answer):
    """The published JSON Schema (draft 2020-12) of a journey definition."""

    schema_: str = Field(alias="$schema")
    id_: str = Field(alias="$id")
    title: str
    type: Literal["object"]
    properties: Open
    required: list[str]
    additionalProperties: bool
    defs: Open = Field(alias="$defs")


class JourneySummary(Answer):
    journey_id: str
    name: str
    status: JourneyStatus
    live_version: int | None = Field(description="the version new entries start on (published / paused)")
    versions: list[int] = Field(description="published versions, oldest first")
    revision: int = Field(description="compare-and-set: send it back with an edit")
    created_at: str
    updated_at: str
    published_at: str = absent("when the newest version was published")
    paused_at: str = absent("when it was paused (a paused journey only)")
    archived_at: str = absent()


class Journey(JourneySummary):
    draft: Open = Field(description="the definition being edited (the live version is in `versions/{n}`)")


class JourneyList(Answer):
    journeys: list[JourneySummary]


class JourneyVersion(Answer):
    journey_id: str
    version: int
    document: Open = Field(description="the definition as published (defaults written out)")
    templates: dict[str, int] = Field(description="template id -> the version pinned at publish")
    published_at: str
    state_machine_arn: str | None


class JourneyPublished(Journey):
    published: JourneyVersion = Field(description="the live version (the same one when nothing changed)")


class JourneyArchived(Journey):
    runs_ended: int = Field(description="active runs ended with reason `archived` by this request")


class JourneyDeleted(Answer):
    journey_id: str
    deleted: Literal[True]


# --- journey reports -----------------------------------------------------------------------
class JourneyNodeFigures(Answer):
    type: str | None = Field(description="the node's type; null for a node of another version only")
    entered: int = Field(description="runs whose path contains the node")
    waiting_now: int = Field(description="active runs at the node")
    exited: dict[str, int] = Field(description="reason -> runs that ended at the node")
    converted: int = Field(description="runs through the node that converted within the goal")
    template_id: str = absent("send nodes: the template")
    sent: int = absent("send nodes")
    held: int = absent("send nodes: held by quiet hours, released later by the send point")
    suppressed: dict[str, int] = absent("send nodes: reason -> runs")
    failed: int = absent("send nodes")
    clicked: int = absent("send nodes: runs that clicked the node's message")
    ctr: float | None = absent("send nodes: clicked over sent")


class JourneyGroupFigures(Answer):
    runs: int
    sent: int = Field(description="sends after the branch (the send nodes reachable from it)")
    clicked: int
    ctr: float | None
    converted: int | None = Field(description="null without a goal")
    conversion_rate: float | None
    conversion_value: float | None


class JourneyHoldoutGroup(Answer):
    runs: int
    converted: int | None
    conversion_rate: float | None


class JourneyHoldout(Answer):
    holdout_branch: str
    treatment: JourneyHoldoutGroup = Field(description="every other branch of the split")
    holdout: JourneyHoldoutGroup
    difference_pp: float | None = Field(description="treatment minus holdout conversion, in percentage points")
    z: float | None
    p_value: float | None = Field(description="two-sided two-proportion z-test (pooled)")


class JourneyGoal(Answer):
    event: str
    within: str


class JourneyRunCounts(Answer):
    total: int
    active: int
    exited: dict[str, int] = Field(description="reason -> runs")


class JourneyReport(Answer):
    journey_id: str
    version: int | None = Field(description="the version asked for; null: all runs")
    status: Literal["draft", "published", "paused", "archived"]
    live_version: int | None
    goal: JourneyGoal | None
    runs: JourneyRunCounts
    sent: int
    clicked: int
    ctr: float | None
    converted: int | None
    conversion_rate: float | None
    conversion_value: float | None
    nodes: dict[str, JourneyNodeFigures]
    branches: dict[str, dict[str, JourneyGroupFigures]] = Field(description="split node -> branch -> figures")
    holdouts: dict[str, JourneyHoldout] = Field(description="random split node with a holdout -> comparison")
    runs_read: int
    truncated: bool = Field(description="more runs exist than the report read (the newest were read)")
    as_of: str


class JourneyStep(Answer):
    node: str
    at: str
    outcome: str | None


class JourneyRunView(Answer):
    run_id: str
    version: int
    entry_key: str
    entered_at: str
    status: Literal["active", "exited"]
    node: str | None
    node_type: str | None
    since: str | None
    waiting: Open | None = Field(description='{"kind": "delay"|"event", "until", "event"}')
    why: str = Field(description="where the person is and why, in words")
    path: list[JourneyStep]
    branches: dict[str, str]
    sent: dict[str, str] = Field(description="send node -> sent / suppressed:<reason> / failed")
    clicked: dict[str, str]
    converted_at: str | None
    conversion_value: float | None
    exited_at: str | None
    exit_reason: str | None


class JourneyRuns(Answer):
    journey_id: str
    profile_id: str | None = Field(description="the person asked about (after merges); null: newest runs")
    runs: list[JourneyRunView]


class JourneyDryRunStep(Answer):
    node: str
    type: str
    at: str
    until: str = absent("delays and waits: when they end")
    outcome: str = absent("waits: received / timed_out / exited")
    branch: str = absent("splits and waits: the branch taken")
    why: str = absent("why that branch")
    send: Open = absent("send nodes: what would be sent")
    action: Open = absent("action nodes: the change")


class JourneyDryRunConversion(Answer):
    converted: bool
    at: str | None
    value: float | None


class JourneyDryRun(Answer):
    journey_id: str
    profile_id: str
    entry_key: str
    started_at: str
    ended_at: str
    exit_reason: str
    why: str
    path: list[JourneyDryRunStep]
    sends: list[Open]
    conversion: JourneyDryRunConversion | None
    dry_run: Literal[True]


# --- retention (cdp.privacy.retention) -----------------------------------------------------
class RetentionKind(Answer):
    days: int = Field(description="days kept: what is older is removed", examples=[730])
    default_days: int
    min_days: int
    max_days: int
    configurable: bool = Field(description="false: set by a deploy setting, or follows another kind")
    mechanism: Literal["dynamodb_ttl", "scheduled_job", "follows"]
    follows: str = absent("the kind this one is removed with")
    removes: str = Field(description="what is removed")
    bounds: str = Field(description="why the bounds are what they are")


class RetentionKindRun(Answer):
    cutoff: str = Field(description="what is older than this instant was removed")
    removed: int
    oldest_kept: str | None = Field(description="the oldest item kept (null when none was kept)")


class RetentionRun(Answer):
    run_id: str = Field(description="the UTC day the run started", examples=["2026-12-07"])
    started_at: str
    updated_at: str
    finished_at: str | None
    status: Literal["running", "finished"]
    policy_version: int
    invocations: int = Field(description="invocations the run took (it resumes where it stopped)")
    kinds: dict[str, RetentionKindRun]


class RetentionSettings(Answer):
    version: int
    updated_at: str | None
    kinds: dict[str, RetentionKind]
    runs: list[RetentionRun] = Field(description="the latest runs, newest first")


# --- access -------------------------------------------------------------------------------
class Caller(Answer):
    subject: str = Field(examples=["service:3f9a0c1d2e4b5a69"], description="who: a user, a service token, bootstrap")
    role: Literal["viewer", "marketer", "admin"]
    kind: Literal["user", "service", "bootstrap"]
    name: str = Field(description="a user's email, a token's name")


class ServiceTokenView(Answer):
    id: str = Field(examples=["3f9a0c1d2e4b5a69"])
    name: str
    role: Literal["viewer", "marketer", "admin"]
    createdAt: str
    createdBy: str
    revokedAt: str | None
    revokedBy: str | None
    active: bool


class ServiceTokenCreated(Answer):
    token: ServiceTokenView
    secret: str = Field(description="the Bearer credential: shown once, only its SHA-256 is kept")


class ServiceTokenList(Answer):
    tokens: list[ServiceTokenView]


# --- the document itself -------------------------------------------------------------------
# --- privacy: erase ----------------------------------------------------------------------
class EraseRecord(Answer):
    """The proof of an erase: counts per store and the verification, no personal data."""

    erase_id: str = Field(examples=["erase-3f1c0d9a8b7e6f5a4b3c2d1e"])
    status: Literal["running", "erased", "incomplete"]
    requested_at: str
    requested_by: str = Field(description="Who asked (the principal's subject)")
    profiles: int = Field(description="Profile ids of the person: the root and the ones merged into it")
    identifiers: int = Field(description="Identifiers suppressed (stored hashed)")
    removed: dict[str, int] = Field(description="Items removed per store")
    done_stores: list[str] = Field(description="Stores finished in the current round")
    rounds: int = Field(description="Erase -> archive -> verify rounds run")
    remaining: dict[str, int] | None = Field(description="The verification pass: items still found per store")
    verified_at: str | None
    finished_at: str | None
    suppression_lifted_at: str | None
    suppressed_events: int = Field(description="Later events about the person dropped by the suppression")


class SuppressionLifted(Answer):
    erase_id: str
    lifted: int = Field(description="Suppressed identifiers lifted by this call (0 when lifted before)")
    suppression_lifted_at: str | None


class OpenAPIDocument(BaseModel):
    model_config = ConfigDict(extra="allow", defer_build=True)
    openapi: str = Field(examples=["3.1.0"])
    info: Open
    paths: Open
    components: Open


MODELS: tuple[type[BaseModel], ...] = tuple(
    value
    for value in list(globals().values())
    if isinstance(value, type) and issubclass(value, BaseModel) and value not in (BaseModel, Answer)
)


def schemas() -> dict[str, Any]:
    """Every answer's JSON schema, keyed by model name, with references into components/schemas."""
    _keys, document = models_json_schema(
        [(model, "serialization") for model in MODELS],
        ref_template="#/components/schemas/{model}",
        schema_generator=GenerateJsonSchema,
    )
    defs: dict[str, Any] = document.get("$defs", {})
    return defs
