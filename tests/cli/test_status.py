"""`imagery-archive status` (tools/status.py) against the local endpoints, through its command line.

The function runs on real uploads (two sample scenes and a broken file) against moto's server, writing its
logs and EMF metrics to a file as Lambda would send them to CloudWatch. The metrics are then published to the
same server's CloudWatch (`operations.emf.publish`), and the status must say what the buckets say: how many were
archived and failed, the bytes in and out, the saving and its monthly value, the failure queue's depth and
what is left in the input bucket. Read from the EMF log instead, it must say the same.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from imagery_archive.settings import SERVICE_NAME
from imagery_archive_cli.costs import pricing
from imagery_archive_cli.local.function import LocalFunction
from imagery_archive_cli.operations.emf import publish, read_emf
from imagery_archive_cli.operations.status import main
from imagery_archive_cli.operations.status_sources import jobs_by_state
from tests.support.paths import SAMPLES

NAMESPACE = "ImageryArchiveStatusTests"
UPLOADS = {"scenes/RGB.byte.tif": "RGB.byte.tif", "scenes/naip_rgbn_5m.tif": "naip_rgbn_5m.tif"}
BROKEN = "scenes/broken.tif"


@pytest.fixture
def run(buckets, tmp_path: Path, s3_endpoint: str) -> dict[str, Any]:
    """The function on two scenes and a broken upload; its log, the failure queue, and the run's true sizes."""
    log = tmp_path / "function.log"
    env = {
        "OUTPUT_BUCKET": buckets.output,
        "CPL_TMPDIR": str(tmp_path),
        "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
        "POWERTOOLS_METRICS_NAMESPACE": NAMESPACE,
    }
    with log.open("w") as stream, LocalFunction(env, stream, echo=lambda line: None) as function:
        for key, sample in UPLOADS.items():
            buckets.client.put_object(Bucket=buckets.input, Key=key, Body=(SAMPLES / sample).read_bytes())
            function.invoke(buckets.client, buckets.input, key)
        buckets.client.put_object(Bucket=buckets.input, Key=BROKEN, Body=b"not an image at all")
        function.invoke(buckets.client, buckets.input, BROKEN)
    sqs = boto3.client("sqs", endpoint_url=s3_endpoint)
    queue = sqs.create_queue(QueueName=f"failures-{buckets.input}")["QueueUrl"]
    for body in ("first failed event", "second failed event"):
        sqs.send_message(QueueUrl=queue, MessageBody=body)
    cogs = [
        buckets.client.head_object(Bucket=buckets.output, Key=key)["ContentLength"]
        for key in buckets.keys(buckets.output, "output/")
        if key.endswith(".tif")
    ]
    originals = [(SAMPLES / sample).stat().st_size for sample in UPLOADS.values()]
    return {"log": log, "queue": queue, "cogs": cogs, "originals": originals}


def _status(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["--no-stack", "--namespace", NAMESPACE, "--json", *argv]) == 0
    return json.loads(capsys.readouterr().out)


def test_status_reads_the_local_cloudwatch_and_says_what_the_buckets_say(run, buckets, s3_endpoint, capsys):
    cloudwatch = boto3.client("cloudwatch", endpoint_url=s3_endpoint)
    assert publish(read_emf(run["log"]), cloudwatch) > 0
    status = _status(
        capsys,
        "--endpoint-url",
        s3_endpoint,
        "--failure-queue-url",
        run["queue"],
        "--input-bucket",
        buckets.input,
        "--list-input",
    )
    assert status["outcomes"]["archived"] == 2
    assert status["outcomes"]["failed"] == 1, "the broken upload, tagged failed: counted from the metric"
    assert status["bytes_in"] == sum(run["originals"])
    assert status["bytes_out"] == sum(run["cogs"])
    assert status["compressed_objects"] == 2
    assert status["saved_fraction"] == pytest.approx(1 - sum(run["cogs"]) / sum(run["originals"]))
    expected = pricing.savings(pricing.PriceTable(), run["originals"], run["cogs"], "GLACIER")
    assert status["monthly"]["saved"] == pytest.approx(expected.saved, rel=1e-6), "the price table's saving"
    assert status["failure_queue_messages"] == 2
    assert status["input_objects_left"] == 1, "the broken upload stays in the input bucket"


def test_the_emf_log_of_a_local_run_gives_the_same_status(run, capsys):
    status = _status(capsys, "--emf-log", str(run["log"]))
    assert status["outcomes"]["archived"] == 2
    assert status["outcomes"]["failed"] == 1
    assert (status["bytes_in"], status["bytes_out"]) == (sum(run["originals"]), sum(run["cogs"]))
    assert status["failure_queue_messages"] is None, "no queue named: that line is left out"


def test_metrics_outside_the_window_are_not_counted(run, capsys):
    """The run's metrics are seconds old: a window that ended before them has none (its end is now, so shift
    the log's timestamps back two hours and ask for the last hour)."""
    shifted = run["log"].with_name("old.log")
    shifted.write_text("\n".join(_two_hours_earlier(line) for line in run["log"].read_text().splitlines()))
    assert _status(capsys, "--emf-log", str(shifted), "--since", "1h")["outcomes"]["archived"] == 0
    assert _status(capsys, "--emf-log", str(shifted), "--since", "3h")["outcomes"]["archived"] == 2


def _two_hours_earlier(line: str) -> str:
    if '"_aws"' not in line:
        return line
    document = json.loads(line)
    document["_aws"]["Timestamp"] -= 2 * 3600 * 1000
    return json.dumps(document)


def test_the_text_status_names_each_figure(run, capsys):
    capsys.readouterr()
    assert main(["--no-stack", "--namespace", NAMESPACE, "--emf-log", str(run["log"])]) == 0
    text = capsys.readouterr().out
    for expected in (
        "archived                  2 objects",
        "failed, tagged in place   1 originals",
        "saving per month",
    ):
        assert expected in text


def test_large_scene_jobs_running_and_waiting_are_counted_from_batch(capsys):
    """ListJobs per unfinished state, every page; botocore's Stubber checks each request against Batch's API."""
    batch = boto3.client("batch", region_name="us-east-1")
    with Stubber(batch) as stub:
        for state, pages in (
            ("SUBMITTED", [[]]),
            ("PENDING", [[]]),
            ("RUNNABLE", [["a", "b"], ["c"]]),
            ("STARTING", [[]]),
            ("RUNNING", [["d"]]),
        ):
            for number, jobs in enumerate(pages):
                request = {"jobQueue": "archive-queue", "jobStatus": state}
                if number:
                    request["nextToken"] = f"page{number}"
                response: dict[str, Any] = {
                    "jobSummaryList": [{"jobId": job, "jobName": f"archive-{job}"} for job in jobs]
                }
                if number + 1 < len(pages):
                    response["nextToken"] = f"page{number + 1}"
                stub.add_response("list_jobs", response, request)
        counts = jobs_by_state(batch, "archive-queue")
    assert counts == {"SUBMITTED": 0, "PENDING": 0, "RUNNABLE": 3, "STARTING": 0, "RUNNING": 1}


def test_a_bad_window_is_one_line_and_exit_code_2(capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["--no-stack", "--since", "yesterday"])
    assert stopped.value.code == 2
    assert "--since" in capsys.readouterr().err


def test_the_stack_outputs_name_the_queue_and_the_bucket(run, buckets, s3_endpoint, capsys):
    """Without options, the status reads the stack's outputs (a stack moto's CloudFormation deploys here)."""
    template = {
        "Resources": {"Queue": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {
            "FailureQueueUrl": {"Value": {"Ref": "Queue"}},
            "InputBucketName": {"Value": buckets.input},
        },
    }
    cloudformation = boto3.client("cloudformation", endpoint_url=s3_endpoint)
    stack = f"ImageryArchive-{buckets.input}"
    cloudformation.create_stack(StackName=stack, TemplateBody=json.dumps(template))
    queue = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]["Outputs"]
    queue_url = next(output["OutputValue"] for output in queue if output["OutputKey"] == "FailureQueueUrl")
    boto3.client("sqs", endpoint_url=s3_endpoint).send_message(QueueUrl=queue_url, MessageBody="a failed event")
    capsys.readouterr()
    argv = ["--stack", stack, "--endpoint-url", s3_endpoint, "--emf-log", str(run["log"]), "--list-input", "--json"]
    assert main(["--namespace", NAMESPACE, *argv]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["failure_queue_messages"] == 1
    assert status["input_objects_left"] == 1
    assert status["archive_class"] == "GLACIER", "no function in this stack: the default archive class"


def test_a_stack_that_cannot_be_read_is_one_line_and_exit_code_2(s3_endpoint, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["--stack", "NoSuchStack", "--endpoint-url", s3_endpoint])
    assert stopped.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith("error: can't read stack 'NoSuchStack'")
    assert len(error.strip().splitlines()) == 1
