"""Alarms that say when events are being lost or delayed, published to one SNS topic."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.cdp_infra import constants


class Monitoring(Construct):
    """One alarm per failure that needs a human: a dead letter, function errors, stream lag, 5XX.

    Subscribe an email or chat integration to `alarm_topic` after deploy.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: Mapping[str, lambda_.IFunction],
        stream_consumer: lambda_.IFunction,
        dead_letter_queue: sqs.IQueue,
        api: apigateway.RestApi,
        event_dead_letter_queues: Mapping[str, sqs.IQueue] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.alarm_topic = sns.Topic(self, "AlarmTopic", enforce_ssl=True)
        action = cloudwatch_actions.SnsAction(self.alarm_topic)
        self.alarms: list[cloudwatch.Alarm] = []

        def alarm(construct_id: str, metric: cloudwatch.IMetric, threshold: float, description: str) -> None:
            created = cloudwatch.Alarm(
                self,
                construct_id,
                metric=metric,
                threshold=threshold,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description=description,
            )
            created.add_alarm_action(action)
            self.alarms.append(created)

        alarm(
            "DeadLetters",
            dead_letter_queue.metric_approximate_number_of_messages_visible(
                period=constants.ALARM_PERIOD, statistic="Maximum"
            ),
            0,
            "Raw events gave up after all retries: inspect the DLQ and replay them.",
        )
        for name, queue in (event_dead_letter_queues or {}).items():
            alarm(
                f"{name}DeadLetters",
                queue.metric_approximate_number_of_messages_visible(period=constants.ALARM_PERIOD, statistic="Maximum"),
                0,
                f"Bus events for {name} gave up after all retries: inspect its dead-letter queue.",
            )
        for name, function in functions.items():
            alarm(
                f"{name}Errors",
                function.metric_errors(period=constants.ALARM_PERIOD, statistic="Sum"),
                0,
                f"{name} raised unhandled errors.",
            )
        alarm(
            "StreamIteratorAge",
            stream_consumer.metric(
                "IteratorAge", period=constants.ALARM_PERIOD, statistic="Maximum", unit=cloudwatch.Unit.MILLISECONDS
            ),
            constants.ITERATOR_AGE_ALARM_MS,
            "The event processor is falling behind the raw-events stream.",
        )
        alarm(
            "Api5xx",
            api.metric_server_error(period=constants.ALARM_PERIOD, statistic="Sum"),
            0,
            "The API answered 5XX: callers (LINE, partners) will retry or drop events.",
        )
