"""The synthesized template, property by property: what `cdk deploy` would create, and what it must not.

Every template here is synthesized with cdk-nag attached, so each fixture also fails on an unacknowledged
finding. IAM is asserted statement by statement in test_iam.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Annotations, Match, Template

from imagery_archive import FUNCTION_ROOT
from imagery_archive.entrypoints.large_scene_routing import default_threshold
from tests.support.stack import IMPORTED_BUCKETS, logical_id, synth_stack, synth_template

DEFAULT_SUFFIXES = [".tif", ".tiff", ".TIF", ".TIFF", ".ntf", ".nitf", ".NTF", ".NITF", ".jp2", ".JP2"]
LAMBDA_SRC = FUNCTION_ROOT


@pytest.fixture(scope="module")
def disposable() -> Template:
    return synth_template(destroyBucketsWithStack=True)


def _ref(template: Template, resource_type: str, path: str) -> dict[str, str]:
    return {"Ref": logical_id(template, resource_type, path)}


def _arn(template: Template, resource_type: str, path: str) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [logical_id(template, resource_type, path), "Arn"]}


def _bucket(template: Template, name: str) -> dict[str, Any]:
    bucket_id = logical_id(template, "AWS::S3::Bucket", f"Buckets/{name}")
    return template.find_resources("AWS::S3::Bucket")[bucket_id]["Properties"]


def _function(template: Template) -> dict[str, Any]:
    (function,) = template.find_resources("AWS::Lambda::Function", {"Properties": {"PackageType": "Image"}}).values()
    return function["Properties"]


# Buckets


def test_creates_the_input_output_and_access_log_buckets(template: Template) -> None:
    template.resource_count_is("AWS::S3::Bucket", 3)


@pytest.mark.parametrize("bucket", ["Input", "Output", "AccessLogs"])
def test_every_bucket_is_private_owner_only_and_encrypted(template: Template, bucket: str) -> None:
    properties = _bucket(template, bucket)
    assert properties["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }, "a public-access gap would let a bucket policy or ACL publish imagery"
    assert properties["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert properties["BucketEncryption"] == {
        "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
    }
    assert {
        "Id": "AbortIncompleteMultipartUploads",
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
        "Status": "Enabled",
    } in properties["LifecycleConfiguration"]["Rules"], "abandoned multipart parts are billed forever"


@pytest.mark.parametrize("bucket", ["Input", "Output", "AccessLogs"])
def test_every_bucket_policy_denies_requests_without_tls(template: Template, bucket: str) -> None:
    bucket_id = logical_id(template, "AWS::S3::Bucket", f"Buckets/{bucket}")
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "Bucket": {"Ref": bucket_id},
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        {
                            "Action": "s3:*",
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            "Effect": "Deny",
                            "Principal": {"AWS": "*"},
                            "Resource": [
                                {"Fn::GetAtt": [bucket_id, "Arn"]},
                                {"Fn::Join": ["", [{"Fn::GetAtt": [bucket_id, "Arn"]}, "/*"]]},
                            ],
                        }
                    ]
                )
            },
        },
    )


@pytest.mark.parametrize(("bucket", "prefix"), [("Input", "input/"), ("Output", "output/")])
def test_input_and_output_buckets_log_requests_to_the_access_log_bucket(
    template: Template, bucket: str, prefix: str
) -> None:
    assert _bucket(template, bucket)["LoggingConfiguration"] == {
        "DestinationBucketName": _ref(template, "AWS::S3::Bucket", "Buckets/AccessLogs"),
        "LogFilePrefix": prefix,
    }


def test_access_logs_are_delivered_by_bucket_policy_not_acl(template: Template) -> None:
    logs_bucket = logical_id(template, "AWS::S3::Bucket", "Buckets/AccessLogs")
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "Bucket": {"Ref": logs_bucket},
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Action": "s3:PutObject",
                                "Effect": "Allow",
                                "Principal": {"Service": "logging.s3.amazonaws.com"},
                            }
                        )
                    ]
                )
            },
        },
    )


def test_output_bucket_is_versioned_so_a_reused_key_cannot_overwrite_the_only_archived_original(
    template: Template,
) -> None:
    output = template.find_resources("AWS::S3::Bucket")[logical_id(template, "AWS::S3::Bucket", "Buckets/Output")]
    assert output["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}
    rules = output["Properties"]["LifecycleConfiguration"]["Rules"]
    assert {
        "Id": "ExpireReplacedCompressedImages",
        "Prefix": "output/",
        "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
        "Status": "Enabled",
    } in rules
    assert not any("ExpirationInDays" in rule or "archive" in rule.get("Prefix", "") for rule in rules), (
        "no lifecycle rule may ever expire an archived original"
    )


def test_buckets_are_retained_when_the_stack_is_destroyed_by_default(template: Template) -> None:
    for bucket in template.find_resources("AWS::S3::Bucket").values():
        assert bucket["DeletionPolicy"] == "Retain", "cdk destroy would delete the archive"
        assert bucket["UpdateReplacePolicy"] == "Retain"
    template.resource_count_is("Custom::S3AutoDeleteObjects", 0)


def test_buckets_are_emptied_and_deleted_only_when_the_user_opts_in(disposable: Template) -> None:
    for bucket in disposable.find_resources("AWS::S3::Bucket").values():
        assert bucket["DeletionPolicy"] == "Delete"
    disposable.resource_count_is("Custom::S3AutoDeleteObjects", 3)


# The function


def test_function_is_the_container_image_with_large_scene_sizing(template: Template) -> None:
    function = _function(template)
    assert function["MemorySize"] == 4096
    assert function["EphemeralStorage"] == {"Size": 10240}, "10 GB-class scenes are staged in /tmp"
    assert function["Timeout"] == 900
    assert function["Architectures"] == ["x86_64"]
    assert function["RecursiveLoop"] == "Terminate"
    assert function["Role"] == _arn(template, "AWS::IAM::Role", "Compression/Role")
    assert function["ReservedConcurrentExecutions"] == 20, "a bulk upload can't take the account's concurrency"


def test_max_concurrency_is_the_functions_reserved_concurrency() -> None:
    assert _function(synth_template(maxConcurrency=5))["ReservedConcurrentExecutions"] == 5


@pytest.mark.parametrize(("architecture", "platform"), [("x86_64", "linux/amd64"), ("arm64", "linux/arm64")])
def test_function_image_is_built_from_lambda_src_for_the_functions_architecture(
    architecture: str, platform: str
) -> None:
    stack = synth_stack(architecture=architecture)
    assembly = stack.node.scope.synth()
    manifest = json.loads(Path(assembly.directory, f"{stack.artifact_id}.assets.json").read_text())
    (image,) = manifest["dockerImages"].values()
    assert image["source"]["platform"] == platform, "an image for the wrong CPU fails on its first invocation"
    staged = Path(assembly.directory, image["source"]["directory"])
    assert (staged / "Dockerfile").read_text() == (LAMBDA_SRC / "Dockerfile").read_text()
    junk = [path.name for path in staged.rglob("*") if path.name == "__pycache__" or path.suffix == ".pyc"]
    assert not junk, ".dockerignore must keep bytecode out of the image and its content hash"


def test_function_environment_is_the_functions_contract(template: Template) -> None:
    assert _function(template)["Environment"]["Variables"] == {
        "OUTPUT_BUCKET": _ref(template, "AWS::S3::Bucket", "Buckets/Output"),
        "FAILURE_QUEUE_URL": _ref(template, "AWS::SQS::Queue", "Failures/Queue"),
        "OUTPUT_PREFIX": "output/",
        "ARCHIVE_PREFIX": "archive/",
        "ARCHIVE_STORAGE_CLASS": "GLACIER",
        "COMPRESSION": "JPEG",
        "QUALITY": "75",
        "POWERTOOLS_SERVICE_NAME": "imagery-archive",
        "POWERTOOLS_METRICS_NAMESPACE": "ImageryArchive",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "CATALOG_PREFIX": "catalog/",
        "STAC_COLLECTION": "imagery-archive",
        # Large scenes go to AWS Batch (asserted in test_stack_large_scenes.py).
        "LARGE_SCENE_JOB_QUEUE": {"Fn::GetAtt": [logical_id(template, "AWS::Batch::JobQueue", "Queue"), "JobQueueArn"]},
        "LARGE_SCENE_JOB_DEFINITION": _ref(template, "AWS::Batch::JobDefinition", "JobDefinition"),
        "LARGE_SCENE_BYTES": str(default_threshold(10240 * 1024 * 1024)),
    }


def test_context_settings_reach_the_function() -> None:
    tuned = synth_template(
        compression="WEBP",
        quality=90,
        targetSsim=0.97,
        maxZError=0.5,
        archiveStorageClass="DEEP_ARCHIVE",
        memoryMiB=10240,
        ephemeralStorageMiB=4096,
        timeoutMinutes=10,
        architecture="arm64",
        logLevel="DEBUG",
        largeSceneJobs=False,
    )
    function = _function(tuned)
    assert function["Environment"]["Variables"] | {"OUTPUT_BUCKET": None, "FAILURE_QUEUE_URL": None} == {
        "OUTPUT_BUCKET": None,
        "FAILURE_QUEUE_URL": None,
        "OUTPUT_PREFIX": "output/",
        "ARCHIVE_PREFIX": "archive/",
        "ARCHIVE_STORAGE_CLASS": "DEEP_ARCHIVE",
        "COMPRESSION": "WEBP",
        "QUALITY": "90",
        "TARGET_SSIM": "0.97",
        "MAX_Z_ERROR": "0.5",
        "POWERTOOLS_SERVICE_NAME": "imagery-archive",
        "POWERTOOLS_METRICS_NAMESPACE": "ImageryArchive",
        "POWERTOOLS_LOG_LEVEL": "DEBUG",
        "CATALOG_PREFIX": "catalog/",
        "STAC_COLLECTION": "imagery-archive",
    }
    assert function["MemorySize"] == 10240
    assert function["EphemeralStorage"] == {"Size": 4096}
    assert function["Timeout"] == 600
    assert function["Architectures"] == ["arm64"]


def test_function_logs_to_its_own_log_group_with_retention(template: Template) -> None:
    log_group = logical_id(template, "AWS::Logs::LogGroup", "Compression/Logs")
    assert _function(template)["LoggingConfig"] == {"LogGroup": {"Ref": log_group}}
    template.has_resource("AWS::Logs::LogGroup", {"Properties": {"RetentionInDays": 90}})


# Trigger


def test_one_object_created_notification_per_imagery_suffix_on_the_input_bucket(template: Template) -> None:
    (notifications,) = template.find_resources("Custom::S3BucketNotifications").values()
    properties = notifications["Properties"]
    assert properties["BucketName"] == _ref(template, "AWS::S3::Bucket", "Buckets/Input")
    configurations = properties["NotificationConfiguration"]["LambdaFunctionConfigurations"]
    function_arn = _arn(template, "AWS::Lambda::Function", "Compression/Function")
    assert configurations == [
        {
            "Events": ["s3:ObjectCreated:*"],
            "Filter": {"Key": {"FilterRules": [{"Name": "suffix", "Value": suffix}]}},
            "LambdaFunctionArn": function_arn,
        }
        for suffix in DEFAULT_SUFFIXES
    ]
    assert set(properties["NotificationConfiguration"]) == {"LambdaFunctionConfigurations"}


def test_output_bucket_never_notifies_so_results_cannot_retrigger_the_function(template: Template) -> None:
    output = _ref(template, "AWS::S3::Bucket", "Buckets/Output")
    for notifications in template.find_resources("Custom::S3BucketNotifications").values():
        assert notifications["Properties"]["BucketName"] != output
    for bucket in template.find_resources("AWS::S3::Bucket").values():
        assert "NotificationConfiguration" not in bucket["Properties"]


def test_only_s3_from_the_input_bucket_in_this_account_may_invoke_the_function(template: Template) -> None:
    (permission,) = template.find_resources("AWS::Lambda::Permission").values()
    assert permission["Properties"] == {
        "Action": "lambda:InvokeFunction",
        "FunctionName": _arn(template, "AWS::Lambda::Function", "Compression/Function"),
        "Principal": "s3.amazonaws.com",
        "SourceAccount": {"Ref": "AWS::AccountId"},
        "SourceArn": _arn(template, "AWS::S3::Bucket", "Buckets/Input"),
    }


def test_custom_suffixes_replace_the_defaults() -> None:
    tuned = synth_template(imagerySuffixes=".tif,.TIF")
    (notifications,) = tuned.find_resources("Custom::S3BucketNotifications").values()
    configurations = notifications["Properties"]["NotificationConfiguration"]["LambdaFunctionConfigurations"]
    assert [c["Filter"]["Key"]["FilterRules"][0]["Value"] for c in configurations] == [".tif", ".TIF"]


# Failure handling


def test_asynchronous_retries_and_event_age_are_explicit_and_failures_go_to_the_queue(
    template: Template,
) -> None:
    template.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {
            "FunctionName": _ref(template, "AWS::Lambda::Function", "Compression/Function"),
            "Qualifier": "$LATEST",
            "MaximumRetryAttempts": 2,
            "MaximumEventAgeInSeconds": 6 * 3600,
            "DestinationConfig": {"OnFailure": {"Destination": _arn(template, "AWS::SQS::Queue", "Failures/Queue")}},
        },
    )


def test_failure_queue_is_encrypted_tls_only_and_keeps_failures_for_two_weeks(template: Template) -> None:
    template.has_resource_properties(
        "AWS::SQS::Queue", {"SqsManagedSseEnabled": True, "MessageRetentionPeriod": 14 * 24 * 3600}
    )
    template.has_resource_properties(
        "AWS::SQS::QueuePolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Condition": {"Bool": {"aws:SecureTransport": "false"}}, "Effect": "Deny"})]
                )
            },
            "Queues": [_ref(template, "AWS::SQS::Queue", "Failures/Queue")],
        },
    )


def test_alarm_on_function_errors(template: Template) -> None:
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "AWS/Lambda",
            "MetricName": "Errors",
            "Dimensions": [
                {
                    "Name": "FunctionName",
                    "Value": _ref(template, "AWS::Lambda::Function", "Compression/Function"),
                }
            ],
            "Statistic": "Sum",
            "Threshold": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": "notBreaching",
            "AlarmActions": [_ref(template, "AWS::SNS::Topic", "Alarms/Topic")],
        },
    )


def test_alarm_on_messages_in_the_failure_queue(template: Template) -> None:
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "AWS/SQS",
            "MetricName": "ApproximateNumberOfMessagesVisible",
            "Dimensions": [
                {
                    "Name": "QueueName",
                    "Value": {"Fn::GetAtt": [logical_id(template, "AWS::SQS::Queue", "Failures/Queue"), "QueueName"]},
                }
            ],
            "Threshold": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "AlarmActions": [_ref(template, "AWS::SNS::Topic", "Alarms/Topic")],
        },
    )


def test_alarm_on_permanent_failures_as_powertools_emits_them(template: Template) -> None:
    """Bad uploads are tagged and left in place without any function error: only this metric tells."""
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "ImageryArchive",
            "MetricName": "PermanentFailures",
            "Dimensions": [{"Name": "service", "Value": "imagery-archive"}],
            "Statistic": "Sum",
            "Threshold": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": "notBreaching",
            "AlarmActions": [_ref(template, "AWS::SNS::Topic", "Alarms/Topic")],
        },
    )


def test_alarm_topic_is_tls_only_and_emails_only_when_asked(template: Template) -> None:
    template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Condition": {"Bool": {"aws:SecureTransport": "false"}}, "Effect": "Deny"})]
                )
            }
        },
    )
    template.resource_count_is("AWS::SNS::Subscription", 0)
    with_email = synth_template(alarmEmail="oncall@example.com")
    with_email.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "oncall@example.com"}
    )


# Outputs


def test_outputs_name_the_buckets_the_function_and_the_failure_queue(template: Template) -> None:
    outputs = template.to_json()["Outputs"]
    assert {name: output["Value"] for name, output in outputs.items()} == {
        "InputBucketName": _ref(template, "AWS::S3::Bucket", "Buckets/Input"),
        "OutputBucketName": _ref(template, "AWS::S3::Bucket", "Buckets/Output"),
        "FunctionName": _ref(template, "AWS::Lambda::Function", "Compression/Function"),
        "FunctionArn": _arn(template, "AWS::Lambda::Function", "Compression/Function"),
        "BatchOperationsRoleArn": _arn(template, "AWS::IAM::Role", "BatchOperations/Role"),
        "FailureQueueUrl": _ref(template, "AWS::SQS::Queue", "Failures/Queue"),
        "AlarmTopicArn": _ref(template, "AWS::SNS::Topic", "Alarms/Topic"),
        "LargeSceneJobQueue": outputs["LargeSceneJobQueue"]["Value"],  # its name: asserted in test_stack_large_scenes
        "LargeSceneLogGroup": _ref(template, "AWS::Logs::LogGroup", "LargeScenes/Logs"),
        # Where the dashboard is (asserted in test_operations_stack.py).
        "DashboardName": outputs["DashboardName"]["Value"],
        "DashboardUrl": outputs["DashboardUrl"]["Value"],
    }


# Imported buckets


def test_imported_buckets_are_not_created(imported: Template) -> None:
    imported.resource_count_is("AWS::S3::Bucket", 0)
    imported.resource_count_is("AWS::S3::BucketPolicy", 0)


def test_imported_input_bucket_keeps_its_other_notifications(imported: Template) -> None:
    imported.has_resource_properties(
        "Custom::S3BucketNotifications", {"BucketName": "survey-uploads", "Managed": False}
    )


def test_imported_output_bucket_is_the_functions_output(imported: Template) -> None:
    assert _function(imported)["Environment"]["Variables"]["OUTPUT_BUCKET"] == "survey-archive"


def _warnings(**context: Any) -> list[str]:
    found = Annotations.from_stack(synth_stack(**context)).find_warning("*", Match.any_value())
    return [str(entry.entry.data) for entry in found]


def test_an_imported_output_bucket_whose_versioning_is_unverified_is_warned_about_at_synth() -> None:
    (warning,) = [text for text in _warnings(**IMPORTED_BUCKETS) if "versions" in text]
    assert "survey-archive" in warning
    assert "its own key" in warning, "the warning says what the function does about it"
    assert "outputBucketVersioned=true" in warning, "and how to confirm versioning"
    assert not [text for text in _warnings(**IMPORTED_BUCKETS, outputBucketVersioned=True) if "versions" in text]
    assert not [text for text in _warnings() if "versions" in text], "a created output bucket is versioned"


def test_importing_only_the_input_bucket_still_creates_a_logged_output_bucket() -> None:
    half = synth_template(inputBucketName="survey-uploads")
    half.resource_count_is("AWS::S3::Bucket", 2)
    half.has_resource_properties(
        "AWS::S3::Bucket",
        {"VersioningConfiguration": {"Status": "Enabled"}, "LoggingConfiguration": Match.any_value()},
    )
