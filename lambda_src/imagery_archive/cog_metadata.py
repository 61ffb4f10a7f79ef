"""What the published COG says about itself: its content type and its S3 object metadata.

The metadata lets anyone holding only the COG find its original and judge it: where it came from
(bucket, key, version, size, SHA-256), where it is archived (`archive-key`), how much smaller it is,
how close (SSIM), and how and why it was encoded. S3 user metadata is ASCII, so the keys and the
reason are percent-encoded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from imagery_archive.checksums import FileChecksums
from imagery_archive.keys import ObjectLocation
from imagery_archive.storage import StoredObject

if TYPE_CHECKING:
    from imagery_archive.compress import CompressionResult

COG_CONTENT_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"


def output_metadata(
    source: ObjectLocation,
    original: StoredObject,
    checksums: FileChecksums,
    result: CompressionResult,
    archived_copy: ObjectLocation,
) -> dict[str, str]:
    """Object metadata of the COG made from `original` (ASCII only, as S3 needs)."""
    return {
        "source-bucket": source.bucket,
        "source-key": quote(source.key),
        "archive-key": quote(archived_copy.key),
        "source-etag": original.etag.strip('"'),
        "source-size": str(original.size),
        "source-sha256": checksums.sha256,
        "compressed-size": str(result.compressed_bytes),
        "compression-ratio": f"{result.ratio:.2f}",
        "ssim": f"{result.ssim:.4f}",
        "encoding": result.encoding.label,
        "encoding-reason": quote(result.encoding.reason, safe=" ,:;()-"),
    }
