"""Campaigns: the runner that fans a run out, the message sender's send queue, and the campaigns'
EventBridge Scheduler schedules (`campaign-<id>`, in the messages schedule group).

Fan-out (docs/campaigns.md): the runner reads a segment's members a page at a time and puts send
requests on an SQS queue, 250 per message; the message sender consumes it, one message per
invocation, at most as many at once as its LINE rate share was computed for. A big campaign is
many short runner invocations (each hands the run to the next), never one.
"""

from __future__ import annotations

from typing import cast

from aws_cdk import Acknowledgment, Aws, Duration, Stack, Validations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_sqs as sqs
from cdp import settings
from cdp.adapters.campaigns import SCHEDULE_PREFIX
from cdp.adapters.dynamodb.campaign_store import PK_PREFIX, PRICING_PREFIX
from constructs import Construct

from infra.cdp_infra import nag
from infra.cdp_infra.function_factory import FunctionFactory
from infra.cdp_infra.messaging import DEFAULT_SENDER_CONCURRENCY
from infra.cdp_infra.routes import CAMPAIGN_RUNNER
from infra.cdp_infra.tables import grant_core_reads, grant_core_writes

SENDER_TIMEOUT = Duration.minutes(5)  # infra.cdp_infra.messaging: the sender's own timeout


class Campaigns(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        factory: FunctionFactory,
        core_table: dynamodb.ITable,
        core_gsi1_arn: str,
        sender: lambda_.Function,
        sender_concurrency: int | None,
        schedule_group: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.schedule_group = schedule_group
        self.send_dead_letters = sqs.Queue(
            self,
            "SendDeadLetters",
            retention_period=Duration.days(14),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
        )
        Validations.of(self.send_dead_letters).acknowledge(
            Acknowledgment(id="AwsSolutions-SQS3", reason="This queue is itself the send queue's dead-letter queue.")
        )
        self.send_queue = sqs.Queue(
            self,
            "SendQueue",
            # Six times the sender's timeout, as Lambda's SQS poller advises.
            visibility_timeout=Duration.minutes(30),
            retention_period=Duration.days(4),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=5, queue=self.send_dead_letters),
        )
        sender.add_event_source(
            event_sources.SqsEventSource(
                self.send_queue,
                batch_size=1,  # a message is already 250 send requests
                max_batching_window=Duration.seconds(0),
                report_batch_item_failures=True,
                # LINE's rate limits are shared by the senders that run at once (per_sender_buckets).
                max_concurrency=max(2, sender_concurrency or DEFAULT_SENDER_CONCURRENCY),
            )
        )

        self.function: lambda_.Function = factory.create(
            self,
            CAMPAIGN_RUNNER,
            description="Campaign fan-out: pages a segment's members into send requests on the sender's queue",
            memory_size=512,
            timeout=Duration.minutes(5),
            environment={
                settings.ENV_CORE_TABLE: core_table.table_name,
                settings.ENV_CAMPAIGN_SEND_QUEUE_URL: self.send_queue.queue_url,
            },
        )
        grant_core_reads(self.function, core_table, core_gsi1_arn)
        grant_core_writes(self.function, core_table, ["dynamodb:PutItem"], [PK_PREFIX])
        # LINE's monthly limit: the sender stops the campaign's run and pauses it (cdp.campaigns.gate).
        grant_core_writes(sender, core_table, ["dynamodb:PutItem"], [PK_PREFIX])
        self.send_queue.grant_send_messages(self.function)
        # The fan-out continues in a fresh invocation of itself: a policy of its own (the role's
        # default policy cannot name the function it is attached to).
        iam.Policy(
            self.function,
            "ContinueRuns",
            roles=[cast(iam.IRole, self.function.role)],
            statements=[iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[self.function.function_arn])],
        )
        self.scheduler_role = iam.Role(
            self,
            "SchedulerRole",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}
            ),
            description="EventBridge Scheduler: start campaign runs, nothing else",
        )
        iam.Grant.add_to_principal(
            grantee=self.scheduler_role, actions=["lambda:InvokeFunction"], resource_arns=[self.function.function_arn]
        )

    def wire_admin_api(self, admin_api: lambda_.Function, core_table: dynamodb.ITable) -> None:
        """Campaigns and the pricing config are written by the admin API; `send` starts the runner
        or puts the campaign's schedule."""
        admin_api.add_environment(settings.ENV_CAMPAIGN_RUNNER_FUNCTION, self.function.function_arn)
        admin_api.add_environment(settings.ENV_MESSAGE_SCHEDULE_GROUP, self.schedule_group)
        admin_api.add_environment(settings.ENV_CAMPAIGN_SCHEDULER_ROLE_ARN, self.scheduler_role.role_arn)
        grant_core_writes(admin_api, core_table, ["dynamodb:PutItem"], [PK_PREFIX, PRICING_PREFIX])
        # Deleting a draft or a cancelled campaign removes its item and its runs' items.
        grant_core_writes(admin_api, core_table, ["dynamodb:DeleteItem"], [PK_PREFIX])
        iam.Grant.add_to_principal(
            grantee=admin_api, actions=["lambda:InvokeFunction"], resource_arns=[self.function.function_arn]
        )
        stack = Stack.of(self)
        admin_api.add_to_role_policy(
            iam.PolicyStatement(
                actions=["scheduler:CreateSchedule", "scheduler:UpdateSchedule", "scheduler:DeleteSchedule"],
                resources=[
                    stack.format_arn(
                        service="scheduler",
                        resource="schedule",
                        resource_name=f"{self.schedule_group}/{SCHEDULE_PREFIX}*",
                    )
                ],
            )
        )
        self.scheduler_role.grant_pass_role(admin_api)
        Validations.of(cast(iam.IRole, admin_api.role)).acknowledge(
            Acknowledgment(
                id=f"AwsSolutions-IAM5[Resource::{nag.arn_prefix(self, 'scheduler')}schedule/{self.schedule_group}/{SCHEDULE_PREFIX}*]",
                reason="One schedule per campaign, named campaign-<id>, in this stack's messages schedule group only.",
            )
        )
