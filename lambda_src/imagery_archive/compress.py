"""The GDAL core: one image file in, one Cloud Optimized GeoTIFF out. No S3, no Lambda.

`compress` chooses the encoding from the image itself (see `profiles`), writes the COG next to its
destination under a `.partial` name and renames it only once it is complete and valid, so nothing
half-written ever looks like a result.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from osgeo import gdal
from osgeo_utils.samples.validate_cloud_optimized_geotiff import validate

from imagery_archive.errors import CorruptImageError, ImageryArchiveError, UnreadableImageError
from imagery_archive.profiles import CompressionProfile, Encoding, ImageProperties, choose_encoding
from imagery_archive.quality import measure_ssim

gdal.UseExceptions()

COG_OPTIONS = ("BLOCKSIZE=512", "OVERVIEWS=AUTO", "NUM_THREADS=ALL_CPUS", "BIGTIFF=IF_SAFER")
"""Options every output gets: 512-pixel tiles, internal overviews, all CPUs, BigTIFF past 4 GB."""


class InvalidCogError(ImageryArchiveError):
    """GDAL wrote a file that is not a valid COG: a fault of ours, not of the input."""


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


def configure_gdal(cache_mb: int, tmp_dir: str) -> None:
    """Process-wide GDAL settings for a machine the function has to itself."""
    gdal.SetCacheMax(cache_mb * 1024 * 1024)
    gdal.SetConfigOption("GDAL_NUM_THREADS", "ALL_CPUS")
    gdal.SetConfigOption("CPL_TMPDIR", tmp_dir)
    # Originals arrive alone: no sidecar files to look for, and none (.aux.xml) to leave behind.
    gdal.SetConfigOption("GDAL_DISABLE_READDIR_ON_OPEN", "EMPTY_DIR")
    gdal.SetConfigOption("GDAL_PAM_ENABLED", "NO")


def read_properties(dataset: gdal.Dataset) -> ImageProperties:
    """The properties `choose_encoding` needs, from an open dataset."""
    bands = [dataset.GetRasterBand(i) for i in range(1, dataset.RasterCount + 1)]
    first = bands[0] if bands else None
    return ImageProperties(
        width=dataset.RasterXSize,
        height=dataset.RasterYSize,
        data_type=gdal.GetDataTypeName(first.DataType) if first else "Unknown",
        colour_interpretations=tuple(gdal.GetColorInterpretationName(band.GetColorInterpretation()) for band in bands),
        nodata=first.GetNoDataValue() if first else None,
        has_palette=bool(first and first.GetColorTable() is not None),
        has_dataset_mask=bool(first and first.GetMaskFlags() == gdal.GMF_PER_DATASET),
    )


def open_image(path: str | Path) -> gdal.Dataset:
    """Open an image for reading, or raise `UnreadableImageError` saying why."""
    size = os.path.getsize(path)
    if size == 0:
        raise UnreadableImageError("the file is empty (0 bytes)")
    try:
        dataset = gdal.OpenEx(str(path), gdal.OF_RASTER | gdal.OF_READONLY)
    except RuntimeError as error:
        raise UnreadableImageError(f"GDAL can't open it as an image: {error}") from None
    if dataset is None or dataset.RasterCount == 0:
        raise UnreadableImageError("GDAL found no raster bands in it")
    return dataset


def compress(src: str | Path, dst: str | Path, profile: CompressionProfile) -> CompressionResult:
    """Write `src` to `dst` as a COG encoded for what it is; see `profiles.choose_encoding`."""
    started = time.perf_counter()
    dataset = open_image(src)
    encoding = choose_encoding(read_properties(dataset), profile)
    partial = Path(f"{dst}.partial")
    try:
        write_cog(dataset, encoding, partial)
        validate_cog(partial)
        ssim = measure_ssim(str(src), str(partial), encoding.bands)
        if not encoding.lossy and ssim < 1.0:
            raise InvalidCogError(f"lossless output differs from the original (SSIM {ssim:.6f})")
        partial.replace(dst)
    finally:
        partial.unlink(missing_ok=True)
    return CompressionResult(
        encoding=encoding,
        width=dataset.RasterXSize,
        height=dataset.RasterYSize,
        data_type=gdal.GetDataTypeName(dataset.GetRasterBand(1).DataType),
        original_bytes=os.path.getsize(src),
        compressed_bytes=os.path.getsize(dst),
        ssim=ssim,
        seconds=time.perf_counter() - started,
    )


def write_cog(dataset: gdal.Dataset, encoding: Encoding, dst: Path) -> None:
    """Translate `dataset` to a COG at `dst` with `encoding`; pixel read errors are the input's fault.

    GDAL reports some write errors only when the output is closed, and the Python bindings then
    drop them: every CE_Failure is collected while the output is written and closed.
    """
    source = _prepared_source(dataset, encoding)
    options = gdal.TranslateOptions(
        format="COG",
        bandList=list(encoding.bands),
        creationOptions=[f"COMPRESS={encoding.compression}", *encoding.creation_options, *COG_OPTIONS],
        maskBand=_mask_option(dataset, encoding),
        noData=None if encoding.keep_nodata else "none",
    )
    failures: list[str] = []
    gdal.PushErrorHandler(lambda level, _code, message: failures.append(message) if level >= gdal.CE_Failure else None)
    try:
        output = gdal.Translate(str(dst), source, options=options)
        output.FlushCache()
        output = None  # closing writes the last tiles and overviews: errors can surface here too
    except RuntimeError as error:
        failures.append(str(error))
    finally:
        gdal.PopErrorHandler()
    if any("No space left" in failure for failure in failures):
        raise OSError(f"no space left for the COG in {dst.parent}: {failures[-1]}")
    if failures:
        raise CorruptImageError(f"reading or encoding its pixels failed: {failures[-1]}")


def _mask_option(dataset: gdal.Dataset, encoding: Encoding) -> str | int | None:
    if encoding.mask_from == "alpha":
        return next(
            b
            for b in range(1, dataset.RasterCount + 1)
            if dataset.GetRasterBand(b).GetColorInterpretation() == gdal.GCI_AlphaBand
        )
    if encoding.mask_from == "nodata":
        return "mask,1"
    return None  # GDAL copies a mask the source already has


def _prepared_source(dataset: gdal.Dataset, encoding: Encoding) -> gdal.Dataset:
    """The source as it must be fed to the COG driver: the dataset itself, or a virtual copy.

    - A lossy encoding's nodata mask: a pixel is nodata only when all its bands are (GDAL's
      NODATA_VALUES); per-band nodata would mask a valid pixel whose red alone equals the value.
    - NBITS (15-bit Sentinel-2 JPEG 2000, 12-bit NITF): the COG gets full-width samples, which
      every codec and reader takes (LERC refuses 15-bit samples).
    """
    first = dataset.GetRasterBand(1)
    packed = first.GetMetadataItem("NBITS", "IMAGE_STRUCTURE") is not None
    if encoding.mask_from != "nodata" and not packed:
        return dataset
    virtual = gdal.Translate(
        "",
        dataset,
        format="VRT",
        outputType=first.DataType,
        noData="none" if encoding.mask_from == "nodata" else None,
    )
    if encoding.mask_from == "nodata":
        values = " ".join([repr(first.GetNoDataValue())] * dataset.RasterCount)
        virtual.SetMetadataItem("NODATA_VALUES", values)
    return virtual


def validate_cog(path: Path) -> None:
    """Fail unless GDAL's own COG validator passes and the file has the COG layout and overviews."""
    _warnings, errors, _details = validate(str(path), full_check=True)
    dataset = gdal.Open(str(path))
    layout = dataset.GetMetadataItem("LAYOUT", "IMAGE_STRUCTURE")
    needs_overviews = max(dataset.RasterXSize, dataset.RasterYSize) > 512
    if needs_overviews and dataset.GetRasterBand(1).GetOverviewCount() == 0:
        errors.append("no overviews on an image larger than one tile")
    if layout != "COG":
        errors.append(f"LAYOUT is {layout!r}, not 'COG'")
    if errors:
        raise InvalidCogError(f"{path.name} is not a valid COG: {'; '.join(errors)}")
