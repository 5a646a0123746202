"""The event processor: the raw-events stream in, profiles and domain events out."""

from __future__ import annotations

from typing import cast

from aws_cdk import Acknowledgment, Duration, Validations
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from cdp import settings
from constructs import Construct

from infra.cdp_infra import constants
from infra.cdp_infra.deploy_settings import DeploySettings
from infra.cdp_infra.function_factory import FunctionFactory
from infra.cdp_infra.queues import dead_letter_queue
from infra.cdp_infra.routes import EVENT_PROCESSOR
from infra.cdp_infra.tables import CdpTables, grant_core_reads, grant_core_writes


class EventProcessing(Construct):
    """Wires `event_processor` to the raw-events stream so nothing accepted is ever lost.

    Records are read oldest first in batches; the function reports the records it failed so only
    those are retried, a failing batch is halved to isolate a poison record, and after the
    retries (or a day) the record's stream coordinates go to a DLQ that an alarm watches.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        factory: FunctionFactory,
        tables: CdpTables,
        bus: events.IEventBus,
    ) -> None:
        super().__init__(scope, construct_id)
        self.dead_letter_queue = dead_letter_queue(
            self,
            "DeadLetterQueue",
            of="the raw-events stream mapping",
            visibility_timeout=constants.DLQ_VISIBILITY_TIMEOUT,
        )

        self.function = factory.create(
            self,
            EVENT_PROCESSOR,
            description="Normalises raw events, resolves identity, updates profiles, publishes domain events",
            memory_size=512,
            timeout=Duration.seconds(60),
            environment={
                settings.ENV_CORE_TABLE: tables.core.table_name,
                settings.ENV_EVENT_BUS: bus.event_bus_name,
                settings.ENV_DEFAULT_PHONE_REGION: DeploySettings.of(self).default_phone_region,
                settings.ENV_PUBLISH_EVENT_RECEIVED: DeploySettings.of(self).publish_event_received,
                settings.ENV_RAW_EVENTS_TABLE: tables.raw_events.table_name,
            },
        )
        # Profiles, identifiers and timeline: read through the table and gsi1, write items
        # (transactions need the per-item actions), never scan or touch the schema.
        grant_core_reads(self.function, tables.core, tables.core_gsi1_arn)
        iam.Grant.add_to_principal(
            grantee=self.function,
            # The processor writes only through TransactWriteItems of Puts (marker, timeline, profile, claims).
            actions=["dynamodb:PutItem"],
            resource_arns=[tables.core.table_arn],  # Table.grant would add `index/*`
        )
        bus.grant_put_events_to(self.function)
        # Erase suppression (cdp.privacy.suppression): an erased person's later event is dropped
        # from the raw table and counted on the erase record, in one transaction.
        iam.Grant.add_to_principal(
            grantee=self.function, actions=["dynamodb:DeleteItem"], resource_arns=[tables.raw_events.table_arn]
        )
        grant_core_writes(self.function, tables.core, ["dynamodb:UpdateItem"], ["ERASE#"])

        self._stream_source(tables)

    def wire_auto_replies(self, sender: lambda_.IFunction) -> None:
        """Auto-replies (cdp.messaging.auto_reply): the processor hands each reply to the message
        sender as an asynchronous invoke, after its commit, off the webhook's path."""
        self.function.add_environment(settings.ENV_MESSAGE_SENDER_FUNCTION, sender.function_arn)
        # This function only (grant_invoke would add its versions, `:*`).
        iam.Grant.add_to_principal(
            grantee=self.function, actions=["lambda:InvokeFunction"], resource_arns=[sender.function_arn]
        )

    def _stream_source(self, tables: CdpTables) -> None:
        self.function.add_event_source(
            event_sources.DynamoEventSource(
                tables.raw_events,
                starting_position=lambda_.StartingPosition.TRIM_HORIZON,
                batch_size=constants.STREAM_BATCH_SIZE,
                max_batching_window=constants.STREAM_BATCHING_WINDOW,
                bisect_batch_on_error=True,
                report_batch_item_failures=True,
                retry_attempts=constants.STREAM_RETRY_ATTEMPTS,
                max_record_age=constants.STREAM_MAX_RECORD_AGE,
                on_failure=event_sources.SqsDlq(self.dead_letter_queue),
            )
        )
        Validations.of(cast(iam.IRole, self.function.role)).acknowledge(
            Acknowledgment(
                id="AwsSolutions-IAM5[Resource::*]",
                reason=(
                    "Besides X-Ray, the stream event source grants dynamodb:ListStreams, which has no "
                    "resource-level permissions; reading the stream itself is scoped to its ARN."
                ),
            )
        )
