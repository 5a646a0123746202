"""The profile/event archive and the scheduled segment recompute that reads it.

- `ProfileArchive`: the core table's stream (profile documents and timeline entries only, by a
  filter on the partition key) feeds `archive_writer`, which appends Parquet files to a private
  bucket under archive/profiles/ and archive/events/ (one pair per stream batch, partitioned by
  day). The same files are Glue tables (partition projection, nothing to crawl) queried by an
  Athena workgroup whose results are encrypted and expire, for analysts and reports.
- `ScheduledSegments`: `segment_recompute` runs the segment rules as SQL (DuckDB, in the
  function) over those files and checks every change against the live data (cdp.segments.batch).
  EventBridge Scheduler starts it per segment at the segment's cadence; the admin API creates,
  updates and deletes those schedules in the segments' own schedule group, and can start a run at
  once. The daily jobs (RFM, compaction) have a group of their own: schedule names are unique per
  group, so a segment with any id can never collide with a job, and the admin API's grant on the
  segments' group cannot touch the jobs.
- The snapshot (cdp.archive.snapshot): `archive_compactor` refreshes it under archive/snapshot/
  after each compaction and on its own hourly schedule, so queries read a deduplicated,
  sorted copy plus at most an hour of changes (no new grant: it already writes under archive/).
"""

from __future__ import annotations

from typing import cast

from aws_cdk import Acknowledgment, Aws, Duration, RemovalPolicy, Stack, Validations
from aws_cdk import aws_athena as athena
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_secretsmanager as secretsmanager
from cdp import settings
from cdp.archive.rows import EVENT_COLUMNS, PROFILE_COLUMNS
from constructs import Construct

from infra.cdp_infra import constants, nag
from infra.cdp_infra.deploy_settings import DeploySettings
from infra.cdp_infra.function_factory import FunctionFactory
from infra.cdp_infra.queues import dead_letter_queue
from infra.cdp_infra.routes import ARCHIVE_COMPACTOR, ARCHIVE_WRITER, RFM_SCORING, SEGMENT_RECOMPUTE
from infra.cdp_infra.tables import grant_core_reads, grant_core_writes

_PARQUET_INPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
_PARQUET_OUTPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
_PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
_HIVE_TYPES = {
    "VARCHAR": "string",
    "JSON": "string",
    "BIGINT": "bigint",
    "DOUBLE": "double",
    "TIMESTAMPTZ": "timestamp",
    "VARCHAR[]": "array<string>",
    "STRUCT(day VARCHAR, orders BIGINT, revenue DOUBLE)[]": "array<struct<day:string,orders:bigint,revenue:double>>",
}


def hive_type(duckdb_type: str) -> str:
    """The Glue (Hive) type of an archive column, from the one schema cdp.archive.rows declares."""
    return _HIVE_TYPES[duckdb_type]


class ProfileArchive(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        factory: FunctionFactory,
        core_table: dynamodb.ITable,
        access_logs: s3.IBucket,
    ) -> None:
        super().__init__(scope, construct_id)
        self.bucket = s3.Bucket(
            self,
            "Files",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix="archive-bucket/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    prefix=f"{constants.ATHENA_RESULTS_PREFIX}/", expiration=constants.ATHENA_RESULTS_RETENTION
                )
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.writer: lambda_.Function = factory.create(
            self,
            ARCHIVE_WRITER,
            description="Appends profile and timeline changes from the core table's stream to the Parquet archive",
            memory_size=1024,
            timeout=Duration.minutes(2),
            analytics=True,  # writes Parquet with DuckDB
            environment={settings.ENV_ARCHIVE_BUCKET: self.bucket.bucket_name},
        )
        iam.Grant.add_to_principal(grantee=self.writer, actions=["s3:PutObject"], resource_arns=[self._objects()])
        self._acknowledge_objects(
            self.writer, "The writer adds files under archive/ (keys name the day and the batch)."
        )
        self.dead_letter_queue = dead_letter_queue(self, "DeadLetters", of="the archive's stream mapping")
        self.writer.add_event_source(
            event_sources.DynamoEventSource(
                core_table,
                starting_position=lambda_.StartingPosition.TRIM_HORIZON,
                batch_size=1000,
                max_batching_window=Duration.seconds(30),  # fewer, larger files
                bisect_batch_on_error=True,
                retry_attempts=constants.STREAM_RETRY_ATTEMPTS,
                max_record_age=constants.STREAM_MAX_RECORD_AGE,
                on_failure=event_sources.SqsDlq(self.dead_letter_queue),
                filters=[
                    lambda_.FilterCriteria.filter(
                        {"dynamodb": {"Keys": {"pk": {"S": lambda_.FilterRule.begins_with("PROFILE#")}}}}
                    )
                ],
            )
        )
        Validations.of(cast(iam.IRole, self.writer.role)).acknowledge(
            Acknowledgment(
                id="AwsSolutions-IAM5[Resource::*]",
                reason=(
                    "Besides X-Ray, the stream event source grants dynamodb:ListStreams, which has no "
                    "resource-level permissions; reading the stream itself is scoped to its ARN."
                ),
            ),
        )
        self._catalog()

    def _catalog(self) -> None:
        database_name = constants.ARCHIVE_DATABASE
        self.database = glue.CfnDatabase(
            self,
            "Database",
            catalog_id=Aws.ACCOUNT_ID,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=database_name, description="CDP archive: profile and timeline changes as Parquet"
            ),
        )
        for kind, columns in (("profiles", PROFILE_COLUMNS), ("events", EVENT_COLUMNS)):
            location = f"s3://{self.bucket.bucket_name}/{constants.ARCHIVE_PREFIX}/{kind}/"
            table = glue.CfnTable(
                self,
                f"{kind.title()}Table",
                catalog_id=Aws.ACCOUNT_ID,
                database_name=database_name,
                table_input=glue.CfnTable.TableInputProperty(
                    name=f"{kind}_changes",
                    description=f"Every archived change of {kind}: keep the highest seq per item, drop op='remove'",
                    table_type="EXTERNAL_TABLE",
                    parameters={
                        "classification": "parquet",
                        "projection.enabled": "true",
                        "projection.dt.type": "date",
                        "projection.dt.format": "yyyy-MM-dd",
                        "projection.dt.range": f"{constants.ARCHIVE_FIRST_DAY},NOW",
                        "storage.location.template": f"{location}dt=${{dt}}/",
                    },
                    partition_keys=[glue.CfnTable.ColumnProperty(name="dt", type="string")],
                    storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                        columns=[
                            glue.CfnTable.ColumnProperty(name=name, type=hive_type(kind_))
                            for name, kind_ in columns.items()
                        ],
                        location=location,
                        input_format=_PARQUET_INPUT,
                        output_format=_PARQUET_OUTPUT,
                        serde_info=glue.CfnTable.SerdeInfoProperty(serialization_library=_PARQUET_SERDE),
                    ),
                ),
            )
            table.add_resource_dependency(self.database)
        self.workgroup = athena.CfnWorkGroup(
            self,
            "Workgroup",
            name=f"{Stack.of(self).stack_name}-archive",
            description="Queries over the CDP archive; results encrypted and kept 7 days",
            state="ENABLED",
            recursive_delete_option=True,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=100 * 1024**3,
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=f"s3://{self.bucket.bucket_name}/{constants.ATHENA_RESULTS_PREFIX}/",
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_S3"
                    ),
                ),
            ),
        )

    def grant_read(self, grantee: lambda_.Function) -> None:
        """List and read the archive's files (and nothing else in the bucket)."""
        iam.Grant.add_to_principal(grantee=grantee, actions=["s3:GetObject"], resource_arns=[self._objects()])
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["s3:ListBucket"],
            resource_arns=[self.bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{constants.ARCHIVE_PREFIX}/*"]}},
        )
        self._acknowledge_objects(grantee, "Readers fetch every file under archive/ to query them with DuckDB.")

    def _objects(self) -> str:
        return self.bucket.arn_for_objects(f"{constants.ARCHIVE_PREFIX}/*")

    def _acknowledge_objects(self, function: lambda_.Function, why: str) -> None:
        logical_id = Stack.of(self).get_logical_id(cast(s3.CfnBucket, self.bucket.node.default_child))
        Validations.of(cast(iam.IRole, function.role)).acknowledge(
            Acknowledgment(
                id=f"AwsSolutions-IAM5[Resource::<{logical_id}.Arn>/{constants.ARCHIVE_PREFIX}/*]", reason=why
            )
        )


class ScheduledSegments(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        factory: FunctionFactory,
        core_table: dynamodb.ITable,
        core_gsi1_arn: str,
        bus: events.IEventBus,
        archive: ProfileArchive,
        segment_key_prefix: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self._factory = factory
        self._archive = archive
        self._deploy = DeploySettings.of(self)
        self._jobs_group: scheduler.CfnScheduleGroup | None = None
        # One run at a time per segment is what the schedules give; reserved concurrency (a deploy
        # setting, none by default so a new account can deploy) caps a burst of "recompute now" calls.
        self.function = self._archive_job(
            SEGMENT_RECOMPUTE,
            "Recomputes segments over the Parquet archive (DuckDB), checked against live profiles",
            concurrency=self._deploy.segment_recompute_concurrency,
            environment={settings.ENV_CORE_TABLE: core_table.table_name, settings.ENV_EVENT_BUS: bus.event_bus_name},
        )
        grant_core_reads(self.function, core_table, core_gsi1_arn)
        grant_core_writes(self.function, core_table, ["dynamodb:PutItem", "dynamodb:DeleteItem"], [segment_key_prefix])
        bus.grant_put_events_to(self.function)
        self.schedule_group = scheduler.CfnScheduleGroup(
            self, "Schedules", name=f"{Stack.of(self).stack_name}-segments"
        )
        self.scheduler_role = iam.Role(
            self,
            "SchedulerRole",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
            ),
            description="EventBridge Scheduler: start segment recompute runs, nothing else",
        )
        self._grant_invoke(self.scheduler_role)

    def add_rfm_scoring(
        self, *, raw_events: dynamodb.ITable, core_table: dynamodb.ITable, archive: ProfileArchive
    ) -> None:
        """RFM over the archive once a day (03:00 in the schedules' time zone), its scores written back
        as events."""
        self.rfm_function = self._archive_job(
            RFM_SCORING,
            "Scores RFM (quintiles over the population) from the archive; changed scores become events",
            concurrency=self._deploy.rfm_scoring_concurrency,
            environment={
                settings.ENV_CORE_TABLE: core_table.table_name,
                settings.ENV_RAW_EVENTS_TABLE: raw_events.table_name,
                settings.ENV_RAW_EVENT_TTL_DAYS: str(self._deploy.raw_event_ttl_days),
                settings.ENV_RFM_WINDOW_DAYS: str(constants.RFM_WINDOW_DAYS),
            },
        )
        # Profiles are read (BatchGetItem) to name each person by an identifier in the events.
        iam.Grant.add_to_principal(
            grantee=self.rfm_function,
            actions=["dynamodb:BatchGetItem", "dynamodb:GetItem"],
            resource_arns=[core_table.table_arn],
        )
        raw_events.grant(self.rfm_function, "dynamodb:PutItem")
        self._daily(
            self.rfm_function,
            "DailyRfm",
            "rfm-daily",
            "cron(0 3 * * ? *)",
            "RFM scores and groups over the configured window, daily",
        )

    def wire_line_audiences(self, line_channels: secretsmanager.ISecret) -> None:
        """Synced LINE audiences (cdp.segments.audience_sync): after a run the function adds the
        segment's new members to its LINE audience, with the channel's access token (read only)."""
        self.function.add_environment(settings.ENV_LINE_CHANNELS_SECRET, line_channels.secret_arn)
        self.function.add_environment(settings.ENV_SECRETS_CACHE_SECONDS, str(constants.SECRETS_CACHE_SECONDS))
        line_channels.grant_read(self.function)

    def add_archive_compaction(self, archive: ProfileArchive) -> None:
        """Once a day (02:30 in the schedules' time zone), before RFM: closed days' files become one
        per kind, then the snapshot is refreshed; every hour at :15 the snapshot alone."""
        self.compactor = self._archive_job(
            ARCHIVE_COMPACTOR,
            "Compacts the archive (closed days' files become one per kind) and refreshes its query snapshot",
            concurrency=self._deploy.archive_compactor_concurrency,
            environment={},
        )
        iam.Grant.add_to_principal(
            grantee=self.compactor,
            actions=["s3:PutObject", "s3:DeleteObject"],
            resource_arns=[archive.bucket.arn_for_objects(f"{constants.ARCHIVE_PREFIX}/*")],
        )
        self._daily(
            self.compactor, "DailyCompaction", "archive-compaction", "cron(30 2 * * ? *)", "Archive compaction, daily"
        )
        self._daily(
            self.compactor,
            "SnapshotRefresh",
            "archive-snapshot",
            constants.SNAPSHOT_REFRESH_SCHEDULE,
            "Archive query snapshot refresh (the changes since folded in), hourly",
            payload='{"task":"snapshot"}',
        )

    def _archive_job(
        self, name: str, description: str, *, concurrency: int | None, environment: dict[str, str]
    ) -> lambda_.Function:
        """A function that reads the whole archive with DuckDB: large memory (a deploy setting:
        DuckDB takes 70% of it, then spills to /tmp, and memory brings vCPUs), /tmp for the file
        cache and spills, the longest timeout, and read access to the archive."""
        function = self._factory.create(
            self,
            name,
            description=description,
            memory_size=self._deploy.archive_job_memory_mb,
            timeout=constants.SEGMENT_RECOMPUTE_TIMEOUT,
            ephemeral_storage_mib=constants.SEGMENT_RECOMPUTE_TMP_MIB,
            reserved_concurrent_executions=concurrency,
            analytics=True,
            environment={
                settings.ENV_ARCHIVE_BUCKET: self._archive.bucket.bucket_name,
                settings.ENV_ARCHIVE_CACHE_DIR: settings.DEFAULT_ARCHIVE_CACHE_DIR,
                **environment,
            },
        )
        self._archive.grant_read(function)
        return function

    def _daily(
        self,
        function: lambda_.Function,
        construct_id: str,
        name: str,
        expression: str,
        description: str,
        *,
        payload: str = "{}",
    ) -> None:
        iam.Grant.add_to_principal(
            grantee=self.scheduler_role, actions=["lambda:InvokeFunction"], resource_arns=[function.function_arn]
        )
        jobs_group = self._jobs_schedule_group()
        schedule = scheduler.CfnSchedule(
            self,
            construct_id,
            name=name,
            group_name=cast(str, jobs_group.name),
            schedule_expression=expression,
            schedule_expression_timezone=self._deploy.schedule_time_zone,
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            target=scheduler.CfnSchedule.TargetProperty(
                arn=function.function_arn,
                role_arn=self.scheduler_role.role_arn,
                input=payload,
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                    maximum_retry_attempts=2, maximum_event_age_in_seconds=6 * 3600
                ),
            ),
            description=description,
        )
        schedule.add_resource_dependency(jobs_group)

    @property
    def jobs_schedule_group(self) -> scheduler.CfnScheduleGroup:
        """The daily jobs' schedule group (watched by the schedule-failure alarms)."""
        return self._jobs_schedule_group()

    def _jobs_schedule_group(self) -> scheduler.CfnScheduleGroup:
        """The daily jobs' group, apart from the segments' group that the admin API manages."""
        if self._jobs_group is None:
            self._jobs_group = scheduler.CfnScheduleGroup(
                self, "JobSchedules", name=f"{Stack.of(self).stack_name}-jobs"
            )
        return self._jobs_group

    def _grant_invoke(self, grantee: iam.IGrantable) -> None:
        """The unqualified function only (grant_invoke would add every version and alias: `:*`)."""
        iam.Grant.add_to_principal(
            grantee=grantee, actions=["lambda:InvokeFunction"], resource_arns=[self.function.function_arn]
        )

    def wire_admin_query(self, admin_query: lambda_.Function, archive: ProfileArchive) -> None:
        """Preview, search and reports read the archive (the admin API's query function only)."""
        admin_query.add_environment(settings.ENV_ARCHIVE_BUCKET, archive.bucket.bucket_name)
        admin_query.add_environment(settings.ENV_ARCHIVE_CACHE_DIR, settings.DEFAULT_ARCHIVE_CACHE_DIR)
        archive.grant_read(admin_query)

    def wire_admin_api(self, admin_api: lambda_.Function) -> None:
        """Saving a segment manages its schedule; "recompute now" starts the recompute."""
        group = cast(str, self.schedule_group.name)
        admin_api.add_environment(settings.ENV_SEGMENT_RECOMPUTE_FUNCTION, self.function.function_name)
        admin_api.add_environment(settings.ENV_SEGMENT_RECOMPUTE_FUNCTION_ARN, self.function.function_arn)
        admin_api.add_environment(settings.ENV_SEGMENT_SCHEDULE_GROUP, group)
        admin_api.add_environment(settings.ENV_SEGMENT_SCHEDULER_ROLE_ARN, self.scheduler_role.role_arn)
        self._grant_invoke(admin_api)
        admin_api.add_to_role_policy(
            iam.PolicyStatement(
                actions=["scheduler:CreateSchedule", "scheduler:UpdateSchedule", "scheduler:DeleteSchedule"],
                resources=[
                    Stack.of(self).format_arn(service="scheduler", resource="schedule", resource_name=f"{group}/*")
                ],
            )
        )
        self.scheduler_role.grant_pass_role(admin_api)
        Validations.of(cast(iam.IRole, admin_api.role)).acknowledge(
            Acknowledgment(
                id=f"AwsSolutions-IAM5[Resource::{nag.arn_prefix(self, 'scheduler')}schedule/{group}/*]",
                reason="One schedule per segment, named after it, in this stack's segment schedule group only.",
            )
        )
