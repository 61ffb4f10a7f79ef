"""Roles only their service may assume for this account, and a large-scene container that can't change itself.

- Every role a service assumes (the function's, the large-scene job's and execution roles, the VPC flow
  logs role) names the account it may be assumed for (`aws:SourceAccount`) and, where the service states
  one, the resources it may be assumed for (`aws:SourceArn`): another account's function, task or flow log
  can't be made to act with it (the confused deputy).
- The Fargate container runs as a non-root user with a read-only root file system; its only writable place
  is a scratch volume, where GDAL and Python put their temporary files.
"""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Template

from tests.support.paths import ROOT
from tests.support.stack import logical_id

ACCOUNT = {"Ref": "AWS::AccountId"}


def _arn_pattern(service: str, resource: str) -> dict[str, Any]:
    return {
        "Fn::Join": [
            "",
            ["arn:", {"Ref": "AWS::Partition"}, f":{service}:", {"Ref": "AWS::Region"}, ":", ACCOUNT, f":{resource}"],
        ]
    }


ROLES = {
    "Compression/Role": ("lambda.amazonaws.com", None),
    "LargeScenes/JobRole": ("ecs-tasks.amazonaws.com", _arn_pattern("ecs", "*")),
    "LargeScenes/ExecutionRole": ("ecs-tasks.amazonaws.com", _arn_pattern("ecs", "*")),
    "LargeScenes/FlowLogsRole": ("vpc-flow-logs.amazonaws.com", _arn_pattern("ec2", "vpc-flow-log/*")),
}
"""Each role, its service, and the `aws:SourceArn` pattern that service documents (None: it states none for
an execution role, so only the account is named)."""


def _trust(template: Template, role_path: str) -> list[dict[str, Any]]:
    role = template.find_resources("AWS::IAM::Role")[logical_id(template, "AWS::IAM::Role", role_path)]
    return role["Properties"]["AssumeRolePolicyDocument"]["Statement"]


@pytest.mark.parametrize("role_path", ROLES)
def test_each_service_role_may_be_assumed_only_for_this_account(template: Template, role_path: str) -> None:
    service, source_arn = ROLES[role_path]
    condition: dict[str, Any] = {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
    if source_arn is not None:
        condition["ArnLike"] = {"aws:SourceArn": source_arn}
    assert _trust(template, role_path) == [
        {"Action": "sts:AssumeRole", "Condition": condition, "Effect": "Allow", "Principal": {"Service": service}}
    ]


def test_every_role_a_service_assumes_is_scoped(template: Template) -> None:
    for name, role in template.find_resources("AWS::IAM::Role").items():
        path = role.get("Metadata", {}).get("aws:cdk:path", "")
        if "BucketNotificationsHandler" in path or "CustomResourceProvider" in path:
            continue  # aws-cdk-lib's deploy-time handlers (bucket notifications, default security group rules)
        for statement in role["Properties"]["AssumeRolePolicyDocument"]["Statement"]:
            if "Service" in statement["Principal"]:
                assert "aws:SourceAccount" in statement.get("Condition", {}).get("StringEquals", {}), (
                    f"{path or name}: {statement['Principal']['Service']} may assume it for any account"
                )


def _container(template: Template) -> dict[str, Any]:
    (definition,) = template.find_resources("AWS::Batch::JobDefinition").values()
    return definition["Properties"]["ContainerProperties"]


def test_the_large_scene_container_runs_as_a_non_root_user_on_a_read_only_root(template: Template) -> None:
    container = _container(template)
    user = container["User"]
    assert user.split(":")[0] not in {"0", "root"}, "not root"
    assert container["ReadonlyRootFilesystem"] is True
    (volume,) = container["Volumes"]
    assert volume == {"Name": "scratch"}, "an empty task volume: Fargate's ephemeral storage, not the host's"
    (mount,) = container["MountPoints"]
    assert (mount["ContainerPath"], mount["SourceVolume"], mount.get("ReadOnly", False)) == (
        "/scratch",
        "scratch",
        False,
    )
    environment = {item["Name"]: item["Value"] for item in container["Environment"]}
    assert environment["CPL_TMPDIR"] == "/scratch", "GDAL's and the job's scratch files go to the volume"
    assert environment["TMPDIR"] == "/scratch", "so do Python's"


def test_the_image_gives_the_scratch_volume_to_that_user() -> None:
    """Fargate makes a task volume root-owned (0755) unless the image declares the path a VOLUME: then it
    takes the image's ownership. The container tests build and run the image; this reads the Dockerfile."""
    dockerfile = (ROOT / "lambda_src" / "Dockerfile").read_text()
    assert 'VOLUME ["/scratch"]' in dockerfile
    assert "chown 10001:10001 /scratch" in dockerfile


def test_the_job_user_is_the_one_the_image_prepares(template: Template) -> None:
    assert _container(template)["User"] == "10001:10001"
