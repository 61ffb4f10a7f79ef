"""What the archive job has wherever it runs (the compression function, the large-scene batch job): a log group
of its own, and a role with exactly the job's S3 statements and its report of failures to the failure queue.

Made in one place so the two can't drift apart: the batch job must be allowed exactly what the function is.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import permissions
from infra.service_roles import scoped_principal
from infra.settings import PipelineSettings

# Long enough to investigate a failed scene after a holiday, short enough not to keep logs forever.
LOG_RETENTION = logs.RetentionDays.THREE_MONTHS


def log_group(
    scope: Construct, construct_id: str, encryption_key: kms.IKey, log_group_name: str | None = None
) -> logs.LogGroup:
    """A log group kept `LOG_RETENTION`, encrypted with the stack's logs key (`infra.log_encryption`), deleted
    with the stack."""
    return logs.LogGroup(
        scope,
        construct_id,
        log_group_name=log_group_name,
        retention=LOG_RETENTION,
        encryption_key=encryption_key,
        removal_policy=RemovalPolicy.DESTROY,
    )


def archive_job_role(
    scope: Construct,
    construct_id: str,
    *,
    service: tuple[str, str | None, str | None],
    description: str,
    settings: PipelineSettings,
    input_bucket: s3.IBucket,
    output_bucket: s3.IBucket,
    failure_queue: sqs.IQueue,
) -> iam.Role:
    """A role `service` (`infra.service_roles`) assumes for this account to run the archive job: its S3
    statements (`infra.permissions`), then sending to the failure queue (an invalid COG is reported at once);
    no managed policies."""
    principal = scoped_principal(scope, service)
    role = iam.Role(scope, construct_id, assumed_by=principal, description=description)
    permissions.allow_archive_job(
        role,
        input_bucket,
        output_bucket,
        output_prefix=settings.output_prefix,
        archive_prefix=settings.archive_prefix,
        catalog_prefix=settings.catalog_prefix,
    )
    for statement in permissions.failure_queue_statements(failure_queue):
        role.add_to_principal_policy(statement)
    return role
