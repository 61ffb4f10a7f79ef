"""Opening an original for decoding, around a multi-threaded decoding bug of GDAL 3.6.

GDAL 3.6 decodes the tiles of a band-interleaved GeoTIFF (PLANARCONFIG=SEPARATE) in worker threads
by wrapping each tile in a one-sample in-memory TIFF, and copies the file's ExtraSamples tag into it:
from three bands on, libtiff refuses the tag ("Bad value 99 for ExtraSamples" on 100 bands) and GDAL
reports an error, though the tile itself decodes right. The error made every such image
(multispectral and hyperspectral stacks, mostly) look corrupt. GDAL 3.10.3 (the function's image)
no longer does it; 3.6.2 does. Below 3.10 such a file is decoded in the calling thread: the same
pixels, no false error, somewhat slower.
"""

from __future__ import annotations

from pathlib import Path

from osgeo import gdal

gdal.UseExceptions()

FIXED_IN = 3_10_00_00
"""The first GDAL release (as `gdal.VersionInfo()` numbers it) checked free of the bug."""

SINGLE_THREADED = ("NUM_THREADS=1",)
"""GeoTIFF open option: decode in the calling thread (overrides GDAL_NUM_THREADS for this file only)."""


def needs_single_threaded_decoding(dataset: gdal.Dataset, version: int | None = None) -> bool:
    """True for a band-interleaved GeoTIFF of three or more bands, on a GDAL with the bug."""
    return (
        (version if version is not None else int(gdal.VersionInfo())) < FIXED_IN
        and dataset.GetDriver().ShortName == "GTiff"
        and dataset.RasterCount >= 3
        and dataset.GetMetadataItem("INTERLEAVE", "IMAGE_STRUCTURE") == "BAND"
    )


def reopened_single_threaded(dataset: gdal.Dataset, path: str | Path) -> gdal.Dataset:
    """`dataset` itself, or `path` opened again to be decoded in the calling thread, if it must be."""
    if not needs_single_threaded_decoding(dataset):
        return dataset
    return gdal.OpenEx(str(path), gdal.OF_RASTER | gdal.OF_READONLY, open_options=list(SINGLE_THREADED))
