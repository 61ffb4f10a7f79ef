"""A COG's overviews built in one pass over the original, so that the original is read once.

GDAL's COG driver reads its source three times: once to build the overviews of the image, once
for the overviews of its mask, and once for the full resolution. From a local file those re-reads
cost decoding time; from S3 (`/vsis3/`) each is a whole download (measured in BENCHMARKS.md,
"Reading the original where it lies"). Here the original is read once, in strips of whole rows:
each strip's pixels and mask are halved into every overview level at once (the mean of the valid
pixels of each 2 x 2 block), and the levels are written to local lossless files in scratch space
(about a third of the original's pixels, compressed: the same temporaries the COG driver writes).
A virtual copy of the original (`with_overviews`) then declares them as its overviews, and the
COG driver, finding overviews for the image and for the mask, copies them instead of computing
them, and reads only the original's full resolution: two reads in all, where there were four.

While the strips pass by, the pixels the SSIM check compares (`quality.SampleGrid`) are kept, so
that check needs no read of the original either.

Scope: 8-bit images written lossily (JPEG, WEBP: the imagery this product exists for) with AVERAGE
overviews, whose mask is one for all bands (nodata of all bands, alpha, a mask the file has) or none,
and that have no overviews of their own (the COG driver copies those, reading only them). Anything else
(16-bit, floats, class maps, lossless writes keeping a nodata value per band) is written by the COG
driver alone, as before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from osgeo import gdal

from imagery_archive.imaging.profiles import Encoding

gdal.UseExceptions()

TILE_SIDE = 512
"""The COG's tile side (`cog_writer.COG_OPTIONS`), and the size below which a level needs no further
overview (as the COG driver)."""
STRIP_ROWS = 256
"""Rows of the original read at once (at least): half a row of 512-pixel tiles, which stays in GDAL's
block cache for the next strip. Measured on the 1.2 GB scene: 446 MiB peak and 15.2 s, against 486 MiB
and 19.6 s with whole rows of tiles (512) and 457 MiB and 16.6 s with 128."""
LEVEL_OPTIONS = (
    "TILED=YES",
    f"BLOCKXSIZE={TILE_SIDE}",
    f"BLOCKYSIZE={TILE_SIDE}",
    "COMPRESS=ZSTD",
    "ZSTD_LEVEL=1",
    "BIGTIFF=YES",
)
"""How each level is kept in scratch space: lossless and fast, like the COG driver's own temporaries."""


@dataclass(frozen=True)
class Level:
    """One overview level: its files (pixels with their mask, and the mask alone) and size."""

    pixels: Path
    mask: Path | None
    width: int
    height: int


def applies(dataset: gdal.Dataset, encoding: Encoding) -> bool:
    """Whether this image's overviews are built here (see the module's scope) rather than by GDAL."""
    needs_overviews = bool(level_sizes(dataset.RasterXSize, dataset.RasterYSize))
    # Overviews the original has (a GeoTIFF's, a JPEG 2000's resolution levels) are copied by the COG driver.
    has_overviews = dataset.GetRasterBand(1).GetOverviewCount() > 0
    return (
        needs_overviews
        and not has_overviews
        and encoding.lossy
        and not encoding.keep_nodata
        and encoding.resampling == "AVERAGE"
        and all(dataset.GetRasterBand(b).DataType == gdal.GDT_Byte for b in encoding.bands)
    )


def level_sizes(width: int, height: int) -> list[tuple[int, int]]:
    """(width, height) of each overview level, halved until both fit one tile: the COG driver's rule."""
    sizes = []
    while width > TILE_SIDE or height > TILE_SIDE:
        width, height = max(1, width // 2), max(1, height // 2)
        sizes.append((width, height))
    return sizes


def _halved(pixels: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One level down: bands x rows x cols (cropped to even sizes) halved, and where any of its 4 pixels is valid.

    Rows are paired first (contiguous memory), then columns: 1.7 times as fast as summing four
    strided quarters, and five times where every pixel is valid (most strips of a scene).
    """
    rows, cols = pixels.shape[1] // 2 * 2, pixels.shape[2] // 2 * 2
    pixels, valid = pixels[:, :rows, :cols], valid[:rows, :cols]
    everywhere = bool(valid.all())
    data = pixels if everywhere else pixels * valid
    pairs = data[:, 0::2].astype(np.uint16)
    pairs += data[:, 1::2]
    total = pairs[:, :, 0::2] + pairs[:, :, 1::2]
    # the mean of the valid pixels, rounded half up as GDAL's AVERAGE rounds integers
    if everywhere:
        total += 2
        total >>= 2
        return total.astype(pixels.dtype), np.ones(total.shape[1:], dtype=bool)
    row_pairs = valid[0::2].astype(np.uint16)
    row_pairs += valid[1::2]
    count = row_pairs[:, 0::2] + row_pairs[:, 1::2]
    total += count // 2
    total //= np.maximum(count, 1)
    return total.astype(pixels.dtype), count > 0


class Pyramid:
    """The overview levels of one image, filled strip by strip and kept in `directory`."""

    def __init__(self, width: int, height: int, bands: int, masked: bool, directory: Path) -> None:
        self.levels = [
            Level(
                directory / f"level{i}.tif",
                directory / f"level{i}.msk.tif" if masked else None,
                w,
                h,
            )
            for i, (w, h) in enumerate(level_sizes(width, height), start=1)
        ]
        self._datasets = [_create_level(level, bands) for level in self.levels]
        self._rows = [0] * len(self.levels)
        self.strip_rows = max(STRIP_ROWS, 2 ** len(self.levels))

    def add(self, pixels: np.ndarray, valid: np.ndarray) -> None:
        """Halve one strip of the full resolution (rows a multiple of 2^levels, or the last) into every level."""
        for index, level in enumerate(self.levels):
            pixels, valid = _halved(pixels, valid)
            pixels, valid = pixels[:, :, : level.width], valid[:, : level.width]
            rows = min(pixels.shape[1], level.height - self._rows[index])
            if rows <= 0:
                break
            image, mask = self._datasets[index]
            at = self._rows[index]
            image.WriteRaster(
                0, at, level.width, rows, pixels[:, :rows].tobytes(), band_list=list(range(1, len(pixels) + 1))
            )
            if mask is not None:
                written = np.where(valid[:rows], 255, 0).astype(np.uint8)
                image.GetRasterBand(1).GetMaskBand().WriteArray(written, 0, at)
                mask.GetRasterBand(1).WriteArray(written, 0, at)
            self._rows[index] += rows

    def close(self) -> None:
        """Write every level out; raise if one did not get all its rows (a strip was lost)."""
        for index, (image, mask) in enumerate(self._datasets):
            for dataset in (image, mask):
                if dataset is not None:
                    dataset.FlushCache()
            if self._rows[index] != self.levels[index].height:
                raise RuntimeError(
                    f"overview level {index + 1} got {self._rows[index]} of {self.levels[index].height} rows"
                )
        self._datasets = []


def _create_level(level: Level, bands: int) -> tuple[gdal.Dataset, gdal.Dataset | None]:
    driver = gdal.GetDriverByName("GTiff")
    options = [*LEVEL_OPTIONS, "INTERLEAVE=PIXEL"] if bands > 1 else list(LEVEL_OPTIONS)
    image = driver.Create(str(level.pixels), level.width, level.height, bands, gdal.GDT_Byte, options)
    if level.mask is None:
        return image, None
    previous = gdal.GetConfigOption("GDAL_TIFF_INTERNAL_MASK")
    gdal.SetConfigOption("GDAL_TIFF_INTERNAL_MASK", "YES")
    try:
        image.CreateMaskBand(gdal.GMF_PER_DATASET)
    finally:
        gdal.SetConfigOption("GDAL_TIFF_INTERNAL_MASK", previous)
    mask = driver.Create(str(level.mask), level.width, level.height, 1, gdal.GDT_Byte, list(LEVEL_OPTIONS))
    return image, mask


def with_overviews(source_vrt: Path, levels: list[Level]) -> None:
    """Declare `levels` in the VRT file `source_vrt` as the overviews of its bands and of its mask band."""
    xml = source_vrt.read_text()

    def declared(match: re.Match[str]) -> str:
        band = match.group(2)
        overviews = "".join(_overview(level.pixels, int(band)) for level in levels)
        return match.group(1) + overviews

    xml = re.sub(r'(<VRTRasterBand [^>]*band="(\d+)"[^>]*>)', declared, xml)
    if levels and levels[0].mask is not None:
        masks = "".join(_overview(level.mask, 1) for level in levels if level.mask)
        xml = re.sub(r"(<MaskBand>\s*<VRTRasterBand [^>]*>)", lambda m: m.group(1) + masks, xml, count=1)
    source_vrt.write_text(xml)


def _overview(path: Path, band: int) -> str:
    return (
        f'<Overview><SourceFilename relativeToVRT="0">{path}</SourceFilename><SourceBand>{band}</SourceBand></Overview>'
    )
