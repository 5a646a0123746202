"""`CdpStack`: composes the constructs, wires least-privilege grants, exports what operators need."""

from __future__ import annotations

from typing import Any, cast

from aws_cdk import CfnOutput, Duration, Stack, Tags
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from cdp import settings
from cdp.access.audit import AUDIT_PK_PREFIX
from cdp.adapters.dynamodb.auto_replies import PK_PREFIX as AUTO_REPLIES_PK_PREFIX
from cdp.adapters.dynamodb.identity_rules import PK_PREFIX as RULES_PK_PREFIX
from cdp.adapters.dynamodb.ingest_rejections import PK_PREFIX as INGEST_REJECTIONS_PK_PREFIX
from cdp.adapters.dynamodb.journeys import LIVE_PK as JOURNEY_LIVE_PK
from cdp.adapters.dynamodb.journeys import PK_PREFIX as JOURNEY_PK_PREFIX
from cdp.adapters.dynamodb.link_nonces import PK_PREFIX as LINK_NONCE_PK_PREFIX
from cdp.adapters.dynamodb.query_jobs import PK_PREFIX as QUERY_JOB_PK_PREFIX
from cdp.adapters.dynamodb.retention import POLICY_PREFIX as RETENTION_POLICY_PK_PREFIX
from cdp.adapters.dynamodb.send_ledger import POLICY_PREFIX as MESSAGING_POLICY_PK_PREFIX
from cdp.adapters.dynamodb.service_tokens import PK as SERVICE_TOKENS_PK
from cdp.adapters.dynamodb.tag_rules import PK_PREFIX as TAG_RULES_PK_PREFIX
from cdp.adapters.dynamodb.templates import PK_PREFIX as TEMPLATE_PK_PREFIX
from constructs import Construct

from infra.cdp_infra import constants
from infra.cdp_infra.archive import ProfileArchive, ScheduledSegments
from infra.cdp_infra.campaigns import Campaigns
from infra.cdp_infra.console_hosting import ConsoleHosting
from infra.cdp_infra.core_layer import LayerAssets, Layers
from infra.cdp_infra.dead_letters import ProcessorDeadLetters
from infra.cdp_infra.deploy_settings import DeploySettings
from infra.cdp_infra.event_bus import DomainEventBus
from infra.cdp_infra.event_processing import EventProcessing
from infra.cdp_infra.function_factory import FunctionFactory
from infra.cdp_infra.identity_workflows import IdentityWorkflows
from infra.cdp_infra.imports_bucket import ImportsBucket
from infra.cdp_infra.ingestion_api import IngestionApi
from infra.cdp_infra.journey_flow import JourneyFlow
from infra.cdp_infra.journeys import JourneyExecution
from infra.cdp_infra.links import TRACKED_LINKS_ID, TrackedLinks
from infra.cdp_infra.member_import import MemberImport
from infra.cdp_infra.messaging import MessageSender
from infra.cdp_infra.monitoring import Operations, Watched
from infra.cdp_infra.privacy_erase import PrivacyErase
from infra.cdp_infra.retention import RETENTION_ID, RetentionJob
from infra.cdp_infra.rich_menus import SegmentRichMenus
from infra.cdp_infra.routes import (
    ADMIN_API,
    ADMIN_QUERY,
    ARCHIVE_COMPACTOR,
    ARCHIVE_WRITER,
    CAMPAIGN_RUNNER,
    DLQ_ARCHIVER,
    EVENT_PROCESSOR,
    IDENTITY_MERGE,
    INGEST,
    JOURNEY_EVENTS,
    JOURNEY_STARTER,
    JOURNEY_STEP,
    LINE_WEBHOOK,
    LINK_REDIRECT,
    MESSAGE_SENDER,
    PRIVACY_RETENTION,
    RFM_SCORING,
    RICH_MENU_SYNC,
    SEGMENT_EVALUATOR,
    SEGMENT_RECOMPUTE,
)
from infra.cdp_infra.secrets import CdpSecrets
from infra.cdp_infra.segments import SEGMENT_KEY_PREFIX, RealtimeSegments
from infra.cdp_infra.tables import CdpTables, grant_core_reads, grant_core_writes

# The admin API only creates account-link nonces (the event processor consumes them); the grant's
# condition keeps its writes to those items.
_LINK_NONCE_WRITE_ACTIONS = ("dynamodb:PutItem",)


class CdpStack(Stack):
    """The whole CDP: collect (API → raw table), process (stream → core table, bus), observe.

    Functions get exactly what their settings dataclass (`cdp.settings`) reads, and only the
    permissions their path needs: the webhook and ingest functions can put raw events and read
    one secret each; the admin API reads the core table, writes only account-link nonces there,
    and puts LINE Login bindings as raw events.
    """

    def __init__(self, scope: Construct, construct_id: str, *, layer_assets: LayerAssets, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.deploy_settings = DeploySettings.of(self)
        self.tables = CdpTables(self, constants.TABLES_ID)
        self.secrets = CdpSecrets(self, constants.SECRETS_ID)
        self.event_bus = DomainEventBus(self, constants.EVENT_BUS_ID)
        self.layers = Layers(self, constants.CORE_LAYER_ID, assets=layer_assets)
        factory = self.factory = FunctionFactory(layers=self.layers)

        allowed_origins = self.deploy_settings.ingest_allowed_origins
        http_functions = self._http_functions(factory)
        http_functions[INGEST].add_environment(settings.ENV_INGEST_ALLOWED_ORIGINS, ",".join(allowed_origins))
        # Tracked links: the public redirect is one more route of the same API.
        self.links = TrackedLinks(
            self, TRACKED_LINKS_ID, factory=factory, tables=self.tables, signing_key=self.secrets.link_signing_key
        )
        http_functions[LINK_REDIRECT] = self.links.function
        self.links.wire_admin_api(http_functions[ADMIN_API], base_url=self.deploy_settings.link_base_url)
        self.api = IngestionApi(self, constants.API_ID, functions=http_functions, allowed_origins=allowed_origins)
        # The marketer's console: console/dist behind CloudFront, which forwards /admin/* to this API.
        self.console = ConsoleHosting(self, constants.CONSOLE_ID, api=self.api.api)
        # Console users and their roles (docs/access.md): the user pool is in the console's nested stack.
        self.console.users.wire_admin_functions(http_functions[ADMIN_API], http_functions[ADMIN_QUERY])
        self.imports_bucket = ImportsBucket(self, constants.IMPORTS_BUCKET_ID)
        self.member_import = MemberImport(
            self, constants.IMPORTS_ID, factory=factory, tables=self.tables, files=self.imports_bucket
        )
        self.member_import.wire_admin_api(http_functions[ADMIN_API])
        self.imports_bucket.grant_exports(http_functions[ADMIN_API], cast(iam.IRole, http_functions[ADMIN_API].role))
        self.processing = EventProcessing(
            self, constants.EVENT_PROCESSING_ID, factory=factory, tables=self.tables, bus=self.event_bus.bus
        )
        self.dead_letters = ProcessorDeadLetters(
            self,
            constants.DEAD_LETTERS_ID,
            factory=factory,
            queue=self.processing.dead_letter_queue,
            raw_events=self.tables.raw_events,
            core_table=self.tables.core,
        )
        self.identity = IdentityWorkflows(
            self,
            constants.IDENTITY_WORKFLOWS_ID,
            factory=factory,
            core_table=self.tables.core,
            core_gsi1_arn=self.tables.core_gsi1_arn,
            bus=self.event_bus.bus,
        )
        self._wire_identity(http_functions[ADMIN_API])
        self.segments = RealtimeSegments(
            self,
            constants.SEGMENTS_ID,
            factory=factory,
            core_table=self.tables.core,
            core_gsi1_arn=self.tables.core_gsi1_arn,
            bus=self.event_bus.bus,
        )
        # Segment definitions and memberships are managed through the admin API; stopping a
        # segment's LINE audience sync deletes its sync record (under the segment's key). LeadingKeys
        # cannot narrow a grant by sort key, so DeleteItem reaches every item under SEGMENT#<id>.
        self._grant_core_items(
            http_functions[ADMIN_API], ["dynamodb:PutItem", "dynamodb:DeleteItem"], SEGMENT_KEY_PREFIX
        )
        # Message templates: the record and its versions under TEMPLATE#<id>, written only by the
        # admin API (versions are put once, in a transaction with the record's conditional put).
        self._grant_core_items(http_functions[ADMIN_API], ["dynamodb:PutItem"], TEMPLATE_PK_PREFIX)
        # Journeys: the definition and its versions under JOURNEY#<id> (a never-published draft is
        # deleted) and the live listing JOURNEYS / LIVE, written only by the admin API (a lifecycle
        # change is one transaction of conditional puts).
        self._grant_core_items(
            http_functions[ADMIN_API], ["dynamodb:PutItem", "dynamodb:DeleteItem"], JOURNEY_PK_PREFIX
        )
        iam.Grant.add_to_principal(  # the listing's one key exactly, no wildcard
            grantee=http_functions[ADMIN_API],
            actions=["dynamodb:PutItem"],
            resource_arns=[self.tables.core.table_arn],
            conditions={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [JOURNEY_LIVE_PK]}},
        )
        # Service tokens (docs/access.md): created and revoked by the admin API, their one partition exactly.
        iam.Grant.add_to_principal(
            grantee=http_functions[ADMIN_API],
            actions=["dynamodb:PutItem", "dynamodb:UpdateItem"],
            resource_arns=[self.tables.core.table_arn],
            conditions={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [SERVICE_TOKENS_PK]}},
        )
        self.archive = ProfileArchive(
            self,
            constants.ARCHIVE_ID,
            factory=factory,
            core_table=self.tables.core,
            access_logs=self.imports_bucket.access_logs,
        )
        self.scheduled_segments = ScheduledSegments(
            self,
            constants.SCHEDULED_SEGMENTS_ID,
            factory=factory,
            core_table=self.tables.core,
            core_gsi1_arn=self.tables.core_gsi1_arn,
            bus=self.event_bus.bus,
            archive=self.archive,
            segment_key_prefix=SEGMENT_KEY_PREFIX,
        )
        self.scheduled_segments.wire_admin_api(http_functions[ADMIN_API])
        self.scheduled_segments.wire_admin_query(http_functions[ADMIN_QUERY], self.archive)
        self.scheduled_segments.wire_line_audiences(self.secrets.line_channels)
        self.scheduled_segments.add_rfm_scoring(
            raw_events=self.tables.raw_events, core_table=self.tables.core, archive=self.archive
        )
        self.scheduled_segments.add_archive_compaction(self.archive)
        self.messaging = MessageSender(
            self,
            constants.MESSAGING_ID,
            factory=factory,
            core_table=self.tables.core,
            core_gsi1_arn=self.tables.core_gsi1_arn,
            raw_events=self.tables.raw_events,
            bus=self.event_bus.bus,
            line_channels=self.secrets.line_channels,
            link_signing_key=self.secrets.link_signing_key,
            link_base_url=self.deploy_settings.link_base_url,
        )
        self.processing.wire_auto_replies(self.messaging.function)
        self.rich_menus = SegmentRichMenus(
            self,
            constants.RICH_MENUS_ID,
            factory=factory,
            core_table=self.tables.core,
            core_gsi1_arn=self.tables.core_gsi1_arn,
            bus=self.event_bus.bus,
            line_channels=self.secrets.line_channels,
        )
        self.rich_menus.wire_admin_api(http_functions[ADMIN_API])
        self.campaigns = Campaigns(
            self,
            constants.CAMPAIGNS_ID,
            factory=factory,
            core_table=self.tables.core,
            core_gsi1_arn=self.tables.core_gsi1_arn,
            sender=self.messaging.function,
            sender_concurrency=self.deploy_settings.message_sender_concurrency,
            schedule_group=cast(str, self.messaging.schedule_group.name),
        )
        self.campaigns.wire_admin_api(http_functions[ADMIN_API], self.tables.core)
        self.journeys = JourneyExecution(
            self,
            constants.JOURNEYS_ID,
            factory=factory,
            core_table=self.tables.core,
            core_gsi1_arn=self.tables.core_gsi1_arn,
            raw_events=self.tables.raw_events,
            bus=self.event_bus.bus,
            messaging=self.messaging,
        )
        self.journeys.wire_admin_api(http_functions[ADMIN_API])
        self.journey_flow = JourneyFlow(
            self,
            constants.JOURNEY_FLOW_ID,
            factory=factory,
            core_table=self.tables.core,
            core_gsi1_arn=self.tables.core_gsi1_arn,
            bus=self.event_bus.bus,
            starts_per_second=self.deploy_settings.journey_starts_per_second,
            schedule_time_zone=self.deploy_settings.schedule_time_zone,
        )
        self.journey_flow.wire_admin_api(http_functions[ADMIN_API])
        # Retention: the daily job in a nested stack; the admin API edits the policy item.
        self.retention = RetentionJob(
            self,
            RETENTION_ID,
            factory=factory,
            core_table=self.tables.core,
            files=self.imports_bucket.bucket,
            raw_event_ttl_days=self.deploy_settings.raw_event_ttl_days,
            schedule_time_zone=self.deploy_settings.schedule_time_zone,
            jobs_schedule_group=self.scheduled_segments.jobs_schedule_group,
        )
        self._grant_core_items(http_functions[ADMIN_API], ["dynamodb:PutItem"], RETENTION_POLICY_PK_PREFIX)
        # Erase (docs/privacy.md): its workflow in a nested stack; the admin API requests and starts it.
        self.erase = PrivacyErase(
            self,
            constants.PRIVACY_ERASE_ID,
            factory=factory,
            core_table=self.tables.core,
            core_gsi1_arn=self.tables.core_gsi1_arn,
            raw_events=self.tables.raw_events,
            archive_bucket=self.archive.bucket,
            imports_bucket=self.imports_bucket.bucket,
            journey_events=self.journey_flow.consumer,
        )
        self.erase.grant_start(http_functions[ADMIN_API], self.tables.core)
        self.functions: dict[str, lambda_.Function] = {
            **http_functions,
            EVENT_PROCESSOR: self.processing.function,
            DLQ_ARCHIVER: self.dead_letters.function,
            **self.member_import.functions,
            IDENTITY_MERGE: self.identity.function,
            SEGMENT_EVALUATOR: self.segments.function,
            ARCHIVE_WRITER: self.archive.writer,
            SEGMENT_RECOMPUTE: self.scheduled_segments.function,
            RFM_SCORING: self.scheduled_segments.rfm_function,
            ARCHIVE_COMPACTOR: self.scheduled_segments.compactor,
            MESSAGE_SENDER: self.messaging.function,
            RICH_MENU_SYNC: self.rich_menus.function,
            CAMPAIGN_RUNNER: self.campaigns.function,
            JOURNEY_STEP: self.journeys.function,
            JOURNEY_STARTER: self.journey_flow.starter,
            JOURNEY_EVENTS: self.journey_flow.consumer,
            PRIVACY_RETENTION: self.retention.function,
        }
        watched = Watched(
            functions=self.functions,
            api=self.api.api,
            stream_consumer=self.processing.function,
            archive_writer=self.archive.writer,
            dead_letter_queue=self.processing.dead_letter_queue,
            dead_letter_archiver=self.dead_letters.function,
            merge=self.identity.merge,
            unmerge=self.identity.unmerge,
            schedule_groups=[
                cast(str, self.scheduled_segments.schedule_group.name),
                cast(str, self.scheduled_segments.jobs_schedule_group.name),
                cast(str, self.messaging.schedule_group.name),
                cast(str, self.journey_flow.schedule_group.name),
            ],
            ingest_functions=[http_functions[LINE_WEBHOOK], http_functions[INGEST]],
            event_dead_letter_queues={
                SEGMENT_EVALUATOR: self.segments.dead_letter_queue,
                ARCHIVE_WRITER: self.archive.dead_letter_queue,
                MESSAGE_SENDER: self.messaging.feedback_dead_letters,
                RICH_MENU_SYNC: self.rich_menus.dead_letter_queue,
                JOURNEY_EVENTS: self.journey_flow.dead_letter_queue,
            },
        )
        operations = Operations(self, constants.OPERATIONS_ID, watched=watched)
        self.monitoring, self.dashboard = operations.monitoring, operations.dashboard

        for key, value in constants.TAGS.items():
            Tags.of(self).add(key, value)
        self._outputs()

    def _http_functions(self, factory: FunctionFactory) -> dict[str, lambda_.Function]:
        scope = Construct(self, constants.FUNCTIONS_ID)
        tables, secrets, deploy = self.tables, self.secrets, self.deploy_settings
        raw_ingest_env = {
            settings.ENV_RAW_EVENTS_TABLE: tables.raw_events.table_name,
            settings.ENV_RAW_EVENT_TTL_DAYS: str(deploy.raw_event_ttl_days),
            settings.ENV_SECRETS_CACHE_SECONDS: str(constants.SECRETS_CACHE_SECONDS),
        }

        line_webhook = factory.create(
            scope,
            LINE_WEBHOOK,
            description="Verifies LINE webhook signatures and stores each event once",
            environment={
                **raw_ingest_env,
                settings.ENV_LINE_CHANNELS_SECRET: secrets.line_channels.secret_arn,
                settings.ENV_CORE_TABLE: tables.core.table_name,
            },
        )
        tables.raw_events.grant(line_webhook, "dynamodb:PutItem")
        secrets.line_channels.grant_read(line_webhook)
        # Refused events are recorded for GET /admin/v1/ingest/rejections: those items only.
        grant_core_writes(line_webhook, tables.core, ["dynamodb:BatchWriteItem"], [INGEST_REJECTIONS_PK_PREFIX])

        ingest = factory.create(
            scope,
            INGEST,
            description="Segment/RudderStack-compatible HTTP ingestion for web, POS, CRM and apps",
            memory_size=512,
            timeout=Duration.seconds(15),
            environment={
                **raw_ingest_env,
                settings.ENV_WRITE_KEYS_SECRET: secrets.write_keys.secret_arn,
                settings.ENV_CORE_TABLE: tables.core.table_name,
            },
        )
        tables.raw_events.grant(ingest, "dynamodb:PutItem")
        secrets.write_keys.grant_read(ingest)
        # Rejected events are recorded for GET /admin/v1/ingest/rejections: those items only.
        grant_core_writes(ingest, tables.core, ["dynamodb:BatchWriteItem"], [INGEST_REJECTIONS_PK_PREFIX])

        admin_env = {
            settings.ENV_CORE_TABLE: tables.core.table_name,
            settings.ENV_LINE_CHANNELS_SECRET: secrets.line_channels.secret_arn,
            settings.ENV_ADMIN_TOKEN_SECRET: secrets.admin_token.secret_arn,
            settings.ENV_SECRETS_CACHE_SECONDS: str(constants.SECRETS_CACHE_SECONDS),
            settings.ENV_DEFAULT_PHONE_REGION: deploy.default_phone_region,
            settings.ENV_TIMELINE_LIMIT: str(constants.PROFILE_TIMELINE_LIMIT),
        }
        admin_api = factory.create(
            scope,
            ADMIN_API,
            description="Admin API: profiles, identity, segments, exports, links, LINE binding, imports",
            # CRUD over the core table; the timeout is API Gateway's own limit.
            memory_size=constants.ADMIN_API_MEMORY_MB,
            timeout=Duration.seconds(29),
            environment={
                **admin_env,
                settings.ENV_RAW_EVENTS_TABLE: tables.raw_events.table_name,
                settings.ENV_RAW_EVENT_TTL_DAYS: str(deploy.raw_event_ttl_days),
            },
        )
        admin_query = self._admin_query(factory, scope, admin_env)
        grant_core_reads(admin_api, tables.core, tables.core_gsi1_arn)
        # Both admin functions record their writes, downloads and reveals (cdp.access.audit).
        for audited in (admin_api, admin_query):
            self._grant_core_items(audited, ["dynamodb:PutItem"], AUDIT_PK_PREFIX)
        secrets.admin_token.grant_read(admin_api)
        # LINE binding: link tokens need the channel token, nonces live in the core table, and a
        # LINE Login binding is stored as a raw event so it takes the same path as every other event.
        self._grant_core_items(admin_api, list(_LINK_NONCE_WRITE_ACTIONS), LINK_NONCE_PK_PREFIX)
        # ... and a person export reads the raw events behind their timeline by id (cdp.privacy.export).
        tables.raw_events.grant(admin_api, "dynamodb:PutItem", "dynamodb:BatchGetItem")
        secrets.line_channels.grant_read(admin_api)
        # A campaign preflight too big for one request runs as a job of this same function, step by
        # step (cdp.campaigns.preflight_jobs): its job record, and a policy of its own to invoke
        # itself (the role's default policy cannot name the function it is attached to).
        self._grant_core_items(admin_api, ["dynamodb:PutItem", "dynamodb:UpdateItem"], QUERY_JOB_PK_PREFIX)
        iam.Policy(
            admin_api,
            "RunPreflightJobs",
            roles=[cast(iam.IRole, admin_api.role)],
            statements=[iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[admin_api.function_arn])],
        )

        return {LINE_WEBHOOK: line_webhook, INGEST: ingest, ADMIN_API: admin_api, ADMIN_QUERY: admin_query}

    def _admin_query(self, factory: FunctionFactory, scope: Construct, admin_env: dict[str, str]) -> lambda_.Function:
        """Preview, search and reports: DuckDB over the archive, sized like the recompute (memory
        brings vCPUs, /tmp caches the archive). A request API Gateway would cut at 29 s runs as a
        job of this same function, up to its own timeout."""
        tables, secrets = self.tables, self.secrets
        admin_query = factory.create(
            scope,
            ADMIN_QUERY,
            description="Admin API archive queries: segment preview, profile search, reports (DuckDB), as jobs when big",
            memory_size=self.deploy_settings.archive_job_memory_mb,
            timeout=constants.SEGMENT_RECOMPUTE_TIMEOUT,
            ephemeral_storage_mib=constants.SEGMENT_RECOMPUTE_TMP_MIB,
            analytics=True,  # DuckDB: the only API function that carries the analytics layer
            environment=admin_env,
        )
        grant_core_reads(admin_query, tables.core, tables.core_gsi1_arn)
        secrets.admin_token.grant_read(admin_query)
        secrets.line_channels.grant_read(admin_query)  # a bare LINE user id is looked up per provider
        self._grant_core_items(admin_query, ["dynamodb:PutItem", "dynamodb:UpdateItem"], QUERY_JOB_PK_PREFIX)
        # A job is this function invoking itself: a policy of its own, since the role's default
        # policy cannot name the function it is attached to (a dependency cycle).
        iam.Policy(
            admin_query,
            "RunJobs",
            roles=[cast(iam.IRole, admin_query.role)],
            statements=[iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[admin_query.function_arn])],
        )
        return admin_query

    def _wire_identity(self, admin_api: lambda_.Function) -> None:
        """The processor starts merges and consumes link nonces; the admin API starts unmerges
        and edits the identity and tag rules. Writes are limited to those items by their key prefix."""
        processor = self.processing.function
        processor.add_environment(settings.ENV_MERGE_STATE_MACHINE, self.identity.merge.state_machine_arn)
        self.identity.grant_restart_checks(self.identity.merge, processor)
        self._grant_core_items(processor, ["dynamodb:UpdateItem"], LINK_NONCE_PK_PREFIX)
        admin_api.add_environment(settings.ENV_UNMERGE_STATE_MACHINE, self.identity.unmerge.state_machine_arn)
        self.identity.grant_restart_checks(self.identity.unmerge, admin_api)
        grant_core_writes(
            admin_api,
            self.tables.core,
            ["dynamodb:PutItem"],
            [RULES_PK_PREFIX, TAG_RULES_PK_PREFIX, MESSAGING_POLICY_PK_PREFIX, AUTO_REPLIES_PK_PREFIX],
        )

    def _grant_core_items(self, grantee: lambda_.Function, actions: list[str], key_prefix: str) -> None:
        grant_core_writes(grantee, self.tables.core, actions, [key_prefix])

    def _outputs(self) -> None:
        outputs = {
            "ApiUrl": self.api.url,
            "ConsoleUrl": self.console.url,
            "RawEventsTableName": self.tables.raw_events.table_name,
            "CoreTableName": self.tables.core.table_name,
            "IdempotencyTableName": self.tables.idempotency.table_name,
            "EventBusName": self.event_bus.bus.event_bus_name,
            "LineChannelsSecretArn": self.secrets.line_channels.secret_arn,
            "LineChannelsSecretName": self.secrets.line_channels.secret_name,
            "WriteKeysSecretArn": self.secrets.write_keys.secret_arn,
            "WriteKeysSecretName": self.secrets.write_keys.secret_name,
            "AdminTokenSecretArn": self.secrets.admin_token.secret_arn,
            "AdminTokenSecretName": self.secrets.admin_token.secret_name,
            "LinkSigningKeySecretArn": self.secrets.link_signing_key.secret_arn,
            "DeadLetterQueueUrl": self.processing.dead_letter_queue.queue_url,
            "AlarmTopicArn": self.monitoring.alarm_topic.topic_arn,
            "OperationsDashboardName": self.dashboard.dashboard.dashboard_name,
            "ImportsBucketName": self.imports_bucket.bucket.bucket_name,
            "MergeStateMachineArn": self.identity.merge.state_machine_arn,
            "UnmergeStateMachineArn": self.identity.unmerge.state_machine_arn,
            "SegmentDeadLetterQueueUrl": self.segments.dead_letter_queue.queue_url,
            "ArchiveDeadLetterQueueUrl": self.archive.dead_letter_queue.queue_url,
            "EmailEventDeadLetterQueueUrl": self.messaging.feedback_dead_letters.queue_url,
            "RichMenuDeadLetterQueueUrl": self.rich_menus.dead_letter_queue.queue_url,
            "CampaignSendQueueUrl": self.campaigns.send_queue.queue_url,
            "CampaignSendDeadLetterQueueUrl": self.campaigns.send_dead_letters.queue_url,
            "JourneyStartsQueueUrl": self.journey_flow.starts_queue.queue_url,
            "JourneyStartsDeadLetterQueueUrl": self.journey_flow.starts_dead_letters.queue_url,
            "JourneyEventsDeadLetterQueueUrl": self.journey_flow.dead_letter_queue.queue_url,
            "ArchiveBucketName": self.archive.bucket.bucket_name,
            "ArchiveAthenaWorkgroup": cast(str, self.archive.workgroup.name),
            "SegmentScheduleGroup": cast(str, self.scheduled_segments.schedule_group.name),
        }
        for name, function in self.functions.items():
            outputs[f"{name.title().replace('_', '')}FunctionName"] = function.function_name
        for output_id, value in outputs.items():
            CfnOutput(self, output_id, value=value)
