"""One object, start to finish: compress, publish the COG, archive the original, verify, delete.

The order is the safety argument. The original is deleted last, only after its archived copy has
been verified, and only if it is still the version that was archived. Every step first looks at
what is already there (the Item and thumbnail, whose keys are new for a new scene, are first written
only if still absent, and looked at only if not), so a duplicate delivery of a finished object is a
no-op and a delivery of a half-finished one completes it; every write is conditional on what that look
found, so a run that
loses a race to another (a COG, Item, thumbnail or archived copy written meanwhile) looks again and
places, reuses or stops, instead of replacing it. Keys S3 can't store are refused before any work.

The compression step is passed in, so this module needs no GDAL; scratch space (`scratch`), the
COG's metadata (`cog_metadata`), the checksums (`checksums`), how the original is read
(`source_access`: streamed from S3 or downloaded) and what proves its archived copy (`archive_proof`:
S3's own checksum or the downloaded bytes' SHA-256) are each in a module of their own: this one only
orders the steps.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from imagery_archive.archiving.cog_metadata import COG_CONTENT_TYPE, output_metadata
from imagery_archive.archiving.outcomes import JobReport, Outcome, PhaseSpans, no_spans
from imagery_archive.archiving.scratch import (
    ScratchFiles,
    check_scratch_space,
    free_bytes,
    scratch_files,
    scratch_needed,
)
from imagery_archive.catalogue.publishing import publish_reused_scene, publish_scene, scene_files
from imagery_archive.catalogue.scene_facts import DescribeScene, SceneFiles
from imagery_archive.errors import (
    DestinationKeyTooLongError,
    EmptyObjectError,
    PermanentError,
    SourceChangedError,
    StreamedReadFailedError,
    TooLargeError,
    WriteConflictError,
)
from imagery_archive.s3.archive_proof import DIGEST_NAMES, ArchiveProof, DownloadedBytesProof, s3_checksum_proof
from imagery_archive.s3.keys import S3_KEY_LIMIT, Destinations, ObjectLocation
from imagery_archive.s3.placement import archive_location, output_location, refuse_to_overwrite
from imagery_archive.s3.source_access import (
    ReadMode,
    SourceRead,
    SourceReading,
    choose_read,
    gdal_read_options,
    vsis3_path,
)
from imagery_archive.s3.storage import CONDITIONAL_WRITE_ATTEMPTS, ImageryStore, StoredObject, WriteCondition

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
    spans: PhaseSpans = no_spans,
) -> JobReport:
    """Run `source` through the pipeline; see the module docstring for the guarantees.

    With `describe_scene` (`stac.describe_scene`), the COG's STAC Item and thumbnail are written
    beside it once the archive is verified, before the delete (see `scene_publisher`). `reading`
    says whether the original may be streamed from S3 (the default downloads it); `spans` traces each phase.
    """
    report = JobReport(source, destinations.output(source.key), destinations.archive(source.key), spans=spans)
    with report.phase("inspect"):
        original = store.head(source)
    if original is None:
        report.outcome = Outcome.ALREADY_ARCHIVED if store.head(report.archived_copy) else Outcome.GONE
        return report
    if original.size == 0:
        raise EmptyObjectError(f"{source} is empty (0 bytes): nothing to compress or archive")
    _check_key_lengths(source, destinations)
    report.original_bytes = original.size
    s3_proof = s3_checksum_proof(original, store.single_copy_limit)
    fits = scratch_needed(original.size) <= free_bytes(work_dir)
    report.read = choose_read(source, reading, s3_proof is not None, fits_in_scratch=fits)
    downloaded = report.read.mode is ReadMode.DOWNLOAD
    steps = _Steps(source, original, store, destinations, report, describe_scene)
    with scratch_files(source, original.size, work_dir, input_in_scratch=downloaded) as scratch:
        if downloaded:
            with report.phase("download"):
                store.download(source, original, scratch.original)
        steps.publish_and_archive(scratch, compress_image, s3_proof)
    with report.phase("delete"):
        store.delete(source, original)
    return report


def _check_key_lengths(source: ObjectLocation, destinations: Destinations) -> None:
    """Refuse, before any work, an upload whose COG or archived copy would need a key S3 can't store."""
    too_long = destinations.too_long_keys(source.key, DIGEST_NAMES)
    if too_long:
        longest = max(too_long, key=lambda key: len(key.encode()))
        raise DestinationKeyTooLongError(
            f"{source}: its key is {len(source.key.encode())} bytes, and {len(too_long)} of the keys its COG and "
            f"archived copy may get would pass S3's {S3_KEY_LIMIT}-byte limit (the longest, {len(longest.encode())} "
            f"bytes: {longest[:24]}...{longest[-24:]}); upload it under a key at least "
            f"{len(longest.encode()) - S3_KEY_LIMIT} bytes shorter"
        )


@dataclass(frozen=True)
class _Steps:
    """The steps of one object after its inspection, and how they overlap."""

    source: ObjectLocation
    original: StoredObject
    store: ImageryStore
    destinations: Destinations
    report: JobReport
    describe_scene: DescribeScene | None

    def publish_and_archive(
        self, scratch: ScratchFiles, compress_image: CompressImage, s3_proof: ArchiveProof | None
    ) -> None:
        """Compress and upload the COG, copy the original to the archive and verify the copy, then write the
        scene's Item and thumbnail (with `describe_scene`); the delete may follow.

        What overlaps: a downloaded original without an S3 checksum is hashed while it is compressed; S3
        copies it to the archive, and the copy is verified, while the COG is written, checked and uploaded,
        but only once the image proved sound (a bad upload is never archived); the Item and thumbnail are
        built while the COG uploads. They are written only after the archived copy is verified: an Item
        states where the original is archived, so it must be true when written.
        """
        source, store, report = self.source, self.store, self.report
        with ThreadPoolExecutor(4) as helpers:
            proof: Future[ArchiveProof] = Future()
            if s3_proof is not None:
                proof.set_result(s3_proof)
            else:
                proof = helpers.submit(lambda: DownloadedBytesProof(store.checksums_of(scratch.original)))
            archive_at = helpers.submit(lambda: archive_location(source, proof.result(), store, self.destinations))
            archived: list[Future[None]] = []

            def start_archive() -> None:
                if not archived:
                    archived.append(helpers.submit(self.archive_original, proof, archive_at))

            compressed, placed = _compress_unless_published(
                source, self.original, scratch, store, self.destinations, report, compress_image, start_archive
            )
            start_archive()
            report.archived_copy = archive_at.result()[0]
            described: Future[_Described] | None = None
            if compressed is not None:
                described = self._describe(helpers, proof.result(), compressed)
                _upload(source, self.original, compressed, proof.result(), store, self.destinations, report, placed)
            archived[0].result()
        report.proof = proof.result().label
        self._publish_scene(scratch, compressed, described, proof.result())

    def archive_original(
        self, proof: Future[ArchiveProof], archive_at: Future[tuple[ObjectLocation, StoredObject | None]]
    ) -> None:
        """Copy the original into the archive class, unless a verified copy is already there, then verify the
        copy; never over a different original in a bucket that keeps no versions.

        The copy is conditional on what was found at the key (first by `archive_location`'s look, then by a
        look of its own): only if absent, or only over that object. When another delivery's copy lands first,
        the next look finds it verified and reuses it, so two deliveries of one upload leave one archived version.
        """
        (target, there), expected = archive_at.result(), proof.result()
        store, storage_class = self.store, self.destinations.storage_class
        with self.report.phase("archive"):
            for attempt in range(1, CONDITIONAL_WRITE_ATTEMPTS + 1):
                if attempt > 1:
                    there = store.head(target)
                if not expected.problems(there, storage_class):
                    break
                if not store.keeps_versions(target.bucket):
                    refuse_to_overwrite(target, there, expected)
                try:
                    store.copy_to_archive(
                        self.source,
                        target,
                        storage_class,
                        self.original,
                        expected.copy_algorithm,
                        WriteCondition.over(there),
                    )
                    break
                except WriteConflictError:
                    if attempt == CONDITIONAL_WRITE_ATTEMPTS:
                        raise
        with self.report.phase("verify"):
            store.verify_archive(target, expected, storage_class)

    def _describe(
        self, helpers: ThreadPoolExecutor, proof: ArchiveProof, compressed: Path
    ) -> Future[_Described] | None:
        """`_described`, started in `helpers`; None without `describe_scene` or for a superseded version (the
        newer upload's COG keeps its own)."""
        if self.describe_scene is None or self.report.superseded:
            return None
        return helpers.submit(self._described, proof, compressed)

    def _described(self, proof: ArchiveProof, compressed: Path) -> _Described:
        """The Item and thumbnail of the COG just made, for where it goes as this starts (`report.output`)."""
        report, describe = self.report, self.describe_scene
        assert describe is not None
        assert report.compression is not None  # the COG was just compressed
        assert report.read is not None
        metadata = output_metadata(
            self.source, self.original, proof, report.read, report.compression, report.archived_copy
        )
        output = report.output
        with report.phase("describe"):
            files = scene_files(
                output, report.archived_copy, self.original, compressed, metadata, self.destinations, describe
            )
        return _Described(output, files)

    def _publish_scene(
        self,
        scratch: ScratchFiles,
        compressed: Path | None,
        described: Future[_Described] | None,
        proof: ArchiveProof,
    ) -> None:
        """Write the Item and thumbnail built while the COG uploaded, or, for a COG published by an earlier
        delivery, the ones it still lacks. A COG that had to move to another key as it uploaded (another
        writer took the first) is described again for where it went."""
        report, describe = self.report, self.describe_scene
        if describe is None or report.superseded:
            return
        with report.phase("catalog"):
            if compressed is None or described is None:
                publish_reused_scene(
                    report.output,
                    report.archived_copy,
                    self.original,
                    scratch.cog.parent,
                    self.store,
                    self.destinations,
                    describe,
                )
                return
            scene = described.result()
            if scene.output != report.output:
                scene = self._described(proof, compressed)
            publish_scene(report.output, self.original, scene.files, self.store, self.destinations)


@dataclass(frozen=True)
class _Described:
    """A scene's Item and thumbnail, and the COG location they were built for."""

    output: ObjectLocation
    files: SceneFiles


def _compress_unless_published(
    source: ObjectLocation,
    original: StoredObject,
    scratch: ScratchFiles,
    store: ImageryStore,
    destinations: Destinations,
    report: JobReport,
    compress_image: CompressImage,
    on_source_read: Callable[[], None],
) -> tuple[Path | None, StoredObject | None]:
    """The COG to upload (None if an earlier delivery already published this very version), and the COG of
    this source that placement found at `report.output` (None where the key was free)."""
    with report.phase("inspect"):
        report.output, published = output_location(source, store, destinations)
    if _is_this_version(published, original):
        return None, published
    if published is not None and _is_superseded(original, published):
        report.superseded = True
        return None, published
    assert report.read is not None  # chosen before anything is read
    if report.read.mode is ReadMode.STREAM:
        try:
            with report.phase("compress"):
                options = gdal_read_options(original, os.environ, store.client.meta.region_name)
                path = vsis3_path(source)
                report.compression = compress_image(
                    path, scratch.cog, on_source_read=on_source_read, read_options=options
                )
            return scratch.cog, published
        except Exception as error:  # whatever failed, the download below decides
            report.read = _after_failed_stream(source, original, store, error)
            _check_room_to_download(source, original, scratch, error)
        with report.phase("download"):
            store.download(source, original, scratch.original)
    with report.phase("compress"):
        try:
            report.compression = compress_image(scratch.original, scratch.cog, on_source_read=on_source_read)
        except PermanentError as error:
            reason = str(error).replace(str(scratch.original), source.key)
            raise type(error)(f"{source} can't be compressed: {reason}") from None
    return scratch.cog, published


def _is_superseded(original: StoredObject, published: StoredObject) -> bool:
    """True for a version (named by its event or job) older than the upload whose COG is published at its key
    (`source-last-modified`): that COG stands, and this version is only archived, as an in-order run would
    leave it. A version whose event comes late is current again once the newer version was archived and
    deleted, so the upload times decide, not which version is current."""
    newer = published.metadata.get("source-last-modified")
    if original.version_id is None or original.last_modified is None or newer is None:
        return False
    return datetime.fromisoformat(newer) > original.last_modified


def _is_this_version(cog: StoredObject | None, original: StoredObject) -> bool:
    """True if `cog` was made from exactly `original` (its `source-etag`)."""
    return cog is not None and cog.metadata.get("source-etag") == original.etag.strip('"')


def _check_room_to_download(
    source: ObjectLocation, original: StoredObject, scratch: ScratchFiles, stream_error: Exception
) -> None:
    """Raise unless scratch has room to download the original whose streamed read failed.

    An original that can never fit (`TooLargeError`) is not refused for good for a failure of its
    streamed read, which may be a network fault: that failure is raised as transient instead
    (`StreamedReadFailedError` where GDAL called it a bad image, which only a download could confirm).
    """
    usage = shutil.disk_usage(scratch.cog.parent)
    try:
        check_scratch_space(source, original.size, usage.total, usage.free)
    except TooLargeError:
        if isinstance(stream_error, PermanentError):
            raise StreamedReadFailedError(
                f"{source}: its streamed read failed ({str(stream_error)[:200]}) and it is too large for scratch "
                "space to be judged on a download: retried"
            ) from stream_error
        raise stream_error from None


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
    destinations: Destinations,
    report: JobReport,
    placed: StoredObject | None,
) -> None:
    """Publish the COG where placement found the key free or holding this source's own COG (`placed`), and
    only if it still is so (a conditional write); if another writer got there first, place it again.

    Two uploads sharing a stem (`d/x.tif`, `d/x.ntf`) processed at once both find `output/d/x.tif`
    free: the second to finish is refused and goes to the alternate key. A run whose original has been
    replaced meanwhile stops there (`SourceChangedError`): the newer upload's COG is never replaced by it.
    """
    if isinstance(proof, DownloadedBytesProof) and proof.checksums.size != original.size:
        raise SourceChangedError(f"{source} changed while it was downloaded")
    assert report.compression is not None  # a COG to upload was just compressed
    assert report.read is not None
    with report.phase("upload"):
        metadata = output_metadata(source, original, proof, report.read, report.compression, report.archived_copy)
        for _ in range(CONDITIONAL_WRITE_ATTEMPTS - 1):
            try:
                store.upload(compressed, report.output, metadata, COG_CONTENT_TYPE, WriteCondition.over(placed))
                return
            except WriteConflictError:
                _check_still_current(source, original, store)
                report.output, placed = output_location(source, store, destinations)
                if _is_this_version(placed, original):
                    return  # a duplicate delivery published this very version meanwhile
        store.upload(compressed, report.output, metadata, COG_CONTENT_TYPE, WriteCondition.over(placed))


def _check_still_current(source: ObjectLocation, original: StoredObject, store: ImageryStore) -> None:
    """`SourceChangedError` unless `original` is still the current object at its key."""
    current = store.head(ObjectLocation(source.bucket, source.key))
    if current is None or current.etag != original.etag:
        raise SourceChangedError(f"{source} was replaced or deleted while its COG was published; not published")
