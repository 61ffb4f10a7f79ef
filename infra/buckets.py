"""The pipeline's buckets: where users upload, where results and archived originals land, and the access logs.

Every bucket the stack creates is private, owner-only (ACLs disabled), encrypted with S3-managed keys,
reachable only over TLS, and cleans up abandoned multipart uploads. Existing buckets can be imported by name
instead; the stack then changes nothing on them but the upload notification.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Acknowledgment, Annotations, Duration, RemovalPolicy, Validations
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.checkov import acknowledge_checkov
from infra.settings import PipelineSettings

# Long enough for a user's resumable upload of a large scene, short enough not to pay for abandoned parts.
ABORT_INCOMPLETE_UPLOADS_AFTER = Duration.days(7)
# Older versions of a compressed image can be regenerated from the archive; archived originals never expire.
NONCURRENT_OUTPUT_VERSIONS_EXPIRE_AFTER = Duration.days(30)
ACCESS_LOGS_EXPIRE_AFTER = Duration.days(365)
# A deleted or overwritten access log stays recoverable this long: the record of who touched the imagery.
NONCURRENT_ACCESS_LOGS_EXPIRE_AFTER = Duration.days(90)


UNVERIFIED_VERSIONING_WARNING = "imagery-archive:outputBucketVersioningUnverified"


def _unverified_versioning(bucket: s3.IBucket) -> str:
    return (
        f"The imported output bucket {bucket.bucket_name} may not keep versions, and the stack can't check: a "
        "different original uploaded under a key already archived will be archived under its own key "
        "(archive/<folder>/<name>.sha256-<16 hex digits>.<suffix>, see docs/configuration.md) instead of as a new "
        "version of "
        "archive/<key>. Enable versioning on it (aws s3api put-bucket-versioning --bucket <name> "
        "--versioning-configuration Status=Enabled), then say so with -c outputBucketVersioned=true."
    )


class PipelineBuckets(Construct):
    """The input bucket (uploads trigger the pipeline) and the output bucket (compressed images + archive).

    The output bucket is versioned: uploading a second scene under a key already archived keeps the first
    original as an older version instead of overwriting the only copy.
    """

    def __init__(self, scope: Construct, construct_id: str, *, settings: PipelineSettings) -> None:
        super().__init__(scope, construct_id)
        self._settings = settings
        self._removal_policy = RemovalPolicy.DESTROY if settings.destroy_buckets_with_stack else RemovalPolicy.RETAIN
        creates_a_bucket = not (settings.input_bucket_name and settings.output_bucket_name)
        self.access_logs: s3.Bucket | None = self._access_logs_bucket() if creates_a_bucket else None
        self.input: s3.IBucket = self._input_bucket()
        self.output: s3.IBucket = self._output_bucket()

    def _input_bucket(self) -> s3.IBucket:
        if self._settings.input_bucket_name:
            return s3.Bucket.from_bucket_name(self, "Input", self._settings.input_bucket_name)
        bucket = self._secure_bucket(
            "Input", server_access_logs_bucket=self.access_logs, server_access_logs_prefix="input/"
        )
        acknowledge_checkov(
            bucket,
            {
                "CKV_AWS_21": "Uploads are transient by design: each is deleted once its archived copy is verified, "
                "and the archive (the versioned output bucket) is the record. With versions, every delete would "
                "keep the original as a noncurrent version, paying S3 Standard for a second copy of the archive.",
            },
        )
        return bucket

    def _output_bucket(self) -> s3.IBucket:
        if self._settings.output_bucket_name:
            bucket = s3.Bucket.from_bucket_name(self, "Output", self._settings.output_bucket_name)
            if not self._settings.output_bucket_versioned:
                Annotations.of(bucket).add_warning_v2(UNVERIFIED_VERSIONING_WARNING, _unverified_versioning(bucket))
            return bucket
        return self._secure_bucket(
            "Output",
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="output/",
            versioned=True,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireReplacedCompressedImages",
                    prefix=self._settings.output_prefix,
                    noncurrent_version_expiration=NONCURRENT_OUTPUT_VERSIONS_EXPIRE_AFTER,
                )
            ],
        )

    def _access_logs_bucket(self) -> s3.Bucket:
        bucket = self._secure_bucket(
            "AccessLogs",
            versioned=True,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireAccessLogs",
                    expiration=ACCESS_LOGS_EXPIRE_AFTER,
                    noncurrent_version_expiration=NONCURRENT_ACCESS_LOGS_EXPIRE_AFTER,
                )
            ],
        )
        acknowledge_checkov(
            bucket,
            {
                "CKV_AWS_18": "This is the server access log destination of the pipeline's buckets; logging it to "
                "itself would log every log delivery, without end (the same finding as cdk-nag's S1).",
            },
        )
        Validations.of(bucket).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-S1",
                reason="This is the server access log destination of the pipeline's buckets; logging it to "
                "itself would log every log delivery, without end.",
            )
        )
        return bucket

    def _secure_bucket(
        self,
        construct_id: str,
        *,
        lifecycle_rules: list[s3.LifecycleRule] | None = None,
        **props: Any,
    ) -> s3.Bucket:
        return s3.Bucket(
            self,
            construct_id,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="AbortIncompleteMultipartUploads",
                    abort_incomplete_multipart_upload_after=ABORT_INCOMPLETE_UPLOADS_AFTER,
                ),
                *(lifecycle_rules or []),
            ],
            removal_policy=self._removal_policy,
            auto_delete_objects=self._removal_policy == RemovalPolicy.DESTROY,
            **props,
        )
