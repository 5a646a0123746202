"""What differs from one deployment to the next, read from cdk context and checked before synth.

Defaults live in cdk.json's `context`; override any of them on the command line
(`npx cdk deploy -c region=ap-southeast-1 -c defaultPhoneRegion=TH`) or in cdk.context.json.
Values from `-c` arrive as strings, values from cdk.json as JSON: both are accepted. A value that
cannot work (an unknown phone region or time zone, a memory size Lambda refuses...) stops the
synth with a message naming the key, instead of deploying something that fails later.

The defaults deploy on a new AWS account: no reserved concurrency (a new account's concurrency
limit can be 10, and Lambda keeps 10 unreserved) and no function above 3008 MB.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from cdp.cors import ANY_ORIGIN, parse_origins
from cdp.domain_events import RECEIVED_ALL, RECEIVED_NONE, parse_received_selection
from constructs import Construct

# cdk context keys.
REGION = "region"
ACCOUNT = "account"
DEFAULT_PHONE_REGION = "defaultPhoneRegion"
RAW_EVENT_TTL_DAYS = "rawEventTtlDays"
LINK_BASE_URL = "linkBaseUrl"
SCHEDULE_TIME_ZONE = "scheduleTimeZone"
ARCHIVE_JOB_MEMORY_MB = "archiveJobMemoryMb"
SEGMENT_RECOMPUTE_CONCURRENCY = "segmentRecomputeReservedConcurrency"
RFM_SCORING_CONCURRENCY = "rfmScoringReservedConcurrency"
ARCHIVE_COMPACTOR_CONCURRENCY = "archiveCompactorReservedConcurrency"
INGEST_ALLOWED_ORIGINS = "ingestAllowedOrigins"
PUBLISH_EVENT_RECEIVED = "publishEventReceived"
MESSAGE_SENDER_CONCURRENCY = "messageSenderReservedConcurrency"
EMAIL_FROM_ADDRESS = "emailFromAddress"
SMS_SENDER_ID = "smsSenderId"
JOURNEY_STARTS_PER_SECOND = "journeyStartsPerSecond"

KEYS = (
    REGION,
    ACCOUNT,
    DEFAULT_PHONE_REGION,
    RAW_EVENT_TTL_DAYS,
    LINK_BASE_URL,
    SCHEDULE_TIME_ZONE,
    ARCHIVE_JOB_MEMORY_MB,
    SEGMENT_RECOMPUTE_CONCURRENCY,
    RFM_SCORING_CONCURRENCY,
    ARCHIVE_COMPACTOR_CONCURRENCY,
    INGEST_ALLOWED_ORIGINS,
    PUBLISH_EVENT_RECEIVED,
    MESSAGE_SENDER_CONCURRENCY,
    EMAIL_FROM_ADDRESS,
    SMS_SENDER_ID,
    JOURNEY_STARTS_PER_SECOND,
)

_REGION = re.compile(r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]{1,2}")
_ACCOUNT = re.compile(r"[0-9]{12}")
LAMBDA_MIN_MEMORY_MB = 128
LAMBDA_MAX_MEMORY_MB = 10240
NEW_ACCOUNT_MAX_MEMORY_MB = 3008
MAX_RAW_EVENT_TTL_DAYS = 3650
# Step Functions' StartExecution quota is per account and region (150/s in ap-northeast-1, higher
# elsewhere); journeys start at most this many runs per second, whatever else starts executions.
MAX_JOURNEY_STARTS_PER_SECOND = 1000

_T = TypeVar("_T")


class DeploySettingsError(ValueError):
    """A deploy setting that cannot work: the message names the cdk context key."""


@dataclass(frozen=True, slots=True)
class DeploySettings:
    region: str
    account: str | None  # None: account-agnostic (tests, local); the CLI passes CDK_DEFAULT_ACCOUNT
    default_phone_region: str
    raw_event_ttl_days: int
    link_base_url: str | None  # None: links are served from the host the admin request came to
    schedule_time_zone: str
    archive_job_memory_mb: int
    segment_recompute_concurrency: int | None  # None: no reserved concurrency
    rfm_scoring_concurrency: int | None
    archive_compactor_concurrency: int | None
    # Browsers' origins allowed by CORS on /v1/*: ("*",) like Segment's API (write keys are public
    # in browser code), named origins, or () for no browser access (the context's "").
    ingest_allowed_origins: tuple[str, ...] = (ANY_ORIGIN,)
    # Which processed events go on the bus as `event.received` (each a paid EventBridge entry):
    # "all", "none" (cdk.json), or event names separated by commas.
    publish_event_received: str = RECEIVED_ALL
    # The message sender: reserved concurrency (also the share of LINE's rate limits each sender
    # takes; None: no reservation, shares computed for DEFAULT_SENDER_CONCURRENCY), the SES sender
    # address ("" : no email channel) and the SMS sender id ("" : none).
    message_sender_concurrency: int | None = None
    email_from_address: str = ""
    sms_sender_id: str = ""
    # Journey runs started per second by the whole deployment (the starts queue's pace): under
    # the region's StartExecution quota, leaving room for the merge workflows.
    journey_starts_per_second: int = 100

    @classmethod
    def from_context(cls, context: Mapping[str, Any], *, account: str | None = None) -> DeploySettings:
        """Read and check every setting; `account` (CDK_DEFAULT_ACCOUNT) is used when the context has none."""
        errors: list[str] = []

        def read(key: str, parse: Callable[[str, Any], _T]) -> _T | None:
            try:
                return parse(key, context.get(key))
            except DeploySettingsError as exc:
                errors.append(str(exc))
                return None

        settings = {
            "region": read(REGION, _region),
            # An account in the context pins the deploy to it; else the CLI's (CDK_DEFAULT_ACCOUNT).
            "account": read(ACCOUNT, _account) or read(f"{ACCOUNT} (CDK_DEFAULT_ACCOUNT)", _account_or(account)),
            "default_phone_region": read(DEFAULT_PHONE_REGION, _phone_region),
            "raw_event_ttl_days": read(RAW_EVENT_TTL_DAYS, _ttl_days),
            "link_base_url": read(LINK_BASE_URL, _base_url),
            "schedule_time_zone": read(SCHEDULE_TIME_ZONE, _time_zone),
            "archive_job_memory_mb": read(ARCHIVE_JOB_MEMORY_MB, _memory_mb),
            "segment_recompute_concurrency": read(SEGMENT_RECOMPUTE_CONCURRENCY, _concurrency),
            "rfm_scoring_concurrency": read(RFM_SCORING_CONCURRENCY, _concurrency),
            "archive_compactor_concurrency": read(ARCHIVE_COMPACTOR_CONCURRENCY, _concurrency),
            "ingest_allowed_origins": read(INGEST_ALLOWED_ORIGINS, _origins),
            "publish_event_received": read(PUBLISH_EVENT_RECEIVED, _received_selection),
            "message_sender_concurrency": read(MESSAGE_SENDER_CONCURRENCY, _concurrency),
            "email_from_address": read(EMAIL_FROM_ADDRESS, _email),
            "sms_sender_id": read(SMS_SENDER_ID, _sender_id),
            "journey_starts_per_second": read(JOURNEY_STARTS_PER_SECOND, _starts_per_second),
        }
        if errors:
            raise DeploySettingsError(
                "deploy settings (cdk context; defaults in cdk.json, override with -c key=value):\n  "
                + "\n  ".join(errors)
            )
        return cls(**settings)  # type: ignore[arg-type]

    @classmethod
    def of(cls, scope: Construct, *, account: str | None = None) -> DeploySettings:
        """The settings of the app `scope` belongs to, read from its context."""
        return cls.from_context({key: scope.node.try_get_context(key) for key in KEYS}, account=account)


def _text(key: str, value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise DeploySettingsError(f"{key}: expected a string, got {value!r}")
    return value.strip()


def _required_text(key: str, value: Any) -> str:
    text = _text(key, value)
    if not text:
        raise DeploySettingsError(f"{key}: missing (set it in cdk.json or with -c {key}=...)")
    return text


def _int(key: str, value: Any) -> int | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "null")):
        return None
    if isinstance(value, bool):
        raise DeploySettingsError(f"{key}: expected a whole number, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value.strip()):
        return int(value.strip())
    raise DeploySettingsError(f"{key}: expected a whole number, got {value!r}")


def _region(key: str, value: Any) -> str:
    region = _required_text(key, value)
    if not _REGION.fullmatch(region):
        raise DeploySettingsError(f"{key}: {region!r} is not an AWS region name (e.g. ap-northeast-1)")
    return region


def _account(key: str, value: Any) -> str | None:
    account = _text(key, value)
    if not account:
        return None
    if not _ACCOUNT.fullmatch(account):
        raise DeploySettingsError(f"{key}: {account!r} is not a 12-digit AWS account id")
    return account


def _account_or(fallback: str | None) -> Callable[[str, Any], str | None]:
    return lambda key, _value: _account(key, fallback)


def _phone_region(key: str, value: Any) -> str:
    region = _required_text(key, value).upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise DeploySettingsError(
            f"{key}: {region!r} is not a region phonenumbers knows (ISO 3166 alpha-2, e.g. TW, JP, TH)"
        )
    return region


def _ttl_days(key: str, value: Any) -> int:
    days = _int(key, value)
    if days is None:
        raise DeploySettingsError(f"{key}: missing (set it in cdk.json or with -c {key}=...)")
    if not 1 <= days <= MAX_RAW_EVENT_TTL_DAYS:
        raise DeploySettingsError(f"{key}: {days} is outside 1..{MAX_RAW_EVENT_TTL_DAYS} days")
    return days


def _base_url(key: str, value: Any) -> str | None:
    url = _text(key, value)
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment or parts.username:
        raise DeploySettingsError(
            f"{key}: {url!r} must be an https URL without query, fragment or credentials (e.g. https://go.example.com)"
        )
    return url.rstrip("/")


def _origins(key: str, value: Any) -> tuple[str, ...]:
    """Unset: any origin; "" (or an empty list): none; else "*" or https origins, listed or comma-separated."""
    try:
        return parse_origins(ANY_ORIGIN if value is None else value)
    except ValueError as exc:
        raise DeploySettingsError(f"{key}: {exc}") from exc


def _received_selection(key: str, value: Any) -> str:
    """Unset: all; "none"; or event names, listed or comma-separated."""
    if value is None:
        return RECEIVED_ALL
    text = ",".join(value) if isinstance(value, list) and all(isinstance(v, str) for v in value) else value
    if not isinstance(text, str):
        raise DeploySettingsError(f"{key}: expected all, none or event names, got {value!r}")
    try:
        selection = parse_received_selection(text)
    except ValueError as exc:
        raise DeploySettingsError(f"{key}: {exc}") from exc
    if selection is None:
        return RECEIVED_ALL
    return ",".join(sorted(selection)) if selection else RECEIVED_NONE


def _time_zone(key: str, value: Any) -> str:
    name = _required_text(key, value)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise DeploySettingsError(f"{key}: {name!r} is not an IANA time zone (e.g. Asia/Taipei)") from exc
    return name


def _memory_mb(key: str, value: Any) -> int:
    memory = _int(key, value)
    if memory is None:
        raise DeploySettingsError(f"{key}: missing (set it in cdk.json or with -c {key}=...)")
    if not LAMBDA_MIN_MEMORY_MB <= memory <= LAMBDA_MAX_MEMORY_MB:
        raise DeploySettingsError(
            f"{key}: {memory} MB is outside Lambda's {LAMBDA_MIN_MEMORY_MB}..{LAMBDA_MAX_MEMORY_MB} MB "
            f"(new accounts are often held to {NEW_ACCOUNT_MAX_MEMORY_MB} MB until a quota increase)"
        )
    return memory


def _concurrency(key: str, value: Any) -> int | None:
    reserved = _int(key, value)
    if reserved is not None and reserved < 1:
        raise DeploySettingsError(
            f"{key}: {reserved} would stop the function (0 reserved means never run); leave it null for none"
        )
    return reserved


def _starts_per_second(key: str, value: Any) -> int:
    rate = _int(key, value)
    if rate is None:
        return 100
    if not 1 <= rate <= MAX_JOURNEY_STARTS_PER_SECOND:
        raise DeploySettingsError(
            f"{key}: {rate} is outside 1..{MAX_JOURNEY_STARTS_PER_SECOND} (keep it under the region's "
            "StartExecution quota: 150 per second in ap-northeast-1)"
        )
    return rate


def _email(key: str, value: Any) -> str:
    text = _text(key, value)
    if text and not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+", text):
        raise DeploySettingsError(f"{key}: expected an email address SES has verified, got {text!r}")
    return text


def _sender_id(key: str, value: Any) -> str:
    text = _text(key, value)
    if text and not re.fullmatch(r"(?=.*[A-Za-z])[A-Za-z0-9]{1,11}", text):
        raise DeploySettingsError(f"{key}: an SMS sender id is 1-11 letters and digits with a letter, got {text!r}")
    return text
