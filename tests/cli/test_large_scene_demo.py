"""`make demo`'s large-scene path: the largest upload is routed by the function, untouched, and archived by
`python -m imagery_archive.job` run as AWS Batch runs it, with the same proofs as the function's scenes."""

from __future__ import annotations

import os

import pytest

from imagery_archive.archiving.outcomes import Outcome
from imagery_archive.s3.keys import ObjectLocation
from imagery_archive_cli.costs import pricing
from imagery_archive_cli.demo.large_scenes import FUNCTION_PATH, JOB_PATH, job_result
from imagery_archive_cli.demo.report import render
from imagery_archive_cli.demo.run import INPUT_BUCKET, run_demo
from imagery_archive_cli.demo.samples import SAMPLE_DATA as SAMPLES
from imagery_archive_cli.local.s3_server import reset


@pytest.fixture(scope="module")
def demo(s3_endpoint, tmp_path_factory):
    reset(s3_endpoint)  # the shared server may hold an earlier module's buckets and archives
    endpoint = {name: os.environ[name] for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")}
    endpoint["AWS_ENDPOINT_URL"] = s3_endpoint
    samples = [SAMPLES / "RGB.byte.tif", SAMPLES / "naip_rgbn_5m.tif"]
    return run_demo(
        samples,
        tmp_path_factory.mktemp("demo_out"),
        pricing.PriceTable(),
        broken=False,
        echo=lambda _: None,
        endpoint=endpoint,
    )


@pytest.mark.slow
def test_the_largest_upload_takes_the_batch_job_and_the_others_the_function(demo):
    assert demo.paths == {"scenes/RGB.byte.tif": FUNCTION_PATH, "scenes/naip_rgbn_5m.tif": JOB_PATH}
    (job,) = demo.submitted
    assert job.source == ObjectLocation(INPUT_BUCKET, "scenes/naip_rgbn_5m.tif")
    assert job.request["jobName"].startswith("archive-scenes_naip_rgbn_5m_tif-")
    assert {"SOURCE_BUCKET", "SOURCE_KEY", "SOURCE_ETAG"} == job.overrides.keys()


@pytest.mark.slow
def test_the_job_archives_its_scene_with_the_same_proofs(demo):
    assert [row.key for row in demo.rows] == ["scenes/RGB.byte.tif", "scenes/naip_rgbn_5m.tif"]
    assert all(demo.archives_match_files.values())
    (proof,) = [proof for proof in demo.proofs if proof.key == "scenes/naip_rgbn_5m.tif"]
    assert proof.ok, proof.problems
    assert proof.copied < proof.verified < proof.deleted, "recorded on the wire, from the job's own process"
    assert demo.left_in_place == []


@pytest.mark.slow
def test_the_report_says_which_path_each_scene_took(demo):
    report = render(demo)
    assert "path" in report
    assert "batch job" in report
    assert "SubmitJob jobName=archive-scenes_naip_rgbn_5m_tif-" in report


def test_a_jobs_outcome_is_its_report_or_else_its_exit_code():
    source = ObjectLocation("in", "x.tif")
    archived = '{"level": "INFO", "message": "Object archived", "outcome": "archived"}\n'
    assert job_result(source, archived, 0).outcome is Outcome.ARCHIVED
    bad = '{"level": "ERROR", "message": "Left in place", "reason": "not an image"}\n'
    assert job_result(source, bad, 2).outcome is Outcome.FAILED
    assert job_result(source, bad, 2).reason == "not an image"
    assert job_result(source, "", 1).outcome is Outcome.RETRY
