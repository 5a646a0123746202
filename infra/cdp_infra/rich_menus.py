"""Rich menus per segment (cdp.segments.rich_menus): `segment.entered` / `segment.exited` on the
bus to the rich menu sync function, which links and unlinks LINE per-user rich menus; the admin
API links a menu to a segment and starts a full resync (an asynchronous invoke).

Not messages: LINE calls of their own, outside the send point.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from cdp import settings
from cdp.domain_events import SEGMENT_ENTERED, SEGMENT_EXITED, SOURCE
from constructs import Construct

from infra.cdp_infra import constants
from infra.cdp_infra.function_factory import FunctionFactory
from infra.cdp_infra.queues import dead_letter_queue
from infra.cdp_infra.routes import RICH_MENU_SYNC
from infra.cdp_infra.tables import grant_core_reads


class SegmentRichMenus(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        factory: FunctionFactory,
        core_table: dynamodb.ITable,
        core_gsi1_arn: str,
        bus: events.IEventBus,
        line_channels: secretsmanager.ISecret,
    ) -> None:
        super().__init__(scope, construct_id)
        self.function: lambda_.Function = factory.create(
            self,
            RICH_MENU_SYNC,
            description="Links LINE rich menus to segment members and unlinks those who leave",
            memory_size=256,
            # A full resync pages the segment: 500 users a request, within LINE's rate limits.
            timeout=Duration.minutes(15),
            environment={
                settings.ENV_CORE_TABLE: core_table.table_name,
                settings.ENV_LINE_CHANNELS_SECRET: line_channels.secret_arn,
                settings.ENV_SECRETS_CACHE_SECONDS: str(constants.SECRETS_CACHE_SECONDS),
            },
        )
        grant_core_reads(self.function, core_table, core_gsi1_arn)  # links, memberships, profiles
        line_channels.grant_read(self.function)

        self.dead_letter_queue = dead_letter_queue(self, "DeadLetters", of="the membership rule's Lambda target")
        self.rule = events.Rule(
            self,
            "MembershipChanges",
            event_bus=bus,
            description="Segment entries and exits to the rich menu sync",
            event_pattern=events.EventPattern(source=[SOURCE], detail_type=[SEGMENT_ENTERED, SEGMENT_EXITED]),
            targets=[
                targets.LambdaFunction(
                    self.function,
                    dead_letter_queue=self.dead_letter_queue,
                    retry_attempts=8,
                    max_event_age=Duration.hours(6),
                )
            ],
        )

    def wire_admin_api(self, admin_api: lambda_.Function) -> None:
        """The admin API links menus to segments and starts a resync (this function only)."""
        admin_api.add_environment(settings.ENV_RICH_MENU_SYNC_FUNCTION, self.function.function_arn)
        iam.Grant.add_to_principal(
            grantee=admin_api, actions=["lambda:InvokeFunction"], resource_arns=[self.function.function_arn]
        )
