"""`make demo`'s large-scene path: one scene routed by the function to the batch job, run as AWS Batch runs it.

The demo lowers `LARGE_SCENE_BYTES` to the size of its largest upload, so exactly that scene takes the path a
50 GB scene takes in AWS: the function leaves it untouched and submits one job. `LocalBatch` answers that
SubmitJob in place of AWS Batch (botocore has already validated the request against Batch's service model)
and keeps it. `run_job` then runs the job as Batch would run its container: `python -m imagery_archive.job`
in a process of its own, with the job definition's environment (the function's contract, without the routing
variables) plus the request's `containerOverrides.environment`, against the same local S3 endpoint, through a
proxy that records its S3 calls (`local.s3_proxy`), so the demo proves copy, verify, delete for it too.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from botocore.awsrequest import AWSResponse

from imagery_archive.archiving.outcomes import ObjectResult, Outcome
from imagery_archive.s3.keys import ObjectLocation
from imagery_archive_cli.local.function import Invocation
from imagery_archive_cli.local.s3_proxy import S3Proxy

ROOT = Path(__file__).resolve().parents[2]
LOCAL_JOB_QUEUE = "arn:aws:batch:us-east-1:000000000000:job-queue/imagery-archive-local"
LOCAL_JOB_DEFINITION = "arn:aws:batch:us-east-1:000000000000:job-definition/imagery-archive-local:1"
ROUTING_VARIABLES = ("LARGE_SCENE_JOB_QUEUE", "LARGE_SCENE_JOB_DEFINITION", "LARGE_SCENE_BYTES")
FUNCTION_PATH = "function"
JOB_PATH = "batch job"
_EXIT_OUTCOMES = {1: Outcome.RETRY, 2: Outcome.FAILED}


def routing_env(uploads: Mapping[str, bytes]) -> dict[str, str]:
    """The function's routing variables, with the threshold at the largest upload: exactly it is routed."""
    return {
        "LARGE_SCENE_JOB_QUEUE": LOCAL_JOB_QUEUE,
        "LARGE_SCENE_JOB_DEFINITION": LOCAL_JOB_DEFINITION,
        "LARGE_SCENE_BYTES": str(max(len(body) for body in uploads.values())),
    }


@dataclass(frozen=True)
class SubmittedJob:
    """One SubmitJob request the function made, and the job ID it was answered with."""

    job_id: str
    request: Mapping[str, Any]

    @property
    def overrides(self) -> dict[str, str]:
        return {item["name"]: item["value"] for item in self.request["containerOverrides"]["environment"]}

    @property
    def source(self) -> ObjectLocation:
        return ObjectLocation(self.overrides["SOURCE_BUCKET"], self.overrides["SOURCE_KEY"])


class LocalBatch:
    """`with LocalBatch(batch_client) as batch:` answers SubmitJob as AWS Batch does and keeps `batch.jobs`."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.jobs: list[SubmittedJob] = []

    def __enter__(self) -> LocalBatch:
        self.client.meta.events.register("before-parameter-build.batch.SubmitJob", self._keep)
        self.client.meta.events.register_first("before-call.batch.SubmitJob", self._answer)
        return self

    def __exit__(self, *_: object) -> None:
        self.client.meta.events.unregister("before-parameter-build.batch.SubmitJob", self._keep)
        self.client.meta.events.unregister("before-call.batch.SubmitJob", self._answer)

    def _keep(self, params: dict[str, Any], **_: Any) -> None:
        self.jobs.append(SubmittedJob(str(uuid.uuid4()), copy.deepcopy(params)))

    def _answer(self, model: Any, **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        job = self.jobs[-1]
        arn = f"arn:aws:batch:us-east-1:000000000000:job/{job.job_id}"
        answer = {"jobName": job.request["jobName"], "jobId": job.job_id, "jobArn": arn}
        return AWSResponse("", 200, {}, None), {**answer, "ResponseMetadata": {"HTTPStatusCode": 200}}


def job_environment(function_env: Mapping[str, str], job: SubmittedJob, endpoint: str) -> dict[str, str]:
    """What the container gets: the job definition's environment (the function's contract), the overrides."""
    contract = {name: value for name, value in function_env.items() if name not in ROUTING_VARIABLES}
    base = {name: value for name, value in os.environ.items() if name not in ROUTING_VARIABLES}
    return {
        **base,
        **contract,
        **job.overrides,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_BATCH_JOB_ID": job.job_id,
        "AWS_BATCH_JOB_ATTEMPT": "1",
    }


def run_job(job: SubmittedJob, function_env: Mapping[str, str], log: TextIO) -> tuple[Invocation, int]:
    """Run `python -m imagery_archive.job` for `job`; what it did (from its logs and S3 calls), its exit code."""
    with S3Proxy(function_env["AWS_ENDPOINT_URL"]) as proxy:
        started = time.perf_counter()
        finished = subprocess.run(
            [sys.executable, "-m", "imagery_archive.job"],
            env=job_environment(function_env, job, proxy.url),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=3600,
            check=False,
        )
        seconds = time.perf_counter() - started
    log.write(finished.stdout + finished.stderr)
    log.flush()
    result = job_result(job.source, finished.stdout + finished.stderr, finished.returncode)
    return Invocation(job.source.bucket, job.source.key, result, seconds, tuple(proxy.calls)), finished.returncode


def job_result(source: ObjectLocation, output: str, exit_code: int) -> ObjectResult:
    """The job's outcome, from the log line that reports it (or, failing that, from its exit code)."""
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    reported = next((line["outcome"] for line in lines if "outcome" in line), None)
    reason = next((str(line["reason"]) for line in lines if "reason" in line), "")
    if reported is not None:
        return ObjectResult(source, Outcome(reported))
    return ObjectResult(source, _EXIT_OUTCOMES.get(exit_code, Outcome.SOURCE_CHANGED), reason)


def describe(jobs: list[SubmittedJob]) -> list[str]:
    """The report's lines on the routed scenes: the threshold, and each SubmitJob request as sent."""
    if not jobs:
        return []
    lines = [
        "",
        "Routed by the function to the large-scene job (LARGE_SCENE_BYTES lowered to the largest upload for the "
        "demo; in AWS, what the function's /tmp can safely hold), then run as AWS Batch runs it "
        "(python -m imagery_archive.job, its own process):",
    ]
    for job in jobs:
        overrides = " ".join(f"{name}={value}" for name, value in job.overrides.items())
        lines.append(f"  SubmitJob jobName={job.request['jobName']} containerOverrides.environment: {overrides}")
    return lines
