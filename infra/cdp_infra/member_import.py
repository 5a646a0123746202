"""The member import worker: reads an upload from the imports bucket, writes raw events and progress."""

from __future__ import annotations

from typing import cast

from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from cdp import settings
from cdp.adapters.dynamodb.imports import PK_PREFIX
from cdp.imports.model import rejected_key, upload_key
from constructs import Construct

from infra.cdp_infra import constants
from infra.cdp_infra.deploy_settings import DeploySettings
from infra.cdp_infra.function_factory import FunctionFactory
from infra.cdp_infra.imports_bucket import ImportsBucket
from infra.cdp_infra.routes import MEMBER_IMPORT
from infra.cdp_infra.tables import CdpTables, grant_core_writes

# Object names inside one import's prefix, derived from the keys the code writes.
_UPLOAD = upload_key("*").removeprefix(f"{constants.IMPORTS_PREFIX}/")
_REJECTED = rejected_key("*").removeprefix(f"{constants.IMPORTS_PREFIX}/")


class MemberImport(Construct):
    """`member_import` and the rights of the two functions that touch imports.

    The worker may read and write objects under `imports/`, get and update import status items
    (and no other core item: the grant is conditioned on the `IMPORT#` key prefix), batch-write raw
    events, and invoke itself to continue a long file. The admin API may store uploads, read an
    upload's size and presign the rejected-rows file, create and update status items, and start
    the worker.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        factory: FunctionFactory,
        tables: CdpTables,
        files: ImportsBucket,
    ) -> None:
        super().__init__(scope, construct_id)
        self._tables, self._files = tables, files
        deploy = DeploySettings.of(self)
        self.function = factory.create(
            self,
            MEMBER_IMPORT,
            description="Member CSV import worker: validates rows, writes identify events, checkpoints progress",
            memory_size=constants.IMPORT_WORKER_MEMORY_MB,
            timeout=constants.IMPORT_WORKER_TIMEOUT,
            environment={
                settings.ENV_CORE_TABLE: tables.core.table_name,
                settings.ENV_RAW_EVENTS_TABLE: tables.raw_events.table_name,
                settings.ENV_RAW_EVENT_TTL_DAYS: str(deploy.raw_event_ttl_days),
                settings.ENV_IMPORTS_BUCKET: files.bucket.bucket_name,
                settings.ENV_DEFAULT_PHONE_REGION: deploy.default_phone_region,
            },
        )
        self.function.configure_async_invoke(
            retry_attempts=constants.IMPORT_ASYNC_RETRIES, max_event_age=constants.IMPORT_ASYNC_MAX_AGE
        )
        self._grant_status_items(self.function, ["dynamodb:GetItem", "dynamodb:UpdateItem"])
        iam.Grant.add_to_principal(
            grantee=self.function, actions=["dynamodb:BatchWriteItem"], resource_arns=[tables.raw_events.table_arn]
        )
        iam.Grant.add_to_principal(
            grantee=self.function,
            actions=["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"],
            resource_arns=[files.objects("*")],
        )
        files.acknowledge_object_wildcards(
            cast(iam.IRole, self.function.role),
            ["*"],
            "Every object of an import is keyed by its id (imports/<id>/...); the worker reads the upload "
            "and writes rejected-row parts and files of any import it is started for.",
        )
        # A policy of its own, not the role's default one: the function depends on its default
        # policy, so naming the function's ARN there would be a dependency cycle.
        iam.Policy(
            self,
            "ContinueItself",
            roles=[cast(iam.IRole, self.function.role)],
            statements=[iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[self.function.function_arn])],
        )

    @property
    def functions(self) -> dict[str, lambda_.Function]:
        return {MEMBER_IMPORT: self.function}

    def wire_admin_api(self, admin_api: lambda_.Function) -> None:
        admin_api.add_environment(settings.ENV_IMPORTS_BUCKET, self._files.bucket.bucket_name)
        admin_api.add_environment(settings.ENV_MEMBER_IMPORT_FUNCTION, self.function.function_arn)
        self._grant_status_items(admin_api, ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"])
        iam.Grant.add_to_principal(
            grantee=admin_api, actions=["s3:PutObject"], resource_arns=[self._files.objects(_UPLOAD)]
        )
        # HeadObject and presigned GETs of the rejected rows are authorised as s3:GetObject.
        iam.Grant.add_to_principal(
            grantee=admin_api,
            actions=["s3:GetObject"],
            resource_arns=[self._files.objects(_UPLOAD), self._files.objects(_REJECTED)],
        )
        self._files.acknowledge_object_wildcards(
            cast(iam.IRole, admin_api.role),
            [_UPLOAD, _REJECTED],
            "Object keys embed the import id: the admin API writes uploads (imports/<id>/upload.csv) and reads "
            "their size and the rejected-rows file of any import, and nothing else in the bucket.",
        )
        # The function's ARN only: `grant_invoke` would add `<arn>:*` (every version and alias).
        iam.Grant.add_to_principal(
            grantee=admin_api, actions=["lambda:InvokeFunction"], resource_arns=[self.function.function_arn]
        )

    def _grant_status_items(self, grantee: iam.IGrantable, actions: list[str]) -> None:
        grant_core_writes(grantee, self._tables.core, actions, [PK_PREFIX])
