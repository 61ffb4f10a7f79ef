"""The function's image as it ships: built, run through its own Lambda entry point, and tested on its own GDAL.

The image (tests/support/container.py builds it once per session) runs as Lambda runs it: read-only but for
/tmp, an unprivileged user, the stack's memory size and environment, and Lambda's own variables, its entry
point (`python3 -m awslambdaric handler.handler`) taking events from a Runtime API on 127.0.0.1
(tools/runtime_api.py) and reaching the local S3 server (moto) through AWS_ENDPOINT_URL. Then the GDAL-core,
S3 and job tests run inside the image, on the GDAL, Python and NumPy it ships with.

Needs a Docker engine: `.ci/run` starts one; elsewhere these tests skip, naming what is missing
(`pytest -m "not container"` leaves them out).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time

import pytest

from imagery_archive_cli.local.events import event_for_objects
from imagery_archive_cli.local.s3_server import FAKE_CREDENTIALS
from infra.compression_function import function_environment
from infra.settings import PipelineSettings
from tests.support.container import ROOT, docker, extra_ca_certificates, logs_of, running, summary
from tests.support.function import outcomes
from tests.support.runtime_api import RuntimeApi, lambda_environment

pytestmark = [pytest.mark.container, pytest.mark.slow]

SAMPLES = ROOT / "sample_data"
LOCK = ROOT / "lambda_src" / "requirements.lock"
DOCKERFILE = ROOT / "lambda_src" / "Dockerfile"
SCENES = {
    "landsat/RGB byte 7+.tif": "RGB.byte.tif",
    "nitf/aerial scene.ntf": "nitf_jitc_U_1001A_aerial_8bit.ntf",
}
"""Two real scenes, under keys S3 URL-encodes (spaces, '+'), as uploads would name them."""
IN_IMAGE_TESTS = [
    "tests/imaging/test_compress.py",
    "tests/imaging/test_quality.py",
    "tests/imaging/test_profiles.py",
    "tests/s3/test_storage.py",
    "tests/archiving/test_archive_job.py",
    "tests/imaging/test_metadata_domains.py",
    "tests/imaging/test_class_fidelity.py",
    "tests/imaging/test_single_pass.py",
]
"""The GDAL core, the S3 layer and the job: everything that runs in the function but its Lambda wiring; the
fidelity tests (NITF metadata domains, class maps), some of which only GDAL >= 3.8 can run; and the COG
written from one read of the original against the COG driver's own, on the image's GDAL."""


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def in_image(image: str, code: str, user: str = "993:990") -> str:
    """Run `code` with the image's Python (not through its entry point); returns what it printed."""
    args = ["run", "--rm", "--network", "host", "--read-only", "--user", user, "--entrypoint", "python3"]
    return docker(*args, image, "-c", code).stdout


def output_versions(buckets) -> list[tuple[str, str]]:
    """Every version in the output bucket, as (key, version id)."""
    listed = buckets.client.list_object_versions(Bucket=buckets.output).get("Versions", [])
    return sorted((version["Key"], version["VersionId"]) for version in listed)


def test_the_image_archives_real_scenes_through_its_own_lambda_entry_point(function_image, buckets, s3_endpoint):
    settings = PipelineSettings()
    for key, sample in SCENES.items():
        buckets.client.put_object(Bucket=buckets.input, Key=key, Body=(SAMPLES / sample).read_bytes())
    buckets.client.put_bucket_versioning(Bucket=buckets.output, VersioningConfiguration={"Status": "Enabled"})
    event = event_for_objects(buckets.client, buckets.input, sorted(SCENES))

    with RuntimeApi(timeout_seconds=settings.timeout_minutes * 60) as api:
        env = {
            **lambda_environment(api, settings.memory_mib),
            **FAKE_CREDENTIALS,
            "AWS_ENDPOINT_URL": s3_endpoint,
            **function_environment(settings, buckets.output, failure_queue_url=""),
        }
        started = time.monotonic()
        with running(
            function_image.name,
            env=env,
            memory_mib=settings.memory_mib,
            tmp_mib=settings.ephemeral_storage_mib,
        ) as container:
            cold_start = api.wait_until_ready(timeout=120) - (started - api.started_at)
            first = api.invoke(event, timeout=600)
            written_first = output_versions(buckets)
            duplicate = api.invoke(event, timeout=600)
        logs = logs_of[container]

    assert first.error is None, f"the function failed: {json.dumps(first.error)[:2000]}\n{logs[-4000:]}"
    objects = [f"s3://{buckets.input}/{key}" for key in sorted(SCENES)]
    assert outcomes(first.response) == dict.fromkeys(objects, "archived"), logs[-4000:]
    assert duplicate.error is None, f"the duplicate delivery failed: {duplicate.error}\n{logs[-4000:]}"
    assert outcomes(duplicate.response) == dict.fromkeys(objects, "already-archived")

    assert buckets.keys(buckets.input) == [], "each original leaves the input bucket once its archive is verified"
    for key, sample in SCENES.items():
        original = (SAMPLES / sample).read_bytes()
        archive = buckets.client.head_object(Bucket=buckets.output, Key=f"archive/{key}", ChecksumMode="ENABLED")
        assert archive["StorageClass"] == "GLACIER"
        assert archive["ContentLength"] == len(original)
        assert archive["ChecksumSHA256"] == sha256_b64(original), f"archive/{key} is not the original"
        cog_key = "output/" + key.rsplit(".", 1)[0] + ".tif"
        cog = buckets.client.head_object(Bucket=buckets.output, Key=cog_key)
        assert cog.get("StorageClass", "STANDARD") == "STANDARD"
        assert cog["Metadata"]["source-sha256"] == sha256_b64(original)
        assert cog["ContentLength"] < len(original)
    versions = output_versions(buckets)
    assert versions == written_first, "the duplicate delivery wrote nothing"
    keys = [key for key, _ in versions if not key.startswith("catalog/")]  # the Collection grows in place
    assert len(keys) == len(set(keys)), "one version per COG, Item, thumbnail and archived original"
    assert len(keys) >= 2 * len(SCENES), "a COG and an archived original per scene, at least"
    assert re.search(r'"message":\s*"Object archived"', logs), "the function's JSON logs reach stdout"

    summary(
        f"through awslambdaric: cold start (container start to first `next`) {cold_start:.2f} s; "
        f"first invocation ({len(SCENES)} scenes) {first.seconds:.2f} s; duplicate {duplicate.seconds:.2f} s"
    )


def test_gdal_core_s3_and_job_tests_pass_inside_the_image(test_image, function_image):
    """The function's modules as installed in /var/task, on the image's GDAL, NumPy and Python."""
    mounts = []
    for path in ("tests", "imagery_archive_cli", "bench", "sample_data", "pyproject.toml"):  # the local S3 endpoint
        mounts += ["--volume", f"{ROOT / path}:/src/{path}:ro"]
    env = ["--env", "PYTHONPATH=/opt/python:/var/task", "--env", "PYTHONDONTWRITEBYTECODE=1", "--env", "HOME=/tmp"]
    result = docker(
        "run",
        "--rm",
        "--network",
        "host",
        "--read-only",
        "--user",
        "993:990",
        "--tmpfs",
        "/tmp:rw,exec,mode=1777,size=4096m",
        *mounts,
        *env,
        test_image,
        "-p",
        "no:cacheprovider",
        "-q",
        "-rfE",
        *IN_IMAGE_TESTS,
        timeout=1200,
        check=False,
    )
    last = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else "no output"
    summary(f"inside the image ({function_image.base_description}): {last}")
    output = result.stdout[-8000:] + result.stderr[-2000:]
    assert result.returncode == 0, f"the tests fail on the image's GDAL:\n{output}"


def test_the_image_has_exactly_the_locked_packages_and_the_base_images_numpy(function_image):
    check = """
import importlib.metadata as m, json, numpy, osgeo.gdal_array
from packaging.requirements import Requirement
installed = {d.metadata["Name"].lower().replace("_", "-"): d for d in m.distributions(path=["/opt/python"])}
numpy_needs = sorted({str(r) for d in installed.values() for r in map(Requirement, d.requires or [])
                      if r.name == "numpy" and (r.marker is None or r.marker.evaluate())
                      and not r.specifier.contains(numpy.__version__, prereleases=True)})
print(json.dumps({"installed": {n: d.version for n, d in installed.items()}, "numpy": numpy.__version__,
                  "numpy_file": numpy.__file__, "numpy_unmet": numpy_needs}))
"""
    found = json.loads(in_image(function_image.name, check))
    locked = dict(re.findall(r"^([A-Za-z0-9][\w.-]*)==(\S+)", LOCK.read_text(), re.MULTILINE))
    assert found["installed"] == {name.lower(): version for name, version in locked.items()}, "the lock, exactly"
    assert not found["numpy_file"].startswith("/opt/python"), "NumPy is the base image's, not pip's"
    assert found["numpy_unmet"] == [], f"a locked package needs another NumPy than {found['numpy']}"
    base_numpy = re.search(r"^# base-numpy: (\S+)", LOCK.read_text(), re.MULTILINE).group(1)
    if function_image.base == re.search(r"^ARG BASE_IMAGE=(\S+)", DOCKERFILE.read_text(), re.MULTILINE).group(1):
        assert found["numpy"] == base_numpy, "the lock was resolved for another NumPy than the base image has"


def test_the_shipped_image_holds_no_proxy_ca_certificate(function_image):
    pem = extra_ca_certificates()
    if not pem:
        pytest.skip("this machine has no extra CA certificate to look for")
    # A line of base64 from the middle of each certificate: unique to it, whatever file it ended up in.
    blocks = [block.splitlines() for block in pem.split("-----END")[:-1]]
    needles = [lines[len(lines) // 2] for lines in blocks]
    found = in_image(
        function_image.name,
        "import os, sys\n"
        f"needles = {needles!r}\n"
        "for top in ('/etc', '/opt', '/usr/local', '/usr/share/ca-certificates', '/var/task', '/tmp', '/root'):\n"
        "    for folder, _, files in os.walk(top):\n"
        "        for name in files:\n"
        "            path = os.path.join(folder, name)\n"
        "            try:\n"
        "                text = open(path, 'rb').read(4 << 20).decode('latin-1')\n"
        "            except OSError:\n"
        "                continue\n"
        "            if any(n in text for n in needles):\n"
        "                print(path)\n",
        user="0:0",
    )
    assert found.strip() == "", f"the build's proxy CA was left in the image: {found}"
    history = docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", function_image.name).stdout
    assert not any(needle in history for needle in needles), "the proxy CA is in the image's history"
