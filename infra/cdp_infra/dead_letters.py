"""The processor's dead letters, kept past the stream's 24 hours so they can be replayed."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_sqs as sqs
from cdp import settings
from cdp.adapters.dead_letters import PK_PREFIX
from constructs import Construct

from infra.cdp_infra import constants
from infra.cdp_infra.function_factory import FunctionFactory
from infra.cdp_infra.routes import DLQ_ARCHIVER
from infra.cdp_infra.tables import grant_core_writes

STREAM_READ_ACTIONS = ("dynamodb:DescribeStream", "dynamodb:GetShardIterator", "dynamodb:GetRecords")


class ProcessorDeadLetters(Construct):
    """`dlq_archiver` on the processor's on-failure queue.

    An on-failure message holds stream coordinates only, and the stream forgets its records after
    24 hours; the raw events stay for their TTL. The archiver reads the failed batch's keys from
    the stream right away and keeps them as `DEADLETTER#processor` items in the core table (with
    the raw item's TTL), which `python -m cdp_ops.replay` lists and re-submits.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        factory: FunctionFactory,
        queue: sqs.IQueue,
        raw_events: dynamodb.ITable,
        core_table: dynamodb.ITable,
    ) -> None:
        super().__init__(scope, construct_id)
        self.queue = queue
        self.function = factory.create(
            self,
            DLQ_ARCHIVER,
            description="Keeps the raw-event keys of the processor's failed stream batches for replay",
            timeout=constants.DLQ_ARCHIVER_TIMEOUT,
            environment={settings.ENV_CORE_TABLE: core_table.table_name},
        )
        iam.Grant.add_to_principal(
            grantee=self.function,
            actions=list(STREAM_READ_ACTIONS),
            resource_arns=[str(raw_events.table_stream_arn)],
        )
        grant_core_writes(self.function, core_table, ["dynamodb:BatchWriteItem"], [PK_PREFIX])
        self.function.add_event_source(
            event_sources.SqsEventSource(
                queue,
                batch_size=10,
                max_batching_window=Duration.seconds(0),
                report_batch_item_failures=True,
            )
        )
