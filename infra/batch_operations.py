"""The role S3 Batch Operations assumes for this pipeline's jobs: backfills (LambdaInvoke) and restores
(S3InitiateRestoreObject), run by `imagery-archive backfill --engine s3-batch` and
`imagery-archive restore --engine s3-batch`.

Manifests and completion reports live in the output bucket under their own prefixes, apart from the
compressed images and the archive (`imagery_archive.entrypoints.batch_operations`). The role can do nothing else: it
can't read imagery, write outside the reports prefix, or invoke any other function. Whoever creates a job
still needs `s3:CreateJob` and `iam:PassRole` on this role, granted to people, not here.
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from constructs import Construct

from imagery_archive.entrypoints.batch_operations import MANIFESTS_PREFIX, REPORTS_PREFIX
from infra.nag import acknowledge_wildcard_resources
from infra.settings import SettingsError

BATCH_OPERATIONS_SERVICE = "batchoperations.s3.amazonaws.com"


class BatchOperationsRole(Construct):
    """A role only S3 Batch Operations of this account may assume, with one statement per purpose."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.IFunction,
        output_bucket: s3.IBucket,
        output_prefix: str,
        archive_prefix: str,
    ) -> None:
        super().__init__(scope, construct_id)
        for prefix in (output_prefix, archive_prefix):
            if prefix.startswith("batch-operations/") or MANIFESTS_PREFIX.startswith(prefix):
                raise SettingsError(
                    f"cdk.json context prefix {prefix!r} overlaps the Batch Operations manifests and reports "
                    "under batch-operations/: choose another"
                )
        account = Stack.of(self).account
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal(
                BATCH_OPERATIONS_SERVICE, conditions={"StringEquals": {"aws:SourceAccount": account}}
            ),
            description="S3 Batch Operations jobs of the imagery archive: invoke the compression function, "
            "restore archived originals, read manifests and write completion reports.",
        )
        statements = batch_operations_statements(function, output_bucket, archive_prefix)
        for statement in statements:
            self.role.add_to_principal_policy(statement)
        acknowledge_wildcard_resources(
            self.role,
            sorted({arn for statement in statements for arn in statement.resources if arn.endswith("*")}),
            reason="Manifests, reports and archived originals are named per job and per scene, so their "
            "object ARNs end in '*'. Each wildcard is confined to one prefix of the output bucket "
            f"({MANIFESTS_PREFIX}, {REPORTS_PREFIX}, or the archive), with every action listed by name.",
        )


def batch_operations_statements(
    function: lambda_.IFunction, bucket: s3.IBucket, archive_prefix: str
) -> list[iam.PolicyStatement]:
    """What a job does: invoke the function (backfill), restore originals (restore), manifests in, reports out.

    GetObjectVersion: a job names its manifest by ETag and may read a specific version of it, as the output
    bucket is versioned. GetBucketLocation: Batch Operations looks up the manifest and report bucket's region.
    """
    return [
        _allow("InvokeCompressionFunction", ["lambda:InvokeFunction"], [function.function_arn]),
        _allow("RestoreArchivedOriginals", ["s3:RestoreObject"], [bucket.arn_for_objects(f"{archive_prefix}*")]),
        _allow(
            "ReadJobManifests",
            ["s3:GetObject", "s3:GetObjectVersion"],
            [bucket.arn_for_objects(f"{MANIFESTS_PREFIX}*")],
        ),
        _allow("WriteCompletionReports", ["s3:PutObject"], [bucket.arn_for_objects(f"{REPORTS_PREFIX}*")]),
        _allow("LocateManifestAndReportBucket", ["s3:GetBucketLocation"], [bucket.bucket_arn]),
    ]


def _allow(sid: str, actions: list[str], resources: list[str]) -> iam.PolicyStatement:
    return iam.PolicyStatement(sid=sid, actions=actions, resources=resources)
