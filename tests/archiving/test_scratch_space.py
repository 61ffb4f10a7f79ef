"""Scratch space after a timeout: what a killed invocation left in /tmp must not fail good images.

Lambda reuses a warm instance's /tmp; a timed-out or killed invocation never cleans its folder. The
tests give the function a real, small file system (a tmpfs, as Lambda's /tmp is small next to a large
scene), so "no space left" is what the kernel says, not a number the test made up.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from imagery_archive.entrypoints.pipeline import RetryableError
from imagery_archive.s3.checksums import MiB
from imagery_archive_cli.local.events import event_for_objects
from imagery_archive_cli.local.function import LambdaContext
from tests.support.function import ColdStart, cold_start
from tests.support.paths import SAMPLES

SCRATCH_SIZE = 16 * MiB


@pytest.fixture
def small_scratch(tmp_path):
    """A 16 MiB tmpfs; skipped where mounting is not allowed (it needs root or CAP_SYS_ADMIN)."""
    mount_point = tmp_path / "scratch"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SCRATCH_SIZE}", "tmpfs", str(mount_point)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"can't mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    yield mount_point
    subprocess.run(["umount", str(mount_point)], check=True)


def fill(path: Path, size: int, age_seconds: float = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as stream:
        stream.truncate(0)
        stream.write(b"\0" * size)
    then = time.time() - age_seconds
    os.utime(path, (then, then))
    os.utime(path.parent, (then, then))


def started(monkeypatch, buckets, work_dir: Path) -> ColdStart:
    return cold_start(monkeypatch, OUTPUT_BUCKET=buckets.output, CPL_TMPDIR=str(work_dir))


def test_a_killed_invocations_scratch_is_swept_and_a_good_image_archived(small_scratch, buckets, monkeypatch):
    # What a timed-out invocation leaves: its object folder, with a half-written original in it.
    fill(small_scratch / "imagery-k1ll3d" / "original.tif", SCRATCH_SIZE - 512 * 1024, age_seconds=600)
    function = started(monkeypatch, buckets, small_scratch)
    buckets.client.put_object(Bucket=buckets.input, Key="d/scene.tif", Body=(SAMPLES / "RGB.byte.tif").read_bytes())

    response = function.handler(event_for_objects(buckets.client, buckets.input, ["d/scene.tif"]), LambdaContext())

    assert [item["outcome"] for item in response["results"]] == ["archived"], response
    assert list(small_scratch.iterdir()) == [], "the stale folder is gone, and this invocation's too"


def test_space_taken_by_something_else_is_retried_not_blamed_on_the_image(small_scratch, buckets, monkeypatch):
    fill(small_scratch / "gdal-cache" / "tile.bin", SCRATCH_SIZE - 512 * 1024)  # not ours: left alone
    function = started(monkeypatch, buckets, small_scratch)
    buckets.client.put_object(Bucket=buckets.input, Key="d/scene.tif", Body=(SAMPLES / "RGB.byte.tif").read_bytes())
    event = event_for_objects(buckets.client, buckets.input, ["d/scene.tif"])

    with pytest.raises(RetryableError) as raised:
        function.handler(event, LambdaContext())

    assert [result.outcome for result in raised.value.results] == ["retry"]
    tags = buckets.client.get_object_tagging(Bucket=buckets.input, Key="d/scene.tif")["TagSet"]
    assert tags == [], "a good image must not be tagged failed for a disk someone else filled"
    assert (small_scratch / "gdal-cache" / "tile.bin").exists()
