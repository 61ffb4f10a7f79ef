"""The Batch job archives the version it was submitted for (`SOURCE_VERSION_ID`), current or not.

S3 Batch Operations and the router submit a job per upload; in a versioned input bucket the upload is one
version. A job for a version that is no longer current used to exit 0 as "source changed" and archive
nothing, while Batch Operations had already answered Succeeded. In-process, as the job's `main` builds
it, on real imagery and the local S3 server.
"""

from __future__ import annotations

import time

from imagery_archive.entrypoints.batch_job import archive_for_batch
from imagery_archive.entrypoints.pipeline import Pipeline
from imagery_archive.settings import JobSource
from tests.entrypoints.test_job import job_env
from tests.support.paths import SAMPLES

S3_CLOCK_RESOLUTION = 1.1
"""LastModified has whole seconds: uploads farther apart than this are told apart by it."""


def put(buckets, key: str, sample: str) -> dict:
    return buckets.client.put_object(Bucket=buckets.input, Key=key, Body=(SAMPLES / sample).read_bytes())


def run_job(buckets, tmp_path, monkeypatch, key: str, **source: str) -> int:
    for name, value in job_env(buckets, tmp_path, key, **source).items():
        monkeypatch.setenv(name, value)
    return archive_for_batch(Pipeline.from_env(), JobSource.from_env())


def test_a_job_for_a_noncurrent_version_archives_that_version(buckets, tmp_path, monkeypatch):
    buckets.client.put_bucket_versioning(Bucket=buckets.input, VersioningConfiguration={"Status": "Enabled"})
    older = put(buckets, "scenes/x.tif", "shade.tif")
    newer = put(buckets, "scenes/x.tif", "RGB.byte.tif")

    code = run_job(
        buckets, tmp_path, monkeypatch, "scenes/x.tif",
        SOURCE_ETAG=older["ETag"].strip('"'), SOURCE_VERSION_ID=older["VersionId"],
    )  # fmt: skip

    assert code == 0
    archived = buckets.client.head_object(Bucket=buckets.output, Key="archive/scenes/x.tif")
    assert archived["ContentLength"] == (SAMPLES / "shade.tif").stat().st_size, "the version the job names"
    versions = buckets.client.list_object_versions(Bucket=buckets.input, Prefix="scenes/")["Versions"]
    assert [version["VersionId"] for version in versions] == [newer["VersionId"]], (
        "the archived version deleted for good; the newer one left for its own job"
    )


def test_a_job_for_the_current_version_archives_it(buckets, tmp_path, monkeypatch):
    buckets.client.put_bucket_versioning(Bucket=buckets.input, VersioningConfiguration={"Status": "Enabled"})
    current = put(buckets, "scenes/x.tif", "shade.tif")
    code = run_job(
        buckets, tmp_path, monkeypatch, "scenes/x.tif",
        SOURCE_ETAG=current["ETag"].strip('"'), SOURCE_VERSION_ID=current["VersionId"],
    )  # fmt: skip
    assert code == 0
    assert buckets.client.list_object_versions(Bucket=buckets.input).get("Versions", []) == []
    assert "archive/scenes/x.tif" in buckets.keys(buckets.output)


def test_an_older_version_archived_late_leaves_the_newer_versions_cog_in_place(buckets, tmp_path):
    from functools import partial  # noqa: PLC0415

    from imagery_archive.archiving.steps import archive_object  # noqa: PLC0415
    from imagery_archive.imaging.compress import compress  # noqa: PLC0415
    from imagery_archive.imaging.profiles import CompressionProfile  # noqa: PLC0415
    from imagery_archive.s3.keys import Destinations, ObjectLocation  # noqa: PLC0415
    from imagery_archive.s3.storage import ImageryStore  # noqa: PLC0415

    buckets.client.put_bucket_versioning(Bucket=buckets.input, VersioningConfiguration={"Status": "Enabled"})
    older = put(buckets, "scenes/x.tif", "shade.tif")
    time.sleep(S3_CLOCK_RESOLUTION)  # the newer upload is newer by LastModified, as uploads a second apart are
    newer = put(buckets, "scenes/x.tif", "RGB.byte.tif")
    store, destinations = ImageryStore(buckets.client), Destinations(buckets.output)
    compress_image = partial(compress, profile=CompressionProfile())
    archive_object(ObjectLocation(buckets.input, "scenes/x.tif"), store, destinations, compress_image, str(tmp_path))

    def must_not_compress(*_, **__):
        raise AssertionError("the newer upload's COG stands: the older version is archived, not compressed")

    late = ObjectLocation(buckets.input, "scenes/x.tif", older["VersionId"])
    report = archive_object(late, store, destinations, must_not_compress, str(tmp_path))

    assert report.outcome == "archived"
    cog = buckets.client.head_object(Bucket=buckets.output, Key="output/scenes/x.tif")["Metadata"]
    assert cog["source-etag"] == newer["ETag"].strip('"'), "a late run never replaces a newer upload's COG"
    assert buckets.client.list_object_versions(Bucket=buckets.input).get("Versions", []) == []
    assert len(buckets.keys(buckets.output, "archive/")) == 2, "both versions archived"
