"""The imports bucket: member CSV uploads, their rejected-row files and the worker's scratch objects."""

from __future__ import annotations

from typing import cast

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.cdp_infra import constants


class ImportsBucket(Construct):
    """Private, encrypted, TLS-only storage for files that hold personal data, kept only as long as needed.

    Everything lives under `imports/<import id>/` and expires after `IMPORT_FILE_RETENTION`
    (the status item in the core table outlives it). Object access is logged to a second bucket,
    because these files are bulk personal data.
    """

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        # Log delivery through a bucket policy, so both buckets keep ACLs disabled (owner enforced).
        self.node.set_context("@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy", True)
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[s3.LifecycleRule(expiration=constants.IMPORT_ACCESS_LOG_RETENTION)],
            removal_policy=RemovalPolicy.RETAIN,
        )
        Validations.of(self.access_logs).acknowledge(
            Acknowledgment(
                id="AwsSolutions-S1",
                reason="This bucket receives the imports bucket's server access logs; logging it would log the logs.",
            )
        )
        self.bucket = s3.Bucket(
            self,
            "Files",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="imports-bucket/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    prefix=f"{constants.IMPORTS_PREFIX}/",
                    expiration=constants.IMPORT_FILE_RETENTION,
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                ),
                s3.LifecycleRule(
                    prefix=f"{constants.EXPORTS_PREFIX}/",
                    expiration=constants.EXPORT_FILE_RETENTION,
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                ),
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )

    def objects(self, pattern: str) -> str:
        """ARN of the objects matching `imports/<pattern>`."""
        return self.bucket.arn_for_objects(f"{constants.IMPORTS_PREFIX}/{pattern}")

    def acknowledge_object_wildcards(self, role: iam.IRole, patterns: list[str], why: str) -> None:
        """Object keys embed the import id, so object grants need a wildcard: acknowledge exactly those."""
        logical_id = Stack.of(self).get_logical_id(cast(s3.CfnBucket, self.bucket.node.default_child))
        Validations.of(role).acknowledge(
            *(
                Acknowledgment(
                    id=f"AwsSolutions-IAM5[Resource::<{logical_id}.Arn>/{constants.IMPORTS_PREFIX}/{pattern}]",
                    reason=why,
                )
                for pattern in patterns
            )
        )

    def grant_exports(self, grantee: iam.IGrantable, role: iam.IRole) -> None:
        """Segment exports (exports/segments/<id>/<ts>.csv): write them, and sign GETs of them."""
        resource = self.bucket.arn_for_objects(f"{constants.EXPORTS_PREFIX}/*")
        # Multipart uploads of big exports are authorised as s3:PutObject too.
        iam.Grant.add_to_principal(grantee=grantee, actions=["s3:PutObject", "s3:GetObject"], resource_arns=[resource])
        logical_id = Stack.of(self).get_logical_id(cast(s3.CfnBucket, self.bucket.node.default_child))
        Validations.of(role).acknowledge(
            Acknowledgment(
                id=f"AwsSolutions-IAM5[Resource::<{logical_id}.Arn>/{constants.EXPORTS_PREFIX}/*]",
                reason="Export object keys embed the segment id and a timestamp: the admin API writes segment "
                "exports and signs downloads of them under exports/, and nothing else in the bucket.",
            )
        )
