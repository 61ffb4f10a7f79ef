"""X-Ray tracing: one span per object, annotated with its key and outcome, and one per step inside it.

The function runs in a process of its own with Lambda's environment (LAMBDA_TASK_ROOT, the trace header
Lambda sets per invocation), and a UDP socket on 127.0.0.1 stands in for the X-Ray daemon: the test reads
the segment documents the X-Ray SDK really sends. Without that environment (tests, the demo) or with
POWERTOOLS_TRACE_DISABLED (the large-scene job: Fargate has no daemon), nothing is sent and nothing breaks.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from imagery_archive import FUNCTION_ROOT
from imagery_archive_cli.local.events import event_for_objects
from tests.support.function import cold_start, outcomes
from tests.support.paths import SAMPLES

TRACE_HEADER = "Root=1-6753a1b2-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1"
STEPS = {"tags", "inspect", "read", "compress", "upload", "archive", "verify", "describe", "catalogue", "delete"}
RUN_HANDLER = """
import json, sys
from imagery_archive.entrypoints.pipeline import Pipeline, lambda_handler
from imagery_archive_cli.local.function import LambdaContext
handler = lambda_handler(Pipeline.from_env())
print(json.dumps(handler(json.loads(sys.argv[1]), LambdaContext())))
"""


@pytest.fixture
def daemon() -> Iterator[socket.socket]:
    """A UDP socket where the X-Ray daemon would listen."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("127.0.0.1", 0))
    listener.settimeout(0.5)
    yield listener
    listener.close()


def _received(listener: socket.socket) -> list[dict[str, Any]]:
    """Every segment document sent so far (each datagram: a JSON header line, then the document)."""
    documents = []
    while True:
        try:
            datagram = listener.recv(65_536)
        except TimeoutError:
            return documents
        header, document = datagram.decode().split("\n", 1)
        assert json.loads(header) == {"format": "json", "version": 1}
        documents.append(json.loads(document))


def _run_in_lambda(buckets, tmp_path: Path, daemon: socket.socket, key: str, **env: str) -> dict[str, Any]:
    """The handler on an event for `key`, in a fresh process with the environment Lambda gives it."""
    event = event_for_objects(buckets.client, buckets.input, [key])
    lambda_env = {
        **os.environ,
        "OUTPUT_BUCKET": buckets.output,
        "CPL_TMPDIR": str(tmp_path),
        "SOURCE_READ": "download",
        "POWERTOOLS_METRICS_NAMESPACE": "ImageryArchiveTests",
        "LAMBDA_TASK_ROOT": str(FUNCTION_ROOT),
        "AWS_LAMBDA_FUNCTION_NAME": "imagery-archive-tracing-test",
        "_X_AMZN_TRACE_ID": TRACE_HEADER,
        "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{daemon.getsockname()[1]}",
        **env,
    }
    run = subprocess.run(
        [sys.executable, "-c", RUN_HANDLER, json.dumps(event)],
        env=lambda_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "segment" not in run.stderr.lower(), f"the X-Ray SDK complained: {run.stderr}"
    return json.loads(run.stdout.splitlines()[-1])


def test_each_object_is_a_span_with_its_key_and_outcome_and_a_span_per_step(buckets, tmp_path, daemon):
    buckets.client.put_object(
        Bucket=buckets.input, Key="scenes/RGB.byte.tif", Body=(SAMPLES / "RGB.byte.tif").read_bytes()
    )
    response = _run_in_lambda(buckets, tmp_path, daemon, "scenes/RGB.byte.tif")
    assert set(outcomes(response).values()) == {"archived"}

    documents = _received(daemon)
    assert {document["trace_id"] for document in documents} == {"1-6753a1b2-0123456789abcdef01234567"}
    (span,) = [document for document in documents if document["name"] == "object"]
    assert span["annotations"] == {
        "bucket": buckets.input,
        "object_key": "scenes/RGB.byte.tif",
        "outcome": "archived",
    }
    steps = [document for document in documents if document["name"] in STEPS]
    assert {step["name"] for step in steps} == STEPS, "a span for every step of the object"
    assert {step["parent_id"] for step in steps} == {span["id"]}, "the steps, helper threads' too, are the object's"
    for step in steps:
        assert step["end_time"] >= step["start_time"] >= span["start_time"]
    calls = {document["name"].lower() for document in documents if document.get("namespace") == "aws"}
    assert "s3" in calls, "the S3 calls are traced (Powertools patches botocore)"


def test_a_bad_upload_is_traced_with_its_outcome(buckets, tmp_path, daemon):
    buckets.client.put_object(Bucket=buckets.input, Key="scenes/notes.tif", Body=b"not an image at all")
    _run_in_lambda(buckets, tmp_path, daemon, "scenes/notes.tif")
    (span,) = [document for document in _received(daemon) if document["name"] == "object"]
    assert span["annotations"]["outcome"] == "failed"
    assert span["annotations"]["object_key"] == "scenes/notes.tif"


def test_with_tracing_disabled_nothing_is_sent_and_the_object_is_archived(buckets, tmp_path, daemon):
    """The large-scene job's case: POWERTOOLS_TRACE_DISABLED=true (Fargate has no X-Ray daemon)."""
    buckets.client.put_object(
        Bucket=buckets.input, Key="scenes/RGB.byte.tif", Body=(SAMPLES / "RGB.byte.tif").read_bytes()
    )
    response = _run_in_lambda(buckets, tmp_path, daemon, "scenes/RGB.byte.tif", POWERTOOLS_TRACE_DISABLED="true")
    assert set(outcomes(response).values()) == {"archived"}
    assert _received(daemon) == []


def test_outside_lambda_the_tracer_is_off(buckets, monkeypatch, tmp_path):
    """Tests, the demo and the backfill build the pipeline outside Lambda: Powertools turns tracing off."""
    monkeypatch.delenv("LAMBDA_TASK_ROOT", raising=False)
    started = cold_start(monkeypatch, OUTPUT_BUCKET=buckets.output, CPL_TMPDIR=str(tmp_path))
    assert started.pipeline.tracer.disabled
