"""One object, start to finish: compress, publish the COG, archive the original, verify, delete.

The order is the safety argument. The original is deleted last, only after its archived copy has
been verified, and only if it is still the version that was archived. Every step first looks at
what is already there, so a duplicate delivery of a finished object is a no-op and a delivery of a
half-finished one completes it. The compression step is passed in, so this module needs no GDAL;
scratch space (`scratch`), the COG's metadata (`cog_metadata`), the checksums (`checksums`), how the
original is read (`source_access`: streamed from S3 or downloaded) and what proves its archived copy
(`archive_proof`: S3's own checksum or the downloaded bytes' SHA-256) are each in a module of their
own: this one only orders the steps.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from imagery_archive.archiving.cog_metadata import COG_CONTENT_TYPE, output_metadata
from imagery_archive.archiving.outcomes import JobReport, Outcome
from imagery_archive.archiving.scratch import (
    ScratchFiles,
    check_scratch_space,
    free_bytes,
    scratch_files,
    scratch_needed,
)
from imagery_archive.catalogue.publishing import publish_scene
from imagery_archive.catalogue.scene_facts import DescribeScene
from imagery_archive.errors import EmptyObjectError, PermanentError, SourceChangedError
from imagery_archive.s3.archive_proof import ArchiveProof, DownloadedBytesProof, s3_checksum_proof
from imagery_archive.s3.keys import Destinations, ObjectLocation
from imagery_archive.s3.placement import archive_location, output_location, refuse_to_overwrite
from imagery_archive.s3.source_access import (
    ReadMode,
    SourceRead,
    SourceReading,
    choose_read,
    gdal_read_options,
    vsis3_path,
)
from imagery_archive.s3.storage import ImageryStore, StoredObject

if TYPE_CHECKING:
    from imagery_archive.imaging.results import CompressionResult


DOWNLOAD_ONLY = SourceReading()
"""Every original downloaded (the default of callers that don't opt in to streaming)."""


class CompressImage(Protocol):
    """`compress.compress` with its profile bound, e.g. `functools.partial(compress, profile=...)`."""

    def __call__(
        self,
        src: str | Path,
        dst: Path,
        *,
        on_source_read: Callable[[], None],
        read_options: Mapping[str, str] | None = None,
    ) -> CompressionResult:
        """Write the image at `src` (a file, or a `/vsis3/` path read with `read_options`) as a COG at
        `dst`; call `on_source_read` once `src` proved sound."""
        ...


def archive_object(
    source: ObjectLocation,
    store: ImageryStore,
    destinations: Destinations,
    compress_image: CompressImage,
    work_dir: str = "/tmp",
    describe_scene: DescribeScene | None = None,
    reading: SourceReading = DOWNLOAD_ONLY,
) -> JobReport:
    """Run `source` through the pipeline; see the module docstring for the guarantees.

    With `describe_scene` (`stac.describe_scene`), the COG's STAC Item and thumbnail are written
    beside it once the archive is verified, before the delete (see `scene_publisher`). `reading`
    says whether the original may be streamed from S3 (the default downloads it).
    """
    report = JobReport(source, destinations.output(source.key), destinations.archive(source.key))
    with report.phase("inspect"):
        original = store.head(source)
    if original is None:
        report.outcome = Outcome.ALREADY_ARCHIVED if store.head(report.archived_copy) else Outcome.GONE
        return report
    if original.size == 0:
        raise EmptyObjectError(f"{source} is empty (0 bytes): nothing to compress or archive")
    report.original_bytes = original.size
    s3_proof = s3_checksum_proof(original, store.single_copy_limit)
    fits = scratch_needed(original.size) <= free_bytes(work_dir)
    report.read = choose_read(source, reading, s3_proof is not None, fits_in_scratch=fits)
    downloaded = report.read.mode is ReadMode.DOWNLOAD
    with scratch_files(source, original.size, work_dir, input_in_scratch=downloaded) as scratch:
        if downloaded:
            with report.phase("download"):
                store.download(source, original, scratch.original)
        proof = _publish_and_archive(source, original, scratch, store, destinations, compress_image, report, s3_proof)
        with report.phase("verify"):
            store.verify_archive(report.archived_copy, proof, destinations.storage_class)
        report.proof = proof.label
        if describe_scene is not None:
            with report.phase("catalog"):
                _describe(source, original, proof, scratch, store, destinations, describe_scene, report)
    with report.phase("delete"):
        store.delete(source, original)
    return report


def _describe(
    source: ObjectLocation,
    original: StoredObject,
    proof: ArchiveProof,
    scratch: ScratchFiles,
    store: ImageryStore,
    destinations: Destinations,
    describe_scene: DescribeScene,
    report: JobReport,
) -> None:
    """Write the COG's STAC Item and thumbnail: from the COG just made, or from the one published earlier."""
    if report.compression is None or report.read is None:
        publish_scene(
            report.output,
            report.archived_copy,
            original,
            None,
            None,
            scratch.cog.parent,
            store,
            destinations,
            describe_scene,
        )
        return
    fresh = output_metadata(source, original, proof, report.read, report.compression, report.archived_copy)
    publish_scene(
        report.output,
        report.archived_copy,
        original,
        scratch.cog,
        fresh,
        scratch.cog.parent,
        store,
        destinations,
        describe_scene,
    )


def _publish_and_archive(
    source: ObjectLocation,
    original: StoredObject,
    scratch: ScratchFiles,
    store: ImageryStore,
    destinations: Destinations,
    compress_image: CompressImage,
    report: JobReport,
    s3_proof: ArchiveProof | None,
) -> ArchiveProof:
    """Compress and upload the COG, and copy the original to the archive; what proves the copy.

    A downloaded original without an S3 checksum is hashed while it is compressed, and S3 copies it
    to the archive while the COG is checked, measured and uploaded, but only once the image proved
    sound: a bad upload is never archived.
    """
    with ThreadPoolExecutor(3) as helpers:
        proof: Future[ArchiveProof] = Future()
        if s3_proof is not None:
            proof.set_result(s3_proof)
        else:
            proof = helpers.submit(lambda: DownloadedBytesProof(store.checksums_of(scratch.original)))
        archive_at = helpers.submit(lambda: archive_location(source, proof.result(), store, destinations))
        archived: list[Future[None]] = []

        def start_archive() -> None:
            if not archived:
                archived.append(
                    helpers.submit(_archive_original, source, original, proof, archive_at, store, destinations, report)
                )

        compressed = _compress_unless_published(
            source, original, scratch, store, destinations, report, compress_image, start_archive
        )
        start_archive()
        report.archived_copy = archive_at.result()
        if compressed is not None:
            _upload(source, original, compressed, proof.result(), store, report)
        archived[0].result()
    return proof.result()


def _compress_unless_published(
    source: ObjectLocation,
    original: StoredObject,
    scratch: ScratchFiles,
    store: ImageryStore,
    destinations: Destinations,
    report: JobReport,
    compress_image: CompressImage,
    on_source_read: Callable[[], None],
) -> Path | None:
    """The COG to upload, or None if an earlier delivery already published this very version."""
    with report.phase("inspect"):
        report.output, published = output_location(source, store, destinations)
    if published and published.metadata.get("source-etag") == original.etag.strip('"'):
        return None
    assert report.read is not None  # chosen before anything is read
    if report.read.mode is ReadMode.STREAM:
        try:
            with report.phase("compress"):
                options = gdal_read_options(original, os.environ, store.client.meta.region_name)
                path = vsis3_path(source)
                report.compression = compress_image(
                    path, scratch.cog, on_source_read=on_source_read, read_options=options
                )
            return scratch.cog
        except Exception as error:  # whatever failed, the download below decides
            report.read = _after_failed_stream(source, original, store, error)
            usage = shutil.disk_usage(scratch.cog.parent)
            check_scratch_space(source, original.size, usage.total, usage.free)
        with report.phase("download"):
            store.download(source, original, scratch.original)
    with report.phase("compress"):
        try:
            report.compression = compress_image(scratch.original, scratch.cog, on_source_read=on_source_read)
        except PermanentError as error:
            reason = str(error).replace(str(scratch.original), source.key)
            raise type(error)(f"{source} can't be compressed: {reason}") from None
    return scratch.cog


def _after_failed_stream(
    source: ObjectLocation, original: StoredObject, store: ImageryStore, error: Exception
) -> SourceRead:
    """Why the original is downloaded after its streamed read failed; `SourceChangedError` if it was replaced.

    A streamed read fails with 412 once the key holds another object than the inspected one. An
    event naming a version that is no longer current gets that version downloaded (the download
    names versions, GDAL can't); otherwise a replaced original is left to the replacement's own
    event. Any other failure (a corrupt image, a network fault) is judged again on the downloaded
    file, where a read error is the image's own.
    """
    current = store.head(ObjectLocation(source.bucket, source.key))
    if current is not None and current.etag == original.etag:
        return SourceRead(ReadMode.DOWNLOAD, f"streaming failed, downloaded: {str(error)[:200]}")
    if original.version_id is None:
        raise SourceChangedError(f"{source} was replaced or deleted while it was read") from None
    return SourceRead(ReadMode.DOWNLOAD, f"version {original.version_id} is no longer current: downloaded by version")


def _upload(
    source: ObjectLocation,
    original: StoredObject,
    compressed: Path,
    proof: ArchiveProof,
    store: ImageryStore,
    report: JobReport,
) -> None:
    if isinstance(proof, DownloadedBytesProof) and proof.checksums.size != original.size:
        raise SourceChangedError(f"{source} changed while it was downloaded")
    assert report.compression is not None  # a COG to upload was just compressed
    assert report.read is not None
    with report.phase("upload"):
        metadata = output_metadata(source, original, proof, report.read, report.compression, report.archived_copy)
        store.upload(compressed, report.output, metadata, COG_CONTENT_TYPE)


def _archive_original(
    source: ObjectLocation,
    original: StoredObject,
    proof: Future[ArchiveProof],
    archive_at: Future[ObjectLocation],
    store: ImageryStore,
    destinations: Destinations,
    report: JobReport,
) -> None:
    """Copy the original into the archive class, unless a verified copy is already there; never over a
    different original in a bucket that keeps no versions."""
    target, expected = archive_at.result(), proof.result()
    with report.phase("archive"):
        there = store.head(target)
        if expected.problems(there, destinations.storage_class):
            if not store.keeps_versions(target.bucket):
                refuse_to_overwrite(target, there, expected)
            store.copy_to_archive(source, target, destinations.storage_class, original, expected.copy_algorithm)
