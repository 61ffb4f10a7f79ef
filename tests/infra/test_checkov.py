"""checkov on the synthesized templates: every finding is fixed, or acknowledged on its resource with a reason.

checkov lives in its own virtualenv (`.venv-checkov`, made by `scripts/bootstrap.sh`: it pins an old boto3) and
runs offline (`--skip-download`). One run checks the template of every configuration the stack can take.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template

from tests.support.stack import ROOT, synth_stack

CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
CONFIGURATIONS = {
    "defaults": {},
    "imported-buckets": {"inputBucketName": "survey-uploads", "outputBucketName": "survey-archive"},
    "imported-input-bucket": {"inputBucketName": "survey-uploads"},
    "everything-opted-in": {"destroyBucketsWithStack": True, "alarmEmail": "oncall@example.com"},
    "no-large-scene-jobs": {"largeSceneJobs": False},
}
MINIMUM_REASON_WORDS = 12


def _template(**overrides: Any) -> dict[str, Any]:
    return Template.from_stack(synth_stack(**overrides)).to_json()


def _checkov(folder: Path) -> list[dict[str, Any]]:
    """checkov's CloudFormation report on every template in `folder`: one dict per check run."""
    if not CHECKOV.exists():
        pytest.fail(f"{CHECKOV} is missing: run `make setup` (scripts/bootstrap.sh installs checkov there)")
    result = subprocess.run(
        [str(CHECKOV), "-d", str(folder), "--framework", "cloudformation", "--skip-download", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    report = json.loads(result.stdout)
    results = report["results"]
    return [
        {**check, "state": state}
        for state in ("passed_checks", "failed_checks", "skipped_checks")
        for check in results[state]
    ]


@pytest.fixture(scope="module")
def checks(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("templates")
    for name, overrides in CONFIGURATIONS.items():
        (folder / f"{name}.json").write_text(json.dumps(_template(**overrides)))
    return _checkov(folder)


def _named(check: dict[str, Any]) -> str:
    return f"{check['check_id']} on {check['resource']} ({Path(check['file_path']).stem}): {check['check_name']}"


def test_checkov_finds_nothing_unacknowledged_in_any_configuration(checks: list[dict[str, Any]]) -> None:
    failed = [_named(check) for check in checks if check["state"] == "failed_checks"]
    assert not failed, "checkov findings neither fixed nor acknowledged (infra/checkov.py):\n" + "\n".join(failed)
    checked = {Path(check["file_path"]).stem for check in checks}
    assert checked == set(CONFIGURATIONS), "checkov must have read every configuration's template"


def test_every_acknowledged_finding_gives_a_reason(checks: list[dict[str, Any]]) -> None:
    skipped = [check for check in checks if check["state"] == "skipped_checks"]
    assert skipped, "the stack acknowledges findings: checkov must report them as skipped"
    for check in skipped:
        reason = check["check_result"].get("suppress_comment", "")
        assert len(reason.split()) >= MINIMUM_REASON_WORDS, f"{_named(check)}: {reason!r} does not explain itself"


def test_the_acknowledgments_are_exactly_the_reviewed_ones(checks: list[dict[str, Any]]) -> None:
    """checkov 3.3 reported 14 findings on the first template it read; each is now fixed or acknowledged here."""
    skipped = {
        (check["check_id"], check["resource"].split(".")[1][: -len("ABCD1234")])
        for check in checks
        if check["state"] == "skipped_checks" and Path(check["file_path"]).stem == "defaults"
    }
    assert skipped == {
        ("CKV_AWS_18", "PipelineBucketsAccessLogs"),
        ("CKV_AWS_21", "PipelineBucketsInput"),
        ("CKV_AWS_27", "PipelineFailuresQueue"),
        ("CKV_AWS_116", "PipelineCompressionFunction"),
        ("CKV_AWS_117", "PipelineCompressionFunction"),
        ("CKV_AWS_173", "PipelineCompressionFunction"),
        ("CKV_AWS_26", "PipelineAlarmsTopic"),
        *(
            (check, handler)
            for check in ("CKV_AWS_115", "CKV_AWS_116", "CKV_AWS_117")
            for handler in (
                "BucketNotificationsHandler050a0587b7544547bf325f094a3db834",
                "CustomVpcRestrictDefaultSGCustomResourceProviderHandler",
            )
        ),
    }


def test_checkov_really_fails_an_unacknowledged_finding(tmp_path: Path) -> None:
    """Guards the tests above: the same template with one acknowledgment removed must fail."""
    template = _template()
    bucket = next(
        resource
        for name, resource in template["Resources"].items()
        if name.startswith("PipelineBucketsInput") and resource["Type"] == "AWS::S3::Bucket"
    )
    del bucket["Metadata"]["checkov"]
    (tmp_path / "template.json").write_text(json.dumps(template))
    failed = [check for check in _checkov(tmp_path) if check["state"] == "failed_checks"]
    assert [(check["check_id"], check["resource"].split(".")[1][:20]) for check in failed] == [
        ("CKV_AWS_21", "PipelineBucketsInput")
    ]
