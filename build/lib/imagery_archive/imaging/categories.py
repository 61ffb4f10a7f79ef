"""Telling a class map (land cover, cloud and QA masks, Sentinel-2 SCL) from a photograph.

A class map's values are labels: JPEG or LERC's error bound would turn class 4 next to class 8 into
5, 6 and 7, classes its pixels never had, and averaged overviews would do the same. The rule: one
integer band (8 to 32 bits, no colour table: a paletted image has its own rule) whose valid pixels
hold at most `MAX_CLASSES` distinct values, counted over the whole image, is a class map.

Why this rule: a photograph has hundreds of grey levels (every bundled 8-bit sample has 150 or
more); one with 32 or fewer is so flat that lossless costs it little (the bundled hillshade, whose
valid pixels are all 0, gets 4x smaller than with JPEG), and nothing is lost either way. A raster
attribute table or category names would be better evidence, but GeoTIFF, NITF and JPEG 2000 keep
them only in a `.aux.xml` sidecar, which the function never gets with the image.

Limits: a class map with more than `MAX_CLASSES` classes (CORINE's 44, say) looks like imagery,
and a multi-band stack of masks is not examined: both are what the per-object tag
(`imagery-archive:encoding=lossless`) and the per-prefix setting (`LOSSLESS_PREFIXES`) are for.
Counting costs one read of the band, done only when a decimated read (`SAMPLE_SIDE`) already finds
few values: a photograph is ruled out by that small read.
"""

from __future__ import annotations

import numpy as np
from osgeo import gdal

MAX_CLASSES = 32
"""Most distinct values a single integer band may hold and still be taken for a class map."""
SAMPLE_SIDE = 1024
"""Long side of the decimated read that rules photographs out cheaply."""
ROWS_PER_READ = 512
INTEGER_TYPES = frozenset(
    {gdal.GDT_Byte, gdal.GDT_UInt16, gdal.GDT_Int16, gdal.GDT_UInt32, gdal.GDT_Int32}
    | ({gdal.GDT_Int8} if hasattr(gdal, "GDT_Int8") else set())
)


def category_evidence(dataset: gdal.Dataset) -> str | None:
    """Why `dataset` is a class map ('12 classes'), or None for imagery."""
    band = dataset.GetRasterBand(1)
    if dataset.RasterCount != 1 or band.DataType not in INTEGER_TYPES or band.GetColorTable() is not None:
        return None
    try:
        if len(_sampled_values(band)) > MAX_CLASSES:
            return None
        classes = _distinct_valid_values(band)
    except RuntimeError:  # unreadable pixels: no evidence here; writing the COG reports the damage
        return None
    if classes > MAX_CLASSES:
        return None
    return f"{classes} class{'' if classes == 1 else 'es'}"


def _sampled_values(band: gdal.Band) -> np.ndarray:
    scale = min(1.0, SAMPLE_SIDE / max(band.XSize, band.YSize))
    width, height = max(1, round(band.XSize * scale)), max(1, round(band.YSize * scale))
    values = band.ReadAsArray(buf_xsize=width, buf_ysize=height)
    valid = band.GetMaskBand().ReadAsArray(buf_xsize=width, buf_ysize=height) > 0
    return np.unique(values[valid])


def _distinct_valid_values(band: gdal.Band) -> int:
    """Distinct values among the valid pixels of the whole band (counting stops past `MAX_CLASSES`)."""
    seen: set[int] = set()
    mask = band.GetMaskBand()
    for top in range(0, band.YSize, ROWS_PER_READ):
        rows = min(ROWS_PER_READ, band.YSize - top)
        valid = mask.ReadAsArray(0, top, band.XSize, rows) > 0
        seen.update(np.unique(band.ReadAsArray(0, top, band.XSize, rows)[valid]).tolist())
        if len(seen) > MAX_CLASSES:
            break
    return len(seen)
