"""Names and tunables of the stack, in one place.

Only construct ids (which become CloudFormation logical ids) live here: physical names are left to
CloudFormation so that two stacks can share an account and a replacement never collides.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration
from aws_cdk import aws_logs as logs

REPO_ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS_DIR = REPO_ROOT / "functions"
# Code-only layer sources, enough to synthesize for tests; `make layer` builds the deployable ones.
LAYER_SOURCE_DIR = REPO_ROOT / "layers" / "core"
ANALYTICS_LAYER_SOURCE_DIR = REPO_ROOT / "layers" / "analytics"
CDK_JSON = REPO_ROOT / "cdk.json"

STACK_NAME = "LineCdp"
SERVICE_NAME = "line-cdp"
METRICS_NAMESPACE = "LineCdp"
TAGS = {"project": SERVICE_NAME, "managed-by": "aws-cdk"}

# Construct ids.
TABLES_ID = "Tables"
RAW_EVENTS_TABLE_ID = "RawEvents"
CORE_TABLE_ID = "Core"
IDEMPOTENCY_TABLE_ID = "Idempotency"
SECRETS_ID = "Secrets"
LINE_CHANNELS_SECRET_ID = "LineChannels"  # noqa: S105 (construct ids, not secrets)
WRITE_KEYS_SECRET_ID = "WriteKeys"  # noqa: S105
ADMIN_TOKEN_SECRET_ID = "AdminToken"  # noqa: S105
EVENT_BUS_ID = "DomainEvents"
CONSOLE_ID = "Console"
CORE_LAYER_ID = "CoreLayer"
FUNCTIONS_ID = "Functions"
API_ID = "IngestionApi"
EVENT_PROCESSING_ID = "EventProcessing"
MONITORING_ID = "Monitoring"
OPERATIONS_ID = "Operations"  # the nested stack holding Monitoring and the dashboard
IDENTITY_WORKFLOWS_ID = "IdentityWorkflows"
PRIVACY_ERASE_ID = "PrivacyErase"
SEGMENTS_ID = "RealtimeSegments"

# Table layout: the contract with the DynamoDB adapters in cdp.adapters.
PK = "pk"
SK = "sk"
GSI1 = "gsi1"
GSI1_PK = "gsi1pk"
GSI1_SK = "gsi1sk"
RAW_EVENTS_TTL_ATTRIBUTE = "expires_at"
CORE_TTL_ATTRIBUTE = "expires_at"  # short-lived items: account-link nonces, wait-for-event tokens
IDEMPOTENCY_PK = "id"  # powertools DynamoDBPersistenceLayer defaults
IDEMPOTENCY_TTL_ATTRIBUTE = "expiration"

# Environment variable not (yet) declared in cdp.settings: the processor's idempotency store.
ENV_IDEMPOTENCY_TABLE = "CDP_IDEMPOTENCY_TABLE"

# Runtime defaults handed to the functions (cdp.settings has the same defaults). What differs per
# deployment (region, phone region, raw-event TTL, link base URL, schedule time zone, sizes and
# reserved concurrency) is read from cdk context instead: deploy_settings.py, cdk.json.
SECRETS_CACHE_SECONDS = 300
PROFILE_TIMELINE_LIMIT = 20

# Lambda.
HANDLER = "handler.lambda_handler"
LOG_RETENTION = logs.RetentionDays.ONE_MONTH
APPLICATION_LOG_LEVEL = "INFO"

# API Gateway stage.
API_STAGE = "prod"
API_THROTTLE_RATE = 1000  # requests per second, steady state
API_THROTTLE_BURST = 2000
API_ACCESS_LOG_RETENTION = logs.RetentionDays.THREE_MONTHS

# Stream processing.
STREAM_BATCH_SIZE = 100
STREAM_BATCHING_WINDOW = Duration.seconds(1)
STREAM_RETRY_ATTEMPTS = 10
STREAM_MAX_RECORD_AGE = Duration.days(1)
DLQ_RETENTION = Duration.days(14)
DLQ_VISIBILITY_TIMEOUT = Duration.minutes(2)  # at least the archiver's timeout (an SQS event source rule)
DLQ_ARCHIVER_TIMEOUT = Duration.minutes(1)
DEAD_LETTERS_ID = "ProcessorDeadLetters"

# Domain event archive.
EVENT_ARCHIVE_RETENTION = Duration.days(90)

# Alarms.
ITERATOR_AGE_ALARM_MS = 5 * 60 * 1000
ARCHIVE_ITERATOR_AGE_ALARM_MS = 15 * 60 * 1000  # the archive may trail a little; segments read it
ALARM_PERIOD = Duration.minutes(5)
DASHBOARD_ID = "OperationsDashboard"
DASHBOARD_PERIOD = Duration.minutes(5)

# Member CSV imports.
IMPORTS_ID = "MemberImports"
IMPORTS_BUCKET_ID = "Imports"
IMPORTS_PREFIX = "imports"  # cdp.imports.model keys every object under it
IMPORT_FILE_RETENTION = Duration.days(30)
EXPORTS_PREFIX = "exports"  # cdp_api.routes.segment_exports writes segment exports under it
EXPORT_FILE_RETENTION = Duration.days(7)  # hashed personal data: kept only long enough to fetch again
IMPORT_ACCESS_LOG_RETENTION = Duration.days(90)
IMPORT_WORKER_TIMEOUT = Duration.minutes(15)  # the worker continues itself well before this
IMPORT_WORKER_MEMORY_MB = 1024
IMPORT_ASYNC_RETRIES = 2  # a failed invocation resumes from the checkpoint
IMPORT_ASYNC_MAX_AGE = Duration.hours(6)

# The profile/event archive (Parquet on S3, Glue tables, Athena workgroup) and scheduled recompute.
ARCHIVE_ID = "ProfileArchive"
SCHEDULED_SEGMENTS_ID = "ScheduledSegments"
MESSAGING_ID = "Messaging"
RICH_MENUS_ID = "RichMenus"
CAMPAIGNS_ID = "Campaigns"
JOURNEYS_ID = "Journeys"
JOURNEY_FLOW_ID = "JourneyFlow"  # journeys' starts queue, starter, event consumer, cohort schedules
ARCHIVE_PREFIX = "archive"  # cdp.adapters.s3_archive writes archive/<kind>/dt=<day>/<name>.parquet
ATHENA_RESULTS_PREFIX = "athena-results"
ATHENA_RESULTS_RETENTION = Duration.days(7)
# How often the archive's query snapshot folds in the changes since (cdp.archive.snapshot): queries
# rank at most this much of fresh changes themselves; each refresh costs one Lambda run.
SNAPSHOT_REFRESH_SCHEDULE = "cron(15 * * * ? *)"
ARCHIVE_DATABASE = "cdp_archive"
ARCHIVE_FIRST_DAY = "2024-01-01"  # partition projection's first day
ADMIN_API_MEMORY_MB = 512  # admin CRUD: DynamoDB calls and small JSON; exports stream page by page
SEGMENT_RECOMPUTE_TIMEOUT = Duration.minutes(15)
SEGMENT_RECOMPUTE_TMP_MIB = 10240  # archive files are cached on /tmp between warm runs
RFM_WINDOW_DAYS = 365  # RFM's window: orders of the last year (cdp.profiles.rfm)
