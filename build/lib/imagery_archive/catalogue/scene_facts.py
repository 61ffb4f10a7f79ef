"""What the job knows about a compressed scene that its pixels can't tell, and where its catalog files go.

Beside each COG `output/d/scene.tif` the job writes its STAC Item `output/d/scene.json` and its
thumbnail `output/d/scene.png`. The facts come from the COG's own object metadata (what `archive_job`
writes with it), so a later delivery that reuses a published COG describes it exactly as the first
one would have. Nothing here needs GDAL or S3.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import unquote

from imagery_archive.s3.checksums import CHECKSUM_ALGORITHMS
from imagery_archive.s3.keys import ObjectLocation

ITEM_CONTENT_TYPE = "application/geo+json"
FIELD_PREFIX = "imagery_archive:"
"""The namespace of the Item properties only this pipeline writes (encoding, SSIM, ratio, the original's class)."""
THUMBNAIL_CONTENT_TYPE = "image/png"
RESTORE_BEFORE_READING = frozenset({"GLACIER", "DEEP_ARCHIVE"})
"""Archive classes whose objects must be restored (RestoreObject) before a GET can read them."""


@dataclass(frozen=True)
class SceneFacts:
    """The scene's provenance, archive and compression, as the STAC Item states them."""

    item_id: str
    """The COG's key below the output prefix, without '.tif' ('d/scene'): unique, as COG keys are."""
    output: ObjectLocation
    archive: ObjectLocation
    storage_class: str
    uploaded_from: ObjectLocation
    uploaded_at: datetime | None
    original_bytes: int
    original_sha256: str | None
    """Base64, as S3 reports ChecksumSHA256; None for an original streamed, whose S3 checksum is `original_checksum`."""
    encoding: str
    encoding_reason: str
    ssim: float
    compression_ratio: float
    original_checksum: str | None = None
    """'ALGORITHM:base64' of the S3 checksum that proved the archive, e.g. 'CRC64NVME:...' (`archive_proof`)."""

    @property
    def needs_restore(self) -> bool:
        return self.storage_class in RESTORE_BEFORE_READING

    @classmethod
    def from_cog_metadata(
        cls,
        metadata: Mapping[str, str],
        output: ObjectLocation,
        output_prefix: str,
        archive: ObjectLocation,
        storage_class: str,
        uploaded_at: datetime | None,
    ) -> SceneFacts:
        """The facts of the COG at `output`, from the object metadata `archive_job.output_metadata` gave it."""
        return cls(
            item_id=output.key.removeprefix(output_prefix).removesuffix(".tif"),
            output=output,
            archive=archive,
            storage_class=storage_class,
            uploaded_from=ObjectLocation(metadata["source-bucket"], unquote(metadata["source-key"])),
            uploaded_at=uploaded_at,
            original_bytes=int(metadata["source-size"]),
            original_sha256=metadata.get("source-sha256"),
            original_checksum=_s3_checksum(metadata),
            encoding=metadata["encoding"],
            encoding_reason=unquote(metadata.get("encoding-reason", "")),
            ssim=float(metadata["ssim"]),
            compression_ratio=float(metadata["compression-ratio"]),
        )


def _s3_checksum(metadata: Mapping[str, str]) -> str | None:
    """The S3 checksum `cog_metadata` recorded for the original ('source-crc64nvme', ...), as 'ALGORITHM:value'."""
    for algorithm in CHECKSUM_ALGORITHMS:
        value = metadata.get(f"source-{algorithm.lower()}")
        if value is not None:
            return f"{algorithm}:{value}"
    return None


@dataclass(frozen=True)
class SceneFiles:
    """The local files to publish beside the COG."""

    item: Path
    thumbnail: Path


DescribeScene = Callable[[Path, SceneFacts, Path], SceneFiles]
"""`stac.describe_scene`: (local COG, its facts, a scratch folder) -> the Item and thumbnail files."""


def item_location(output: ObjectLocation) -> ObjectLocation:
    """Where the STAC Item of the COG at `output` goes: the same key with '.json'."""
    return ObjectLocation(output.bucket, f"{output.key.removesuffix('.tif')}.json")


def thumbnail_location(output: ObjectLocation) -> ObjectLocation:
    """Where the thumbnail of the COG at `output` goes: the same key with '.png'."""
    return ObjectLocation(output.bucket, f"{output.key.removesuffix('.tif')}.png")
