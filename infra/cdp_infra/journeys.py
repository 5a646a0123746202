"""Journeys' execution: the journey step function, the role the versions' state machines run as,
and what the admin API needs to publish a version (create its state machine) and retire it.

The state machines themselves are not in the template: each published version is compiled
(cdp.journeys.compiler) and created at publish, named `<stack name>-journey-<id>-v<n>`; the admin
API may create, describe, tag and delete machines of that prefix only, and pass the journeys role
only. The role may invoke the journey step function only.
"""

from __future__ import annotations

from typing import cast

from aws_cdk import Acknowledgment, ArnFormat, Aws, CfnElement, Duration, Stack, Validations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from cdp import settings
from constructs import Construct

from infra.cdp_infra import nag
from infra.cdp_infra.function_factory import FunctionFactory
from infra.cdp_infra.messaging import MessageSender
from infra.cdp_infra.routes import JOURNEY_STEP
from infra.cdp_infra.tables import grant_core_reads, grant_core_writes

# The run, person-lookup and wait items the step function writes (cdp.adapters.dynamodb.journey_runs).
RUN_KEY_PREFIXES = ["JRUN#", "JPERSON#", "JWAIT#"]
RUN_WRITE_ACTIONS = ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem"]
MACHINE_ACTIONS = [
    "states:CreateStateMachine",
    "states:DescribeStateMachine",
    "states:DeleteStateMachine",
    "states:TagResource",
]


class JourneyExecution(Construct):
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
        messaging: MessageSender,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.machine_prefix = stack.stack_name
        self.function: lambda_.Function = factory.create(
            self,
            JOURNEY_STEP,
            description="Journey steps: each node of a running journey (delays, waits, splits, sends, actions, exits)",
            memory_size=512,
            # A send retries its provider within its own budget; Step Functions retries the rest.
            timeout=Duration.seconds(60),
            environment={
                settings.ENV_CORE_TABLE: core_table.table_name,
                settings.ENV_RAW_EVENTS_TABLE: raw_events.table_name,
                settings.ENV_EVENT_BUS: bus.event_bus_name,
            },
        )
        function = self.function
        grant_core_reads(function, core_table, core_gsi1_arn)  # runs, versions, profiles, memberships
        grant_core_writes(function, core_table, RUN_WRITE_ACTIONS, RUN_KEY_PREFIXES)
        # Journey Entered / Node Reached / Exited go onto the person's timeline directly (one put each).
        grant_core_writes(function, core_table, ["dynamodb:PutItem"], ["PROFILE#"])
        raw_events.grant(function, "dynamodb:PutItem")  # tags and traits, through the event pipeline
        bus.grant_put_events_to(function)  # journey.entered / node_completed / exited
        messaging.allow_sending(function)  # the send node runs the send point in-process

        self.role = iam.Role(
            self,
            "MachinesRole",
            assumed_by=iam.ServicePrincipal(
                "states.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}
            ),
            description="Journey state machines: call the journey step function, nothing else",
        )
        iam.Grant.add_to_principal(
            grantee=self.role,
            actions=["lambda:InvokeFunction"],
            resource_arns=[function.function_arn, f"{function.function_arn}:*"],
        )
        function_id = stack.get_logical_id(cast(CfnElement, function.node.default_child))
        Validations.of(self.role).acknowledge(
            Acknowledgment(
                id=f"AwsSolutions-IAM5[Resource::<{function_id}.Arn>:*]",
                reason="Versions and aliases of the journey step function only (how Step Functions calls a function).",
            )
        )
        self.machines_arn = stack.format_arn(
            service="states",
            resource="stateMachine",
            resource_name=f"{self.machine_prefix}-journey-*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )

    def wire_admin_api(self, admin_api: lambda_.Function) -> None:
        """Publishing a version creates its state machine; retiring deletes it."""
        admin_api.add_environment(settings.ENV_JOURNEY_ROLE_ARN, self.role.role_arn)
        admin_api.add_environment(settings.ENV_JOURNEY_STEP_ARN, self.function.function_arn)
        admin_api.add_environment(settings.ENV_JOURNEY_MACHINE_PREFIX, self.machine_prefix)
        admin_api.add_to_role_policy(iam.PolicyStatement(actions=MACHINE_ACTIONS, resources=[self.machines_arn]))
        self.role.grant_pass_role(admin_api)
        Validations.of(cast(iam.IRole, admin_api.role)).acknowledge(
            Acknowledgment(
                id=f"AwsSolutions-IAM5[Resource::{nag.arn_prefix(self, 'states')}stateMachine:{self.machine_prefix}-journey-*]",
                reason="One state machine per published journey version, all named <stack>-journey-*; created at publish.",
            )
        )
