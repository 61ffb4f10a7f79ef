"""Large test scenes built from the bundled Landsat 7 subset, cached under `bench_out/scenes/`.

A scene is a mosaic of `sample_data/RGB.byte.tif` (791 x 718, 3 bands, nodata collar) in which every
other column of tiles is mirrored left-right and every other row top-bottom, so each seam joins a
tile to its own mirror image and the mosaic has no artificial edges. It is written as a tiled
(512 x 512), pixel-interleaved, uncompressed GeoTIFF with nodata 0: the plain GeoTIFF that ground
segments and the reference design's blog post start from, and whose size is its pixel count x 3 bytes
(plus the padding of its edge tiles to 512 pixels). It is written one row of tiles at a time, so building
it needs about 50 MB of memory however large it is.

The same mosaic in the other layouts and formats the function takes (`FORMAT_VARIANTS`: a striped
GeoTIFF, an uncompressed NITF, a JPEG 2000) measures how each reads over HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from osgeo import gdal

from imagery_archive_cli.demo.samples import SAMPLE_DATA

gdal.UseExceptions()

SOURCE = SAMPLE_DATA / "RGB.byte.tif"
CREATION_OPTIONS = (
    "TILED=YES",
    "BLOCKXSIZE=512",
    "BLOCKYSIZE=512",
    "COMPRESS=NONE",
    "INTERLEAVE=PIXEL",
    "BIGTIFF=IF_NEEDED",
)


@dataclass(frozen=True)
class SceneSpec:
    """A mosaic of `columns` x `rows` copies of the source tile, in the format `variant` names."""

    name: str
    columns: int
    rows: int
    variant: str = "tiled"


FORMAT_VARIANTS = {
    "striped": ("GTiff", ".tif", ("TILED=NO", "INTERLEAVE=PIXEL", "BIGTIFF=IF_NEEDED")),
    "nitf": ("NITF", ".ntf", ("IC=NC",)),
    "jp2": ("JP2OpenJPEG", ".jp2", ("QUALITY=25", "REVERSIBLE=NO", "BLOCKXSIZE=1024", "BLOCKYSIZE=1024")),
}
"""Driver, suffix and creation options of each variant of a mosaic; the JPEG 2000 is tiled and lossy,
as distributed imagery (Sentinel-2) is."""


SCENES = {
    "S": SceneSpec("S", 3, 3),  # 2373 x 2154, 15 MB: the smoke test's size
    "M190": SceneSpec("M190", 10, 11),  # 7910 x 7898, 187 MB of pixels, 201 MB (192 MiB) with its edge tiles
    "M": SceneSpec("M", 13, 14),  # 10283 x 10052, 310 MB: "a few hundred MB"
    "L": SceneSpec("L", 26, 28),  # 20566 x 20104, 1240 MB: 4x the pixels of M
    **{f"S-{variant}": SceneSpec(f"S-{variant}", 3, 3, variant) for variant in FORMAT_VARIANTS},
    **{f"M-{variant}": SceneSpec(f"M-{variant}", 13, 14, variant) for variant in FORMAT_VARIANTS},
}


def scene_path(spec: SceneSpec, directory: Path) -> Path:
    source = gdal.Open(str(SOURCE))
    width, height = source.RasterXSize * spec.columns, source.RasterYSize * spec.rows
    suffix = FORMAT_VARIANTS[spec.variant][1] if spec.variant in FORMAT_VARIANTS else ".tif"
    return directory / f"landsat7_mosaic_{spec.name}_{width}x{height}{suffix}"


def build_scene(spec: SceneSpec, directory: Path) -> Path:
    """The scene's path, building it first unless a complete copy is already cached."""
    path = scene_path(spec, directory)
    if path.exists():
        return path
    directory.mkdir(parents=True, exist_ok=True)
    if spec.variant in FORMAT_VARIANTS:
        return _variant(build_scene(SceneSpec(spec.name.split("-")[0], spec.columns, spec.rows), directory), spec, path)
    partial = path.with_suffix(".partial.tif")
    source = gdal.Open(str(SOURCE))
    tile = source.ReadAsArray()  # bands x rows x cols, 1.7 MB
    transform = source.GetGeoTransform()
    projection = source.GetProjection()
    nodata = source.GetRasterBand(1).GetNoDataValue()
    interpretations = [source.GetRasterBand(b).GetColorInterpretation() for b in range(1, source.RasterCount + 1)]
    source = None
    bands, tile_rows, tile_cols = tile.shape
    variants = {
        (flip_rows, flip_cols): _mirrored(tile, flip_rows, flip_cols) for flip_rows in (0, 1) for flip_cols in (0, 1)
    }
    saved_cache = gdal.GetCacheMax()
    gdal.SetCacheMax(256 * 1024 * 1024)
    try:
        driver = gdal.GetDriverByName("GTiff")
        out = driver.Create(
            str(partial), tile_cols * spec.columns, tile_rows * spec.rows, bands, gdal.GDT_Byte, list(CREATION_OPTIONS)
        )
        out.SetGeoTransform(transform)
        out.SetProjection(projection)
        for band, interpretation in enumerate(interpretations, start=1):
            out.GetRasterBand(band).SetNoDataValue(nodata if nodata is not None else 0)
            out.GetRasterBand(band).SetColorInterpretation(interpretation)
        for row in range(spec.rows):
            strip = np.concatenate([variants[(row % 2, col % 2)] for col in range(spec.columns)], axis=2)
            out.WriteRaster(
                0, row * tile_rows, strip.shape[2], tile_rows, strip.tobytes(), band_list=list(range(1, bands + 1))
            )
        out.FlushCache()
        out = None
    finally:
        gdal.SetCacheMax(saved_cache)
    partial.replace(path)
    return path


def _variant(tiled: Path, spec: SceneSpec, path: Path) -> Path:
    """The tiled mosaic `tiled` rewritten in `spec.variant`'s format at `path`."""
    driver, suffix, options = FORMAT_VARIANTS[spec.variant]
    partial = path.with_name(f"{path.stem}.partial{suffix}")
    gdal.Translate(str(partial), str(tiled), format=driver, creationOptions=list(options))
    Path(f"{partial}.aux.xml").unlink(missing_ok=True)  # GDAL's side file of the partial: not part of the scene
    partial.replace(path)
    return path


def _mirrored(tile: np.ndarray, flip_rows: int, flip_cols: int) -> np.ndarray:
    if flip_rows:
        tile = tile[:, ::-1, :]
    if flip_cols:
        tile = tile[:, :, ::-1]
    return np.ascontiguousarray(tile)
