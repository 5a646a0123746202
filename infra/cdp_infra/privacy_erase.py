"""The erase workflow (docs/privacy.md): Step Functions (standard) sequencing one Lambda's steps.

A nested stack: the function, its role, its log groups and the state machine are a dozen
resources, and the main stack is close to CloudFormation's 500. Standard workflows because an
execution name is unique there (a repeated erase request is a no-op) and an erase of a large
person outlives any Lambda timeout. The erase step loops inside the Lambda until it nears its
timeout, so a person who fits one invocation costs about ten state transitions.

    Erase ⟲ → Settle (wait for the core stream to reach the archive) → Archive ⟲ → Verify
      clean → Finish                       not clean, rounds left → Settle → Erase (again)
      not clean, no rounds left → Finish (the record says incomplete, with what was found)
"""

from __future__ import annotations

from typing import cast

from aws_cdk import Acknowledgment, ArnFormat, Duration, Names, NestedStack, RemovalPolicy, Stack, Validations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from cdp import settings
from constructs import Construct

from infra.cdp_infra import constants, nag
from infra.cdp_infra.deploy_settings import DeploySettings
from infra.cdp_infra.function_factory import FunctionFactory
from infra.cdp_infra.routes import PRIVACY_ERASE
from infra.cdp_infra.tables import grant_core_reads, grant_core_writes

# What the steps delete or rewrite in the core table, by partition key prefix (cdp.adapters.dynamodb.erasure).
ERASE_KEY_PREFIXES = (
    "PROFILE#",
    "ID#",
    "APPLIED#",
    "SEND#",
    "SEGMENT#",
    "MSGCAP#",
    "MERGE#",
    "SEPARATION#",
    "ERASE#",
    "QUERYJOB#",  # a person's export job records
    "LINKNONCE#",  # a consumed account-link nonce (names the LINE user and the member)
    "JRUN#",  # journey runs: kept for reports without the person
    "JPERSON#",
    "JWAIT#",
    "JENTRY#",
)
# What the admin API writes when a person's erase is requested or its suppression lifted.
REQUEST_KEY_PREFIXES = ("ERASE#", "ERASED#", "SUPPRESSED#")
RETRYABLE_STEP_ERRORS = ["StoreUnavailable", "States.TaskFailed"]
NOT_RETRYABLE_STEP_ERRORS = ["NotFound", "Conflict", "ValidationError", "ValueError", "KeyError"]
DEFAULT_SETTLE_SECONDS = 60  # the archive writer's batching window (30 s) and a margin


class PrivacyErase(NestedStack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        factory: FunctionFactory,
        core_table: dynamodb.ITable,
        core_gsi1_arn: str,
        raw_events: dynamodb.ITable,
        archive_bucket: s3.IBucket,
        imports_bucket: s3.IBucket,
        journey_events: lambda_.IFunction,
        archive_prefix: str = constants.ARCHIVE_PREFIX,
    ) -> None:
        super().__init__(scope, construct_id, description="LINE CDP erase workflow (Step Functions + its steps)")
        self.machine_name = f"{Stack.of(scope).stack_name}-erase"
        self.function = factory.create(
            self,
            PRIVACY_ERASE,
            description="Erase steps: remove a person from every store and the archive, verify, keep the record",
            # The archive pass rewrites the snapshot as a refresh does: the same memory and /tmp
            # (DuckDB takes 70 % and spills the rest; 1,000,000 profiles peaked at 2.1 GB unbounded).
            memory_size=DeploySettings.of(self).archive_job_memory_mb,
            timeout=Duration.minutes(15),
            ephemeral_storage_mib=constants.SEGMENT_RECOMPUTE_TMP_MIB,
            analytics=True,
            environment={
                settings.ENV_CORE_TABLE: core_table.table_name,
                settings.ENV_RAW_EVENTS_TABLE: raw_events.table_name,
                settings.ENV_ARCHIVE_BUCKET: archive_bucket.bucket_name,
                settings.ENV_ARCHIVE_CACHE_DIR: settings.DEFAULT_ARCHIVE_CACHE_DIR,
                settings.ENV_ERASE_SETTLE_SECONDS: str(DEFAULT_SETTLE_SECONDS),
                settings.ENV_IMPORTS_BUCKET: imports_bucket.bucket_name,
                settings.ENV_JOURNEY_EVENTS_FUNCTION: journey_events.function_name,
            },
        )
        grant_core_reads(self.function, core_table, core_gsi1_arn)
        grant_core_writes(
            self.function,
            core_table,
            ["dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:UpdateItem", "dynamodb:BatchWriteItem"],
            list(ERASE_KEY_PREFIXES),
        )
        iam.Grant.add_to_principal(
            grantee=self.function,
            actions=["dynamodb:BatchGetItem", "dynamodb:BatchWriteItem"],
            resource_arns=[raw_events.table_arn],
        )
        objects = archive_bucket.arn_for_objects(f"{archive_prefix}/*")
        iam.Grant.add_to_principal(
            grantee=self.function,
            actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            resource_arns=[objects],
        )
        iam.Grant.add_to_principal(
            grantee=self.function,
            actions=["s3:ListBucket"],
            resource_arns=[archive_bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{archive_prefix}/*"]}},
        )
        # The journey event consumer ends the person's runs (the unqualified function only).
        iam.Grant.add_to_principal(
            grantee=self.function, actions=["lambda:InvokeFunction"], resource_arns=[journey_events.function_arn]
        )
        # Member-import files (the person's rows rewritten away) and the person's exports (deleted).
        iam.Grant.add_to_principal(
            grantee=self.function,
            actions=["s3:GetObject", "s3:PutObject"],
            resource_arns=[imports_bucket.arn_for_objects(f"{constants.IMPORTS_PREFIX}/*")],
        )
        iam.Grant.add_to_principal(
            grantee=self.function,
            actions=["s3:DeleteObject"],
            resource_arns=[imports_bucket.arn_for_objects(f"{constants.EXPORTS_PREFIX}/people/*")],
        )
        iam.Grant.add_to_principal(
            grantee=self.function,
            actions=["s3:ListBucket"],
            resource_arns=[imports_bucket.bucket_arn],
            conditions={
                "StringLike": {"s3:prefix": [f"{constants.IMPORTS_PREFIX}/*", f"{constants.EXPORTS_PREFIX}/people/*"]}
            },
        )
        self._acknowledge_function(archive_bucket, archive_prefix)
        self._acknowledge_imports(imports_bucket)
        self.state_machine = self._state_machine()

    def grant_start(self, grantee: lambda_.Function, core_table: dynamodb.ITable) -> None:
        """The admin API requests erases (record, pointers, suppressions) and starts their runs."""
        grant_core_writes(
            grantee,
            core_table,
            ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
            list(REQUEST_KEY_PREFIXES),
        )
        self.state_machine.grant_start_execution(grantee)
        # A run that failed is started again under a new name: reading its status needs the
        # execution's ARN, named at run time (the machine's own name is fixed, so no token hides it).
        executions = Stack.of(grantee).format_arn(
            service="states",
            resource="execution",
            resource_name=f"{self.machine_name}:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        iam.Grant.add_to_principal(grantee=grantee, actions=["states:DescribeExecution"], resource_arns=[executions])
        Validations.of(cast(iam.IRole, grantee.role)).acknowledge(
            Acknowledgment(
                id=f"AwsSolutions-IAM5[Resource::{nag.arn_prefix(grantee, 'states')}execution:{self.machine_name}:*]",
                reason="DescribeExecution on the erase machine's executions: their names are erase ids, known at run time.",
            )
        )
        grantee.add_environment(settings.ENV_ERASE_STATE_MACHINE, self.state_machine.state_machine_arn)

    def _step(self, state_id: str, action: str) -> tasks.LambdaInvoke:
        task = tasks.LambdaInvoke(
            self,
            state_id,
            lambda_function=self.function,
            payload=sfn.TaskInput.from_object({"action": action, "eraseId.$": "$.eraseId"}),
            payload_response_only=True,
            retry_on_service_exceptions=True,
        )
        task.add_retry(errors=NOT_RETRYABLE_STEP_ERRORS, max_attempts=0)
        task.add_retry(
            errors=["Lambda.TooManyRequestsException"],
            interval=Duration.seconds(5),
            backoff_rate=2,
            max_attempts=10,
            max_delay=Duration.minutes(2),
        )
        task.add_retry(errors=RETRYABLE_STEP_ERRORS, interval=Duration.seconds(2), backoff_rate=2, max_attempts=8)
        return task

    def _state_machine(self) -> sfn.StateMachine:
        erase = self._step("Erase", "erase")
        archive = self._step("Archive", "archive")
        verify = self._step("Verify", "verify")
        finish = self._step("Finish", "finish")
        settle = sfn.Wait(self, "Settle", time=sfn.WaitTime.seconds_path("$.settleSeconds"))
        done = sfn.Succeed(self, "Done")
        erase.next(
            sfn.Choice(self, "ErasedAll").when(sfn.Condition.boolean_equals("$.done", True), settle).otherwise(erase)
        )
        settle.next(archive)
        archive.next(
            sfn.Choice(self, "ArchivedAll")
            .when(sfn.Condition.boolean_equals("$.done", True), verify)
            .otherwise(archive)
        )
        verify.next(
            sfn.Choice(self, "Clean")
            .when(sfn.Condition.boolean_equals("$.clean", True), finish)
            .when(sfn.Condition.string_equals("$.status", "running"), erase)
            .otherwise(finish)
        )
        finish.next(done)
        log_group = logs.LogGroup(self, "Logs", retention=constants.LOG_RETENTION, removal_policy=RemovalPolicy.DESTROY)
        machine = sfn.StateMachine(
            self,
            "StateMachine",
            definition_body=sfn.DefinitionBody.from_chainable(erase),
            state_machine_name=self.machine_name,
            state_machine_type=sfn.StateMachineType.STANDARD,
            timeout=Duration.hours(6),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ERROR, include_execution_data=False),
        )
        function_arn_token = Stack.of(self).get_logical_id(cast(lambda_.CfnFunction, self.function.node.default_child))
        Validations.of(machine).acknowledge(
            Acknowledgment(
                id=f"AwsSolutions-IAM5[Resource::<{function_arn_token}.Arn>:*]",
                reason="CDK grants lambda:InvokeFunction on the function's versions and aliases (`:*`) as well.",
            ),
            Acknowledgment(
                id="AwsSolutions-SF1",
                reason=(
                    "Errors are logged (level ERROR): an erase's input is its id only, but a step's error could "
                    "name a profile; each step logs its own outcome (ids and counts) without personal data."
                ),
            ),
            Acknowledgment(
                id="AwsSolutions-IAM5[Resource::*]",
                reason="X-Ray and CloudWatch Logs delivery actions used by Step Functions support no resource scoping.",
            ),
        )
        return machine

    def _acknowledge_function(self, bucket: s3.IBucket, prefix: str) -> None:
        # the bucket's ARN reaches this nested stack as a parameter named after the bucket's unique id
        reference = f"referenceto{Names.unique_id(cast(Construct, bucket.node.default_child))}Arn"
        Validations.of(cast(iam.IRole, self.function.role)).acknowledge(
            Acknowledgment(
                id=f"AwsSolutions-IAM5[Resource::<{reference}>/{prefix}/*]",
                reason="The erase rewrites or deletes any archive file that holds the person (keys name days and batches).",
            ),
        )

    def _acknowledge_imports(self, bucket: s3.IBucket) -> None:
        reference = f"referenceto{Names.unique_id(cast(Construct, bucket.node.default_child))}Arn"
        Validations.of(cast(iam.IRole, self.function.role)).acknowledge(
            Acknowledgment(
                id=f"AwsSolutions-IAM5[Resource::<{reference}>/{constants.IMPORTS_PREFIX}/*]",
                reason="The erase rewrites the person's rows in any member-import file (keys name the import).",
            ),
            Acknowledgment(
                id=f"AwsSolutions-IAM5[Resource::<{reference}>/{constants.EXPORTS_PREFIX}/people/*]",
                reason="The erase deletes the person's exports (keys name the profile and the export job).",
            ),
        )
