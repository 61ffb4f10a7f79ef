"""`-c stacApi=true`: the stack also synthesizes pgSTAC, the STAC API and its loader, offline, with cdk-nag
passing; without it the stack has no database and stays serverless.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from infra.settings import PipelineSettings
from infra.stac_api import HANDLERS
from tests.support.stack import synth_template


@pytest.fixture(scope="module")
def template() -> Template:
    return synth_template(stacApi="true")


def resources(template: Template, kind: str) -> dict[str, Any]:
    return template.find_resources(kind)


def test_off_by_default_the_stack_has_no_database_api_or_loader() -> None:
    assert PipelineSettings().stac_api is False
    default = synth_template()
    for kind in ("AWS::RDS::DBInstance", "AWS::ApiGatewayV2::Api", "AWS::Lambda::EventSourceMapping"):
        assert resources(default, kind) == {}, f"{kind} in the default stack: it must stay serverless"


def test_the_database_is_encrypted_postgres_in_isolated_subnets_of_a_vpc_without_nat(template: Template) -> None:
    (database,) = resources(template, "AWS::RDS::DBInstance").values()
    properties = database["Properties"]
    assert properties["Engine"] == "postgres"
    assert properties["StorageEncrypted"] is True
    assert properties["PubliclyAccessible"] is False
    assert resources(template, "AWS::EC2::NatGateway") == {}, "no NAT anywhere"
    (subnet_group,) = resources(template, "AWS::RDS::DBSubnetGroup").values()
    subnets = resources(template, "AWS::EC2::Subnet")
    for reference in subnet_group["Properties"]["SubnetIds"]:
        tags = {tag["Key"]: tag["Value"] for tag in subnets[reference["Ref"]]["Properties"]["Tags"]}
        assert tags["aws-cdk:subnet-type"] == "Isolated", "the database has no route to or from the Internet"
    endpoints = [
        json.dumps(r["Properties"]["ServiceName"]) for r in resources(template, "AWS::EC2::VPCEndpoint").values()
    ]
    assert any("secretsmanager" in name for name in endpoints), "the functions read the secret without a NAT"
    assert sum(".s3" in name for name in endpoints) >= 2, "S3 through gateway endpoints (the jobs' VPC and this one)"


def test_api_loader_and_migration_run_the_stac_image_in_the_vpc(template: Template) -> None:
    functions = resources(template, "AWS::Lambda::Function").values()
    commands = {
        f["Properties"]["ImageConfig"]["Command"][0]: f["Properties"]
        for f in functions
        if f["Properties"].get("ImageConfig", {}).get("Command", [""])[0].startswith("stac_api.")
    }
    assert sorted(commands) == sorted(HANDLERS.values())
    for properties in commands.values():
        assert properties["VpcConfig"]["SubnetIds"], "in the isolated subnets, next to the database"
        assert "PGSTAC_SECRET_ARN" in properties["Environment"]["Variables"]
    template.has_resource_properties("AWS::CloudFormation::CustomResource", {"Image": Match.any_value()})


def test_the_api_is_an_iam_authorized_http_api_with_access_logs(template: Template) -> None:
    template.has_resource_properties("AWS::ApiGatewayV2::Route", {"AuthorizationType": "AWS_IAM"})
    template.has_resource_properties(
        "AWS::ApiGatewayV2::Stage", {"AccessLogSettings": {"DestinationArn": Match.any_value()}}
    )


def test_item_and_cog_events_of_the_output_prefix_reach_the_loader_through_a_queue(template: Template) -> None:
    configurations = [
        c
        for r in resources(template, "Custom::S3BucketNotifications").values()
        for c in r["Properties"]["NotificationConfiguration"].get("QueueConfigurations", [])
    ]
    seen = {
        (c["Events"][0], {rule["Name"]: rule["Value"] for rule in c["Filter"]["Key"]["FilterRules"]}["suffix"])
        for c in configurations
    }
    assert seen == {
        ("s3:ObjectCreated:*", ".json"),
        ("s3:ObjectCreated:*", ".tif"),
        ("s3:ObjectRemoved:*", ".json"),
        ("s3:ObjectRemoved:*", ".tif"),
    }, "written, replaced and deleted Items and COGs all reach pgSTAC"
    template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "ScalingConfig": {"MaximumConcurrency": Match.any_value()},
        },
    )
    template.has_resource_properties(
        "AWS::SQS::Queue",
        {"RedrivePolicy": {"maxReceiveCount": Match.any_value(), "deadLetterTargetArn": Match.any_value()}},
    )


def test_the_function_may_grow_the_collections_and_nothing_else_new(template: Template) -> None:
    policies = json.dumps(resources(template, "AWS::IAM::Policy"))
    assert '"Sid": "GrowStacCollections"' in policies
    assert "/catalog/*" in policies
