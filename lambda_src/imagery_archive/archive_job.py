"""One object, start to finish: compress, publish the COG, archive the original, verify, delete.

The order is the safety argument. The original is deleted last, only after its archived copy has
been verified, and only if it is still the version that was archived. Every step first looks at
what is already there, so a duplicate delivery of a finished object is a no-op and a delivery of a
half-finished one completes it. The compression step is passed in, so this module needs no GDAL;
scratch space (`scratch`), the COG's metadata (`cog_metadata`) and the checksums (`checksums`) are
each in a module of their own: this one only orders the steps.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from imagery_archive.checksums import FileChecksums
from imagery_archive.cog_metadata import COG_CONTENT_TYPE, output_metadata
from imagery_archive.errors import EmptyObjectError, PermanentError, SourceChangedError
from imagery_archive.keys import Destinations, ObjectLocation
from imagery_archive.outcomes import Outcome
from imagery_archive.placement import archive_location, output_location, refuse_to_overwrite
from imagery_archive.scene import DescribeScene
from imagery_archive.scene_publisher import publish_scene
from imagery_archive.scratch import ScratchFiles, scratch_files
from imagery_archive.storage import ImageryStore, StoredObject, archive_problems

if TYPE_CHECKING:
    from imagery_archive.compress import CompressionResult


class CompressImage(Protocol):
    """`compress.compress` with its profile bound, e.g. `functools.partial(compress, profile=...)`."""

    def __call__(self, src: Path, dst: Path, *, on_source_read: Callable[[], None]) -> CompressionResult:
        """Write the image at `src` as a COG at `dst`; call `on_source_read` once `src` proved sound."""
        ...


@dataclass
class JobReport:
    """What happened to one object; the handler logs it and turns it into metrics."""

    source: ObjectLocation
    output: ObjectLocation
    """Where the COG is (or goes): its usual key, or the alternate one if that holds another source's COG."""
    archived_copy: ObjectLocation
    """Where the original's archived copy is (or goes); see `placement`."""
    outcome: Outcome = Outcome.ARCHIVED
    """ARCHIVED, ALREADY_ARCHIVED (a duplicate delivery) or GONE (nothing to do)."""
    original_bytes: int = 0
    compression: CompressionResult | None = None
    """The `CompressionResult`, or None when a COG from an earlier delivery was reused."""
    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started


def archive_object(
    source: ObjectLocation,
    store: ImageryStore,
    destinations: Destinations,
    compress_image: CompressImage,
    work_dir: str = "/tmp",
    describe_scene: DescribeScene | None = None,
) -> JobReport:
    """Run `source` through the pipeline; see the module docstring for the guarantees.

    With `describe_scene` (`stac.describe_scene`), the COG's STAC Item and thumbnail are written
    beside it once the archive is verified, before the delete (see `scene_publisher`).
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
    with scratch_files(source, original.size, work_dir) as scratch:
        with report.phase("download"):
            store.download(source, original, scratch.original)
        checksums = _publish_and_archive(source, original, scratch, store, destinations, compress_image, report)
        with report.phase("verify"):
            store.verify_archive(report.archived_copy, checksums, destinations.storage_class)
        if describe_scene is not None:
            with report.phase("catalog"):
                _describe(source, original, checksums, scratch, store, destinations, describe_scene, report)
    with report.phase("delete"):
        store.delete(source, original)
    return report


def _describe(
    source: ObjectLocation,
    original: StoredObject,
    checksums: FileChecksums,
    scratch: ScratchFiles,
    store: ImageryStore,
    destinations: Destinations,
    describe_scene: DescribeScene,
    report: JobReport,
) -> None:
    """Write the COG's STAC Item and thumbnail: from the COG just made, or from the one published earlier."""
    if report.compression is None:
        publish_scene(report, original, None, None, scratch.cog.parent, store, destinations, describe_scene)
        return
    fresh = output_metadata(source, original, checksums, report.compression, report.archived_copy)
    publish_scene(report, original, scratch.cog, fresh, scratch.cog.parent, store, destinations, describe_scene)


def _publish_and_archive(
    source: ObjectLocation,
    original: StoredObject,
    scratch: ScratchFiles,
    store: ImageryStore,
    destinations: Destinations,
    compress_image: CompressImage,
    report: JobReport,
) -> FileChecksums:
    """Compress and upload the COG, and copy the original to the archive; the original's checksums.

    The original is hashed while it is compressed, and S3 copies it to the archive while the COG
    is checked, measured and uploaded, but only once the image proved sound: a bad upload is never
    archived.
    """
    with ThreadPoolExecutor(3) as helpers:
        checksums = helpers.submit(store.checksums_of, scratch.original)
        archive_at = helpers.submit(lambda: archive_location(source, checksums.result(), store, destinations))
        archived: list[Future[None]] = []

        def start_archive() -> None:
            if not archived:
                archived.append(
                    helpers.submit(
                        _archive_original, source, original, checksums, archive_at, store, destinations, report
                    )
                )

        compressed = _compress_unless_published(
            source, original, scratch, store, destinations, report, compress_image, start_archive
        )
        start_archive()
        report.archived_copy = archive_at.result()
        if compressed is not None:
            _upload(source, original, compressed, checksums.result(), store, report)
        archived[0].result()
    return checksums.result()


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
    with report.phase("compress"):
        try:
            report.compression = compress_image(scratch.original, scratch.cog, on_source_read=on_source_read)
        except PermanentError as error:
            reason = str(error).replace(str(scratch.original), source.key)
            raise type(error)(f"{source} can't be compressed: {reason}") from None
    return scratch.cog


def _upload(
    source: ObjectLocation,
    original: StoredObject,
    compressed: Path,
    checksums: FileChecksums,
    store: ImageryStore,
    report: JobReport,
) -> None:
    if checksums.size != original.size:
        raise SourceChangedError(f"{source} changed while it was downloaded")
    assert report.compression is not None  # a COG to upload was just compressed
    with report.phase("upload"):
        metadata = output_metadata(source, original, checksums, report.compression, report.archived_copy)
        store.upload(compressed, report.output, metadata, COG_CONTENT_TYPE)


def _archive_original(
    source: ObjectLocation,
    original: StoredObject,
    checksums: Future[FileChecksums],
    archive_at: Future[ObjectLocation],
    store: ImageryStore,
    destinations: Destinations,
    report: JobReport,
) -> None:
    """Copy the original into the archive class, unless a verified copy is already there; never over a
    different original in a bucket that keeps no versions."""
    target, expected = archive_at.result(), checksums.result()
    with report.phase("archive"):
        there = store.head(target)
        if archive_problems(there, expected, destinations.storage_class):
            if not store.keeps_versions(target.bucket):
                refuse_to_overwrite(target, there, expected)
            store.copy_to_archive(source, target, destinations.storage_class, original)
