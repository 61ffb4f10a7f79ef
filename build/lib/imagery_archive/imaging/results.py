"""What one compression did, as a typed result: the GDAL core returns it, and logs, metrics, the COG's metadata,
the STAC Item and the demo all read from it. Free of GDAL, so the job and the operator's commands can name it."""

from __future__ import annotations

from dataclasses import dataclass

from imagery_archive.imaging.profiles import Encoding


@dataclass(frozen=True)
class CompressionResult:
    """What one compression did; logs, metrics, object metadata and the demo all read from it."""

    encoding: Encoding
    width: int
    height: int
    data_type: str
    original_bytes: int
    compressed_bytes: int
    ssim: float
    seconds: float

    @property
    def ratio(self) -> float:
        """Original size over compressed size (20.0 means 20x smaller)."""
        return self.original_bytes / max(self.compressed_bytes, 1)
