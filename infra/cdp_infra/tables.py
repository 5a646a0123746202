"""DynamoDB tables: raw events (the landing zone), the core single table, idempotency records."""

from __future__ import annotations

from aws_cdk import Acknowledgment, RemovalPolicy, Validations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.cdp_infra import constants

_S = dynamodb.AttributeType.STRING


class CdpTables(Construct):
    """The three tables and why each is shaped the way it is.

    - raw events: one conditional put per accepted event (dedup on `pk`), kept for a TTL, and its
      stream (new image only) drives the event processor; retained so accepted data outlives the
      stack.
    - core: profiles, identifiers, timeline, tags, segments in one table (`pk`/`sk` + `gsi1`);
      the stream carries old and new images so changes can be diffed downstream.
    - idempotency: powertools' layout (`id`, TTL `expiration`); records are disposable.
    """

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.raw_events = dynamodb.Table(
            self,
            constants.RAW_EVENTS_TABLE_ID,
            partition_key=dynamodb.Attribute(name=constants.PK, type=_S),
            time_to_live_attribute=constants.RAW_EVENTS_TTL_ATTRIBUTE,
            stream=dynamodb.StreamViewType.NEW_IMAGE,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.core = dynamodb.Table(
            self,
            constants.CORE_TABLE_ID,
            partition_key=dynamodb.Attribute(name=constants.PK, type=_S),
            sort_key=dynamodb.Attribute(name=constants.SK, type=_S),
            time_to_live_attribute=constants.CORE_TTL_ATTRIBUTE,
            stream=dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.core.add_global_secondary_index(
            index_name=constants.GSI1,
            partition_key=dynamodb.Attribute(name=constants.GSI1_PK, type=_S),
            sort_key=dynamodb.Attribute(name=constants.GSI1_SK, type=_S),
            projection_type=dynamodb.ProjectionType.ALL,
        )
        self.idempotency = dynamodb.Table(
            self,
            constants.IDEMPOTENCY_TABLE_ID,
            partition_key=dynamodb.Attribute(name=constants.IDEMPOTENCY_PK, type=_S),
            time_to_live_attribute=constants.IDEMPOTENCY_TTL_ATTRIBUTE,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            removal_policy=RemovalPolicy.DESTROY,
        )
        Validations.of(self.idempotency).acknowledge(
            Acknowledgment(
                id="AwsSolutions-DDB3",
                reason=(
                    "Idempotency records live for hours and are rebuilt by normal traffic; a restore "
                    "would bring back nothing of value, so point-in-time recovery is not paid for."
                ),
            )
        )

    @property
    def core_gsi1_arn(self) -> str:
        """ARN of `gsi1` alone, to grant queries without the `index/*` wildcard."""
        return f"{self.core.table_arn}/index/{constants.GSI1}"


CORE_READ_ACTIONS = ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query")


def grant_core_reads(grantee: iam.IGrantable, core_table: dynamodb.ITable, core_gsi1_arn: str) -> None:
    """Item reads through the core table and gsi1: no scans, no schema."""
    iam.Grant.add_to_principal(
        grantee=grantee, actions=list(CORE_READ_ACTIONS), resource_arns=[core_table.table_arn, core_gsi1_arn]
    )


def grant_core_writes(
    grantee: iam.IGrantable, core_table: dynamodb.ITable, actions: list[str], key_prefixes: list[str]
) -> None:
    """Writes to the core table's items whose partition key starts with one of `key_prefixes` only."""
    iam.Grant.add_to_principal(
        grantee=grantee,
        actions=actions,
        resource_arns=[core_table.table_arn],
        conditions={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{prefix}*" for prefix in key_prefixes]}},
    )
