"""Least privilege, statement by statement: exactly the S3 actions the function performs, on exactly its
buckets and prefixes, for created and imported buckets alike. Anything extra here is something a bug or a
compromised dependency in the function could do to a user's imagery.
"""

from __future__ import annotations

import json
from typing import Any

from aws_cdk.assertions import Template

from tests.support.stack import logical_id, synth_template


def _function_role_statements(template: Template) -> list[dict[str, Any]]:
    role = logical_id(template, "AWS::IAM::Role", "Compression/Role")
    policies = [
        policy["Properties"]
        for policy in template.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
    ]
    assert len(policies) == 1, "the function role must have exactly one policy, the one asserted here"
    return _canonical(policies[0]["PolicyDocument"]["Statement"])


def _canonical(statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Statements with their action and resource lists in one order: `@aws-cdk/aws-iam:minimizePolicies` sorts
    them, and their order grants nothing."""
    return [
        {key: sorted(value, key=json.dumps) if isinstance(value, list) else value for key, value in statement.items()}
        for statement in statements
    ]


def _joined(*parts: Any) -> dict[str, Any]:
    return {"Fn::Join": ["", list(parts)]}


def _expected_s3_statements(
    input_arn: Any, input_objects: Any, output_arn: Any, output_objects: Any, archive_objects: Any
) -> list[dict[str, Any]]:
    """What the function does, per the function's contract (see infra/permissions.py)."""
    return [
        {
            "Sid": "ReadUploadedImagery",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:GetObjectTagging", "s3:GetObjectVersion", "s3:GetObjectVersionTagging"],
            "Resource": input_objects,
        },
        {
            "Sid": "TagFailedUploads",
            "Effect": "Allow",
            "Action": ["s3:PutObjectTagging", "s3:PutObjectVersionTagging"],
            "Resource": input_objects,
        },
        {
            "Sid": "DeleteArchivedUploads",
            "Effect": "Allow",
            "Action": ["s3:DeleteObject", "s3:DeleteObjectVersion"],
            "Resource": input_objects,
        },
        {"Sid": "ListInputBucketForNotFound", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": input_arn},
        {
            "Sid": "WriteAndVerifyResults",
            "Effect": "Allow",
            "Action": ["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"],
            "Resource": [output_objects, archive_objects],
        },
        {
            "Sid": "KeepTagsOnArchivedOriginals",
            "Effect": "Allow",
            "Action": "s3:PutObjectTagging",
            "Resource": archive_objects,
        },
        {"Sid": "ListOutputBucketForNotFound", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": output_arn},
        {
            "Sid": "CheckOutputBucketVersioning",
            "Effect": "Allow",
            "Action": "s3:GetBucketVersioning",
            "Resource": output_arn,
        },
    ]


def _grow_collections_statement(catalog_objects: Any) -> dict[str, Any]:
    """Each Item grows its STAC Collection: read and conditionally rewrite the catalog documents, nothing else."""
    return {
        "Sid": "GrowStacCollections",
        "Effect": "Allow",
        "Action": ["s3:GetObject", "s3:PutObject"],
        "Resource": catalog_objects,
    }


def _logs_and_queue_statements(template: Template) -> list[dict[str, Any]]:
    queue_arn = {"Fn::GetAtt": [logical_id(template, "AWS::SQS::Queue", "Failures/Queue"), "Arn"]}
    return [
        # An invalid COG of ours is reported to the failure queue at once, by the function itself.
        {"Sid": "ReportOwnOutputFailures", "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": queue_arn},
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": {"Fn::GetAtt": [logical_id(template, "AWS::Logs::LogGroup", "Compression/Logs"), "Arn"]},
        },
        # Active tracing: X-Ray actions take no resource.
        {"Effect": "Allow", "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], "Resource": "*"},
        {
            "Effect": "Allow",
            "Action": ["sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"],
            "Resource": queue_arn,
        },
    ]


def _submit_large_scene_jobs_statement(template: Template) -> list[dict[str, Any]]:
    """The function may submit jobs to its large-scene queue and job definition, and list jobs (ListJobs takes no
    resource) to find a live one of the same upload first; nothing else on Batch."""
    queue = logical_id(template, "AWS::Batch::JobQueue", "LargeScenes/Queue")
    definition = logical_id(template, "AWS::Batch::JobDefinition", "LargeScenes/JobDefinition")
    return [
        {
            "Sid": "SubmitLargeSceneJobs",
            "Effect": "Allow",
            "Action": "batch:SubmitJob",
            "Resource": [{"Fn::GetAtt": [queue, "JobQueueArn"]}, {"Ref": definition}],
        },
        {"Sid": "FindLiveLargeSceneJobs", "Effect": "Allow", "Action": "batch:ListJobs", "Resource": "*"},
    ]


def test_function_role_is_exactly_the_written_out_statements(template: Template) -> None:
    input_arn = {"Fn::GetAtt": [logical_id(template, "AWS::S3::Bucket", "Buckets/Input"), "Arn"]}
    output_arn = {"Fn::GetAtt": [logical_id(template, "AWS::S3::Bucket", "Buckets/Output"), "Arn"]}
    expected = _expected_s3_statements(
        input_arn,
        _joined(input_arn, "/*"),
        output_arn,
        _joined(output_arn, "/output/*"),
        _joined(output_arn, "/archive/*"),
    )
    expected.append(_grow_collections_statement(_joined(output_arn, "/catalog/*")))
    expected += [*_logs_and_queue_statements(template), *_submit_large_scene_jobs_statement(template)]
    assert _function_role_statements(template) == _canonical(expected)


def test_imported_buckets_are_scoped_the_same_way(imported: Template) -> None:
    def arn(name: str) -> dict[str, Any]:
        return _joined("arn:", {"Ref": "AWS::Partition"}, f":s3:::{name}")

    def objects(name: str, prefix: str) -> dict[str, Any]:
        return _joined("arn:", {"Ref": "AWS::Partition"}, f":s3:::{name}/{prefix}*")

    expected = _expected_s3_statements(
        arn("survey-uploads"),
        objects("survey-uploads", ""),
        arn("survey-archive"),
        objects("survey-archive", "output/"),
        objects("survey-archive", "archive/"),
    )
    expected.append(_grow_collections_statement(objects("survey-archive", "catalog/")))
    expected += [*_logs_and_queue_statements(imported), *_submit_large_scene_jobs_statement(imported)]
    assert _function_role_statements(imported) == _canonical(expected)


def test_custom_prefixes_move_the_write_permissions_with_them() -> None:
    template = synth_template(outputPrefix="cogs/", archivePrefix="originals/")
    statements = {statement.get("Sid"): statement for statement in _function_role_statements(template)}
    output_arn = {"Fn::GetAtt": [logical_id(template, "AWS::S3::Bucket", "Buckets/Output"), "Arn"]}
    assert statements["WriteAndVerifyResults"]["Resource"] == [
        _joined(output_arn, "/cogs/*"),
        _joined(output_arn, "/originals/*"),
    ]
    assert statements["KeepTagsOnArchivedOriginals"]["Resource"] == _joined(output_arn, "/originals/*")


def test_function_role_has_no_managed_policies_and_only_lambda_may_assume_it(template: Template) -> None:
    role = template.find_resources("AWS::IAM::Role")[logical_id(template, "AWS::IAM::Role", "Compression/Role")]
    assert "ManagedPolicyArns" not in role["Properties"]
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"] == [
        {
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
        }
    ]


def test_no_policy_in_the_stack_allows_wildcard_actions_or_every_resource(template: Template) -> None:
    """Except ECR's login token for pulling the large-scene job's image, Batch's ListJobs (a live job of the same
    upload, before SubmitJob), sending X-Ray traces, and the job's metrics (to the pipeline's namespace only):
    those actions take no resource."""
    for name, policy in template.find_resources("AWS::IAM::Policy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert not any("*" in action for action in actions), f"{name} allows {actions}"
            no_resource = (
                ["ecr:GetAuthorizationToken"],
                ["batch:ListJobs"],
                ["xray:PutTelemetryRecords", "xray:PutTraceSegments"],
            )
            if actions == ["cloudwatch:PutMetricData"]:
                assert statement["Condition"] == {"StringEquals": {"cloudwatch:namespace": "ImageryArchive"}}
            elif actions not in no_resource:
                assert statement["Resource"] != "*", f"{name} allows {actions} on every resource"


def test_no_kms_permissions_because_every_bucket_uses_s3_managed_keys(template: Template) -> None:
    assert not any(
        action.startswith("kms:")
        for statement in _function_role_statements(template)
        for action in (statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]])
    )


def test_notification_handler_may_only_configure_the_input_buckets_notifications(template: Template) -> None:
    input_arn = {"Fn::GetAtt": [logical_id(template, "AWS::S3::Bucket", "Buckets/Input"), "Arn"]}
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": [{"Action": "s3:PutBucketNotification", "Effect": "Allow", "Resource": input_arn}],
                "Version": "2012-10-17",
            }
        },
    )
