"""The one read of an original that a COG write needs, when `pyramid.applies`.

`source_with_overviews` reads the original once, strip by strip, to build its overview levels
(`pyramid`) and to keep the pixels the SSIM check compares (`quality.SampleGrid`). It returns a
virtual copy of the original declaring those levels as its overviews, from which the COG driver
reads the full resolution only: one read of the original in all, where the COG driver alone
makes three and the SSIM check a fourth.

The next strip is read (decoded, or fetched over the network) while the last one is halved.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from osgeo import gdal

from imagery_archive.imaging.metadata_domains import Domains
from imagery_archive.imaging.pyramid import Pyramid, with_overviews
from imagery_archive.imaging.quality import SampleGrid

gdal.UseExceptions()


def source_with_overviews(
    prepared: gdal.Dataset,
    translate: gdal.TranslateOptions,
    domains: Domains,
    directory: Path,
) -> tuple[gdal.Dataset, np.ndarray] | None:
    """(The COG driver's source, with overviews; the original's pixels on the SSIM grid), or None.

    `translate` turns `prepared` into what the COG holds (bands, mask, nodata), as a VRT in
    `directory`, which also receives the overview levels: both must outlive the COG write. None if
    the result's mask is per band (a nodata value kept per band), which the levels can't represent.
    """
    virtual_path = directory / "source.vrt"
    virtual = gdal.Translate(str(virtual_path), _named(prepared, directory), options=translate)
    for domain, items in domains.items():
        virtual.SetMetadata(items, domain)
    virtual = None  # closing writes the VRT file
    virtual = gdal.Open(str(virtual_path))
    mask = virtual.GetRasterBand(1).GetMaskBand()
    flags = {virtual.GetRasterBand(b).GetMaskFlags() for b in range(1, virtual.RasterCount + 1)}
    if flags not in ({gdal.GMF_PER_DATASET}, {gdal.GMF_ALL_VALID}):
        return None
    masked = flags == {gdal.GMF_PER_DATASET}
    width, height = virtual.RasterXSize, virtual.RasterYSize
    pyramid = Pyramid(width, height, virtual.RasterCount, masked, directory)
    samples = SampleGrid(width, height, virtual.RasterCount)
    validity = _validity(prepared, virtual, mask if masked else None)
    for first, pixels, valid in _strips(virtual, validity, pyramid.strip_rows):
        samples.add(pixels, first)
        pyramid.add(pixels, valid)
    pyramid.close()
    virtual = None
    with_overviews(virtual_path, pyramid.levels)
    return gdal.Open(str(virtual_path)), samples.pixels


def _named(prepared: gdal.Dataset, directory: Path) -> gdal.Dataset:
    """`prepared` as a dataset a VRT file can name: an in-memory VRT is written out first."""
    if prepared.GetDescription():
        return prepared
    return gdal.Translate(str(directory / "prepared.vrt"), prepared, format="VRT")


Validity = Callable[[np.ndarray, int], np.ndarray]
"""(pixels of a strip as bands x rows x cols, its first row) -> where they are valid (rows x cols)."""


def _validity(prepared: gdal.Dataset, virtual: gdal.Dataset, mask: gdal.Band | None) -> Validity:
    """How a strip's valid pixels are found: everywhere, GDAL's mask band, or from the pixels themselves.

    A mask made of every band's nodata value (NODATA_VALUES) is computed from the strip already read,
    as GDAL's would be (valid where any band differs from its value), without GDAL decoding it again.
    """
    if mask is None:
        return lambda pixels, _first: np.ones(pixels.shape[1:], dtype=bool)
    listed = (prepared.GetMetadataItem("NODATA_VALUES") or "").split()
    if listed and len(listed) == virtual.RasterCount == prepared.RasterCount:
        values = np.array([float(value) for value in listed]).reshape(-1, 1, 1)
        return lambda pixels, _first: (pixels != values).any(axis=0)
    return lambda pixels, first: mask.ReadAsArray(0, first, pixels.shape[2], pixels.shape[1]) > 0


def _strips(dataset: gdal.Dataset, validity: Validity, rows: int) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """(first row, pixels as bands x rows x cols, validity) of each strip, the next read ahead."""

    def read(first: int) -> tuple[int, np.ndarray, np.ndarray]:
        count = min(rows, dataset.RasterYSize - first)
        pixels = dataset.ReadAsArray(0, first, dataset.RasterXSize, count)
        pixels = pixels.reshape(dataset.RasterCount, count, dataset.RasterXSize)
        return first, pixels, validity(pixels, first)

    starts = range(0, dataset.RasterYSize, rows)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="strip-reader") as reader:
        pending = reader.submit(read, starts[0])
        for following in [*starts[1:], None]:
            strip = pending.result()
            if following is not None:
                pending = reader.submit(read, following)
            yield strip
