"""Real-time segments: profile changes on the bus re-evaluate the segments they can affect.

An EventBridge rule sends `profile.updated`, `profile.merged` and `profile.unmerged` to the
segment evaluator (asynchronous invoke: retried, then kept on a dead-letter queue). The
evaluator writes memberships and publishes `segment.entered` / `segment.exited` on the same bus.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from cdp import settings
from cdp.domain_events import PROFILE_MERGED, PROFILE_UNMERGED, PROFILE_UPDATED, SOURCE
from constructs import Construct

from infra.cdp_infra.function_factory import FunctionFactory
from infra.cdp_infra.queues import dead_letter_queue
from infra.cdp_infra.routes import SEGMENT_EVALUATOR
from infra.cdp_infra.tables import grant_core_reads, grant_core_writes

SEGMENT_KEY_PREFIX = "SEGMENT#"


class RealtimeSegments(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        factory: FunctionFactory,
        core_table: dynamodb.ITable,
        core_gsi1_arn: str,
        bus: events.IEventBus,
    ) -> None:
        super().__init__(scope, construct_id)
        self.function: lambda_.Function = factory.create(
            self,
            SEGMENT_EVALUATOR,
            description="Re-evaluates the segments a profile change can affect; publishes segment.entered/exited",
            memory_size=512,
            timeout=Duration.seconds(30),
            environment={
                settings.ENV_CORE_TABLE: core_table.table_name,
                settings.ENV_EVENT_BUS: bus.event_bus_name,
            },
        )
        grant_core_reads(self.function, core_table, core_gsi1_arn)
        # Memberships and their history only; profiles and timelines are read, never written.
        grant_core_writes(self.function, core_table, ["dynamodb:PutItem", "dynamodb:DeleteItem"], [SEGMENT_KEY_PREFIX])
        bus.grant_put_events_to(self.function)

        self.dead_letter_queue = dead_letter_queue(self, "DeadLetters", of="the profile-change rule's Lambda target")
        self.rule = events.Rule(
            self,
            "ProfileChanges",
            event_bus=bus,
            description="Profile changes to the real-time segment evaluator",
            event_pattern=events.EventPattern(
                source=[SOURCE], detail_type=[PROFILE_UPDATED, PROFILE_MERGED, PROFILE_UNMERGED]
            ),
            targets=[
                targets.LambdaFunction(
                    self.function,
                    dead_letter_queue=self.dead_letter_queue,
                    retry_attempts=4,
                    max_event_age=Duration.hours(2),
                )
            ],
        )
