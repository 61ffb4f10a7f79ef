"""The template passes AWS's own rule packs: cdk-nag's AwsSolutions checks, cfn-lint, and the real CDK CLI.

cdk-nag runs inside every synth (app.py attaches it), so a finding that nobody acknowledged fails the build;
these tests pin down which findings are acknowledged, and why, so a new one can't slip in unreviewed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import Stack
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Template
from cfnlint.api import lint_file

from tests.support.stack import ROOT, synth_stack

CONFIGURATIONS = {
    "defaults": {},
    "imported buckets": {"inputBucketName": "survey-uploads", "outputBucketName": "survey-archive"},
    "imported input bucket": {"inputBucketName": "survey-uploads"},
    "STAC API": {"stacApi": True},
    "everything opted in": {
        "destroyBucketsWithStack": True,
        "alarmEmail": "oncall@example.com",
        "architecture": "arm64",
        "targetSsim": 0.97,
        "maxZError": 0.5,
    },
    "no large-scene jobs": {"largeSceneJobs": False},
}
EXPECTED_ACKNOWLEDGMENTS = {
    # rule -> the resource paths (relative to the stack) it is acknowledged on, in the default configuration
    "AwsSolutions-S1": {"Pipeline/Buckets/AccessLogs"},
    "AwsSolutions-SQS3": {"Pipeline/Failures/Queue"},
    "AwsSolutions-SNS2": {"Pipeline/Alarms/Topic"},
    "AwsSolutions-IAM4": {"BucketNotificationsHandler"},
    "AwsSolutions-IAM5": {
        "Pipeline/Compression/Role",
        "Pipeline/BatchOperations/Role",
        "Pipeline/LargeScenes/JobRole",
        "Pipeline/LargeScenes/ExecutionRole",
    },
}
CDK_OWN_VALIDATION = "CloudFormation-Validate::"
CLI = ROOT / "node_modules" / ".bin" / "cdk"


def _synthesized(**overrides: Any) -> tuple[Stack, dict[str, Any]]:
    stack = synth_stack(**overrides)
    return stack, Template.from_stack(stack).to_json()


def _acknowledgments(template: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(construct path, rule ID, reason) for every acknowledgment app.py writes into the template."""
    return [
        (resource["Metadata"]["aws:cdk:path"], rule["id"], rule["reason"])
        for resource in template["Resources"].values()
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
    ]


@pytest.mark.parametrize("overrides", CONFIGURATIONS.values(), ids=CONFIGURATIONS.keys())
def test_every_configuration_synthesizes_with_no_unacknowledged_cdk_nag_finding(overrides: dict) -> None:
    """`App.synth()` raises ValidationFailed on any unacknowledged AwsSolutions finding."""
    stack = synth_stack(**overrides)
    stack.node.scope.synth()


def test_cdk_nag_is_really_checking() -> None:
    """Guards the test above: a bucket with no logs, no TLS policy must fail the same synth."""
    stack = synth_stack()
    s3.Bucket(stack, "CarelessBucket")
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        stack.node.scope.synth()


def test_only_the_reviewed_rules_are_acknowledged() -> None:
    _, template = _synthesized()
    acknowledged: dict[str, set[str]] = {}
    for path, rule_id, _ in _acknowledgments(template):
        if rule_id.startswith(CDK_OWN_VALIDATION):
            continue  # aws-cdk-lib's own, on its own constructs: see the next test
        rule = re.sub(r"^AwsSolutions::|\[.*$", "", rule_id)
        owners = [part for part in EXPECTED_ACKNOWLEDGMENTS.get(rule, ()) if f"/{part}" in path]
        acknowledged.setdefault(rule, set()).add(owners[0] if owners else path)
    assert acknowledged == EXPECTED_ACKNOWLEDGMENTS


def test_cdks_own_validation_acknowledgments_are_only_those_aws_cdk_lib_makes_for_the_vpc() -> None:
    """aws-cdk-lib acknowledges two of its template checks itself: W3010 (availability zones taken from the
    stack, which the large-scene VPC does) stack-wide, and F3002/F3003 (a property-case quirk) on its flow log."""
    _, template = _synthesized()
    own = {(path, rule_id) for path, rule_id, _ in _acknowledgments(template) if rule_id.startswith(CDK_OWN_VALIDATION)}
    assert {rule_id for _, rule_id in own} == {f"{CDK_OWN_VALIDATION}{rule}" for rule in ("W3010", "F3002", "F3003")}
    assert all("/LargeScenes/Vpc/Rejected/" in path for path, rule_id in own if not rule_id.endswith("W3010"))
    _, without = _synthesized(largeSceneJobs=False)
    assert not any(rule_id.startswith(CDK_OWN_VALIDATION) for _, rule_id, _ in _acknowledgments(without))


def test_wildcard_acknowledgments_are_only_for_object_arns_under_the_pipelines_prefixes() -> None:
    _, template = _synthesized()
    wildcards = {rule_id for _, rule_id, _ in _acknowledgments(template) if "IAM5" in rule_id}
    assert {re.sub(r"<PipelineBuckets(\w+?)[0-9A-F]{8}\.Arn>", r"<\1>", w) for w in wildcards} == {
        "AwsSolutions::AwsSolutions-IAM5[Resource::<Input>/*]",
        "AwsSolutions::AwsSolutions-IAM5[Resource::<Output>/output/*]",
        "AwsSolutions::AwsSolutions-IAM5[Resource::<Output>/archive/*]",
        "AwsSolutions::AwsSolutions-IAM5[Resource::<Output>/catalog/*]",
        "AwsSolutions::AwsSolutions-IAM5[Resource::<Output>/batch-operations/manifests/*]",
        "AwsSolutions::AwsSolutions-IAM5[Resource::<Output>/batch-operations/reports/*]",
        # ecr:GetAuthorizationToken only, for the large-scene job's execution role (test_stack_large_scenes.py),
        # and batch:ListJobs only, for the function's role (test_large_scene_resubmission.py)
        "AwsSolutions::AwsSolutions-IAM5[Resource::*]",
    }


def test_managed_policy_acknowledgment_is_only_for_the_basic_execution_role() -> None:
    _, template = _synthesized()
    managed = {rule_id for _, rule_id, _ in _acknowledgments(template) if "IAM4" in rule_id}
    assert managed == {
        "AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
        "AWSLambdaBasicExecutionRole]"
    }


def test_every_acknowledgment_gives_a_reason_a_reviewer_can_check() -> None:
    _, template = _synthesized()
    for path, rule_id, reason in _acknowledgments(template):
        assert len(reason.split()) >= 15, f"{rule_id} on {path}: {reason!r} does not explain itself"


@pytest.mark.parametrize("overrides", CONFIGURATIONS.values(), ids=CONFIGURATIONS.keys())
def test_cfn_lint_finds_no_errors(overrides: dict, tmp_path: Path) -> None:
    """Errors only: cfn-lint's W3005 (redundant DependsOn) is how CDK writes templates, not a defect."""
    _, template = _synthesized(**overrides)
    path = tmp_path / "template.json"
    path.write_text(json.dumps(template))
    errors = [f"{m.rule.id} {m.message}" for m in lint_file(path) if m.rule.severity == "error"]
    assert not errors


def _offline_environment(home: Path) -> dict[str, str]:
    """No AWS credentials or profile, no telemetry or notices: the CLI must not need the network."""
    keep = {"PATH", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT"}
    environment = {key: value for key, value in os.environ.items() if key in keep}
    return environment | {
        "HOME": str(home),
        "AWS_CONFIG_FILE": str(home / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "CDK_DISABLE_CLI_TELEMETRY": "1",
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "18,20",
    }


@pytest.mark.slow
def test_pinned_cdk_cli_synthesizes_the_app_offline(tmp_path: Path) -> None:
    pinned = json.loads((ROOT / "package.json").read_text())["devDependencies"]["aws-cdk"]
    version = subprocess.run([str(CLI), "--version"], capture_output=True, text=True, check=True, cwd=ROOT)
    assert version.stdout.startswith(pinned), f"node_modules has CDK CLI {version.stdout}, package.json pins {pinned}"

    out = tmp_path / "cdk.out"
    result = subprocess.run(
        [str(CLI), "synth", "--quiet", "--no-notices", "--output", str(out)],
        cwd=ROOT,
        env=_offline_environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"cdk synth failed:\n{result.stdout}\n{result.stderr}"
    template = json.loads((out / "ImageryArchive.template.json").read_text())
    assert "AWS::Lambda::Function" in {resource["Type"] for resource in template["Resources"].values()}
