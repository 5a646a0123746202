"""The journeys' runtime around executions: the starts queue and its starter, the event consumer
and its rule, the scheduled-cohort schedules (docs/journeys.md).

- `journey-starts` (SQS, dead-letter queue after 5 receives) -> `journey_starter`: at most 2 at once
  (the event source mapping's maximum concurrency), each pacing its StartExecution calls to its
  share of `CDP_JOURNEY_STARTS_PER_SECOND`, partial batch failures.
- An EventBridge rule sends `event.received`, `segment.entered`, `segment.exited`,
  `profile.merged` and `profile.unmerged` to `journey_events` (asynchronous invoke: retried, then
  a dead-letter queue); the journeys' schedules (`journey-<id>` in the `<stack>-journeys` group)
  invoke it with a cohort, and a daily one there with `retire_versions`.

Executions run on the published versions' state machines, `<stack>-journey-*` (created at publish):
the starter may start them, the consumer may stop them, answer their task tokens and delete the
machine of a superseded version nothing runs on; nothing else.
"""

from __future__ import annotations

import json
from typing import cast

from aws_cdk import Acknowledgment, ArnFormat, Aws, Duration, Stack, Validations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sqs as sqs
from cdp import settings
from cdp.adapters.dynamodb.journey_runs import ENTRY_PREFIX, PERSON_PREFIX, RUN_PREFIX, SEEN_PREFIX, WAIT_PREFIX
from cdp.adapters.dynamodb.journeys import PK_PREFIX as JOURNEY_PK_PREFIX
from cdp.adapters.journey_flow import SCHEDULE_PREFIX
from cdp.domain_events import (
    EVENT_RECEIVED,
    PROFILE_MERGED,
    PROFILE_UNMERGED,
    SEGMENT_ENTERED,
    SEGMENT_EXITED,
    SOURCE,
)
from constructs import Construct

from infra.cdp_infra import nag
from infra.cdp_infra.function_factory import FunctionFactory
from infra.cdp_infra.queues import dead_letter_queue
from infra.cdp_infra.routes import JOURNEY_EVENTS, JOURNEY_STARTER
from infra.cdp_infra.tables import grant_core_reads, grant_core_writes

RETIRE_SCHEDULE = "retire-superseded-versions"  # outside the journeys' own `journey-` names

STARTER_CONCURRENCY = 2  # the starts queue's event source mapping: at most this many starters at once
STARTER_TIMEOUT = Duration.seconds(60)
STARTER_BATCH = 50  # entries per invocation at most
STARTER_BATCH_SECONDS = 10  # ... and at most this many seconds of starts at a starter's pace (timeout 60 s)
_ITEM_WRITES = ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem"]


def starter_batch(starts_per_second: int) -> int:
    """Entries per starter invocation: a slow deployed pace takes smaller batches, so pacing one
    never nears the starter's timeout."""
    per_starter = starts_per_second / STARTER_CONCURRENCY
    return max(1, min(STARTER_BATCH, int(per_starter * STARTER_BATCH_SECONDS)))


def journey_machines(stack: Stack) -> str:
    """The ARN pattern of every published version's state machine (`<stack>-journey-<id>-v<n>`)."""
    return stack.format_arn(
        service="states",
        resource="stateMachine",
        resource_name=f"{stack.stack_name}-journey-*",
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )


def journey_executions(stack: Stack) -> str:
    """Their executions (`execution:<machine>:<run id>`)."""
    return stack.format_arn(
        service="states",
        resource="execution",
        resource_name=f"{stack.stack_name}-journey-*",
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )


class JourneyFlow(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        factory: FunctionFactory,
        core_table: dynamodb.ITable,
        core_gsi1_arn: str,
        bus: events.IEventBus,
        starts_per_second: int,
        schedule_time_zone: str,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        machines, executions = journey_machines(stack), journey_executions(stack)

        # Starts: a queue smooths entry bursts to the StartExecution quota.
        self.starts_dead_letters = dead_letter_queue(self, "StartsDeadLetters", of="the journey starts queue")
        self.starts_queue = sqs.Queue(
            self,
            "StartsQueue",
            visibility_timeout=Duration.seconds(STARTER_TIMEOUT.to_seconds() * 6),  # as Lambda's SQS poller advises
            retention_period=Duration.days(4),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=5, queue=self.starts_dead_letters),
        )
        self.starter: lambda_.Function = factory.create(
            self,
            JOURNEY_STARTER,
            description="Journey starts: admits each queued entry, writes its run, starts its execution, paced",
            timeout=STARTER_TIMEOUT,
            environment={
                settings.ENV_CORE_TABLE: core_table.table_name,
                settings.ENV_JOURNEY_STARTS_PER_SECOND: str(starts_per_second),
                settings.ENV_JOURNEY_STARTER_CONCURRENCY: str(STARTER_CONCURRENCY),
            },
        )
        self.starter.add_event_source(
            event_sources.SqsEventSource(
                self.starts_queue,
                batch_size=starter_batch(starts_per_second),
                max_batching_window=Duration.seconds(1),
                report_batch_item_failures=True,
                max_concurrency=STARTER_CONCURRENCY,
            )
        )
        grant_core_reads(self.starter, core_table, core_gsi1_arn)
        grant_core_writes(self.starter, core_table, _ITEM_WRITES, [RUN_PREFIX, PERSON_PREFIX, ENTRY_PREFIX])
        self.starter.add_to_role_policy(iam.PolicyStatement(actions=["states:StartExecution"], resources=[machines]))

        # The consumer of bus events, cohort firings and archive's run ending.
        self.consumer: lambda_.Function = factory.create(
            self,
            JOURNEY_EVENTS,
            description="Journey events: resumes waits, applies exit rules, records clicks and conversions, queues entries",
            memory_size=512,
            timeout=Duration.minutes(5),
            environment={
                settings.ENV_CORE_TABLE: core_table.table_name,
                settings.ENV_EVENT_BUS: bus.event_bus_name,
                settings.ENV_JOURNEY_STARTS_QUEUE_URL: self.starts_queue.queue_url,
            },
        )
        grant_core_reads(self.consumer, core_table, core_gsi1_arn)
        # Runs, their lookups and waits; handled events; admissions (a merge folds them together).
        grant_core_writes(
            self.consumer, core_table, _ITEM_WRITES, [RUN_PREFIX, PERSON_PREFIX, WAIT_PREFIX, SEEN_PREFIX, ENTRY_PREFIX]
        )
        # `Journey Exited` goes onto the person's timeline directly (one put), like the exit node's.
        grant_core_writes(self.consumer, core_table, ["dynamodb:PutItem"], ["PROFILE#"])
        bus.grant_put_events_to(self.consumer)  # journey.exited
        self.starts_queue.grant_send_messages(self.consumer)
        self.consumer.add_to_role_policy(iam.PolicyStatement(actions=["states:StopExecution"], resources=[executions]))
        # Task tokens of the wait-for-event tasks are answered on the machines they belong to.
        self.consumer.add_to_role_policy(
            iam.PolicyStatement(actions=["states:SendTaskSuccess", "states:SendTaskFailure"], resources=[machines])
        )
        # A big cohort goes on in a fresh invocation of itself: a policy of its own (the role's
        # default policy cannot name the function it is attached to).
        iam.Policy(
            self.consumer,
            "ContinueCohorts",
            roles=[cast(iam.IRole, self.consumer.role)],
            statements=[iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[self.consumer.function_arn])],
        )
        for function in (self.starter, self.consumer):
            _acknowledge_journey_machines(function, stack)

        self.dead_letter_queue = dead_letter_queue(self, "DeadLetters", of="the journey events rule's Lambda target")
        self.rule = events.Rule(
            self,
            "JourneyEvents",
            event_bus=bus,
            description="Events, segment moves, merges and unmerges to the journey event consumer",
            event_pattern=events.EventPattern(
                source=[SOURCE],
                detail_type=[EVENT_RECEIVED, SEGMENT_ENTERED, SEGMENT_EXITED, PROFILE_MERGED, PROFILE_UNMERGED],
            ),
            targets=[
                targets.LambdaFunction(
                    self.consumer,
                    dead_letter_queue=self.dead_letter_queue,
                    retry_attempts=4,
                    max_event_age=Duration.hours(2),
                )
            ],
        )

        # Scheduled cohorts: one schedule per journey, invoking the consumer.
        self.schedule_group = scheduler.CfnScheduleGroup(self, "Schedules", name=f"{stack.stack_name}-journeys")
        self.scheduler_role = iam.Role(
            self,
            "SchedulerRole",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}
            ),
            description="EventBridge Scheduler: fire journeys' scheduled cohorts, nothing else",
        )
        iam.Grant.add_to_principal(
            grantee=self.scheduler_role, actions=["lambda:InvokeFunction"], resource_arns=[self.consumer.function_arn]
        )

        # Daily: delete the machines of versions superseded for a day that nothing runs on, and
        # record them on the journey (cdp.journeys.retirement).
        self.consumer.add_to_role_policy(
            iam.PolicyStatement(actions=["states:ListExecutions", "states:DeleteStateMachine"], resources=[machines])
        )
        grant_core_writes(self.consumer, core_table, ["dynamodb:PutItem"], [JOURNEY_PK_PREFIX])
        retire = scheduler.CfnSchedule(
            self,
            "RetireVersions",
            name=RETIRE_SCHEDULE,
            group_name=cast(str, self.schedule_group.name),
            schedule_expression="cron(30 3 * * ? *)",
            schedule_expression_timezone=schedule_time_zone,
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            target=scheduler.CfnSchedule.TargetProperty(
                arn=self.consumer.function_arn,
                role_arn=self.scheduler_role.role_arn,
                input=json.dumps({"retire_versions": {}}),
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                    maximum_retry_attempts=2, maximum_event_age_in_seconds=6 * 3600
                ),
            ),
            description="Daily: retire the state machines of superseded journey versions nothing runs on",
        )
        retire.add_resource_dependency(self.schedule_group)

    def wire_admin_api(self, admin_api: lambda_.Function) -> None:
        """Publishing puts a cohort journey's schedule; archiving hands the run ending to the consumer."""
        group = cast(str, self.schedule_group.name)
        admin_api.add_environment(settings.ENV_JOURNEY_EVENTS_FUNCTION, self.consumer.function_arn)
        admin_api.add_environment(settings.ENV_JOURNEY_SCHEDULE_GROUP, group)
        admin_api.add_environment(settings.ENV_JOURNEY_SCHEDULER_ROLE_ARN, self.scheduler_role.role_arn)
        iam.Grant.add_to_principal(
            grantee=admin_api, actions=["lambda:InvokeFunction"], resource_arns=[self.consumer.function_arn]
        )
        stack = Stack.of(self)
        admin_api.add_to_role_policy(
            iam.PolicyStatement(
                actions=["scheduler:CreateSchedule", "scheduler:UpdateSchedule", "scheduler:DeleteSchedule"],
                resources=[
                    stack.format_arn(
                        service="scheduler", resource="schedule", resource_name=f"{group}/{SCHEDULE_PREFIX}*"
                    )
                ],
            )
        )
        self.scheduler_role.grant_pass_role(admin_api)
        Validations.of(cast(iam.IRole, admin_api.role)).acknowledge(
            Acknowledgment(
                id=f"AwsSolutions-IAM5[Resource::{nag.arn_prefix(self, 'scheduler')}schedule/{group}/{SCHEDULE_PREFIX}*]",
                reason="One schedule per journey, named journey-<id>, in this stack's journeys schedule group only.",
            )
        )


def _acknowledge_journey_machines(function: lambda_.Function, stack: Stack) -> None:
    for kind in ("stateMachine", "execution"):
        Validations.of(cast(iam.IRole, function.role)).acknowledge(
            Acknowledgment(
                id=f"AwsSolutions-IAM5[Resource::{nag.arn_prefix(stack, 'states')}{kind}:{stack.stack_name}-journey-*]",
                reason="Each published journey version has its own state machine, created at publish and named "
                "<stack>-journey-<id>-v<version>: the pattern names this stack's journeys only.",
            )
        )
