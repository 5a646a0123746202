"""Typed settings per function, read from the environment once at cold start.

Each settings class is a frozen dataclass whose fields name their environment variable
(`env(...)`); one loader (`Settings.from_env`) reads them all, so what a variable means (required,
a positive integer, an upper-case region, a default when unset or blank) is declared once, next
to the field. Plain dataclasses on purpose: the webhook's and ingest's cold path must not pay
for pydantic (about 95 ms of CPU to import). The environment variable names below are the
contract with the CDK stack (infra/) and the local runtime (infra/local/): both set exactly these.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Self

from cdp.cors import ANY_ORIGIN, parse_origins

# Environment variable names shared with infra/ and infra/local/.
ENV_RAW_EVENTS_TABLE = "CDP_RAW_EVENTS_TABLE"
ENV_CORE_TABLE = "CDP_CORE_TABLE"
ENV_EVENT_BUS = "CDP_EVENT_BUS_NAME"
ENV_LINE_CHANNELS_SECRET = "CDP_LINE_CHANNELS_SECRET_ID"
ENV_WRITE_KEYS_SECRET = "CDP_WRITE_KEYS_SECRET_ID"
ENV_PUBLISH_EVENT_RECEIVED = "CDP_PUBLISH_EVENT_RECEIVED"  # cdp.domain_events: all, none or names
ENV_INGEST_ALLOWED_ORIGINS = "CDP_INGEST_ALLOWED_ORIGINS"  # cdp.cors: `*` or origins
ENV_ADMIN_TOKEN_SECRET = "CDP_ADMIN_TOKEN_SECRET_ID"
# Access: the user pool whose ID tokens the admin functions accept (unset: users cannot sign in).
ENV_USER_POOL_ISSUER = "CDP_USER_POOL_ISSUER"
ENV_USER_POOL_CLIENT_ID = "CDP_USER_POOL_CLIENT_ID"
ENV_USER_POOL_JWKS_URL = "CDP_USER_POOL_JWKS_URL"  # default: <issuer>/.well-known/jwks.json
ENV_RAW_EVENT_TTL_DAYS = "CDP_RAW_EVENT_TTL_DAYS"
ENV_SECRETS_CACHE_SECONDS = "CDP_SECRETS_CACHE_SECONDS"
ENV_DEFAULT_PHONE_REGION = "CDP_DEFAULT_PHONE_REGION"
ENV_TIMELINE_LIMIT = "CDP_PROFILE_TIMELINE_LIMIT"
ENV_AUDIT_RETENTION_DAYS = "CDP_AUDIT_RETENTION_DAYS"  # audit records expire this long after (TTL)
ENV_DEFAULT_LINE_PROVIDER = "CDP_DEFAULT_LINE_PROVIDER"
ENV_MERGE_STATE_MACHINE = "CDP_MERGE_STATE_MACHINE_ARN"
ENV_UNMERGE_STATE_MACHINE = "CDP_UNMERGE_STATE_MACHINE_ARN"
ENV_RULES_CACHE_SECONDS = "CDP_IDENTITY_RULES_CACHE_SECONDS"
ENV_SEGMENT_CACHE_SECONDS = "CDP_SEGMENT_DEFINITIONS_CACHE_SECONDS"
ENV_LINE_API_BASE_URL = "CDP_LINE_API_BASE_URL"
# api-data.line.me: rich menu images, message content, audience uploads by file.
ENV_LINE_DATA_API_BASE_URL = "CDP_LINE_DATA_API_BASE_URL"
ENV_LINK_NONCE_TTL_SECONDS = "CDP_LINK_NONCE_TTL_SECONDS"
# Tracked links (cdp.links): the personal-link signing key, the public base URL, the redirect's cache.
ENV_LINK_SIGNING_SECRET = "CDP_LINK_SIGNING_SECRET_ID"
ENV_LINK_BASE_URL = "CDP_LINK_BASE_URL"
ENV_LINK_CACHE_SECONDS = "CDP_LINK_CACHE_SECONDS"
# Member CSV imports.
ENV_IMPORTS_BUCKET = "CDP_IMPORTS_BUCKET"
ENV_MEMBER_IMPORT_FUNCTION = "CDP_MEMBER_IMPORT_FUNCTION"
# The profile/event archive and scheduled segment recompute.
ENV_ARCHIVE_BUCKET = "CDP_ARCHIVE_BUCKET"
ENV_ARCHIVE_CACHE_DIR = "CDP_ARCHIVE_CACHE_DIR"
ENV_SEGMENT_RECOMPUTE_FUNCTION = "CDP_SEGMENT_RECOMPUTE_FUNCTION"
ENV_SEGMENT_RECOMPUTE_FUNCTION_ARN = "CDP_SEGMENT_RECOMPUTE_FUNCTION_ARN"
ENV_SEGMENT_SCHEDULE_GROUP = "CDP_SEGMENT_SCHEDULE_GROUP"
ENV_SEGMENT_SCHEDULER_ROLE_ARN = "CDP_SEGMENT_SCHEDULER_ROLE_ARN"
ENV_QUERY_SYNC_MAX_BYTES = "CDP_QUERY_SYNC_MAX_BYTES"
ENV_RFM_WINDOW_DAYS = "CDP_RFM_WINDOW_DAYS"
# The message sender (cdp.messaging): release schedules, providers, per-sender LINE rate share.
ENV_MESSAGE_SCHEDULE_GROUP = "CDP_MESSAGE_SCHEDULE_GROUP"
ENV_MESSAGE_SCHEDULER_ROLE_ARN = "CDP_MESSAGE_SCHEDULER_ROLE_ARN"
ENV_MESSAGE_SENDER_CONCURRENCY = "CDP_MESSAGE_SENDER_CONCURRENCY"
ENV_MESSAGE_SENDER_PARALLELISM = "CDP_MESSAGE_SENDER_PARALLELISM"
ENV_EMAIL_FROM_ADDRESS = "CDP_EMAIL_FROM_ADDRESS"
ENV_SES_CONFIGURATION_SET = "CDP_SES_CONFIGURATION_SET"
ENV_SMS_SENDER_ID = "CDP_SMS_SENDER_ID"
ENV_MESSAGING_POLICY_CACHE_SECONDS = "CDP_MESSAGING_POLICY_CACHE_SECONDS"
# The message sender's ARN, for functions that hand it send requests (auto-replies).
ENV_MESSAGE_SENDER_FUNCTION = "CDP_MESSAGE_SENDER_FUNCTION"
# Journeys' execution (cdp.journeys.compiler / stepper): the role the versions' state machines run
# as, the journey step function they call, and the name prefix of those machines.
ENV_JOURNEY_ROLE_ARN = "CDP_JOURNEY_ROLE_ARN"
ENV_JOURNEY_STEP_ARN = "CDP_JOURNEY_STEP_ARN"
ENV_JOURNEY_MACHINE_PREFIX = "CDP_JOURNEY_MACHINE_PREFIX"
# The rich menu sync function's ARN, for the admin API (a resync when a menu is linked).
ENV_RICH_MENU_SYNC_FUNCTION = "CDP_RICH_MENU_SYNC_FUNCTION"
# Campaigns (cdp.campaigns): the sender's queue, the runner, their schedules.
ENV_CAMPAIGN_SEND_QUEUE_URL = "CDP_CAMPAIGN_SEND_QUEUE_URL"
ENV_CAMPAIGN_RUNNER_FUNCTION = "CDP_CAMPAIGN_RUNNER_FUNCTION"
ENV_CAMPAIGN_SCHEDULER_ROLE_ARN = "CDP_CAMPAIGN_SCHEDULER_ROLE_ARN"
# Journeys' runtime (cdp.journeys.starter, cdp.journeys.flow): the starts queue and its pace, the
# event consumer (the cohort schedules' target, archive's run ender), how long live journeys are cached.
ENV_JOURNEY_STARTS_QUEUE_URL = "CDP_JOURNEY_STARTS_QUEUE_URL"
ENV_JOURNEY_STARTS_PER_SECOND = "CDP_JOURNEY_STARTS_PER_SECOND"
ENV_JOURNEY_STARTER_CONCURRENCY = "CDP_JOURNEY_STARTER_CONCURRENCY"
ENV_JOURNEY_EVENTS_FUNCTION = "CDP_JOURNEY_EVENTS_FUNCTION"
ENV_JOURNEY_SCHEDULE_GROUP = "CDP_JOURNEY_SCHEDULE_GROUP"
ENV_JOURNEY_SCHEDULER_ROLE_ARN = "CDP_JOURNEY_SCHEDULER_ROLE_ARN"
ENV_JOURNEY_CACHE_SECONDS = "CDP_JOURNEY_CACHE_SECONDS"
# Erase (cdp.privacy.erase): the workflow the admin API starts, and how long its steps let the
# core table's stream settle (the archive writer's removal rows) before the archive is rewritten.
ENV_ERASE_STATE_MACHINE = "CDP_ERASE_STATE_MACHINE_ARN"
ENV_ERASE_SETTLE_SECONDS = "CDP_ERASE_SETTLE_SECONDS"

DEFAULT_QUERY_SYNC_MAX_BYTES = 256 * 1024 * 1024
DEFAULT_ARCHIVE_CACHE_DIR = "/tmp/cdp-archive"  # noqa: S108 (Lambda's only writable disk)
DEFAULT_LINE_API_BASE_URL = "https://api.line.me"
DEFAULT_LINE_DATA_API_BASE_URL = "https://api-data.line.me"


class SettingsError(RuntimeError):
    """A function started without the configuration it needs: fail the cold start loudly.

    `setting` names the environment variable, so an answer can say which one is missing."""

    def __init__(self, message: str, *, setting: str = "") -> None:
        super().__init__(message)
        self.setting = setting


Kind = Literal["text", "positive_int", "upper", "origins"]


@dataclass(frozen=True, slots=True)
class EnvVar:
    """How one field is read: its variable, whether it must be set, and what its text means."""

    name: str
    required: bool = False
    kind: Kind = "text"

    def read(self, env: Mapping[str, str], default: Any) -> Any:
        if self.kind == "origins":  # set but blank means none: browsers get no CORS access
            if self.name not in env:
                return default
            try:
                return parse_origins(env[self.name])
            except ValueError as exc:
                raise SettingsError(f"{self.name}: {exc}", setting=self.name) from exc
        raw = env.get(self.name, "").strip()
        if not raw:
            if self.required:
                raise SettingsError(f"missing required environment variable {self.name}", setting=self.name)
            return default
        if self.kind == "upper":
            return raw.upper()
        if self.kind == "positive_int":
            try:
                value = int(raw)
            except ValueError as exc:
                raise SettingsError(f"{self.name} must be an integer, got {raw!r}", setting=self.name) from exc
            if value <= 0:
                raise SettingsError(f"{self.name} must be positive, got {value}", setting=self.name)
            return value
        return raw


def env(name: str, default: Any = dataclasses.MISSING, *, required: bool = False, kind: Kind = "text") -> Any:
    """A settings field read from `name`; unset or blank gives `default`, or refuses if required."""
    metadata = {"env": EnvVar(name, required, kind)}
    if default is dataclasses.MISSING:
        return dataclasses.field(metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def required(name: str, default: str = "") -> Any:
    return env(name, default, required=True)


def positive(name: str, default: int) -> Any:
    return env(name, default, kind="positive_int")


@dataclass(frozen=True, slots=True)
class Settings:
    """The one loader: every field of a subclass names its variable."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        source = os.environ if environ is None else environ
        values = {}
        for field in dataclasses.fields(cls):
            spec: EnvVar = field.metadata["env"]
            default = field.default if field.default is not dataclasses.MISSING else ""
            values[field.name] = spec.read(source, default)
        return cls(**values)


@dataclass(frozen=True, slots=True)
class RawIngestSettings(Settings):
    """LINE webhook and partner ingestion: write raw events, nothing else."""

    raw_events_table: str = required(ENV_RAW_EVENTS_TABLE)
    raw_event_ttl_days: int = positive(ENV_RAW_EVENT_TTL_DAYS, 30)
    secrets_cache_seconds: int = positive(ENV_SECRETS_CACHE_SECONDS, 300)


@dataclass(frozen=True, slots=True)
class LineWebhookSettings(RawIngestSettings):
    line_channels_secret_id: str = required(ENV_LINE_CHANNELS_SECRET)
    # Where refused events are recorded (INGEST_REJECTIONS# items); unset: not recorded.
    core_table: str = env(ENV_CORE_TABLE, "")


@dataclass(frozen=True, slots=True)
class PartnerIngestSettings(RawIngestSettings):
    write_keys_secret_id: str = required(ENV_WRITE_KEYS_SECRET)
    # Where rejections are recorded (INGEST_REJECTIONS# items); unset: not recorded.
    core_table: str = env(ENV_CORE_TABLE, "")
    allowed_origins: tuple[str, ...] = env(ENV_INGEST_ALLOWED_ORIGINS, (ANY_ORIGIN,), kind="origins")


@dataclass(frozen=True, slots=True)
class ProcessorSettings(Settings):
    """Event processor: raw stream in, profiles and timeline out, events to the bus."""

    core_table: str = required(ENV_CORE_TABLE)
    event_bus_name: str = required(ENV_EVENT_BUS)
    default_phone_region: str = env(ENV_DEFAULT_PHONE_REGION, "TW", kind="upper")
    merge_state_machine_arn: str = env(ENV_MERGE_STATE_MACHINE, "")  # unset: conflicts are recorded, nothing merged
    rules_cache_seconds: int = positive(ENV_RULES_CACHE_SECONDS, 60)
    publish_event_received: str = env(ENV_PUBLISH_EVENT_RECEIVED, "all")
    # Auto-replies are handed to the message sender; unset: no auto-replies.
    message_sender_function: str = env(ENV_MESSAGE_SENDER_FUNCTION, "")
    # How long a warm processor keeps the events live journeys listen to (published on the bus).
    journey_cache_seconds: int = positive(ENV_JOURNEY_CACHE_SECONDS, 5)
    # Erase suppression drops an erased person's later raw events here; unset: not checked.
    raw_events_table: str = env(ENV_RAW_EVENTS_TABLE, "")


@dataclass(frozen=True, slots=True)
class IdentityWorkflowSettings(Settings):
    """The merge/unmerge steps run by Step Functions."""

    core_table: str = required(ENV_CORE_TABLE)
    event_bus_name: str = required(ENV_EVENT_BUS)


@dataclass(frozen=True, slots=True)
class AdminApiSettings(Settings):
    """Both admin functions (CRUD and archive queries)."""

    core_table: str = required(ENV_CORE_TABLE)
    admin_token_secret_id: str = required(ENV_ADMIN_TOKEN_SECRET)
    secrets_cache_seconds: int = positive(ENV_SECRETS_CACHE_SECONDS, 300)
    default_phone_region: str = env(ENV_DEFAULT_PHONE_REGION, "TW", kind="upper")
    timeline_limit: int = positive(ENV_TIMELINE_LIMIT, 20)
    default_line_provider: str = env(ENV_DEFAULT_LINE_PROVIDER, "default")
    # Member CSV imports; unset leaves those routes unconfigured.
    imports_bucket: str = env(ENV_IMPORTS_BUCKET, "")
    member_import_function: str = env(ENV_MEMBER_IMPORT_FUNCTION, "")
    # LINE account link and LINE Login binding; unset ids leave those routes unconfigured.
    raw_events_table: str = env(ENV_RAW_EVENTS_TABLE, "")
    raw_event_ttl_days: int = positive(ENV_RAW_EVENT_TTL_DAYS, 30)
    line_channels_secret_id: str = env(ENV_LINE_CHANNELS_SECRET, "")
    line_api_base_url: str = env(ENV_LINE_API_BASE_URL, DEFAULT_LINE_API_BASE_URL)
    line_data_api_base_url: str = env(ENV_LINE_DATA_API_BASE_URL, DEFAULT_LINE_DATA_API_BASE_URL)
    link_nonce_ttl_seconds: int = positive(ENV_LINK_NONCE_TTL_SECONDS, 600)
    unmerge_state_machine_arn: str = env(ENV_UNMERGE_STATE_MACHINE, "")
    erase_state_machine_arn: str = env(ENV_ERASE_STATE_MACHINE, "")
    # Rich menus per segment: the sync function started after a link is made; unset: not wired.
    rich_menu_sync_function: str = env(ENV_RICH_MENU_SYNC_FUNCTION, "")
    # Tracked links: unset signing key leaves personal links unconfigured; unset base URL means
    # links are served from the host the admin request came to.
    link_signing_secret_id: str = env(ENV_LINK_SIGNING_SECRET, "")
    link_base_url: str = env(ENV_LINK_BASE_URL, "")
    # Campaigns: the runner (its ARN is also the schedules' target), the schedule group and role.
    campaign_runner_function: str = env(ENV_CAMPAIGN_RUNNER_FUNCTION, "")
    campaign_schedule_group: str = env(ENV_MESSAGE_SCHEDULE_GROUP, "")
    campaign_scheduler_role_arn: str = env(ENV_CAMPAIGN_SCHEDULER_ROLE_ARN, "")
    # The audit log: how long a record is kept before the table's TTL removes it.
    audit_retention_days: int = positive(ENV_AUDIT_RETENTION_DAYS, 365)
    # Access: users of this user pool app client sign in with its ID tokens; unset: tokens only.
    user_pool_issuer: str = env(ENV_USER_POOL_ISSUER, "")
    user_pool_client_id: str = env(ENV_USER_POOL_CLIENT_ID, "")
    user_pool_jwks_url: str = env(ENV_USER_POOL_JWKS_URL, "")


@dataclass(frozen=True, slots=True)
class MemberImportSettings(Settings):
    """The import worker: reads the upload, writes raw events and the import's status item."""

    core_table: str = required(ENV_CORE_TABLE)
    raw_events_table: str = required(ENV_RAW_EVENTS_TABLE)
    raw_event_ttl_days: int = positive(ENV_RAW_EVENT_TTL_DAYS, 30)
    imports_bucket: str = required(ENV_IMPORTS_BUCKET)
    default_phone_region: str = env(ENV_DEFAULT_PHONE_REGION, "TW", kind="upper")


@dataclass(frozen=True, slots=True)
class SegmentEvaluatorSettings(Settings):
    """Real-time segments: profile changes from the bus in, memberships and segment events out."""

    core_table: str = required(ENV_CORE_TABLE)
    event_bus_name: str = required(ENV_EVENT_BUS)
    # How long a warm evaluator keeps segment definitions: a new or edited segment applies in real
    # time within this delay (and always at the next scheduled recompute).
    definitions_cache_seconds: int = positive(ENV_SEGMENT_CACHE_SECONDS, 30)


@dataclass(frozen=True, slots=True)
class LinkRedirectSettings(Settings):
    """The public tracked-link redirect: reads links, adds click counts, writes click raw events."""

    core_table: str = required(ENV_CORE_TABLE)
    raw_events_table: str = required(ENV_RAW_EVENTS_TABLE)
    raw_event_ttl_days: int = positive(ENV_RAW_EVENT_TTL_DAYS, 30)
    link_signing_secret_id: str = required(ENV_LINK_SIGNING_SECRET)
    secrets_cache_seconds: int = positive(ENV_SECRETS_CACHE_SECONDS, 300)
    # How long a warm redirect keeps a link it read (an unknown code: at most 5 s).
    link_cache_seconds: int = positive(ENV_LINK_CACHE_SECONDS, 30)


@dataclass(frozen=True, slots=True)
class ArchiveWriterSettings(Settings):
    """The core table's stream in, Parquet files in the archive bucket out."""

    archive_bucket: str = required(ENV_ARCHIVE_BUCKET)


@dataclass(frozen=True, slots=True)
class SegmentRecomputeSettings(Settings):
    """Scheduled recompute: the archive read through DuckDB, memberships and segment events out."""

    core_table: str = required(ENV_CORE_TABLE)
    event_bus_name: str = required(ENV_EVENT_BUS)
    archive_bucket: str = required(ENV_ARCHIVE_BUCKET)
    archive_cache_dir: str = env(ENV_ARCHIVE_CACHE_DIR, DEFAULT_ARCHIVE_CACHE_DIR)
    # LINE audiences kept in sync (cdp.segments.audience_sync); unset secret id: no syncing.
    line_channels_secret_id: str = env(ENV_LINE_CHANNELS_SECRET, "")
    line_api_base_url: str = env(ENV_LINE_API_BASE_URL, DEFAULT_LINE_API_BASE_URL)
    line_data_api_base_url: str = env(ENV_LINE_DATA_API_BASE_URL, DEFAULT_LINE_DATA_API_BASE_URL)
    secrets_cache_seconds: int = positive(ENV_SECRETS_CACHE_SECONDS, 300)


@dataclass(frozen=True, slots=True)
class RichMenuSyncSettings(Settings):
    """Rich menus per segment (cdp.segments.rich_menus): memberships in, LINE per-user links out."""

    core_table: str = required(ENV_CORE_TABLE)
    line_channels_secret_id: str = required(ENV_LINE_CHANNELS_SECRET)
    line_api_base_url: str = env(ENV_LINE_API_BASE_URL, DEFAULT_LINE_API_BASE_URL)
    secrets_cache_seconds: int = positive(ENV_SECRETS_CACHE_SECONDS, 300)


@dataclass(frozen=True, slots=True)
class SegmentAnalyticsSettings(Settings):
    """What the admin functions need for preview, search, reports and segment schedules; unset
    values leave those routes unconfigured (500 `configuration_missing` naming the variable)."""

    archive_bucket: str = env(ENV_ARCHIVE_BUCKET, "")
    archive_cache_dir: str = env(ENV_ARCHIVE_CACHE_DIR, DEFAULT_ARCHIVE_CACHE_DIR)
    recompute_function: str = env(ENV_SEGMENT_RECOMPUTE_FUNCTION, "")
    recompute_function_arn: str = env(ENV_SEGMENT_RECOMPUTE_FUNCTION_ARN, "")
    schedule_group: str = env(ENV_SEGMENT_SCHEDULE_GROUP, "")
    scheduler_role_arn: str = env(ENV_SEGMENT_SCHEDULER_ROLE_ARN, "")
    # Archives bigger than this answer preview/search/reports as a job (202, then poll).
    query_sync_max_bytes: int = positive(ENV_QUERY_SYNC_MAX_BYTES, DEFAULT_QUERY_SYNC_MAX_BYTES)


@dataclass(frozen=True, slots=True)
class RfmSettings(Settings):
    """The scheduled RFM run: the archive in, `identify` raw events with the scores out."""

    core_table: str = required(ENV_CORE_TABLE)
    raw_events_table: str = required(ENV_RAW_EVENTS_TABLE)
    archive_bucket: str = required(ENV_ARCHIVE_BUCKET)
    raw_event_ttl_days: int = positive(ENV_RAW_EVENT_TTL_DAYS, 30)
    archive_cache_dir: str = env(ENV_ARCHIVE_CACHE_DIR, DEFAULT_ARCHIVE_CACHE_DIR)
    window_days: int = positive(ENV_RFM_WINDOW_DAYS, 365)


@dataclass(frozen=True, slots=True)
class DeadLetterArchiverSettings(Settings):
    """The processor's on-failure queue in, dead letters (raw-event keys) in the core table out."""

    core_table: str = required(ENV_CORE_TABLE)


@dataclass(frozen=True, slots=True)
class MessageSenderSettings(Settings):
    """The send point's function: profiles and its ledger in the core table, outcome events in the
    raw events table, LINE / SES / SNS as configured (unset: that channel is not configured)."""

    core_table: str = required(ENV_CORE_TABLE)
    raw_events_table: str = required(ENV_RAW_EVENTS_TABLE)
    raw_event_ttl_days: int = positive(ENV_RAW_EVENT_TTL_DAYS, 30)
    # message.sent / suppressed / failed; unset: outcomes reach the timeline only.
    event_bus_name: str = env(ENV_EVENT_BUS, "")
    secrets_cache_seconds: int = positive(ENV_SECRETS_CACHE_SECONDS, 300)
    line_channels_secret_id: str = env(ENV_LINE_CHANNELS_SECRET, "")
    line_api_base_url: str = env(ENV_LINE_API_BASE_URL, DEFAULT_LINE_API_BASE_URL)
    # How many senders run at once (the function's reserved concurrency): each takes this share
    # of LINE's per-channel rate limits.
    sender_concurrency: int = positive(ENV_MESSAGE_SENDER_CONCURRENCY, 10)
    # Recipients one invocation works on at once (threads: each waits on DynamoDB and LINE).
    sender_parallelism: int = positive(ENV_MESSAGE_SENDER_PARALLELISM, 16)
    schedule_group: str = env(ENV_MESSAGE_SCHEDULE_GROUP, "")
    scheduler_role_arn: str = env(ENV_MESSAGE_SCHEDULER_ROLE_ARN, "")
    email_from_address: str = env(ENV_EMAIL_FROM_ADDRESS, "")
    ses_configuration_set: str = env(ENV_SES_CONFIGURATION_SET, "")
    sms_sender_id: str = env(ENV_SMS_SENDER_ID, "")
    # One-click unsubscribe links: signed with the tracked-link key, served under the link base URL.
    link_signing_secret_id: str = env(ENV_LINK_SIGNING_SECRET, "")
    link_base_url: str = env(ENV_LINK_BASE_URL, "")
    policy_cache_seconds: int = positive(ENV_MESSAGING_POLICY_CACHE_SECONDS, 60)


@dataclass(frozen=True, slots=True)
class CampaignRunnerSettings(Settings):
    """The campaign fan-out: campaigns, memberships and profiles read from the core table, send
    requests put on the message sender's queue."""

    core_table: str = required(ENV_CORE_TABLE)
    send_queue_url: str = required(ENV_CAMPAIGN_SEND_QUEUE_URL)


@dataclass(frozen=True, slots=True)
class JourneyStarterSettings(Settings):
    """The journey starter: entries from its queue, runs and admissions in the core table,
    executions on the versions' state machines, at most `starts_per_second` per deployment."""

    core_table: str = required(ENV_CORE_TABLE)
    starts_per_second: int = positive(ENV_JOURNEY_STARTS_PER_SECOND, 100)
    # The queue's event source mapping's maximum concurrency: each starter takes this share.
    starter_concurrency: int = positive(ENV_JOURNEY_STARTER_CONCURRENCY, 2)
    journey_cache_seconds: int = positive(ENV_JOURNEY_CACHE_SECONDS, 5)


@dataclass(frozen=True, slots=True)
class JourneyEventsSettings(Settings):
    """The journey event consumer: bus events and cohort firings in; waits resumed, runs ended,
    clicks and conversions recorded, entries queued for the starter."""

    core_table: str = required(ENV_CORE_TABLE)
    event_bus_name: str = required(ENV_EVENT_BUS)
    starts_queue_url: str = required(ENV_JOURNEY_STARTS_QUEUE_URL)
    journey_cache_seconds: int = positive(ENV_JOURNEY_CACHE_SECONDS, 5)


@dataclass(frozen=True, slots=True)
class JourneyAdminSettings(Settings):
    """What the admin API needs to schedule cohort entries and end an archived journey's runs;
    unset values leave those unconfigured."""

    core_table: str = env(ENV_CORE_TABLE, "")
    journey_events_function: str = env(ENV_JOURNEY_EVENTS_FUNCTION, "")
    schedule_group: str = env(ENV_JOURNEY_SCHEDULE_GROUP, "")
    scheduler_role_arn: str = env(ENV_JOURNEY_SCHEDULER_ROLE_ARN, "")


@dataclass(frozen=True, slots=True)
class JourneyMachinesSettings(Settings):
    """Publishing a journey version: its state machine, created with the journeys role, calls the
    journey step function, and is named `<prefix>-journey-<id>-v<version>`."""

    role_arn: str = required(ENV_JOURNEY_ROLE_ARN)
    step_function_arn: str = required(ENV_JOURNEY_STEP_ARN)
    name_prefix: str = required(ENV_JOURNEY_MACHINE_PREFIX)


@dataclass(frozen=True, slots=True)
class JourneyStepSettings(Settings):
    """The journey step function: runs, waits and versions in the core table, timeline events in
    the raw events table, journey events on the bus; sends through the send point in-process
    (MessageSenderSettings), whose held sends come back to the message sender."""

    core_table: str = required(ENV_CORE_TABLE)
    raw_events_table: str = required(ENV_RAW_EVENTS_TABLE)
    raw_event_ttl_days: int = positive(ENV_RAW_EVENT_TTL_DAYS, 30)
    event_bus_name: str = env(ENV_EVENT_BUS, "")
    message_sender_function: str = required(ENV_MESSAGE_SENDER_FUNCTION)


# --- retention (cdp.privacy.retention) ---------------------------------------------------------
# Prefixes of exported files in the imports bucket that the retention job expires (comma-separated).
ENV_RETENTION_EXPORT_PREFIXES = "CDP_RETENTION_EXPORT_PREFIXES"
DEFAULT_RETENTION_EXPORT_PREFIXES = "exports/"
DEFAULT_RETENTION_IMPORT_PREFIX = "imports/"


@dataclass(frozen=True, slots=True)
class RetentionSettings(Settings):
    """The daily retention job: the core table (policy, runs, timeline, sends, audit rows) and
    the imports bucket's exported and imported files; unset bucket: no file sweeps."""

    core_table: str = required(ENV_CORE_TABLE)
    imports_bucket: str = env(ENV_IMPORTS_BUCKET, "")
    raw_event_ttl_days: int = positive(ENV_RAW_EVENT_TTL_DAYS, 30)
    export_prefixes: str = env(ENV_RETENTION_EXPORT_PREFIXES, DEFAULT_RETENTION_EXPORT_PREFIXES)


@dataclass(frozen=True, slots=True)
class EraseSettings(Settings):
    """The erase workflow's steps: every store that keeps people, and the archive."""

    core_table: str = required(ENV_CORE_TABLE)
    raw_events_table: str = required(ENV_RAW_EVENTS_TABLE)
    archive_bucket: str = required(ENV_ARCHIVE_BUCKET)
    archive_cache_dir: str = env(ENV_ARCHIVE_CACHE_DIR, DEFAULT_ARCHIVE_CACHE_DIR)
    settle_seconds: int = positive(ENV_ERASE_SETTLE_SECONDS, 60)
    imports_bucket: str = required(ENV_IMPORTS_BUCKET)  # member-import files and person exports
    # The journey event consumer ends a person's runs (stops executions, tells the exits).
    journey_events_function: str = required(ENV_JOURNEY_EVENTS_FUNCTION)
