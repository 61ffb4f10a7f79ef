"""A redelivered event of a large scene finds the job already archiving it: no second Fargate task.

Every upload's job has a name derived from its key, ETag and version. Before SubmitJob the router asks the
queue (ListJobs, filtered by that name) for a job still live. AWS Batch can't be reached from here, and
moto's Batch needs Docker to run jobs, so each request goes through botocore's Stubber, which validates it
against Batch's own service model and answers as Batch does.
"""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from imagery_archive.entrypoints.large_scene_routing import LargeSceneJobs, Upload, job_name, submit_job_request
from imagery_archive.s3.keys import ObjectLocation
from imagery_archive.settings import LargeSceneRouting

QUEUE = "arn:aws:batch:us-east-1:123456789012:job-queue/large-scenes"
DEFINITION = "arn:aws:batch:us-east-1:123456789012:job-definition/large-scene-archive:3"
ROUTING = LargeSceneRouting(job_queue=QUEUE, job_definition=DEFINITION, threshold_bytes=1_000_000)
UPLOAD = Upload(ObjectLocation("in", "scenes/big.ntf"), size=5_000_000, etag="9b2c", version_id="v7")


def listed(status: str, job_id: str = "first-job") -> dict:
    """ListJobs' answer holding one job of `UPLOAD`'s name in `status`."""
    return {"jobSummaryList": [{"jobName": job_name(UPLOAD), "jobId": job_id, "status": status, "createdAt": 1}]}


def list_request() -> dict:
    return {"jobQueue": QUEUE, "filters": [{"name": "JOB_NAME", "values": [job_name(UPLOAD)]}]}


@pytest.mark.parametrize("status", ["SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING"])
def test_a_live_job_for_the_same_upload_is_found_and_none_submitted(status):
    client = boto3.client("batch", region_name="us-east-1")
    with Stubber(client) as stub:  # a SubmitJob would find no response and fail
        stub.add_response("list_jobs", listed(status), expected_params=list_request())
        job = LargeSceneJobs(client, ROUTING, head=lambda _: None).submit_if_large(UPLOAD)
        stub.assert_no_pending_responses()
    assert job is not None
    assert (job.name, job.job_id, job.already_live) == (job_name(UPLOAD), "first-job", True)


@pytest.mark.parametrize("status", ["SUCCEEDED", "FAILED"])
def test_after_a_finished_job_a_new_delivery_is_submitted(status):
    client = boto3.client("batch", region_name="us-east-1")
    request = submit_job_request(UPLOAD, ROUTING)
    answer = {"jobName": request["jobName"], "jobId": "second-job", "jobArn": f"{QUEUE}/second-job"}
    with Stubber(client) as stub:
        stub.add_response("list_jobs", listed(status), expected_params=list_request())
        stub.add_response("submit_job", answer, expected_params=request)
        job = LargeSceneJobs(client, ROUTING, head=lambda _: None).submit_if_large(UPLOAD)
        stub.assert_no_pending_responses()
    assert job is not None
    assert (job.job_id, job.already_live) == ("second-job", False)
