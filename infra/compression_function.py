"""The compression function: its container image, sizing, environment contract, role and logs."""

from __future__ import annotations

from aws_cdk import Duration, Size
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from imagery_archive import FUNCTION_ROOT
from imagery_archive.settings import METRICS_NAMESPACE, SERVICE_NAME
from infra.archive_job_resources import archive_job_role, log_group
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
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = log_group(self, "Logs")
        self.role = archive_job_role(
            self,
            "Role",
            service="lambda.amazonaws.com",
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
        "LOG_LEVEL": settings.log_level,
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
