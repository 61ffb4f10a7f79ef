"""One object, start to finish: compress, publish the COG, archive the original, verify, delete.

The order is the safety argument. The original is deleted last, only after its archived copy has
been verified, and only if it is still the version that was archived. Every step first looks at
what is already there, so a duplicate delivery of a finished object is a no-op and a delivery of a
half-finished one completes it. The compression step is passed in, so this module needs no GDAL.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from imagery_archive.errors import EmptyObjectError, PermanentError, SourceChangedError, TooLargeError
from imagery_archive.keys import Destinations
from imagery_archive.outcomes import Outcome
from imagery_archive.scene import DescribeScene
from imagery_archive.scene_publisher import publish_scene
from imagery_archive.storage import (
    FileChecksums,
    GiB,
    ImageryStore,
    ObjectLocation,
    StoredObject,
    archive_problems,
)

if TYPE_CHECKING:
    from imagery_archive.compress import CompressionResult

COG_CONTENT_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"


CompressImage = Callable[..., "CompressionResult"]
"""`compress.compress` with its profile bound: (original, COG, *, on_source_read)."""


@dataclass
class JobReport:
    """What happened to one object; the handler logs it and turns it into metrics."""

    source: ObjectLocation
    output: ObjectLocation
    archive: ObjectLocation
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
        report.outcome = Outcome.ALREADY_ARCHIVED if store.head(report.archive) else Outcome.GONE
        return report
    if original.size == 0:
        raise EmptyObjectError(f"{source} is empty (0 bytes): nothing to compress or archive")
    report.original_bytes = original.size
    check_scratch_space(source, original.size, shutil.disk_usage(work_dir).free)
    with tempfile.TemporaryDirectory(prefix="imagery-", dir=work_dir) as scratch:
        local = Path(scratch) / f"original{Path(source.key).suffix[:16]}"
        with report.phase("download"):
            store.download(source, local)
        with ThreadPoolExecutor(2) as helpers:
            checksums = helpers.submit(store.checksums_of, local)
            archived: list[Future[None]] = []

            def start_archive() -> None:
                # Once the image proved sound, S3 copies the original while the COG is checked,
                # measured and uploaded: a bad upload is never archived.
                if not archived:
                    archived.append(helpers.submit(_archive, source, original, checksums, store, destinations, report))

            compressed = _compress_unless_published(
                source, original, local, store, report, compress_image, start_archive
            )
            start_archive()
            if compressed is not None:
                _upload(source, original, compressed, checksums.result(), store, report)
            archived[0].result()
        with report.phase("verify"):
            store.verify_archive(report.archive, checksums.result(), destinations.storage_class)
        if describe_scene is not None:
            fresh = output_metadata(source, original, checksums.result(), report) if compressed else None
            with report.phase("catalog"):
                publish_scene(report, original, compressed, fresh, Path(scratch), store, destinations, describe_scene)
    with report.phase("delete"):
        store.delete(source, original.etag)
    return report


def check_scratch_space(source: ObjectLocation, size: int, free: int) -> None:
    """Refuse, for good, an original that can't fit in scratch space with its COG.

    Scratch holds the original, the COG and GDAL's temporary overviews: about 1.2 times an
    uncompressed original (BENCHMARKS.md). Below 1.1 times, the object can never succeed here, and
    retrying it would only fail again after the download.
    """
    needed = size + size // 10
    if needed > free:
        raise TooLargeError(
            f"{source} needs at least {needed / GiB:.1f} GiB of scratch space and {free / GiB:.1f} GiB is free: "
            "raise the function's ephemeral storage (up to 10 GiB) or compress it elsewhere"
        )


def _compress_unless_published(
    source: ObjectLocation,
    original: StoredObject,
    local: Path,
    store: ImageryStore,
    report: JobReport,
    compress_image: CompressImage,
    on_source_read: Callable[[], None],
) -> Path | None:
    """The COG to upload, or None if an earlier delivery already published this very version."""
    with report.phase("inspect"):
        published = store.head(report.output)
    if published and published.metadata.get("source-etag") == original.etag.strip('"'):
        return None
    compressed = local.with_name("compressed.tif")
    with report.phase("compress"):
        try:
            report.compression = compress_image(local, compressed, on_source_read=on_source_read)
        except PermanentError as error:
            reason = str(error).replace(str(local), source.key)
            raise type(error)(f"{source} can't be compressed: {reason}") from None
    return compressed


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
    with report.phase("upload"):
        metadata = output_metadata(source, original, checksums, report)
        store.upload(compressed, report.output, metadata, COG_CONTENT_TYPE)


def _archive(
    source: ObjectLocation,
    original: StoredObject,
    checksums: Future[FileChecksums],
    store: ImageryStore,
    destinations: Destinations,
    report: JobReport,
) -> None:
    """Copy the original into the archive class, unless a verified copy is already there."""
    with report.phase("archive"):
        if archive_problems(store.head(report.archive), checksums.result(), destinations.storage_class):
            store.archive(source, report.archive, destinations.storage_class, original)


def output_metadata(
    source: ObjectLocation, original: StoredObject, checksums: FileChecksums, report: JobReport
) -> dict[str, str]:
    """Object metadata of the COG: where it came from and how good it is (ASCII only, as S3 needs)."""
    result = report.compression
    assert result is not None
    encoding = result.encoding
    return {
        "source-bucket": source.bucket,
        "source-key": quote(source.key),
        "source-etag": original.etag.strip('"'),
        "source-size": str(original.size),
        "source-sha256": checksums.sha256,
        "compressed-size": str(result.compressed_bytes),
        "compression-ratio": f"{result.ratio:.2f}",
        "ssim": f"{result.ssim:.4f}",
        "encoding": encoding.label,
        "encoding-reason": quote(encoding.reason, safe=" ,:;()-"),
    }
