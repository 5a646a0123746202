"""What operators watch: alarms that need a human (one SNS topic) and the operations dashboard.

Both live in a nested stack (`Operations`): sixty-odd alarms would otherwise count against the
main stack's 500-resource limit, which the API's resources and methods fill. Construct ids inside
it keep their names (`Monitoring`, `OperationsDashboard`), so alarm logical ids read as before.

Every alarm's description ends with its runbook section (docs/runbook.md), so the notification
says what to do. The product's own metrics (namespace `LineCdp`, names in cdp.observability) are
written by the functions in embedded metric format with powertools' `service` dimension.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from aws_cdk import Duration, NestedStack
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from cdp import observability
from constructs import Construct

from infra.cdp_infra import constants

RUNBOOK = "docs/runbook.md"
DASHBOARD_WIDTH = 24


def _custom(name: str, period: Duration, label: str | None = None) -> cloudwatch.Metric:
    """A product metric; labels only on the dashboard (a label turns an alarm into metric math)."""
    return cloudwatch.Metric(
        namespace=constants.METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map={"service": constants.SERVICE_NAME},  # powertools' default dimension
        statistic="Sum",
        period=period,
        label=label,
    )


def ingest_rejected_metric(period: Duration = constants.ALARM_PERIOD) -> cloudwatch.Metric:
    return _custom(observability.INGEST_REJECTED, period, "events rejected at ingest")


def audience_sync_failed_metric(
    period: Duration = constants.ALARM_PERIOD, label: str | None = None
) -> cloudwatch.Metric:
    return _custom(observability.AUDIENCE_SYNC_FAILED, period, label)


def scheduler_metric(name: str, group: str, period: Duration = constants.ALARM_PERIOD) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace="AWS/Scheduler",
        metric_name=name,
        dimensions_map={"ScheduleGroup": group},
        statistic="Sum",
        period=period,
        label=f"{name} ({group})",
    )


def iterator_age(
    function: lambda_.IFunction, label: str | None = None, period: Duration = constants.ALARM_PERIOD
) -> cloudwatch.Metric:
    """Maximum iterator age; unlabelled for alarms (a label turns an alarm into metric math)."""
    return function.metric(
        "IteratorAge", period=period, statistic="Maximum", unit=cloudwatch.Unit.MILLISECONDS, label=label
    )


@dataclass(frozen=True)
class Watched:
    """Everything the alarms and the dashboard look at."""

    functions: Mapping[str, lambda_.IFunction]
    api: apigateway.RestApi
    stream_consumer: lambda_.IFunction  # the event processor (raw-events stream)
    archive_writer: lambda_.IFunction  # the core table's stream -> the Parquet archive
    dead_letter_queue: sqs.IQueue  # the processor's on-failure queue
    dead_letter_archiver: lambda_.IFunction  # reads that queue into replayable dead letters
    merge: sfn.IStateMachine
    unmerge: sfn.IStateMachine
    schedule_groups: Sequence[str] = ()
    ingest_functions: Sequence[lambda_.IFunction] = ()  # LINE webhook and partner ingest
    event_dead_letter_queues: Mapping[str, sqs.IQueue] = field(default_factory=dict)


class Monitoring(Construct):
    """One alarm per failure that needs a human. Subscribe an email or chat integration to
    `alarm_topic` after deploy."""

    def __init__(self, scope: Construct, construct_id: str, *, watched: Watched) -> None:
        super().__init__(scope, construct_id)
        self.alarm_topic = sns.Topic(self, "AlarmTopic", enforce_ssl=True)
        self._action = cloudwatch_actions.SnsAction(self.alarm_topic)
        self.alarms: list[cloudwatch.Alarm] = []
        period = constants.ALARM_PERIOD
        w = watched

        # Dead letters arrive in the processor's queue and dlq_archiver takes them at once, so the
        # queue alone would look empty: an archiver run or a message waiting both count.
        self._alarm(
            "DeadLetters",
            cloudwatch.MathExpression(
                expression="archived + waiting",
                using_metrics={
                    "archived": w.dead_letter_archiver.metric_invocations(period=period, statistic="Sum"),
                    "waiting": w.dead_letter_queue.metric_approximate_number_of_messages_visible(
                        period=period, statistic="Maximum"
                    ),
                },
                period=period,
                label="processor batches given up",
            ),
            0,
            "The event processor gave up on raw events after all retries.",
            "dead-letters",
        )
        for name, queue in w.event_dead_letter_queues.items():
            self._alarm(
                f"{name}DeadLetters",
                queue.metric_approximate_number_of_messages_visible(period=period, statistic="Maximum"),
                0,
                f"Events for {name} gave up after all retries.",
                "bus-and-archive-dead-letters",
            )
        for name, function in w.functions.items():
            self._alarm(
                f"{name}Errors",
                function.metric_errors(period=period, statistic="Sum"),
                0,
                f"{name} raised unhandled errors.",
                "function-errors",
            )
            self._alarm(
                f"{name}Throttles",
                function.metric_throttles(period=period, statistic="Sum"),
                0,
                f"{name} was throttled (reserved or account concurrency reached).",
                "lambda-throttles",
            )
        self._alarm(
            "StreamIteratorAge",
            iterator_age(w.stream_consumer),
            constants.ITERATOR_AGE_ALARM_MS,
            "The event processor is falling behind the raw-events stream.",
            "processor-lag",
        )
        self._alarm(
            "ArchiveWriterIteratorAge",
            iterator_age(w.archive_writer),
            constants.ARCHIVE_ITERATOR_AGE_ALARM_MS,
            "The archive writer is falling behind the core table's stream (segments and reports see old data).",
            "archive-writer-lag",
        )
        self._alarm(
            "Api5xx",
            w.api.metric_server_error(period=period, statistic="Sum"),
            0,
            "The API answered 5XX: callers (LINE, partners) will retry or drop events.",
            "api-5xx",
        )
        for name, machine in (("Merge", w.merge), ("Unmerge", w.unmerge)):
            self._alarm(
                f"{name}ExecutionsFailed",
                cloudwatch.MathExpression(
                    expression="failed + timedOut + aborted",
                    using_metrics={
                        "failed": machine.metric_failed(period=period, statistic="Sum"),
                        "timedOut": machine.metric_timed_out(period=period, statistic="Sum"),
                        "aborted": machine.metric_aborted(period=period, statistic="Sum"),
                    },
                    period=period,
                    label=f"{name.lower()} executions failed",
                ),
                0,
                f"A profile {name.lower()} execution failed, timed out or was aborted.",
                "merge-failed",
            )
        for index, group in enumerate(w.schedule_groups):
            self._alarm(
                f"ScheduleFailures{index}" if index else "ScheduleFailures",
                cloudwatch.MathExpression(
                    expression="targetErrors + dropped",
                    using_metrics={
                        "targetErrors": scheduler_metric("TargetErrorCount", group),
                        "dropped": scheduler_metric("InvocationDroppedCount", group),
                    },
                    period=period,
                    label="schedule invocations failed",
                ),
                0,
                "EventBridge Scheduler could not start a scheduled run (segment recompute, RFM or compaction).",
                "schedule-failures",
            )
        self._alarm(
            "AudienceSyncFailed",
            audience_sync_failed_metric(),
            0,
            "A synced LINE audience was not brought up to date (the next scheduled run retries).",
            "audience-sync-failed",
        )
        self._alarm(
            "AuditWriteFailed",
            _custom(observability.AUDIT_WRITE_FAILED, period),
            0,
            "An admin action was not written to the audit log (its record is in the function's log).",
            "audit-write-failed",
        )

    def _alarm(
        self, construct_id: str, metric: cloudwatch.IMetric, threshold: float, description: str, runbook: str
    ) -> None:
        created = cloudwatch.Alarm(
            self,
            construct_id,
            metric=metric,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=f"{description} Runbook: {RUNBOOK}#{runbook}",
        )
        created.add_alarm_action(self._action)
        self.alarms.append(created)


class OperationsDashboard(Construct):
    """One CloudWatch dashboard: traffic in, what was refused, lag, merges, segments, failures."""

    def __init__(
        self, scope: Construct, construct_id: str, *, watched: Watched, alarms: Sequence[cloudwatch.Alarm] = ()
    ) -> None:
        super().__init__(scope, construct_id)
        w = watched
        period = constants.DASHBOARD_PERIOD
        self.dashboard = cloudwatch.Dashboard(
            self, "Dashboard", default_interval=Duration.hours(3), period_override=cloudwatch.PeriodOverride.AUTO
        )

        def graph(
            title: str,
            metrics: Sequence[cloudwatch.IMetric],
            *,
            width: int = 8,
            right: Sequence[cloudwatch.IMetric] = (),
        ) -> cloudwatch.GraphWidget:
            return cloudwatch.GraphWidget(title=title, left=list(metrics), right=list(right), width=width, height=6)

        ingest = [
            function.metric_invocations(period=period, statistic="Sum").with_(label=name)
            for name, function in w.functions.items()
            if function in w.ingest_functions
        ]
        self.dashboard.add_widgets(
            graph(
                "Ingest rate (requests)",
                [w.api.metric_count(period=period, statistic="Sum").with_(label="API requests"), *ingest],
            ),
            graph(
                "Rejections",
                [
                    ingest_rejected_metric(period),
                    w.api.metric_client_error(period=period, statistic="Sum").with_(label="API 4XX"),
                    w.api.metric_server_error(period=period, statistic="Sum").with_(label="API 5XX"),
                ],
            ),
            graph(
                "Processor lag (iterator age, ms)",
                [
                    iterator_age(w.stream_consumer, "event processor", period),
                    iterator_age(w.archive_writer, "archive writer", period),
                ],
            ),
        )
        merge_metrics: list[cloudwatch.IMetric] = []
        for name, machine in (("merge", w.merge), ("unmerge", w.unmerge)):
            merge_metrics += [
                machine.metric_started(period=period, statistic="Sum").with_(label=f"{name} started"),
                machine.metric_succeeded(period=period, statistic="Sum").with_(label=f"{name} succeeded"),
                machine.metric_failed(period=period, statistic="Sum").with_(label=f"{name} failed"),
                machine.metric_timed_out(period=period, statistic="Sum").with_(label=f"{name} timed out"),
            ]
        scheduler = [
            scheduler_metric(metric, group, period)
            for group in w.schedule_groups
            for metric in ("InvocationAttemptCount", "TargetErrorCount", "InvocationDroppedCount")
        ]
        self.dashboard.add_widgets(
            graph("Merges (Step Functions executions)", merge_metrics),
            graph(
                "Segment changes (people)",
                [
                    _custom(observability.SEGMENT_ENTERED, period, "entered"),
                    _custom(observability.SEGMENT_EXITED, period, "exited"),
                ],
            ),
            graph(
                "Schedules and LINE audience syncs",
                scheduler,
                right=[audience_sync_failed_metric(period, "LINE audience syncs failed")],
            ),
        )
        self.dashboard.add_widgets(
            graph(
                "Errors per function",
                [f.metric_errors(period=period, statistic="Sum").with_(label=n) for n, f in w.functions.items()],
                width=12,
            ),
            graph(
                "Throttles per function",
                [f.metric_throttles(period=period, statistic="Sum").with_(label=n) for n, f in w.functions.items()],
                width=12,
            ),
        )
        self.dashboard.add_widgets(
            graph(
                "Dead letters",
                [
                    w.dead_letter_queue.metric_approximate_number_of_messages_visible(
                        period=period, statistic="Maximum"
                    ).with_(label="processor queue (waiting)"),
                    w.dead_letter_archiver.metric_invocations(period=period, statistic="Sum").with_(
                        label="processor batches kept for replay"
                    ),
                    *(
                        queue.metric_approximate_number_of_messages_visible(period=period, statistic="Maximum").with_(
                            label=name
                        )
                        for name, queue in w.event_dead_letter_queues.items()
                    ),
                ],
                width=12,
            ),
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=list(alarms), width=12, height=6),
        )


class Operations(NestedStack):
    """The alarms, their topic and the dashboard, in a stack of their own (see the module doc)."""

    def __init__(self, scope: Construct, construct_id: str, *, watched: Watched) -> None:
        super().__init__(scope, construct_id, description="LINE CDP alarms and the operations dashboard")
        self.monitoring = Monitoring(self, constants.MONITORING_ID, watched=watched)
        self.dashboard = OperationsDashboard(
            self, constants.DASHBOARD_ID, watched=watched, alarms=self.monitoring.alarms
        )
