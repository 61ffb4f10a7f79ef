"""The role S3 Batch Operations assumes: only that service, only for this account, and only what a backfill or
restore job does. Anything more would let a job (or whoever may pass this role) touch imagery it shouldn't.
"""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Template

from infra.settings import SettingsError
from tests.support.stack import logical_id, synth_template


def _role_id(template: Template) -> str:
    return logical_id(template, "AWS::IAM::Role", "BatchOperations/Role")


def _statements(template: Template) -> list[dict[str, Any]]:
    role = _role_id(template)
    policies = [
        policy["Properties"]
        for policy in template.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
    ]
    assert len(policies) == 1, "the Batch Operations role must have exactly one policy, the one asserted here"
    return policies[0]["PolicyDocument"]["Statement"]


def _objects(bucket_arn: Any, prefix: str) -> dict[str, Any]:
    return {"Fn::Join": ["", [bucket_arn, f"/{prefix}*"]]}


def test_only_s3_batch_operations_of_this_account_may_assume_it(template: Template) -> None:
    role = template.find_resources("AWS::IAM::Role")[_role_id(template)]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
            "Effect": "Allow",
            "Principal": {"Service": "batchoperations.s3.amazonaws.com"},
        }
    ], "without aws:SourceAccount, another account's job could be made to act as this role (confused deputy)"
    assert "ManagedPolicyArns" not in role


def test_it_may_invoke_the_function_restore_archives_read_manifests_and_write_reports_only(template: Template) -> None:
    function = {"Fn::GetAtt": [logical_id(template, "AWS::Lambda::Function", "Compression/Function"), "Arn"]}
    output = {"Fn::GetAtt": [logical_id(template, "AWS::S3::Bucket", "Buckets/Output"), "Arn"]}
    assert _statements(template) == [
        {
            "Sid": "InvokeCompressionFunction",
            "Effect": "Allow",
            "Action": "lambda:InvokeFunction",
            "Resource": function,
        },
        {
            "Sid": "RestoreArchivedOriginals",
            "Effect": "Allow",
            "Action": "s3:RestoreObject",
            "Resource": _objects(output, "archive/"),
        },
        {
            "Sid": "ReadJobManifests",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:GetObjectVersion"],
            "Resource": _objects(output, "batch-operations/manifests/"),
        },
        {
            "Sid": "WriteCompletionReports",
            "Effect": "Allow",
            "Action": "s3:PutObject",
            "Resource": _objects(output, "batch-operations/reports/"),
        },
        {
            "Sid": "LocateManifestAndReportBucket",
            "Effect": "Allow",
            "Action": "s3:GetBucketLocation",
            "Resource": output,
        },
    ]


def test_imported_buckets_and_custom_prefixes_scope_it_the_same_way() -> None:
    template = synth_template(
        outputBucketName="survey-archive", inputBucketName="survey-uploads", archivePrefix="originals/"
    )
    statements = {statement["Sid"]: statement for statement in _statements(template)}
    bucket = {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":s3:::survey-archive"]]}
    assert statements["RestoreArchivedOriginals"]["Resource"] == {
        "Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":s3:::survey-archive/originals/*"]]
    }
    assert statements["WriteCompletionReports"]["Resource"] == {
        "Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":s3:::survey-archive/batch-operations/reports/*"]]
    }
    assert statements["LocateManifestAndReportBucket"]["Resource"] == bucket


def test_its_arn_and_the_functions_are_stack_outputs(template: Template) -> None:
    outputs = template.to_json()["Outputs"]
    assert outputs["BatchOperationsRoleArn"]["Value"] == {"Fn::GetAtt": [_role_id(template), "Arn"]}
    function = logical_id(template, "AWS::Lambda::Function", "Compression/Function")
    assert outputs["FunctionArn"]["Value"] == {"Fn::GetAtt": [function, "Arn"]}


@pytest.mark.parametrize("key", ["outputPrefix", "archivePrefix"])
def test_a_prefix_over_the_manifests_and_reports_is_refused(key: str) -> None:
    with pytest.raises(SettingsError, match="batch-operations/"):
        synth_template(**{key: "batch-operations/"})
