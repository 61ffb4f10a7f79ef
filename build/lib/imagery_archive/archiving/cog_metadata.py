"""What the published COG says about itself: its content type and its S3 object metadata.

The metadata lets anyone holding only the COG find its original and judge it: where it came from
(bucket, key, version, size, its checksum), where it is archived (`archive-key`), how it was read
(streamed or downloaded, and why), what proves its archived copy (`archive_proof`), how much smaller it
is, how close (SSIM), and how and why it was encoded. S3 user metadata is ASCII, so the keys and the
reasons are percent-encoded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from imagery_archive.s3.archive_proof import ArchiveProof, DownloadedBytesProof
from imagery_archive.s3.keys import ObjectLocation
from imagery_archive.s3.source_access import SourceRead
from imagery_archive.s3.storage import StoredObject

if TYPE_CHECKING:
    from imagery_archive.imaging.results import CompressionResult

COG_CONTENT_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
READABLE = " ,:;()-"
"""Characters a percent-encoded reason keeps as they are."""


def output_metadata(
    source: ObjectLocation,
    original: StoredObject,
    proof: ArchiveProof,
    read: SourceRead,
    result: CompressionResult,
    archived_copy: ObjectLocation,
) -> dict[str, str]:
    """Object metadata of the COG made from `original` (ASCII only, as S3 needs)."""
    if isinstance(proof, DownloadedBytesProof):
        checksum = {"source-sha256": proof.checksums.sha256}
    else:
        checksum = {f"source-{proof.algorithm.lower()}": proof.checksum}
    return {
        "source-bucket": source.bucket,
        "source-key": quote(source.key),
        "archive-key": quote(archived_copy.key),
        "source-etag": original.etag.strip('"'),
        "source-size": str(original.size),
        **checksum,
        "source-read": str(read.mode),
        "source-read-reason": quote(read.reason, safe=READABLE),
        "archive-proof": proof.label,
        "compressed-size": str(result.compressed_bytes),
        "compression-ratio": f"{result.ratio:.2f}",
        "ssim": f"{result.ssim:.4f}",
        "encoding": result.encoding.label,
        "encoding-reason": quote(result.encoding.reason, safe=READABLE),
    }
