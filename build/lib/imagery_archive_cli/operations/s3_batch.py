"""The s3-batch engine: a manifest in the output bucket, one S3 Batch Operations job, its progress and report.

S3 Batch Operations invokes the deployed function once per manifest line, with retries, throttling and a
completion report, so no image passes through the operator's machine. The manifest is Batch Operations'
CSV (`bucket,key[,version]`, keys URL-encoded), written under `batch-operations/manifests/` where the
stack's Batch Operations role may read it; the report of failed tasks lands under `batch-operations/reports/`.
Only AWS runs jobs: the tests check every S3 Control request against botocore's service model (Stubber).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote_plus

from tqdm import tqdm

from imagery_archive.entrypoints.batch_operations import MANIFESTS_PREFIX, REPORTS_PREFIX
from imagery_archive.s3.keys import Destinations, ObjectLocation, is_imagery_key

MANIFEST_FORMAT = "S3BatchOperations_CSV_20180820"
REPORT_FORMAT = "Report_CSV_20180820"
FINISHED = frozenset({"Complete", "Failed", "Cancelled"})
"""describe_job statuses after which nothing changes."""


class ManifestError(ValueError):
    """An inventory manifest that can't be used; the message names it and says why."""


@dataclass(frozen=True)
class ManifestEntry:
    """One manifest line: an object, its size (for the estimate) and, from a versioned inventory, its version."""

    bucket: str
    key: str
    size: int
    version_id: str | None = None


def manifest_key(key: str) -> str:
    """A key as Batch Operations' CSV manifest needs it: URL-encoded (commas, spaces, '+', unicode), '/' kept."""
    return quote(key, safe="/")


def manifest_csv(entries: Iterable[ManifestEntry]) -> bytes:
    """The manifest: `bucket,key` lines, or `bucket,key,version` for every line if any entry has a version."""
    entries = list(entries)
    versioned = any(entry.version_id for entry in entries)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for entry in entries:
        row = [entry.bucket, manifest_key(entry.key)]
        writer.writerow([*row, entry.version_id or ""] if versioned else row)
    return out.getvalue().encode()


def inventory_entries(
    client: Any, manifest_uri: str, destinations: Destinations | None = None
) -> Iterator[ManifestEntry]:
    """The imagery an S3 Inventory lists (its CSV `manifest.json`), with the backfill's filter.

    Only current versions: noncurrent versions and delete markers of a versioned inventory are left out.
    """
    location = ObjectLocation.from_uri(manifest_uri)
    try:
        manifest = json.loads(client.get_object(Bucket=location.bucket, Key=location.key)["Body"].read())
        columns = [name.strip() for name in manifest["fileSchema"].split(",")]
        files = [item["key"] for item in manifest["files"]]
        data_bucket = manifest["destinationBucket"].rpartition(":::")[2]
    except (ValueError, KeyError, TypeError) as error:
        raise ManifestError(f"{manifest_uri} is not an S3 Inventory manifest.json ({error})") from None
    if manifest.get("fileFormat", "CSV") != "CSV" or "Key" not in columns:
        raise ManifestError(f"{manifest_uri}: only CSV inventories with a Key column can be read here")
    for data_key in files:
        body = client.get_object(Bucket=data_bucket, Key=data_key)["Body"].read()
        text = gzip.decompress(body).decode() if data_key.endswith(".gz") else body.decode()
        for values in csv.reader(io.StringIO(text)):
            entry = _inventory_entry(dict(zip(columns, values, strict=False)), destinations)
            if entry is not None:
                yield entry


def _inventory_entry(row: Mapping[str, str], destinations: Destinations | None) -> ManifestEntry | None:
    key = unquote_plus(row["Key"])  # Inventory CSV keys are URL-encoded
    if row.get("IsLatest", "true") != "true" or row.get("IsDeleteMarker", "false") == "true":
        return None
    location = ObjectLocation(row["Bucket"], key)
    if not is_imagery_key(key) or (destinations is not None and destinations.is_pipeline_output(location)):
        return None
    return ManifestEntry(row["Bucket"], key, int(row.get("Size") or 0), row.get("VersionId") or None)


@dataclass(frozen=True)
class JobTarget:
    """Where jobs run: the stack's function and Batch Operations role (its outputs), and the output bucket."""

    function_arn: str
    role_arn: str
    output_bucket: str

    @property
    def account(self) -> str:
        return self.role_arn.split(":")[4]

    def bucket_arn(self) -> str:
        partition = self.role_arn.split(":")[1]
        return f"arn:{partition}:s3:::{self.output_bucket}"


def upload_manifest(client: Any, target: JobTarget, name: str, body: bytes) -> dict[str, str]:
    """Store the manifest where the job's role may read it; the job names it by ARN and ETag."""
    key = f"{MANIFESTS_PREFIX}{name}.csv"
    etag = client.put_object(Bucket=target.output_bucket, Key=key, Body=body, ContentType="text/csv")["ETag"]
    return {"ObjectArn": f"{target.bucket_arn()}/{key}", "ETag": etag.strip('"')}


def job_name(kind: str) -> str:
    return f"{kind}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{uuid.uuid4().hex[:6]}"


def report_spec(target: JobTarget) -> dict[str, Any]:
    """A completion report of the failed tasks only, under the reports prefix."""
    return {
        "Bucket": target.bucket_arn(),
        "Prefix": REPORTS_PREFIX.rstrip("/"),
        "Format": REPORT_FORMAT,
        "Enabled": True,
        "ReportScope": "FailedTasksOnly",
    }


def lambda_job_request(
    target: JobTarget, manifest: dict[str, str], *, versioned: bool, name: str, priority: int
) -> dict[str, Any]:
    """`s3control.create_job` parameters: invoke the function (schema 2.0) for every manifest line."""
    return {
        "AccountId": target.account,
        "ConfirmationRequired": False,
        "Operation": {
            "LambdaInvoke": {
                "FunctionArn": target.function_arn,
                "InvocationSchemaVersion": "2.0",
                "UserArguments": {"requestedBy": "imagery-archive backfill"},
            }
        },
        "Report": report_spec(target),
        "ClientRequestToken": name,
        "Manifest": {
            "Spec": {
                "Format": MANIFEST_FORMAT,
                "Fields": ["Bucket", "Key", "VersionId"] if versioned else ["Bucket", "Key"],
            },
            "Location": manifest,
        },
        "Description": f"imagery-archive {name}",
        "Priority": priority,
        "RoleArn": target.role_arn,
    }


def follow(
    control: Any,
    account: str,
    job_id: str,
    *,
    poll_seconds: float = 10.0,
    progress: bool = True,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Poll `describe_job` until the job is finished, with a progress bar; returns the last description."""
    bar = tqdm(total=0, unit="objects", desc="s3-batch", disable=not progress)
    with bar:
        while True:
            job = control.describe_job(AccountId=account, JobId=job_id)["Job"]
            summary = job.get("ProgressSummary", {})
            bar.total = summary.get("TotalNumberOfTasks", 0)
            bar.n = summary.get("NumberOfTasksSucceeded", 0) + summary.get("NumberOfTasksFailed", 0)
            bar.set_postfix_str(f"{job['Status']}, {summary.get('NumberOfTasksFailed', 0)} failed", refresh=True)
            if job["Status"] in FINISHED:
                return job
            sleep(poll_seconds)


@dataclass(frozen=True)
class FailedTask:
    """One line of a completion report: an object the job couldn't process, and why."""

    key: str
    version_id: str
    error_code: str
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.error_code}: {self.message}"


def failed_tasks(client: Any, bucket: str, job_id: str) -> list[FailedTask]:
    """The failed tasks of a finished job, from its completion report (manifest.json, then its CSV files)."""
    manifest_key = f"{REPORTS_PREFIX}job-{job_id}/manifest.json"
    manifest = json.loads(client.get_object(Bucket=bucket, Key=manifest_key)["Body"].read())
    failed = []
    for result in manifest.get("Results", []):
        if result.get("TaskExecutionStatus") != "failed":
            continue
        body = client.get_object(Bucket=result["Bucket"], Key=result["Key"])["Body"].read().decode()
        failed += parse_report(body)
    return failed


def parse_report(text: str) -> list[FailedTask]:
    """Report_CSV_20180820 lines: Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage."""
    tasks = []
    for row in csv.reader(io.StringIO(text)):
        if len(row) < 7:
            continue
        _bucket, key, version, _status, code, _http, message = row[:7]
        tasks.append(FailedTask(unquote_plus(key), version, code, message))
    return tasks
