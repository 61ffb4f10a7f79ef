"""The S3 Control `create_job` request the tools must send, for botocore's Stubber (S3 Control runs only in AWS).

Spelled out here, not taken from the tools' constants: the expected request is what the service model and the
stack's Batch Operations role expect, and a test that compared the tools with themselves could not fail.
"""

from __future__ import annotations

from typing import Any

from botocore.stub import ANY

ACCOUNT = "123456789012"


def expected_create_job(operation: dict[str, Any], report_bucket: str, role_arn: str) -> dict[str, Any]:
    """A job running `operation` on the manifest the tool uploaded (Bucket,Key CSV), reporting only failed
    tasks under `batch-operations/reports` of `report_bucket`, unconfirmed, at priority 10."""
    return {
        "AccountId": ACCOUNT,
        "ConfirmationRequired": False,
        "Operation": operation,
        "Report": {
            "Bucket": f"arn:aws:s3:::{report_bucket}",
            "Prefix": "batch-operations/reports",
            "Format": "Report_CSV_20180820",
            "Enabled": True,
            "ReportScope": "FailedTasksOnly",
        },
        "ClientRequestToken": ANY,
        "Manifest": {
            "Spec": {"Format": "S3BatchOperations_CSV_20180820", "Fields": ["Bucket", "Key"]},
            "Location": {"ObjectArn": ANY, "ETag": ANY},
        },
        "Description": ANY,
        "Priority": 10,
        "RoleArn": role_arn,
    }
