"""Dead-letter queues: where a stream mapping, an event rule or a queue puts what failed."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Duration, Validations
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.cdp_infra import constants


def dead_letter_queue(
    scope: Construct, construct_id: str, *, of: str, visibility_timeout: Duration | None = None
) -> sqs.Queue:
    """An encrypted, TLS-only queue keeping failures for `constants.DLQ_RETENTION`; `of` says whose
    dead letters it holds (a dead-letter queue has no dead-letter queue of its own: cdk-nag SQS3)."""
    queue = sqs.Queue(
        scope,
        construct_id,
        retention_period=constants.DLQ_RETENTION,
        visibility_timeout=visibility_timeout,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
    )
    Validations.of(queue).acknowledge(
        Acknowledgment(id="AwsSolutions-SQS3", reason=f"This queue is itself the dead-letter queue of {of}.")
    )
    return queue
