"""The deployable stack: the pipeline plus the outputs a user needs to start uploading."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from infra.pipeline import ImageryArchivePipeline
from infra.settings import PipelineSettings


class ImageryArchiveStack(Stack):
    """Compresses and archives satellite imagery uploaded to S3."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: PipelineSettings, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        pipeline = ImageryArchivePipeline(self, "Pipeline", settings=settings)
        self._output("InputBucketName", pipeline.buckets.input.bucket_name, "Upload imagery here.")
        self._output(
            "OutputBucketName",
            pipeline.buckets.output.bucket_name,
            f"Compressed images under {settings.output_prefix}, originals under {settings.archive_prefix}.",
        )
        self._output("FunctionName", pipeline.compression.function.function_name, "The compression function.")
        self._output(
            "FunctionArn",
            pipeline.compression.function.function_arn,
            "The function S3 Batch Operations backfills invoke.",
        )
        self._output(
            "BatchOperationsRoleArn",
            pipeline.batch_operations.role.role_arn,
            "The role for imagery-archive backfill --engine s3-batch and imagery-archive restore --engine s3-batch.",
        )
        self._output("FailureQueueUrl", pipeline.failures.queue.queue_url, "Events of uploads that failed.")
        self._output("AlarmTopicArn", pipeline.alarms.topic.topic_arn, "Subscribe here for failure alarms.")
        dashboard = pipeline.dashboard.dashboard.dashboard_name
        self._output("DashboardName", dashboard, "The pipeline's CloudWatch dashboard.")
        self._output(
            "DashboardUrl",
            f"https://console.aws.amazon.com/cloudwatch/home?region={self.region}#dashboards/dashboard/{dashboard}",
            "The pipeline's CloudWatch dashboard in the console.",
        )
        if pipeline.large_scenes is not None:
            jobs = pipeline.large_scenes
            self._output("LargeSceneJobQueue", jobs.queue.job_queue_name, "AWS Batch queue of the large-scene jobs.")
            self._output("LargeSceneLogGroup", jobs.log_group.log_group_name, "Logs of the large-scene jobs.")
        if pipeline.stac_api is not None:
            stac = pipeline.stac_api
            self._output("StacApiUrl", stac.http_api.api_endpoint, "The STAC API (IAM-authorized: sign with SigV4).")
            self._output(
                "StacLoaderDeadLetters",
                stac.dead_letters.queue_url,
                "Scene events the STAC loader could not sync after 5 receives (redrive them once the cause is fixed).",
            )

    def _output(self, construct_id: str, value: str, description: str) -> None:
        CfnOutput(self, construct_id, value=value, description=description)
