"""Two writers on one key never lose each other's work: every write the job makes is conditional.

On real imagery and the local S3 server. moto enforces `If-None-Match: *` on PutObject and
CompleteMultipartUpload and `If-Match` on PutObject (not CopyObject's conditions, nor `If-Match` on
CompleteMultipartUpload: see test_duplicate_deliveries.py for the archive copy). Where the server can't fail
first, the 412 is made at the wire (`tests.support.faults`), or the other party's write is made for real just before
ours. One test runs the real interleaving of two processes.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from functools import partial
from pathlib import Path
from urllib.parse import quote

import boto3
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from imagery_archive.archiving.steps import archive_object
from imagery_archive.errors import SourceChangedError, WriteConflictError
from imagery_archive.imaging.compress import compress
from imagery_archive.imaging.profiles import CompressionProfile
from imagery_archive.s3.checksums import MiB
from imagery_archive.s3.keys import Destinations, ObjectLocation
from imagery_archive.s3.storage import ImageryStore, WriteCondition
from tests.support.faults import failing
from tests.support.paths import SAMPLES

COMPRESS = partial(compress, profile=CompressionProfile())
SHARED_STEM = {"d/x.tif": "shade.tif", "d/x.ntf": "nitf_jitc_U_1001A_aerial_8bit.ntf"}


def precondition_failed(operation: str) -> ClientError:
    return ClientError(
        {
            "Error": {
                "Code": "PreconditionFailed",
                "Message": "At least one of the pre-conditions you specified did not hold",
            }
        },
        operation,
    )


def upload(buckets, key: str, sample: str) -> ObjectLocation:
    buckets.client.put_object(Bucket=buckets.input, Key=key, Body=(SAMPLES / sample).read_bytes())
    return ObjectLocation(buckets.input, key)


def head(buckets, key: str) -> dict:
    return buckets.client.head_object(Bucket=buckets.output, Key=key)


def run(buckets, source: ObjectLocation, work_dir: Path, compress_image=COMPRESS, store=None):
    store = store or ImageryStore(buckets.client)
    return archive_object(source, store, Destinations(buckets.output), compress_image, str(work_dir))


# --- the real interleaving: two processes, both compress before either publishes --------------------------


def _archive_in_process(
    endpoint: str, input_bucket: str, output_bucket: str, key: str, work_dir: str, both_compressed, outcomes
) -> None:
    """One run of the job in its own process; it publishes only once the other run has compressed too."""

    def compress_then_wait(src, dst, **options):
        result = COMPRESS(src, dst, **options)
        both_compressed.wait(timeout=120)
        return result

    client = boto3.client("s3", endpoint_url=endpoint)
    report = archive_object(
        ObjectLocation(input_bucket, key),
        ImageryStore(client),
        Destinations(output_bucket),
        compress_then_wait,
        work_dir,
    )
    outcomes[key] = (report.outcome.value, report.output.key)


def test_two_sources_sharing_a_stem_processed_at_once_each_keep_their_cog(buckets, s3_endpoint, tmp_path):
    for key, sample in SHARED_STEM.items():
        upload(buckets, key, sample)
    spawn = multiprocessing.get_context("spawn")
    with multiprocessing.Manager() as manager:
        both_compressed, outcomes = manager.Barrier(2), manager.dict()
        runs = [
            spawn.Process(
                target=_archive_in_process,
                args=(s3_endpoint, buckets.input, buckets.output, key, str(tmp_path), both_compressed, outcomes),
            )
            for key in SHARED_STEM
        ]
        for process in runs:
            process.start()
        for process in runs:
            process.join(timeout=300)
        assert [process.exitcode for process in runs] == [0, 0]
        finished = dict(outcomes)
    assert [outcome for outcome, _ in finished.values()] == ["archived", "archived"], finished
    (winner,) = [key for key, (_, output) in finished.items() if output == "output/d/x.tif"]  # whichever was first
    (loser,) = set(SHARED_STEM) - {winner}
    assert finished[loser][1] == f"output/{loser}.tif", "the second to publish goes to its alternate key"
    assert buckets.keys(buckets.output, "output/") == sorted(["output/d/x.tif", f"output/{loser}.tif"]), (
        "each original deleted must have its own COG"
    )
    for key, (_, output) in finished.items():
        assert head(buckets, output)["Metadata"]["source-key"] == quote(key), f"{output} is the COG of {key}"


# --- the COG: only where placement found the key free, or over our own COG ---------------------------------


def test_a_cog_published_meanwhile_under_the_usual_key_sends_ours_to_the_alternate(buckets, tmp_path):
    source = upload(buckets, "d/x.ntf", SHARED_STEM["d/x.ntf"])
    theirs = {"source-bucket": buckets.input, "source-key": "d/x.tif"}

    def another_run_publishes_first(src, dst, **options):
        result = COMPRESS(src, dst, **options)
        buckets.client.put_object(Bucket=buckets.output, Key="output/d/x.tif", Body=b"II*\x00theirs", Metadata=theirs)
        return result

    report = run(buckets, source, tmp_path, compress_image=another_run_publishes_first)

    assert report.output.key == "output/d/x.ntf.tif"
    assert buckets.client.get_object(Bucket=buckets.output, Key="output/d/x.tif")["Body"].read() == b"II*\x00theirs"
    assert head(buckets, "output/d/x.ntf.tif")["Metadata"]["source-key"] == quote("d/x.ntf")


def test_a_cog_moved_to_the_alternate_key_as_it_uploads_gets_its_item_there(buckets, tmp_path):
    """The Item is built while the COG uploads; a COG that had to move meanwhile is described for where it went."""
    from imagery_archive.catalogue.item import describe_scene  # noqa: PLC0415

    source = upload(buckets, "d/x.ntf", SHARED_STEM["d/x.ntf"])
    theirs = {"source-bucket": buckets.input, "source-key": "d/x.tif"}

    def another_run_publishes_first(src, dst, **options):
        result = COMPRESS(src, dst, **options)
        buckets.client.put_object(Bucket=buckets.output, Key="output/d/x.tif", Body=b"II*\x00theirs", Metadata=theirs)
        return result

    report = archive_object(
        source,
        ImageryStore(buckets.client),
        Destinations(buckets.output),
        another_run_publishes_first,
        str(tmp_path),
        describe_scene=describe_scene,
    )

    assert report.output.key == "output/d/x.ntf.tif"
    assert "output/d/x.json" not in buckets.keys(buckets.output), "their Item is left to their own run"
    item = json.loads(buckets.client.get_object(Bucket=buckets.output, Key="output/d/x.ntf.json")["Body"].read())
    assert item["assets"]["data"]["href"].endswith("x.ntf.tif")
    assert "output/d/x.ntf.png" in buckets.keys(buckets.output)
    assert buckets.keys(buckets.input) == [], "archived, verified and deleted"


def test_a_412_on_replacing_our_own_cog_re_places_and_retries(buckets, tmp_path):
    source = upload(buckets, "d/x.tif", "shade.tif")
    run(buckets, source, tmp_path)
    source = upload(buckets, "d/x.tif", "RGB.byte.tif")
    attempts = []

    def first_cog_put_fails(params, **_):
        if params["Key"] == "output/d/x.tif":
            attempts.append(params.get("IfMatch") or params.get("IfNoneMatch"))
            if len(attempts) == 1:
                raise precondition_failed("PutObject")

    buckets.client.meta.events.register("provide-client-params.s3.PutObject", first_cog_put_fails)
    try:
        report = run(buckets, source, tmp_path)
    finally:
        buckets.client.meta.events.unregister("provide-client-params.s3.PutObject", first_cog_put_fails)
    assert report.outcome == "archived"
    assert len(attempts) == 2
    assert all(attempt.startswith('"') for attempt in attempts), "both tries replace only our own COG, by its ETag"
    assert int(head(buckets, "output/d/x.tif")["Metadata"]["source-size"]) == (SAMPLES / "RGB.byte.tif").stat().st_size


def test_a_stale_run_does_not_publish_over_a_newer_uploads_cog(buckets, tmp_path):
    source = upload(buckets, "d/x.tif", "shade.tif")
    newer = (SAMPLES / "RGB.byte.tif").read_bytes()

    def a_newer_upload_is_published_meanwhile(src, dst, **options):
        result = COMPRESS(src, dst, **options)
        buckets.client.put_object(Bucket=buckets.input, Key="d/x.tif", Body=newer)
        meta = {"source-bucket": buckets.input, "source-key": "d/x.tif", "source-etag": "newer"}
        buckets.client.put_object(Bucket=buckets.output, Key="output/d/x.tif", Body=b"II*\x00newer", Metadata=meta)
        return result

    with pytest.raises(SourceChangedError):
        run(buckets, source, tmp_path, compress_image=a_newer_upload_is_published_meanwhile)
    assert buckets.client.get_object(Bucket=buckets.output, Key="output/d/x.tif")["Body"].read() == b"II*\x00newer"
    assert buckets.keys(buckets.input) == ["d/x.tif"], "the newer upload stays for its own event"


# --- the store's conditional upload: single PUT and multipart --------------------------------------------


@pytest.mark.parametrize("size", [100_000, 9 * MiB], ids=["single-put", "multipart"])
def test_upload_only_if_absent_refuses_to_replace(buckets, tmp_path, size):
    path = tmp_path / "cog.tif"
    path.write_bytes(os.urandom(size))
    store = ImageryStore(
        buckets.client, transfer=TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=5 * MiB)
    )
    target = ObjectLocation(buckets.output, "output/cog.tif")
    buckets.client.put_object(Bucket=target.bucket, Key=target.key, Body=b"someone else's")
    with pytest.raises(WriteConflictError, match=r"output/cog\.tif"):
        store.upload(path, target, {}, "image/tiff", WriteCondition.over(None))
    assert buckets.client.get_object(Bucket=target.bucket, Key=target.key)["Body"].read() == b"someone else's"
    assert buckets.client.list_multipart_uploads(Bucket=target.bucket).get("Uploads", []) == [], "no part left"


def test_a_multipart_cog_upload_puts_its_condition_on_complete(buckets, tmp_path):
    path = tmp_path / "cog.tif"
    path.write_bytes(os.urandom(9 * MiB))
    store = ImageryStore(
        buckets.client, transfer=TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=5 * MiB)
    )
    target = ObjectLocation(buckets.output, "output/cog.tif")
    ours = buckets.client.put_object(Bucket=target.bucket, Key=target.key, Body=b"our earlier COG")["ETag"]
    with (
        failing(buckets.client, "CompleteMultipartUpload", precondition_failed("CompleteMultipartUpload")),
        pytest.raises(WriteConflictError),
    ):
        store.upload(path, target, {}, "image/tiff", WriteCondition.over(store.head(target)))
    assert buckets.client.get_object(Bucket=target.bucket, Key=target.key)["Body"].read() == b"our earlier COG"
    sent = []
    buckets.client.meta.events.register(
        "provide-client-params.s3.CompleteMultipartUpload", lambda params, **_: sent.append(params.get("IfMatch"))
    )
    store.upload(path, target, {"a": "b"}, "image/tiff", WriteCondition.over(store.head(target)))
    assert sent == [ours], "the multipart upload completes only over the COG it replaces"
    assert head(buckets, "output/cog.tif")["ContentLength"] == 9 * MiB


# --- the STAC Item and thumbnail -------------------------------------------------------------------------


def run_with_item(buckets, source: ObjectLocation, work_dir: Path, compress_image=COMPRESS):
    from imagery_archive.catalogue.item import describe_scene  # noqa: PLC0415 - only these tests describe

    return archive_object(
        source,
        ImageryStore(buckets.client),
        Destinations(buckets.output),
        compress_image,
        str(work_dir),
        describe_scene=describe_scene,
    )


def test_an_item_written_meanwhile_by_another_run_is_not_replaced_blindly(buckets, tmp_path):
    source = upload(buckets, "d/x.tif", "shade.tif")
    conditions = []

    other_run = boto3.client("s3", endpoint_url=buckets.client.meta.endpoint_url)

    def another_run_writes_the_item_first(params, **_):
        if params["Key"] == "output/d/x.json":
            conditions.append(params.get("IfNoneMatch") or params.get("IfMatch"))
            if len(conditions) == 1:
                other_run.put_object(Bucket=buckets.output, Key="output/d/x.json", Body=b"{}")

    buckets.client.meta.events.register("provide-client-params.s3.PutObject", another_run_writes_the_item_first)
    try:
        report = run_with_item(buckets, source, tmp_path)
    finally:
        buckets.client.meta.events.unregister("provide-client-params.s3.PutObject", another_run_writes_the_item_first)
    assert report.outcome == "archived"
    assert conditions[0] == "*"
    assert conditions[1].startswith('"'), "the first write only if absent; after the 412, only over the Item found then"
    item = buckets.client.get_object(Bucket=buckets.output, Key="output/d/x.json")
    assert item["Metadata"]["source-etag"]
    assert item["Body"].read() != b"{}"


def test_a_run_whose_cog_was_replaced_meanwhile_writes_no_item_and_deletes_nothing(buckets, tmp_path):
    from imagery_archive.catalogue.item import describe_scene  # noqa: PLC0415

    source = upload(buckets, "d/x.tif", "shade.tif")

    class NewerRunPublishesRightAfterUs(ImageryStore):
        """The real store; a newer upload's run replaces our COG the moment it lands, before its Item is written."""

        def upload(self, path, location, metadata, content_type, condition):
            super().upload(path, location, metadata, content_type, condition)
            if location.key == "output/d/x.tif":
                newer = {"source-bucket": buckets.input, "source-key": "d/x.tif", "source-etag": "newer"}
                self.client.put_object(Bucket=location.bucket, Key=location.key, Body=b"II*\x00newer", Metadata=newer)

    with pytest.raises(SourceChangedError, match=r"output/d/x\.tif"):
        archive_object(
            source,
            NewerRunPublishesRightAfterUs(buckets.client),
            Destinations(buckets.output),
            COMPRESS,
            str(tmp_path),
            describe_scene=describe_scene,
        )
    assert buckets.keys(buckets.input) == ["d/x.tif"], "not deleted: its catalogue entry was not written"
    assert "output/d/x.json" not in buckets.keys(buckets.output), "the newer COG's Item is left to its own run"
