"""The compression function: its container image, sizing, environment contract, role and logs."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Duration, Size, Validations
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from imagery_archive import FUNCTION_ROOT
from imagery_archive.settings import METRICS_NAMESPACE, SERVICE_NAME
from infra.archive_job_resources import archive_job_role, log_group
from infra.checkov import acknowledge_checkov
from infra.service_roles import LAMBDA
from infra.settings import PipelineSettings

LAMBDA_ENTRYPOINT = ["python3", "-m", "awslambdaric"]
LAMBDA_CMD = ["handler.handler"]
"""How Lambda starts the image. Set here, not in the Dockerfile: the image has no ENTRYPOINT, because AWS Batch
can replace only an image's command, and the same image runs the large-scene job (`infra.large_scene_job`)."""

_RUNTIME_PLATFORMS = {
    "x86_64": (lambda_.Architecture.X86_64, ecr_assets.Platform.LINUX_AMD64),
    "arm64": (lambda_.Architecture.ARM_64, ecr_assets.Platform.LINUX_ARM64),
}


class CompressionFunction(Construct):
    """Runs `imagery_archive.entrypoints.lambda_function.handler` (the image's `handler.handler`) in the GDAL
    container image,
    once per uploaded scene.

    The role is the stack's own, with no managed policies: only the S3 statements in `infra.permissions`,
    writing to this function's log group, and sending failed events to the failure queue.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: PipelineSettings,
        input_bucket: s3.IBucket,
        output_bucket: s3.IBucket,
        failure_queue: sqs.IQueue,
        logs_key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = log_group(self, "Logs", logs_key)
        self.role = archive_job_role(
            self,
            "Role",
            service=LAMBDA,
            description="Compresses uploaded imagery, archives the original, then deletes the upload.",
            settings=settings,
            input_bucket=input_bucket,
            output_bucket=output_bucket,
            failure_queue=failure_queue,
        )
        self.log_group.grant_write(self.role)
        # One image asset, built and pushed once: the large-scene job runs the same image.
        self.image = ecr_assets.DockerImageAsset(
            self, "Image", directory=str(FUNCTION_ROOT), platform=_RUNTIME_PLATFORMS[settings.architecture][1]
        )
        self.function = self._function(settings, output_bucket, failure_queue)
        self._acknowledge_findings()

    def _function(
        self, settings: PipelineSettings, output_bucket: s3.IBucket, failure_queue: sqs.IQueue
    ) -> lambda_.DockerImageFunction:
        return lambda_.DockerImageFunction(
            self,
            "Function",
            description="Compresses uploaded imagery to COG and archives the original in a Glacier class.",
            code=lambda_.DockerImageCode.from_ecr(
                self.image.repository, tag_or_digest=self.image.image_tag, entrypoint=LAMBDA_ENTRYPOINT, cmd=LAMBDA_CMD
            ),
            architecture=_RUNTIME_PLATFORMS[settings.architecture][0],
            memory_size=settings.memory_mib,
            ephemeral_storage_size=Size.mebibytes(settings.ephemeral_storage_mib),
            timeout=Duration.minutes(settings.timeout_minutes),
            reserved_concurrent_executions=settings.max_concurrency,
            environment=function_environment(settings, output_bucket.bucket_name, failure_queue.queue_url),
            role=self.role,
            log_group=self.log_group,
            recursive_loop=lambda_.RecursiveLoop.TERMINATE,
            retry_attempts=settings.async_retry_attempts,
            max_event_age=Duration.hours(settings.max_event_age_hours),
            on_failure=destinations.SqsDestination(failure_queue),
            # X-Ray: a trace per invocation, a span per step of each object (imagery_archive.entrypoints.tracing).
            tracing=lambda_.Tracing.ACTIVE,
        )

    def _acknowledge_findings(self) -> None:
        """What checkov and cdk-nag flag on the function that is a design choice, each with its reason."""
        acknowledge_checkov(
            self.function,
            {
                "CKV_AWS_116": "Failed events go to the failure queue through the function's on-failure destination "
                "(AWS::Lambda::EventInvokeConfig), which keeps the request, the error and the retries; a dead-letter "
                "queue would keep less. The check reads only DeadLetterConfig.",
                "CKV_AWS_117": "The function reaches only S3, SQS and AWS Batch APIs. In a VPC it would need a NAT "
                "gateway or interface endpoints (hourly cost) to reach them, and gain nothing: access is by IAM, "
                "over TLS.",
                "CKV_AWS_173": "The environment holds no secret, only bucket names, prefixes, a queue URL and tuning "
                "values (see function_environment); Lambda encrypts it at rest with its AWS-managed key.",
            },
        )
        Validations.of(self.role).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-IAM5[Resource::*]",
                reason="Only xray:PutTraceSegments and xray:PutTelemetryRecords are granted on '*', by active tracing: "
                "X-Ray actions take no resource, so no narrower statement exists.",
            )
        )


def function_environment(settings: PipelineSettings, output_bucket_name: str, failure_queue_url: str) -> dict[str, str]:
    """The function's environment contract; the optional tuning knobs appear only when set in context."""
    environment = {
        "OUTPUT_BUCKET": output_bucket_name,
        "FAILURE_QUEUE_URL": failure_queue_url,
        "OUTPUT_PREFIX": settings.output_prefix,
        "ARCHIVE_PREFIX": settings.archive_prefix,
        "ARCHIVE_STORAGE_CLASS": settings.archive_storage_class,
        "COMPRESSION": settings.compression,
        "QUALITY": str(settings.quality),
        "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
        "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
        "POWERTOOLS_LOG_LEVEL": settings.log_level,
        "CATALOG_PREFIX": settings.catalog_prefix,
        "STAC_COLLECTION": settings.stac_collection,
    }
    if settings.target_ssim is not None:
        environment["TARGET_SSIM"] = str(settings.target_ssim)
    if settings.max_z_error is not None:
        environment["MAX_Z_ERROR"] = str(settings.max_z_error)
    if settings.lossless_prefixes:
        environment["LOSSLESS_PREFIXES"] = ",".join(settings.lossless_prefixes)
    if settings.stac_collections:
        environment["STAC_COLLECTIONS"] = ",".join(f"{prefix}={name}" for prefix, name in settings.stac_collections)
    return environment
