"""The merge and unmerge workflows: Step Functions (standard) sequencing one Lambda's steps.

Standard workflows because execution names are unique there (a duplicate merge request is a
no-op) and a run can outlive any Lambda timeout. The cost is state transitions, so the move
step loops inside the Lambda until it nears its timeout instead of one state per chunk: a
merge that fits one invocation costs 6 transitions, whatever its size.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Stack, Validations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from cdp import settings
from constructs import Construct

from infra.cdp_infra import constants, nag
from infra.cdp_infra.function_factory import FunctionFactory
from infra.cdp_infra.routes import IDENTITY_MERGE
from infra.cdp_infra.tables import grant_core_reads, grant_core_writes

RETRYABLE_STEP_ERRORS = ["MergeRace", "StoreUnavailable", "States.TaskFailed"]
MERGE_KEY_PREFIXES = ("PROFILE#", "ID#", "MERGE#", "SEPARATION#")
NOT_RETRYABLE_STEP_ERRORS = ["Conflict", "NotFound", "BadRequest", "ValueError", "KeyError"]


class IdentityWorkflows(Construct):
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
        self.function = factory.create(
            self,
            IDENTITY_MERGE,
            description="Merge and unmerge steps: move identifiers and timelines, fold profiles, keep the ledger",
            memory_size=1024,
            timeout=Duration.minutes(5),
            environment={
                settings.ENV_CORE_TABLE: core_table.table_name,
                settings.ENV_EVENT_BUS: bus.event_bus_name,
            },
        )
        grant_core_reads(self.function, core_table, core_gsi1_arn)
        # Transactions of puts, deletes and conditional updates (claims, ledger counters), held
        # to the items a merge touches: profiles and timelines, claims, ledgers, separations.
        grant_core_writes(
            self.function,
            core_table,
            ["dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:UpdateItem"],
            list(MERGE_KEY_PREFIXES),
        )
        bus.grant_put_events_to(self.function)

        self.merge = self._state_machine(
            "Merge",
            [("Plan", "plan"), ("Move", "move"), ("Finalize", "finalize")],
            proceed_status="merging",
            finished_status="merged",
        )
        self.unmerge = self._state_machine(
            "Unmerge",
            [("BeginUnmerge", "begin_unmerge"), ("MoveBack", "move_back"), ("FinalizeUnmerge", "finalize_unmerge")],
            proceed_status="unmerging",
            finished_status="unmerged",
        )

    def grant_restart_checks(self, machine: sfn.StateMachine, grantee: lambda_.Function) -> None:
        """Start executions, and read an earlier execution's status to restart a failed one."""
        machine.grant_start_execution(grantee)
        machine.grant_execution(grantee, "states:DescribeExecution")
        logical_id = Stack.of(self).get_logical_id(machine.node.default_child)  # type: ignore[arg-type]
        executions = (
            f"{nag.arn_prefix(self, 'states')}execution:"
            f'{{"Fn::Select":[6,{{"Fn::Split":[":",{{"Ref":"{logical_id}"}}]}}]}}:*'
        )
        Validations.of(grantee.node.scope).acknowledge(  # type: ignore[arg-type]
            Acknowledgment(
                id=f"AwsSolutions-IAM5[Resource::{executions}]",
                reason=(
                    "DescribeExecution on this state machine's executions: their names are merge ids, known "
                    "only at run time, so the resource ends in a wildcard."
                ),
            )
        )

    def _step(self, scope: Construct, state_id: str, action: str, extra: dict[str, str]) -> tasks.LambdaInvoke:
        task = tasks.LambdaInvoke(
            scope,
            state_id,
            lambda_function=self.function,
            payload=sfn.TaskInput.from_object({"action": action, "mergeId.$": "$.mergeId", **extra}),
            payload_response_only=True,
            retry_on_service_exceptions=True,
        )
        # A profile in another merge: wait for it, for about half an hour in all (2 s doubling
        # to a 3 min cap, 16 attempts). A run that still gives up is resumed by the next event.
        task.add_retry(
            errors=["MergeBusy"],
            interval=Duration.seconds(2),
            backoff_rate=2,
            max_attempts=16,
            max_delay=Duration.minutes(3),
        )
        # Requests that cannot succeed on a retry fail the run at once (the ledger stays consistent).
        task.add_retry(errors=NOT_RETRYABLE_STEP_ERRORS, max_attempts=0)
        task.add_retry(
            errors=["Lambda.TooManyRequestsException"],
            interval=Duration.seconds(5),
            backoff_rate=2,
            max_attempts=10,
            max_delay=Duration.minutes(2),
        )
        task.add_retry(errors=RETRYABLE_STEP_ERRORS, interval=Duration.seconds(1), backoff_rate=2, max_attempts=8)
        return task

    def _state_machine(
        self, construct_id: str, steps: list[tuple[str, str]], *, proceed_status: str, finished_status: str
    ) -> sfn.StateMachine:
        scope = Construct(self, construct_id)
        (begin_id, begin_action), (move_id, move_action), (finish_id, finish_action) = steps
        begin = self._step(
            scope,
            begin_id,
            begin_action,
            {"survivor.$": "$.survivor", "loser.$": "$.loser", "requestedBy.$": "$.requestedBy"}
            if begin_action == "plan"
            else {},
        )
        move = self._step(scope, move_id, move_action, {})
        finish = self._step(scope, finish_id, finish_action, {})
        done = sfn.Succeed(scope, "Done")
        moved_all = (
            sfn.Choice(scope, "MovedAll").when(sfn.Condition.boolean_equals("$.done", True), finish).otherwise(move)
        )
        finish.next(done)
        definition = begin.next(
            sfn.Choice(scope, "Proceed")
            .when(sfn.Condition.string_equals("$.status", proceed_status), move.next(moved_all))
            # Finished by an earlier run that died before it published: the finish step republishes.
            .when(sfn.Condition.string_equals("$.status", finished_status), finish)
            .otherwise(done)
        )
        log_group = logs.LogGroup(
            scope, "Logs", retention=constants.LOG_RETENTION, removal_policy=RemovalPolicy.DESTROY
        )
        machine = sfn.StateMachine(
            scope,
            "StateMachine",
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            state_machine_type=sfn.StateMachineType.STANDARD,
            timeout=Duration.hours(2),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ERROR, include_execution_data=False),
        )
        function_arn_token = Stack.of(self).get_logical_id(self.function.node.default_child)  # type: ignore[arg-type]
        Validations.of(machine).acknowledge(
            Acknowledgment(
                id=f"AwsSolutions-IAM5[Resource::<{function_arn_token}.Arn>:*]",
                reason="CDK grants lambda:InvokeFunction on the function's versions and aliases (`:*`) as well.",
            ),
            Acknowledgment(
                id="AwsSolutions-SF1",
                reason=(
                    "Errors are logged (level ERROR): a merge carries profile data, which must not be copied "
                    "into logs at level ALL; each step logs its own outcome without personal data."
                ),
            ),
            Acknowledgment(
                id="AwsSolutions-IAM5[Resource::*]",
                reason="X-Ray and CloudWatch Logs delivery actions used by Step Functions support no resource scoping.",
            ),
        )
        return machine
