"""Typed settings per function, read from the environment once at cold start.

Plain dataclasses on purpose: the webhook's cold path must not pay for pydantic. The
environment variable names below are the contract with the CDK stack (infra/) and the
local runtime (infra/local/): both set exactly these.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Environment variable names shared with infra/ and infra/local/.
ENV_RAW_EVENTS_TABLE = "CDP_RAW_EVENTS_TABLE"
ENV_CORE_TABLE = "CDP_CORE_TABLE"
ENV_EVENT_BUS = "CDP_EVENT_BUS_NAME"
ENV_LINE_CHANNELS_SECRET = "CDP_LINE_CHANNELS_SECRET_ID"
ENV_WRITE_KEYS_SECRET = "CDP_WRITE_KEYS_SECRET_ID"
ENV_ADMIN_TOKEN_SECRET = "CDP_ADMIN_TOKEN_SECRET_ID"
ENV_RAW_EVENT_TTL_DAYS = "CDP_RAW_EVENT_TTL_DAYS"
ENV_SECRETS_CACHE_SECONDS = "CDP_SECRETS_CACHE_SECONDS"
ENV_DEFAULT_PHONE_REGION = "CDP_DEFAULT_PHONE_REGION"
ENV_TIMELINE_LIMIT = "CDP_PROFILE_TIMELINE_LIMIT"
ENV_DEFAULT_LINE_PROVIDER = "CDP_DEFAULT_LINE_PROVIDER"
ENV_MERGE_STATE_MACHINE = "CDP_MERGE_STATE_MACHINE_ARN"
ENV_UNMERGE_STATE_MACHINE = "CDP_UNMERGE_STATE_MACHINE_ARN"
ENV_RULES_CACHE_SECONDS = "CDP_IDENTITY_RULES_CACHE_SECONDS"
ENV_SEGMENT_CACHE_SECONDS = "CDP_SEGMENT_DEFINITIONS_CACHE_SECONDS"
ENV_LINE_API_BASE_URL = "CDP_LINE_API_BASE_URL"
ENV_LINK_NONCE_TTL_SECONDS = "CDP_LINK_NONCE_TTL_SECONDS"
# Tracked links (cdp.links): the personal-link signing key, the public base URL, the redirect's cache.
ENV_LINK_SIGNING_SECRET = "CDP_LINK_SIGNING_SECRET_ID"
ENV_LINK_BASE_URL = "CDP_LINK_BASE_URL"
ENV_LINK_CACHE_SECONDS = "CDP_LINK_CACHE_SECONDS"


class SettingsError(RuntimeError):
    """A function started without the configuration it needs: fail the cold start loudly.

    `setting` names the environment variable, so an answer can say which one is missing."""

    def __init__(self, message: str, *, setting: str = "") -> None:
        super().__init__(message)
        self.setting = setting


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise SettingsError(f"missing required environment variable {name}", setting=name)
    return value


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be an integer, got {raw!r}", setting=name) from exc
    if value <= 0:
        raise SettingsError(f"{name} must be positive, got {value}", setting=name)
    return value


def _raw_ingest_fields(env: Mapping[str, str]) -> dict[str, Any]:
    return {
        "raw_events_table": _required(env, ENV_RAW_EVENTS_TABLE),
        "raw_event_ttl_days": _positive_int(env, ENV_RAW_EVENT_TTL_DAYS, 30),
        "secrets_cache_seconds": _positive_int(env, ENV_SECRETS_CACHE_SECONDS, 300),
    }


@dataclass(frozen=True, slots=True)
class RawIngestSettings:
    """LINE webhook and partner ingestion: write raw events, nothing else."""

    raw_events_table: str
    raw_event_ttl_days: int
    secrets_cache_seconds: int

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RawIngestSettings:
        return cls(**_raw_ingest_fields(os.environ if env is None else env))


@dataclass(frozen=True, slots=True)
class LineWebhookSettings(RawIngestSettings):
    line_channels_secret_id: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LineWebhookSettings:
        env = os.environ if env is None else env
        return cls(**_raw_ingest_fields(env), line_channels_secret_id=_required(env, ENV_LINE_CHANNELS_SECRET))


@dataclass(frozen=True, slots=True)
class PartnerIngestSettings(RawIngestSettings):
    write_keys_secret_id: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> PartnerIngestSettings:
        env = os.environ if env is None else env
        return cls(**_raw_ingest_fields(env), write_keys_secret_id=_required(env, ENV_WRITE_KEYS_SECRET))


@dataclass(frozen=True, slots=True)
class ProcessorSettings:
    """Event processor: raw stream in, profiles and timeline out, events to the bus."""

    core_table: str
    event_bus_name: str
    default_phone_region: str
    merge_state_machine_arn: str = ""  # unset: conflicts are recorded, nothing is merged
    rules_cache_seconds: int = 60

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ProcessorSettings:
        env = os.environ if env is None else env
        return cls(
            core_table=_required(env, ENV_CORE_TABLE),
            event_bus_name=_required(env, ENV_EVENT_BUS),
            default_phone_region=env.get(ENV_DEFAULT_PHONE_REGION, "TW").strip().upper() or "TW",
            merge_state_machine_arn=env.get(ENV_MERGE_STATE_MACHINE, "").strip(),
            rules_cache_seconds=_positive_int(env, ENV_RULES_CACHE_SECONDS, 60),
        )


@dataclass(frozen=True, slots=True)
class IdentityWorkflowSettings:
    """The merge/unmerge steps run by Step Functions."""

    core_table: str
    event_bus_name: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> IdentityWorkflowSettings:
        env = os.environ if env is None else env
        return cls(core_table=_required(env, ENV_CORE_TABLE), event_bus_name=_required(env, ENV_EVENT_BUS))


@dataclass(frozen=True, slots=True)
class AdminApiSettings:
    core_table: str
    admin_token_secret_id: str
    secrets_cache_seconds: int
    default_phone_region: str
    timeline_limit: int
    default_line_provider: str
    # Member CSV imports (cdp.admin.imports); unset leaves those routes unconfigured.
    imports_bucket: str = ""
    member_import_function: str = ""
    # LINE account link and LINE Login binding (cdp.admin.line); unset ids leave those routes unconfigured.
    raw_events_table: str = ""
    raw_event_ttl_days: int = 30
    line_channels_secret_id: str = ""
    line_api_base_url: str = "https://api.line.me"
    link_nonce_ttl_seconds: int = 600
    unmerge_state_machine_arn: str = ""
    # Tracked links (cdp.admin.links): unset signing key leaves personal links unconfigured; unset
    # base URL means links are served from the host the admin request came to.
    link_signing_secret_id: str = ""
    link_base_url: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AdminApiSettings:
        env = os.environ if env is None else env
        return cls(
            core_table=_required(env, ENV_CORE_TABLE),
            admin_token_secret_id=_required(env, ENV_ADMIN_TOKEN_SECRET),
            secrets_cache_seconds=_positive_int(env, ENV_SECRETS_CACHE_SECONDS, 300),
            default_phone_region=env.get(ENV_DEFAULT_PHONE_REGION, "TW").strip().upper() or "TW",
            timeline_limit=_positive_int(env, ENV_TIMELINE_LIMIT, 20),
            default_line_provider=env.get(ENV_DEFAULT_LINE_PROVIDER, "default").strip() or "default",
            imports_bucket=env.get(ENV_IMPORTS_BUCKET, "").strip(),
            member_import_function=env.get(ENV_MEMBER_IMPORT_FUNCTION, "").strip(),
            **_line_binding_fields(env),
            unmerge_state_machine_arn=env.get(ENV_UNMERGE_STATE_MACHINE, "").strip(),
            link_signing_secret_id=env.get(ENV_LINK_SIGNING_SECRET, "").strip(),
            link_base_url=env.get(ENV_LINK_BASE_URL, "").strip(),
        )


def _line_binding_fields(env: Mapping[str, str]) -> dict[str, Any]:
    return {
        "raw_events_table": env.get(ENV_RAW_EVENTS_TABLE, "").strip(),
        "raw_event_ttl_days": _positive_int(env, ENV_RAW_EVENT_TTL_DAYS, 30),
        "line_channels_secret_id": env.get(ENV_LINE_CHANNELS_SECRET, "").strip(),
        "line_api_base_url": env.get(ENV_LINE_API_BASE_URL, "").strip() or "https://api.line.me",
        "link_nonce_ttl_seconds": _positive_int(env, ENV_LINK_NONCE_TTL_SECONDS, 600),
    }


# Member CSV imports.
ENV_IMPORTS_BUCKET = "CDP_IMPORTS_BUCKET"
ENV_MEMBER_IMPORT_FUNCTION = "CDP_MEMBER_IMPORT_FUNCTION"


@dataclass(frozen=True, slots=True)
class MemberImportSettings:
    """The import worker: reads the upload, writes raw events and the import's status item."""

    core_table: str
    raw_events_table: str
    raw_event_ttl_days: int
    imports_bucket: str
    default_phone_region: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> MemberImportSettings:
        env = os.environ if env is None else env
        return cls(
            core_table=_required(env, ENV_CORE_TABLE),
            raw_events_table=_required(env, ENV_RAW_EVENTS_TABLE),
            raw_event_ttl_days=_positive_int(env, ENV_RAW_EVENT_TTL_DAYS, 30),
            imports_bucket=_required(env, ENV_IMPORTS_BUCKET),
            default_phone_region=env.get(ENV_DEFAULT_PHONE_REGION, "TW").strip().upper() or "TW",
        )


@dataclass(frozen=True, slots=True)
class SegmentEvaluatorSettings:
    """Real-time segments: profile changes from the bus in, memberships and segment events out."""

    core_table: str
    event_bus_name: str
    # How long a warm evaluator keeps segment definitions: a new or edited segment applies in real
    # time within this delay (and always at the next scheduled recompute).
    definitions_cache_seconds: int = 30

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SegmentEvaluatorSettings:
        env = os.environ if env is None else env
        return cls(
            core_table=_required(env, ENV_CORE_TABLE),
            event_bus_name=_required(env, ENV_EVENT_BUS),
            definitions_cache_seconds=_positive_int(env, ENV_SEGMENT_CACHE_SECONDS, 30),
        )


@dataclass(frozen=True, slots=True)
class LinkRedirectSettings:
    """The public tracked-link redirect: reads links, adds click counts, writes click raw events."""

    core_table: str
    raw_events_table: str
    raw_event_ttl_days: int
    link_signing_secret_id: str
    secrets_cache_seconds: int = 300
    # How long a warm redirect keeps a link it read (an unknown code: at most 5 s).
    link_cache_seconds: int = 30

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LinkRedirectSettings:
        env = os.environ if env is None else env
        return cls(
            core_table=_required(env, ENV_CORE_TABLE),
            raw_events_table=_required(env, ENV_RAW_EVENTS_TABLE),
            raw_event_ttl_days=_positive_int(env, ENV_RAW_EVENT_TTL_DAYS, 30),
            link_signing_secret_id=_required(env, ENV_LINK_SIGNING_SECRET),
            secrets_cache_seconds=_positive_int(env, ENV_SECRETS_CACHE_SECONDS, 300),
            link_cache_seconds=_positive_int(env, ENV_LINK_CACHE_SECONDS, 30),
        )


# The profile/event archive and scheduled segment recompute.
ENV_ARCHIVE_BUCKET = "CDP_ARCHIVE_BUCKET"
ENV_ARCHIVE_CACHE_DIR = "CDP_ARCHIVE_CACHE_DIR"
ENV_SEGMENT_RECOMPUTE_FUNCTION = "CDP_SEGMENT_RECOMPUTE_FUNCTION"
ENV_SEGMENT_RECOMPUTE_FUNCTION_ARN = "CDP_SEGMENT_RECOMPUTE_FUNCTION_ARN"
ENV_SEGMENT_SCHEDULE_GROUP = "CDP_SEGMENT_SCHEDULE_GROUP"
ENV_SEGMENT_SCHEDULER_ROLE_ARN = "CDP_SEGMENT_SCHEDULER_ROLE_ARN"
ENV_QUERY_SYNC_MAX_BYTES = "CDP_QUERY_SYNC_MAX_BYTES"
DEFAULT_QUERY_SYNC_MAX_BYTES = 256 * 1024 * 1024
DEFAULT_ARCHIVE_CACHE_DIR = "/tmp/cdp-archive"  # noqa: S108 (Lambda's only writable disk)


@dataclass(frozen=True, slots=True)
class ArchiveWriterSettings:
    """The core table's stream in, Parquet files in the archive bucket out."""

    archive_bucket: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ArchiveWriterSettings:
        env = os.environ if env is None else env
        return cls(archive_bucket=_required(env, ENV_ARCHIVE_BUCKET))


@dataclass(frozen=True, slots=True)
class SegmentRecomputeSettings:
    """Scheduled recompute: the archive read through DuckDB, memberships and segment events out."""

    core_table: str
    event_bus_name: str
    archive_bucket: str
    archive_cache_dir: str = DEFAULT_ARCHIVE_CACHE_DIR
    # LINE audiences kept in sync (cdp.segments.audience_sync); unset secret id: no syncing.
    line_channels_secret_id: str = ""
    line_api_base_url: str = "https://api.line.me"
    secrets_cache_seconds: int = 300

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SegmentRecomputeSettings:
        env = os.environ if env is None else env
        return cls(
            core_table=_required(env, ENV_CORE_TABLE),
            event_bus_name=_required(env, ENV_EVENT_BUS),
            archive_bucket=_required(env, ENV_ARCHIVE_BUCKET),
            archive_cache_dir=env.get(ENV_ARCHIVE_CACHE_DIR, "").strip() or DEFAULT_ARCHIVE_CACHE_DIR,
            line_channels_secret_id=env.get(ENV_LINE_CHANNELS_SECRET, "").strip(),
            line_api_base_url=env.get(ENV_LINE_API_BASE_URL, "").strip() or "https://api.line.me",
            secrets_cache_seconds=_positive_int(env, ENV_SECRETS_CACHE_SECONDS, 300),
        )


@dataclass(frozen=True, slots=True)
class SegmentAnalyticsSettings:
    """What the admin API needs for preview, search, data health and segment schedules; unset
    values leave those routes unconfigured (503 with a reason)."""

    archive_bucket: str = ""
    archive_cache_dir: str = DEFAULT_ARCHIVE_CACHE_DIR
    recompute_function: str = ""
    recompute_function_arn: str = ""
    schedule_group: str = ""
    scheduler_role_arn: str = ""
    # Archives bigger than this answer preview/search/reports as a job (202, then poll).
    query_sync_max_bytes: int = DEFAULT_QUERY_SYNC_MAX_BYTES

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SegmentAnalyticsSettings:
        env = os.environ if env is None else env
        return cls(
            archive_bucket=env.get(ENV_ARCHIVE_BUCKET, "").strip(),
            archive_cache_dir=env.get(ENV_ARCHIVE_CACHE_DIR, "").strip() or DEFAULT_ARCHIVE_CACHE_DIR,
            recompute_function=env.get(ENV_SEGMENT_RECOMPUTE_FUNCTION, "").strip(),
            recompute_function_arn=env.get(ENV_SEGMENT_RECOMPUTE_FUNCTION_ARN, "").strip(),
            schedule_group=env.get(ENV_SEGMENT_SCHEDULE_GROUP, "").strip(),
            scheduler_role_arn=env.get(ENV_SEGMENT_SCHEDULER_ROLE_ARN, "").strip(),
            query_sync_max_bytes=_positive_int(env, ENV_QUERY_SYNC_MAX_BYTES, DEFAULT_QUERY_SYNC_MAX_BYTES),
        )


ENV_RFM_WINDOW_DAYS = "CDP_RFM_WINDOW_DAYS"


@dataclass(frozen=True, slots=True)
class RfmSettings:
    """The scheduled RFM run: the archive in, `identify` raw events with the scores out."""

    core_table: str
    raw_events_table: str
    archive_bucket: str
    raw_event_ttl_days: int = 30
    archive_cache_dir: str = DEFAULT_ARCHIVE_CACHE_DIR
    window_days: int = 365

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RfmSettings:
        env = os.environ if env is None else env
        return cls(
            core_table=_required(env, ENV_CORE_TABLE),
            raw_events_table=_required(env, ENV_RAW_EVENTS_TABLE),
            archive_bucket=_required(env, ENV_ARCHIVE_BUCKET),
            raw_event_ttl_days=_positive_int(env, ENV_RAW_EVENT_TTL_DAYS, 30),
            archive_cache_dir=env.get(ENV_ARCHIVE_CACHE_DIR, "").strip() or DEFAULT_ARCHIVE_CACHE_DIR,
            window_days=_positive_int(env, ENV_RFM_WINDOW_DAYS, 365),
        )
