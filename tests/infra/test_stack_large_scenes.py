"""The large-scene path in the synthesized template: the VPC without NAT, the Fargate compute environment, the
queue, the job definition on the function's own image, its two roles, the function's right to submit, and the
failure wiring. Every template here is synthesized with cdk-nag attached (see test_nag_and_lint.py).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Template
from cfnlint.api import lint_file

from imagery_archive.entrypoints.large_scene_routing import default_threshold, largest_original_for_scratch
from infra.settings import PipelineSettings, SettingsError
from tests.support.stack import logical_id, synth_stack, synth_template

MiB = 1024 * 1024
ARCHIVE_JOB_SIDS = (
    "ReadUploadedImagery",
    "TagFailedUploads",
    "DeleteArchivedUploads",
    "ListInputBucketForNotFound",
    "WriteAndVerifyResults",
    "KeepTagsOnArchivedOriginals",
    "ListOutputBucketForNotFound",
    "CheckOutputBucketVersioning",
    "GrowStacCollections",
    "ReportOwnOutputFailures",
)
"""The function's S3 statements, and its report of an invalid COG to the failure queue: the job runs the same code."""
VPC_ID = "vpc-0123456789abcdef0"
LOOKUP = {
    "CDK_DEFAULT_ACCOUNT": "123456789012",
    "CDK_DEFAULT_REGION": "eu-west-1",
}
LOOKED_UP_VPC = {
    f"vpc-provider:account=123456789012:filter.vpc-id={VPC_ID}:region=eu-west-1:returnAsymmetricSubnets=true": {
        "vpcId": VPC_ID,
        "vpcCidrBlock": "10.0.0.0/16",
        "availabilityZones": [],
        "subnetGroups": [
            {
                "name": "Private",
                "type": "Private",
                "subnets": [
                    {
                        "subnetId": f"subnet-0a1b2c3d4e5f6071{index}",
                        "cidr": f"10.0.{index}.0/24",
                        "availabilityZone": f"eu-west-1{zone}",
                        "routeTableId": f"rtb-0a1b2c3d4e5f6071{index}",
                    }
                    for index, zone in ((1, "a"), (2, "b"))
                ],
            }
        ],
    }
}
"""What the CLI's VPC lookup would cache in cdk.context.json for an existing VPC with two private subnets."""


def _only(template: Template, resource_type: str) -> dict[str, Any]:
    (resource,) = template.find_resources(resource_type).values()
    return resource["Properties"]


def _job_definition(template: Template) -> dict[str, Any]:
    return _only(template, "AWS::Batch::JobDefinition")


def _container(template: Template) -> dict[str, Any]:
    return _job_definition(template)["ContainerProperties"]


def _statements(template: Template, role_path: str) -> list[dict[str, Any]]:
    role = logical_id(template, "AWS::IAM::Role", role_path)
    (policy,) = [
        policy["Properties"]
        for policy in template.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
    ]
    return policy["PolicyDocument"]["Statement"]


def _function(template: Template) -> dict[str, Any]:
    (function,) = template.find_resources("AWS::Lambda::Function", {"Properties": {"PackageType": "Image"}}).values()
    return function["Properties"]


def _arn(template: Template, resource_type: str, path: str, attribute: str = "Arn") -> dict[str, Any]:
    return {"Fn::GetAtt": [logical_id(template, resource_type, path), attribute]}


def _ref(template: Template, resource_type: str, path: str) -> dict[str, Any]:
    return {"Ref": logical_id(template, resource_type, path)}


# The network: no NAT gateway; S3 through a gateway endpoint


def test_a_vpc_of_public_subnets_without_nat_with_an_s3_gateway_endpoint(template: Template) -> None:
    template.resource_count_is("AWS::EC2::VPC", 1)
    template.resource_count_is("AWS::EC2::NatGateway", 0)
    template.resource_count_is("AWS::EC2::InternetGateway", 1)
    subnets = template.find_resources("AWS::EC2::Subnet")
    assert len(subnets) == 2, "two availability zones"
    assert all(subnet["Properties"]["MapPublicIpOnLaunch"] for subnet in subnets.values())
    endpoint = _only(template, "AWS::EC2::VPCEndpoint")
    assert endpoint["VpcEndpointType"] == "Gateway"
    assert endpoint["ServiceName"] == {"Fn::Join": ["", ["com.amazonaws.", {"Ref": "AWS::Region"}, ".s3"]]}
    route_tables = {logical_id for logical_id in template.find_resources("AWS::EC2::RouteTable")}
    assert {table["Ref"] for table in endpoint["RouteTableIds"]} == route_tables, "every subnet reaches S3 privately"


def test_rejected_traffic_is_logged(template: Template) -> None:
    flow_log = _only(template, "AWS::EC2::FlowLog")
    assert flow_log["TrafficType"] == "REJECT"
    assert flow_log["ResourceId"] == _ref(template, "AWS::EC2::VPC", "LargeScenes/Vpc")
    assert flow_log["LogGroupName"] == _ref(template, "AWS::Logs::LogGroup", "LargeScenes/FlowLogs")


def test_the_job_security_group_admits_nothing_and_sends_only_https(template: Template) -> None:
    group = _only(template, "AWS::EC2::SecurityGroup")
    assert "SecurityGroupIngress" not in group
    assert group["SecurityGroupEgress"] == [
        {"CidrIp": "0.0.0.0/0", "Description": "HTTPS to AWS APIs", "FromPort": 443, "IpProtocol": "tcp", "ToPort": 443}
    ]


# Compute environment, queue, job definition


def test_a_fargate_compute_environment_in_the_public_subnets(template: Template) -> None:
    environment = _only(template, "AWS::Batch::ComputeEnvironment")
    assert environment["Type"] == "managed"
    assert environment["ComputeResources"] == {
        "Type": "FARGATE",
        "MaxvCpus": 16,
        "Subnets": [{"Ref": name} for name in sorted(template.find_resources("AWS::EC2::Subnet"))],
        "SecurityGroupIds": [_arn(template, "AWS::EC2::SecurityGroup", "LargeScenes/SecurityGroup", "GroupId")],
    }


def test_the_queue_feeds_that_compute_environment(template: Template) -> None:
    queue = _only(template, "AWS::Batch::JobQueue")
    environment = logical_id(template, "AWS::Batch::ComputeEnvironment", "LargeScenes/ComputeEnvironment")
    assert queue["ComputeEnvironmentOrder"] == [
        {"ComputeEnvironment": {"Fn::GetAtt": [environment, "ComputeEnvironmentArn"]}, "Order": 1}
    ]
    assert queue["State"] == "ENABLED"


def test_the_job_runs_the_functions_own_image_asset(template: Template) -> None:
    image_uri = _function(template)["Code"]["ImageUri"]["Fn::Join"][1]
    function_tag = image_uri[-1].lstrip(":")
    job_image = _container(template)["Image"]["Fn::Sub"]
    assert job_image.endswith(f":{function_tag}"), "one image asset, built and pushed once, for both"
    assert job_image.split("/")[-1].startswith("cdk-hnb659fds-container-assets-")
    assert _container(template)["Command"] == ["python3", "-m", "imagery_archive.job"]
    assert _function(template)["ImageConfig"] == {
        "EntryPoint": ["python3", "-m", "awslambdaric"],
        "Command": ["handler.handler"],
    }, "the image has no ENTRYPOINT (Batch can't replace one): Lambda names its own"


def test_the_job_definition_sizes_the_fargate_task_from_context(template: Template) -> None:
    definition = _job_definition(template)
    assert definition["Type"] == "container"
    assert definition["PlatformCapabilities"] == ["FARGATE"]
    container = definition["ContainerProperties"]
    assert sorted(container["ResourceRequirements"], key=lambda item: item["Type"]) == [
        {"Type": "MEMORY", "Value": "8192"},
        {"Type": "VCPU", "Value": "4"},
    ]
    assert container["EphemeralStorage"] == {"SizeInGiB": 200}
    assert container["RuntimePlatform"] == {"CpuArchitecture": "X86_64", "OperatingSystemFamily": "LINUX"}
    assert container["NetworkConfiguration"] == {"AssignPublicIp": "ENABLED"}, "no NAT: a public IP reaches ECR"
    assert container["FargatePlatformConfiguration"] == {"PlatformVersion": "LATEST"}
    assert definition["Timeout"] == {"AttemptDurationSeconds": 24 * 3600}


def test_exit_code_1_is_retried_and_exit_code_2_never(template: Template) -> None:
    assert _job_definition(template)["RetryStrategy"] == {
        "Attempts": 3,
        "EvaluateOnExit": [{"Action": "EXIT", "OnExitCode": "2"}, {"Action": "RETRY", "OnExitCode": "1"}],
    }


def test_the_job_gets_exactly_the_functions_environment_contract(template: Template) -> None:
    job_environment = {item["Name"]: item["Value"] for item in _container(template)["Environment"]}
    function_environment = _function(template)["Environment"]["Variables"]
    routing = {"LARGE_SCENE_JOB_QUEUE", "LARGE_SCENE_JOB_DEFINITION", "LARGE_SCENE_BYTES"}
    scratch = {"CPL_TMPDIR": "/scratch", "TMPDIR": "/scratch"}  # its writable volume (test_hardening.py)
    untraced = {"POWERTOOLS_TRACE_DISABLED": "true"}  # Fargate has no X-Ray daemon (test_operations_stack.py)
    contract = {name: value for name, value in function_environment.items() if name not in routing}
    assert job_environment == {**contract, **scratch, **untraced}
    assert not routing & job_environment.keys(), "a job must never route its scene again"


def test_the_job_logs_to_its_own_log_group_with_retention(template: Template) -> None:
    assert _container(template)["LogConfiguration"] == {
        "LogDriver": "awslogs",
        "Options": {
            "awslogs-group": _ref(template, "AWS::Logs::LogGroup", "LargeScenes/Logs"),
            "awslogs-stream-prefix": "large-scene",
            "awslogs-region": {"Ref": "AWS::Region"},
        },
    }
    log_group = logical_id(template, "AWS::Logs::LogGroup", "LargeScenes/Logs")
    assert template.find_resources("AWS::Logs::LogGroup")[log_group]["Properties"]["RetentionInDays"] == 90


# IAM


def test_the_job_role_has_exactly_the_functions_s3_statements(template: Template) -> None:
    function_s3 = [s for s in _statements(template, "Compression/Role") if s.get("Sid") in ARCHIVE_JOB_SIDS]
    assert [s["Sid"] for s in function_s3] == list(ARCHIVE_JOB_SIDS)
    publish_metrics = {  # CloudWatch extracts EMF from Lambda only: the job sends its metrics (test_job_metrics.py)
        "Sid": "PublishJobMetrics",
        "Effect": "Allow",
        "Action": "cloudwatch:PutMetricData",
        "Resource": "*",
        "Condition": {"StringEquals": {"cloudwatch:namespace": "ImageryArchive"}},
    }
    assert _statements(template, "LargeScenes/JobRole") == [*function_s3, publish_metrics]
    container = _container(template)
    assert container["JobRoleArn"] == _arn(template, "AWS::IAM::Role", "LargeScenes/JobRole")


def test_the_execution_role_only_pulls_the_image_and_writes_logs(template: Template) -> None:
    repository = {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":ecr:",
                {"Ref": "AWS::Region"},
                ":",
                {"Ref": "AWS::AccountId"},
                ":repository/",
                {"Fn::Sub": "cdk-hnb659fds-container-assets-${AWS::AccountId}-${AWS::Region}"},
            ],
        ]
    }
    assert _statements(template, "LargeScenes/ExecutionRole") == [
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": _arn(template, "AWS::Logs::LogGroup", "LargeScenes/Logs"),
        },
        {
            "Effect": "Allow",
            # Sorted: @aws-cdk/aws-iam:minimizePolicies sorts actions.
            "Action": ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            "Resource": repository,
        },
        {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
    ]
    assert _container(template)["ExecutionRoleArn"] == _arn(template, "AWS::IAM::Role", "LargeScenes/ExecutionRole")


@pytest.mark.parametrize("role", ["LargeScenes/JobRole", "LargeScenes/ExecutionRole"])
def test_only_ecs_tasks_may_assume_the_job_roles_and_no_managed_policies(template: Template, role: str) -> None:
    properties = template.find_resources("AWS::IAM::Role")[logical_id(template, "AWS::IAM::Role", role)]["Properties"]
    assert "ManagedPolicyArns" not in properties
    (statement,) = properties["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}  # its conditions: test_hardening.py


def test_the_function_may_only_submit_jobs_to_that_queue_and_definition(template: Template) -> None:
    batch = [s for s in _statements(template, "Compression/Role") if any("batch:" in a for a in [s["Action"]])]
    assert batch == [
        {
            "Sid": "SubmitLargeSceneJobs",
            "Effect": "Allow",
            "Action": "batch:SubmitJob",
            "Resource": [
                _arn(template, "AWS::Batch::JobQueue", "LargeScenes/Queue", "JobQueueArn"),
                _ref(template, "AWS::Batch::JobDefinition", "LargeScenes/JobDefinition"),
            ],
        },
        {"Sid": "FindLiveLargeSceneJobs", "Effect": "Allow", "Action": "batch:ListJobs", "Resource": "*"},
    ]


# The function's route, and failures


def test_the_function_routes_from_what_its_ephemeral_storage_can_safely_hold(template: Template) -> None:
    variables = _function(template)["Environment"]["Variables"]
    assert variables["LARGE_SCENE_JOB_QUEUE"] == _arn(
        template, "AWS::Batch::JobQueue", "LargeScenes/Queue", "JobQueueArn"
    )
    assert variables["LARGE_SCENE_JOB_DEFINITION"] == _ref(
        template, "AWS::Batch::JobDefinition", "LargeScenes/JobDefinition"
    )
    assert variables["LARGE_SCENE_BYTES"] == str(default_threshold(10240 * MiB))
    smaller = synth_template(ephemeralStorageMiB=2048)
    assert _function(smaller)["Environment"]["Variables"]["LARGE_SCENE_BYTES"] == str(default_threshold(2048 * MiB))
    chosen = synth_template(largeSceneBytes=3 * 1024**3)
    assert _function(chosen)["Environment"]["Variables"]["LARGE_SCENE_BYTES"] == str(3 * 1024**3)


def test_failed_jobs_reach_the_failure_queue_whose_alarm_fires(template: Template) -> None:
    rule = template.find_resources("AWS::Events::Rule")[
        logical_id(template, "AWS::Events::Rule", "LargeScenes/FailedJobs")
    ]
    rule = rule["Properties"]
    queue = _arn(template, "AWS::SQS::Queue", "Failures/Queue")
    assert rule["EventPattern"] == {
        "source": ["aws.batch"],
        "detail-type": ["Batch Job State Change"],
        "detail": {
            "status": ["FAILED"],
            "jobQueue": [_arn(template, "AWS::Batch::JobQueue", "LargeScenes/Queue", "JobQueueArn")],
        },
    }
    assert rule["Targets"] == [{"Arn": queue, "Id": "Target0"}]
    policy = _only(template, "AWS::SQS::QueuePolicy")["PolicyDocument"]["Statement"]
    assert {
        "Action": ["sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage"],  # sorted (minimizePolicies)
        "Condition": {"ArnEquals": {"aws:SourceArn": _arn(template, "AWS::Events::Rule", "LargeScenes/FailedJobs")}},
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Resource": queue,
    } in policy, "only this rule may send to the failure queue"
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": "ApproximateNumberOfMessagesVisible",
            "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue["Fn::GetAtt"][0], "QueueName"]}}],
        },
    )


def test_outputs_name_the_queue_and_the_log_group(template: Template) -> None:
    outputs = template.to_json()["Outputs"]
    assert outputs["LargeSceneJobQueue"]["Value"]["Fn::Select"][0] == 1, "the queue's name, from its ARN"
    assert outputs["LargeSceneLogGroup"]["Value"] == _ref(template, "AWS::Logs::LogGroup", "LargeScenes/Logs")


# Other configurations


def test_context_sizes_the_job() -> None:
    tuned = synth_template(
        largeSceneVcpus=8,
        largeSceneMemoryMiB=20480,
        largeSceneStorageGiB=50,
        largeSceneMaxVcpus=64,
        largeSceneTimeoutHours=6,
        architecture="arm64",
    )
    container = _container(tuned)
    assert sorted(container["ResourceRequirements"], key=lambda item: item["Type"]) == [
        {"Type": "MEMORY", "Value": "20480"},
        {"Type": "VCPU", "Value": "8"},
    ]
    assert container["EphemeralStorage"] == {"SizeInGiB": 50}
    assert container["RuntimePlatform"]["CpuArchitecture"] == "ARM64", "the image is built for the function's CPU"
    assert _only(tuned, "AWS::Batch::ComputeEnvironment")["ComputeResources"]["MaxvCpus"] == 64
    assert _job_definition(tuned)["Timeout"] == {"AttemptDurationSeconds": 6 * 3600}


def test_without_large_scene_jobs_nothing_of_it_is_deployed_and_the_function_keeps_every_scene() -> None:
    off = synth_template(largeSceneJobs=False)
    for resource_type in ("AWS::Batch::ComputeEnvironment", "AWS::Batch::JobQueue", "AWS::Batch::JobDefinition"):
        off.resource_count_is(resource_type, 0)
    off.resource_count_is("AWS::EC2::VPC", 0)
    off.resource_count_is("AWS::Events::Rule", 0)
    assert not any(name.startswith("LARGE_SCENE") for name in _function(off)["Environment"]["Variables"])
    assert not any("batch:" in str(s["Action"]) for s in _statements(off, "Compression/Role"))


@pytest.fixture
def existing_vpc(monkeypatch: pytest.MonkeyPatch) -> Template:
    """The stack in an existing VPC, as the CLI synthesizes it once its lookup is cached."""
    for name, value in LOOKUP.items():
        monkeypatch.setenv(name, value)
    stack = synth_stack(vpcId=VPC_ID, **LOOKED_UP_VPC)
    stack.node.scope.synth()  # cdk-nag: no unacknowledged finding
    return Template.from_stack(stack)


def test_an_existing_vpc_is_used_by_id_with_its_private_subnets(existing_vpc: Template) -> None:
    existing_vpc.resource_count_is("AWS::EC2::VPC", 0)
    existing_vpc.resource_count_is("AWS::EC2::VPCEndpoint", 0)
    assert _only(existing_vpc, "AWS::Batch::ComputeEnvironment")["ComputeResources"]["Subnets"] == [
        "subnet-0a1b2c3d4e5f60711",
        "subnet-0a1b2c3d4e5f60712",
    ]
    assert _only(existing_vpc, "AWS::EC2::SecurityGroup")["VpcId"] == VPC_ID
    assert _container(existing_vpc)["NetworkConfiguration"] == {"AssignPublicIp": "DISABLED"}


def test_cfn_lint_finds_no_errors_in_an_existing_vpc(existing_vpc: Template, tmp_path) -> None:
    path = tmp_path / "template.json"
    path.write_text(json.dumps(existing_vpc.to_json()))
    errors = [f"{m.rule.id} {m.message}" for m in lint_file(path) if m.rule.severity == "error"]
    assert not errors


# Settings


def test_defaults() -> None:
    settings = PipelineSettings()
    assert settings.large_scene_jobs is True
    assert (settings.large_scene_vcpus, settings.large_scene_memory_mib) == (4, 8192)
    assert settings.large_scene_storage_gib == 200
    assert settings.large_scene_threshold_bytes == default_threshold(10240 * MiB)


@pytest.mark.parametrize(
    ("context", "key"),
    [
        ({"largeSceneVcpus": 3}, "largeSceneVcpus"),
        ({"largeSceneVcpus": "many"}, "largeSceneVcpus"),
        ({"largeSceneMemoryMiB": 4096}, "largeSceneMemoryMiB"),  # below 4 vCPUs' 8192
        ({"largeSceneVcpus": 8, "largeSceneMemoryMiB": 18432}, "largeSceneMemoryMiB"),  # not a 4096 step
        ({"largeSceneStorageGiB": 20}, "largeSceneStorageGiB"),
        ({"largeSceneStorageGiB": 201}, "largeSceneStorageGiB"),
        ({"largeSceneMaxVcpus": 2}, "largeSceneMaxVcpus"),  # fewer than one job needs
        ({"largeSceneTimeoutHours": 0}, "largeSceneTimeoutHours"),
        ({"largeSceneBytes": 0}, "largeSceneBytes"),
        ({"largeSceneBytes": largest_original_for_scratch(10240 * MiB) + 1}, "largeSceneBytes"),
        ({"largeSceneJobs": "maybe"}, "largeSceneJobs"),
        ({"vpcId": "my-vpc"}, "vpcId"),
    ],
)
def test_invalid_large_scene_settings_fail_naming_the_context_key(context: dict, key: str) -> None:
    with pytest.raises(SettingsError, match=rf"cdk.json context '{key}'"):
        PipelineSettings.from_mapping(context)


def test_fractional_vcpus_are_accepted() -> None:
    settings = PipelineSettings.from_mapping({"largeSceneVcpus": "0.5", "largeSceneMemoryMiB": 2048})
    assert settings.large_scene_vcpus == 0.5
