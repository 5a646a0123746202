"""The retention job (cdp.privacy.retention_job) in a nested stack of its own.

A function, its role and log group, the policy that lets it continue itself, the scheduler's role
and one daily schedule (in the daily jobs' schedule group): a nested stack, since the main stack is close to CloudFormation's
500-resource limit. The function may:
- scan the core table (the only way to find old timeline entries: no index by age), and delete
  items only under PROFILE#, SEND#, SENDBATCH# and AUDIT# (LeadingKeys cannot tell a timeline
  entry from a profile document under PROFILE#; the code deletes EVENT# sort keys only);
- read and write its runs (RETENTION#) and read the policy (CONFIG#retention#);
- list and delete files under the imports bucket's exports/ and imports/ prefixes.
"""

from __future__ import annotations

from typing import cast

from aws_cdk import Acknowledgment, Aws, Duration, Names, NestedStack, Validations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_scheduler as scheduler
from cdp import settings
from cdp.adapters.dynamodb.retention import DELETED_KEY_PREFIXES, POLICY_PREFIX, RUNS_PK
from constructs import Construct

from infra.cdp_infra import constants
from infra.cdp_infra.function_factory import FunctionFactory
from infra.cdp_infra.routes import PRIVACY_RETENTION
from infra.cdp_infra.tables import grant_core_writes

RETENTION_ID = "Retention"
# Daily at 04:00 in the schedules' time zone: after compaction (02:30) and RFM (03:00), so the
# archive drops the removed timeline rows at the next night's compaction.
RETENTION_SCHEDULE = "cron(0 4 * * ? *)"
RETENTION_TIMEOUT = Duration.minutes(15)
RETENTION_MEMORY_MB = 512
FILE_PREFIXES = (f"{constants.EXPORTS_PREFIX}/", f"{constants.IMPORTS_PREFIX}/")


class RetentionJob(NestedStack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        factory: FunctionFactory,
        core_table: dynamodb.ITable,
        files: s3.IBucket,
        raw_event_ttl_days: int,
        schedule_time_zone: str,
        jobs_schedule_group: scheduler.CfnScheduleGroup,
    ) -> None:
        super().__init__(
            scope, construct_id, description="LINE CDP retention: the daily job that deletes data past retention"
        )
        self.function: lambda_.Function = factory.create(
            self,
            PRIVACY_RETENTION,
            description="Deletes what is past retention per data kind, daily; records each run",
            memory_size=RETENTION_MEMORY_MB,
            timeout=RETENTION_TIMEOUT,
            environment={
                settings.ENV_CORE_TABLE: core_table.table_name,
                settings.ENV_IMPORTS_BUCKET: files.bucket_name,
                settings.ENV_RAW_EVENT_TTL_DAYS: str(raw_event_ttl_days),
                settings.ENV_RETENTION_EXPORT_PREFIXES: f"{constants.EXPORTS_PREFIX}/",
            },
        )
        role = cast(iam.IRole, self.function.role)
        self._grant_core(core_table)
        self._grant_files(files, role)
        # A run longer than one invocation continues in a fresh one: a policy of its own, since
        # the role's default policy cannot name the function it is attached to.
        iam.Policy(
            self.function,
            "ContinueRuns",
            roles=[role],
            statements=[iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[self.function.function_arn])],
        )
        self.scheduler_role = iam.Role(
            self,
            "SchedulerRole",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}
            ),
            description="EventBridge Scheduler: start the retention job, nothing else",
        )
        iam.Grant.add_to_principal(
            grantee=self.scheduler_role, actions=["lambda:InvokeFunction"], resource_arns=[self.function.function_arn]
        )
        # In the daily jobs' group (watched by its failed-schedules alarm), beside RFM and compaction.
        self.schedule = scheduler.CfnSchedule(
            self,
            "Daily",
            name="retention-daily",
            group_name=cast(str, jobs_schedule_group.name),
            schedule_expression=RETENTION_SCHEDULE,
            schedule_expression_timezone=schedule_time_zone,
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            target=scheduler.CfnSchedule.TargetProperty(
                arn=self.function.function_arn,
                role_arn=self.scheduler_role.role_arn,
                # The occurrence names the run: a retried delivery of it is the same run.
                input='{"scheduled_time":"<aws.scheduler.scheduled-time>"}',
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                    maximum_retry_attempts=2, maximum_event_age_in_seconds=6 * 3600
                ),
            ),
            description="Retention: delete what is past retention per data kind, daily",
        )
        self.node.add_dependency(jobs_schedule_group)

    def _grant_core(self, core_table: dynamodb.ITable) -> None:
        # Scan takes no partition key, so LeadingKeys cannot narrow it: the table alone (no index).
        iam.Grant.add_to_principal(
            grantee=self.function, actions=["dynamodb:Scan"], resource_arns=[core_table.table_arn]
        )
        grant_core_writes(self.function, core_table, ["dynamodb:BatchWriteItem"], list(DELETED_KEY_PREFIXES))
        # The audit log's day partitions are read by Query (keys only, to delete them).
        iam.Grant.add_to_principal(
            grantee=self.function,
            actions=["dynamodb:Query", "dynamodb:GetItem", "dynamodb:PutItem"],
            resource_arns=[core_table.table_arn],
            conditions={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [RUNS_PK, f"{POLICY_PREFIX}*", "AUDIT#*"]}},
        )

    def _grant_files(self, files: s3.IBucket, role: iam.IRole) -> None:
        iam.Grant.add_to_principal(
            grantee=self.function,
            actions=["s3:ListBucket"],
            resource_arns=[files.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{prefix}*" for prefix in FILE_PREFIXES]}},
        )
        iam.Grant.add_to_principal(
            grantee=self.function,
            actions=["s3:DeleteObject"],
            resource_arns=[files.arn_for_objects(f"{prefix}*") for prefix in FILE_PREFIXES],
        )
        # In this nested stack the bucket's ARN is a parameter named after the parent's resource.
        parameter = f"referenceto{Names.unique_id(cast(s3.CfnBucket, files.node.default_child))}Arn"
        Validations.of(role).acknowledge(
            *(
                Acknowledgment(
                    id=f"AwsSolutions-IAM5[Resource::<{parameter}>/{prefix}*]",
                    reason="Retention deletes exported and imported files past their retention: object keys embed "
                    "export and import ids, so the grant names the prefix (and nothing else in the bucket).",
                )
                for prefix in FILE_PREFIXES
            )
        )
