"""The message sender: the one function every message goes through (cdp.messaging.send_point).

Senders (campaign fan-out, auto-replies, journeys) invoke it with `{"requests": [...]}`; a marketing
send held by quiet hours comes back through a one-time EventBridge Scheduler schedule named
`msg-release-<hash>` in the messages schedule group (apart from segment schedules, which are
named after any segment id). Its reserved concurrency (a deploy setting)
is also the number its LINE rate-limit share is computed for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from aws_cdk import Acknowledgment, Aws, Duration, Stack, Validations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_ses as ses
from cdp import settings
from cdp.adapters.dynamodb.link_store import PK_PREFIX as LINK_PK_PREFIX
from cdp.adapters.dynamodb.send_ledger import KEY_PREFIXES
from cdp.messaging.send_point import RELEASE_NAME_PREFIX as RELEASE_PREFIX
from constructs import Construct

from infra.cdp_infra import constants, nag
from infra.cdp_infra.deploy_settings import DeploySettings
from infra.cdp_infra.function_factory import FunctionFactory
from infra.cdp_infra.queues import dead_letter_queue
from infra.cdp_infra.routes import MESSAGE_SENDER
from infra.cdp_infra.tables import grant_core_reads, grant_core_writes

DEFAULT_SENDER_CONCURRENCY = 10  # the LINE rate share when no concurrency is reserved
CAP_AND_LEDGER_ACTIONS = ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem"]


@dataclass(frozen=True)
class _Sending:
    environment: dict[str, str]
    core_table: dynamodb.ITable
    core_gsi1_arn: str
    raw_events: dynamodb.ITable
    bus: events.IEventBus
    line_channels: secretsmanager.ISecret
    link_signing_key: secretsmanager.ISecret
    configuration_set: str
    schedule_group: str


class MessageSender(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        factory: FunctionFactory,
        core_table: dynamodb.ITable,
        core_gsi1_arn: str,
        raw_events: dynamodb.ITable,
        bus: events.IEventBus,
        line_channels: secretsmanager.ISecret,
        link_signing_key: secretsmanager.ISecret,
        link_base_url: str | None,
    ) -> None:
        super().__init__(scope, construct_id)
        deploy = DeploySettings.of(self)
        concurrency = deploy.message_sender_concurrency
        stack = Stack.of(self)
        self.schedule_group = scheduler.CfnScheduleGroup(self, "Schedules", name=f"{stack.stack_name}-messages")
        schedule_group = cast(str, self.schedule_group.name)
        # Named, so the functions' environment holds a plain name (the local stack has no SES).
        configuration_set = f"{stack.stack_name}-messages"
        self.configuration_set = ses.CfnConfigurationSet(self, "EmailConfigurationSet", name=configuration_set)
        environment = {
            settings.ENV_CORE_TABLE: core_table.table_name,
            settings.ENV_RAW_EVENTS_TABLE: raw_events.table_name,
            settings.ENV_RAW_EVENT_TTL_DAYS: str(deploy.raw_event_ttl_days),
            settings.ENV_EVENT_BUS: bus.event_bus_name,
            settings.ENV_SECRETS_CACHE_SECONDS: str(constants.SECRETS_CACHE_SECONDS),
            settings.ENV_LINE_CHANNELS_SECRET: line_channels.secret_arn,
            settings.ENV_LINK_SIGNING_SECRET: link_signing_key.secret_arn,
            settings.ENV_MESSAGE_SENDER_CONCURRENCY: str(concurrency or DEFAULT_SENDER_CONCURRENCY),
            settings.ENV_MESSAGE_SCHEDULE_GROUP: schedule_group,
            settings.ENV_SES_CONFIGURATION_SET: configuration_set,
        }
        if link_base_url:
            environment[settings.ENV_LINK_BASE_URL] = link_base_url
        if deploy.email_from_address:
            environment[settings.ENV_EMAIL_FROM_ADDRESS] = deploy.email_from_address
        if deploy.sms_sender_id:
            environment[settings.ENV_SMS_SENDER_ID] = deploy.sms_sender_id
        self.function: lambda_.Function = factory.create(
            self,
            MESSAGE_SENDER,
            description="The send point: consent, caps, quiet hours, exactly-once sends to LINE, SES and SNS",
            memory_size=512,
            # A batch of up to 500 recipients, each call retried with backoff within LINE's limits.
            timeout=Duration.minutes(5),
            reserved_concurrent_executions=concurrency,
            environment=environment,
        )
        self._sending = _Sending(
            environment=environment,
            core_table=core_table,
            core_gsi1_arn=core_gsi1_arn,
            raw_events=raw_events,
            bus=bus,
            line_channels=line_channels,
            link_signing_key=link_signing_key,
            configuration_set=configuration_set,
            schedule_group=schedule_group,
        )
        # Held sends come back through one-time schedules that invoke this function only.
        self.scheduler_role = iam.Role(
            self,
            "ReleaseSchedulerRole",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}
            ),
            description="EventBridge Scheduler: hand held messages back to the message sender, nothing else",
        )
        iam.Grant.add_to_principal(
            grantee=self.scheduler_role, actions=["lambda:InvokeFunction"], resource_arns=[self.function.function_arn]
        )
        self.allow_sending(self.function)
        self._email_feedback(configuration_set)

    def allow_sending(self, function: lambda_.Function) -> None:
        """What running the send point takes (cdp.messaging.wiring): its environment, the ledger,
        caps and links, outcome events, LINE / SES / SNS, and holding a send (a release schedule
        that hands it back to the message sender). For the message sender and any function that
        sends through the send point in-process (the journey step function)."""
        sending = self._sending
        stack = Stack.of(self)
        if function is not self.function:
            for name, value in sending.environment.items():
                function.add_environment(name, value)
            function.add_environment(settings.ENV_MESSAGE_SENDER_FUNCTION, self.function.function_arn)
        # profiles, identifiers, policy, templates
        grant_core_reads(function, sending.core_table, sending.core_gsi1_arn)
        grant_core_writes(function, sending.core_table, CAP_AND_LEDGER_ACTIONS, list(KEY_PREFIXES))
        # The personal tracked links a render mints (cdp.messaging.templates.links): created, never changed.
        grant_core_writes(function, sending.core_table, ["dynamodb:PutItem"], [LINK_PK_PREFIX])
        sending.raw_events.grant(function, "dynamodb:PutItem")  # outcome events, stored once per send key
        sending.bus.grant_put_events_to(function)  # message.sent / suppressed / failed
        sending.line_channels.grant_read(function)
        sending.link_signing_key.grant_read(function)

        identity_arn = stack.format_arn(service="ses", resource="identity", resource_name="*")
        configuration_set_arn = stack.format_arn(
            service="ses", resource="configuration-set", resource_name=sending.configuration_set
        )
        function.add_to_role_policy(
            iam.PolicyStatement(actions=["ses:SendEmail"], resources=[identity_arn, configuration_set_arn])
        )
        # An SMS to a phone number has no resource to name (AWS documents `*` for it).
        function.add_to_role_policy(
            iam.PolicyStatement(actions=["sns:Publish", "sns:CheckIfPhoneNumberIsOptedOut"], resources=["*"])
        )
        function.add_environment(settings.ENV_MESSAGE_SCHEDULER_ROLE_ARN, self.scheduler_role.role_arn)
        schedule_group = sending.schedule_group
        schedules_arn = stack.format_arn(
            service="scheduler", resource="schedule", resource_name=f"{schedule_group}/{RELEASE_PREFIX}*"
        )
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["scheduler:CreateSchedule", "scheduler:UpdateSchedule"], resources=[schedules_arn]
            )
        )
        self.scheduler_role.grant_pass_role(function)
        Validations.of(cast(iam.IRole, function.role)).acknowledge(
            Acknowledgment(
                id=f"AwsSolutions-IAM5[Resource::{nag.arn_prefix(self, 'scheduler')}schedule/{schedule_group}/{RELEASE_PREFIX}*]",
                reason="One release schedule per held send key, all named msg-release-*, in the product's group only.",
            ),
            Acknowledgment(
                id=f"AwsSolutions-IAM5[Resource::{nag.arn_prefix(self, 'ses')}identity/*]",
                reason="The sender address is a deploy setting; SES checks it is a verified identity of the account.",
            ),
            Acknowledgment(
                id="AwsSolutions-IAM5[Resource::*]",
                reason="sns:Publish of an SMS to a phone number has no resource to name; no topic is used.",
            ),
        )

    def _email_feedback(self, configuration_set: str) -> None:
        """SES reports delivery, bounces, complaints, opens and clicks of the configuration set's
        email to the default event bus (the only bus SES sends to); a rule hands them to the sender,
        which puts them on the timeline and suppresses bounced and complaining addresses."""
        stack = Stack.of(self)
        ses.CfnConfigurationSetEventDestination(
            self,
            "EmailEvents",
            configuration_set_name=configuration_set,
            event_destination=ses.CfnConfigurationSetEventDestination.EventDestinationProperty(
                name="timeline",
                enabled=True,
                matching_event_types=["DELIVERY", "BOUNCE", "COMPLAINT", "OPEN", "CLICK"],
                event_bridge_destination=ses.CfnConfigurationSetEventDestination.EventBridgeDestinationProperty(
                    event_bus_arn=stack.format_arn(service="events", resource="event-bus", resource_name="default")
                ),
            ),
        ).add_dependency(self.configuration_set)
        self.feedback_dead_letters = dead_letter_queue(
            self, "EmailEventDeadLetters", of="the SES email-event rule's Lambda target"
        )
        self.feedback_rule = events.Rule(
            self,
            "EmailEventsRule",
            description="SES events of the product's email to the message sender (timeline, suppression list)",
            event_pattern=events.EventPattern(
                source=["aws.ses"], detail={"mail": {"tags": {"ses:configuration-set": [configuration_set]}}}
            ),
            targets=[
                targets.LambdaFunction(
                    self.function,
                    dead_letter_queue=self.feedback_dead_letters,
                    retry_attempts=8,
                    max_event_age=Duration.hours(6),
                )
            ],
        )
