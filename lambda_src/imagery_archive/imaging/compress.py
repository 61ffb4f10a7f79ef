"""The GDAL core: one image file in, one Cloud Optimized GeoTIFF out. No S3, no Lambda.

The image may be any path GDAL opens, a network one (`/vsis3/...`) included: the caller passes the
GDAL settings that reading it needs (`read_options`), and they hold for the whole compression.

`compress` chooses the encoding from the image itself (see `profiles`), writes the COG next to its
destination under a `.partial` name and renames it only once it is complete and valid, so nothing
half-written ever looks like a result.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from osgeo import gdal
from osgeo_utils.samples.validate_cloud_optimized_geotiff import validate

from imagery_archive.errors import ImageryArchiveError, ResourceExhaustedError, SeveralImagesError, UnreadableImageError
from imagery_archive.imaging.categories import category_evidence
from imagery_archive.imaging.cog_writer import write_cog
from imagery_archive.imaging.decoding import reopened_single_threaded
from imagery_archive.imaging.gdal_errors import is_out_of_memory
from imagery_archive.imaging.profiles import CompressionProfile, Encoding, ImageProperties, choose_encoding
from imagery_archive.imaging.pyramid import level_sizes
from imagery_archive.imaging.quality import SampleGrid, full_measure_method, measure_ssim, pixels_identical
from imagery_archive.imaging.results import CompressionResult
from imagery_archive.imaging.sampled_quality import KeptWindows, SsimEstimate, sampled_ssim
from imagery_archive.imaging.sampled_quality import applies as sampled_measure_applies
from imagery_archive.imaging.target_quality import HIGHEST_QUALITY, QualitySearch, with_quality

gdal.UseExceptions()


MAX_FULL_ENCODES = 3
"""Whole-image encodes allowed to reach a target SSIM the trial windows mispredicted."""
LOSSLESS_METHOD = "lossless: every compared pixel equal to the original's"
"""The `ssim-method` of a lossless output, whose SSIM is 1.0 because its pixels were found equal."""


class InvalidCogError(ImageryArchiveError):
    """GDAL wrote a file that is not a valid COG: a fault of ours, not of the input."""


CONFIGURED_OPTIONS = ("GDAL_NUM_THREADS", "CPL_TMPDIR", "GDAL_DISABLE_READDIR_ON_OPEN", "GDAL_PAM_ENABLED")
"""The process-wide GDAL options `configure_gdal` sets (with the block cache)."""


def configure_gdal(cache_mb: int, tmp_dir: str) -> None:
    """Process-wide GDAL settings for a machine the function has to itself."""
    gdal.SetCacheMax(cache_mb * 1024 * 1024)
    gdal.SetConfigOption("GDAL_NUM_THREADS", "ALL_CPUS")
    gdal.SetConfigOption("CPL_TMPDIR", tmp_dir)
    # Originals arrive alone: no sidecar files to look for, and none (.aux.xml) to leave behind.
    gdal.SetConfigOption("GDAL_DISABLE_READDIR_ON_OPEN", "EMPTY_DIR")
    gdal.SetConfigOption("GDAL_PAM_ENABLED", "NO")


@contextmanager
def gdal_configuration_restored() -> Iterator[None]:
    """Put back, when the block ends, what `configure_gdal` changes: for a pipeline that is a guest in a longer
    process (the demo's and a local backfill's function, the tests), whose scratch folder is deleted after it."""
    saved = {name: gdal.GetConfigOption(name) for name in CONFIGURED_OPTIONS}
    saved_cache = gdal.GetCacheMax()
    try:
        yield
    finally:
        for name, value in saved.items():
            gdal.SetConfigOption(name, value)
        gdal.SetCacheMax(saved_cache)


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
        categorical=category_evidence(dataset) if first else None,
    )


def open_image(path: str | Path) -> gdal.Dataset:
    """Open an image for reading, or raise `UnreadableImageError` saying why."""
    size = file_size(path)
    if size == 0:
        raise UnreadableImageError("the file is empty (0 bytes)")
    try:
        dataset = gdal.OpenEx(str(path), gdal.OF_RASTER | gdal.OF_READONLY)
    except RuntimeError as error:
        if is_out_of_memory(str(error)):
            raise ResourceExhaustedError(f"GDAL ran out of memory opening it: {error}") from None
        raise UnreadableImageError(f"GDAL can't open it as an image: {error}") from None
    if dataset is None or dataset.RasterCount == 0:
        raise UnreadableImageError("GDAL found no raster bands in it")
    refuse_several_images(dataset)
    return reopened_single_threaded(dataset, path)


def refuse_several_images(dataset: gdal.Dataset) -> None:
    """Raise `SeveralImagesError` for a file holding several images (NITF image segments, TIFF pages).

    GDAL opens the first and lists every image as a sub-dataset: compressing the first alone would
    drop the others without a word. Such a file is left in place, tagged with this reason.
    """
    listed = dataset.GetMetadata("SUBDATASETS") or {}
    images = [listed[key] for key in sorted(listed, key=_subdataset_number) if key.endswith("_DESC")]
    if len(images) > 1:
        raise SeveralImagesError(
            f"it holds {len(images)} images ({'; '.join(images[:5])}{'; ...' if len(images) > 5 else ''}): "
            "one COG holds one image, and compressing the first alone would drop the others; "
            "split it into one file per image (gdal_translate with NITF_IM:n: or GTIFF_DIR:n:) and upload those"
        )


def _subdataset_number(key: str) -> int:
    """3 for 'SUBDATASET_3_DESC': sub-datasets in their file order, not in text order (10 before 2)."""
    return int(key.split("_")[1])


def file_size(path: str | Path) -> int:
    """The size of a file GDAL opens (local or network); `FileNotFoundError` if it can't be found."""
    stat = gdal.VSIStatL(str(path))
    if stat is None:
        raise FileNotFoundError(f"{path} can't be found")
    return int(stat.size)


def gdal_sends_http_headers() -> bool:
    """Whether this GDAL adds GDAL_HTTP_HEADERS to its network requests (3.6 and later)."""
    return int(gdal.VersionInfo("VERSION_NUM")) >= 3060000


@contextmanager
def gdal_options(options: Mapping[str, str], path: str | Path) -> Iterator[None]:
    """Set GDAL configuration `options` for the block, then restore the previous values.

    Process-wide, not thread-local: GDAL's worker threads (decoding, overviews) read the source
    too, and must send the same headers. The function compresses one image at a time, so nothing
    else runs under them. GDAL's cache of network reads of `path` is dropped before and after: a
    warm function must never serve one object's bytes from an earlier object's cached reads.
    """
    saved = {name: gdal.GetConfigOption(name) for name in options}
    for name, value in options.items():
        gdal.SetConfigOption(name, value)
    gdal.VSICurlPartialClearCache(str(path))
    try:
        yield
    finally:
        gdal.VSICurlPartialClearCache(str(path))
        for name, value in saved.items():
            gdal.SetConfigOption(name, value)


@contextmanager
def block_cache(megabytes: int | None) -> Iterator[None]:
    """GDAL's block cache set to `megabytes` for the block (None: left as it is), then put back.

    Process-wide, as `gdal_options`: the function compresses one image at a time.
    """
    if megabytes is None:
        yield
        return
    saved = gdal.GetCacheMax()
    gdal.SetCacheMax(megabytes * 1024 * 1024)
    try:
        yield
    finally:
        gdal.SetCacheMax(saved)


def compress(
    src: str | Path,
    dst: str | Path,
    profile: CompressionProfile,
    on_source_read: Callable[[], None] = lambda: None,
    read_options: Mapping[str, str] | None = None,
    block_cache_mb: int | None = None,
) -> CompressionResult:
    """Write `src` to `dst` as a COG encoded for what it is; see `profiles.choose_encoding`.

    `on_source_read` is called as soon as every pixel of `src` has been read without error (the
    input is sound), before the output is checked and measured: a caller can start work that
    needs a sound input, such as archiving it, while this finishes. `read_options` are the GDAL
    settings reading `src` needs (e.g. a network path's), applied with `gdal_options`; `block_cache_mb`,
    GDAL's block cache while it runs (a streamed read wants a smaller one than a local file).
    """
    if read_options or block_cache_mb is not None:
        with gdal_options(read_options or {}, src), block_cache(block_cache_mb):
            return compress(src, dst, profile, on_source_read)
    started = time.perf_counter()
    dataset = open_image(src)
    encoding = choose_encoding(read_properties(dataset), profile)
    partial = Path(f"{dst}.partial")
    try:
        if profile.target_ssim is not None and encoding.quality is not None:
            target = profile.target_ssim
            encoding, ssim = _write_at_target(
                dataset, str(src), encoding, partial, target, on_source_read, profile.ssim_measure
            )
        else:
            ssim = _write_checked(dataset, str(src), encoding, partial, on_source_read, profile.ssim_measure)
        partial.replace(dst)
    finally:
        partial.unlink(missing_ok=True)
    return CompressionResult(
        encoding=encoding,
        width=dataset.RasterXSize,
        height=dataset.RasterYSize,
        data_type=gdal.GetDataTypeName(dataset.GetRasterBand(1).DataType),
        original_bytes=file_size(src),
        compressed_bytes=os.path.getsize(dst),
        ssim=ssim.score,
        ssim_method=ssim.method,
        seconds=time.perf_counter() - started,
    )


def _write_at_target(
    dataset: gdal.Dataset,
    src: str,
    encoding: Encoding,
    partial: Path,
    target: float,
    on_source_read: Callable[[], None],
    measure: str,
) -> tuple[Encoding, SsimEstimate]:
    """Write at the lowest quality whose SSIM reaches `target`, checked on the whole image.

    Trial windows predict the whole image's SSIM only roughly; when the real output falls short,
    the search runs again aimed higher by the shortfall, a bounded number of times.
    """

    def trial_ssim(crop: str, trial: str, trial_encoding: Encoding) -> float:
        return ssim_of(crop, trial, gdal.Open(crop), trial_encoding, measure).score

    with QualitySearch(dataset, encoding, trial_ssim) as search:
        quality = search.lowest_quality(target)
        for _ in range(MAX_FULL_ENCODES):
            encoding = with_quality(encoding, quality)
            ssim = _write_checked(dataset, src, encoding, partial, on_source_read, measure)
            if ssim.score >= target or quality == HIGHEST_QUALITY:
                break
            shortfall = search.trial_ssim(quality) - ssim.score
            quality = search.lowest_quality(min(target + shortfall, 0.9999), low=quality + 1)
    return encoding, ssim


def _write_checked(
    dataset: gdal.Dataset,
    src: str,
    encoding: Encoding,
    partial: Path,
    on_source_read: Callable[[], None],
    measure: str,
) -> SsimEstimate:
    """Write, validate and measure the COG; its SSIM against the original."""
    keeper = KeptWindows if sampled_measure_applies(dataset, encoding, measure) else SampleGrid
    samples = write_cog(dataset, encoding, partial, on_source_read, keeper)
    try:
        validate_cog(partial)
        return ssim_of(src, str(partial), dataset, encoding, measure, samples)
    except RuntimeError as error:  # GDAL wrote tiles it can't read back: a fault of ours, not the input's
        if is_out_of_memory(str(error)):
            raise ResourceExhaustedError(f"GDAL ran out of memory reading the COG back: {error}") from None
        raise InvalidCogError(f"the COG can't be read back: {error}") from None


def ssim_of(
    src: str,
    output: str,
    dataset: gdal.Dataset,
    encoding: Encoding,
    measure: str,
    samples: np.ndarray | None = None,
) -> SsimEstimate:
    """The SSIM of `output`, written from `dataset` (opened from `src`) with `encoding`, and how it was measured.

    A lossless output must equal the original pixel for pixel (`InvalidCogError` if not); a lossy 8-bit
    one is measured on windows (`sampled_quality`, unless `measure` is "full"); any other, on every pixel.
    `samples` are the original's pixels kept while the COG was written, as the measure's keeper kept them.
    """
    if not encoding.lossy:
        if not pixels_identical(src, output, encoding.bands, samples):
            raise InvalidCogError("lossless output differs from the original")
        return SsimEstimate(1.0, LOSSLESS_METHOD)
    if sampled_measure_applies(dataset, encoding, measure):
        return sampled_ssim(src, output, encoding.bands, samples)
    score = measure_ssim(src, output, encoding.bands, original_samples=samples)
    return SsimEstimate(score, full_measure_method(dataset.RasterXSize, dataset.RasterYSize))


def validate_cog(path: Path) -> None:
    """Fail unless GDAL's own COG validator passes and the file has the COG layout and overviews."""
    _warnings, errors, _details = validate(str(path), full_check=True)
    dataset = gdal.Open(str(path))
    layout = dataset.GetMetadataItem("LAYOUT", "IMAGE_STRUCTURE")
    needs_overviews = bool(level_sizes(dataset.RasterXSize, dataset.RasterYSize))
    if needs_overviews and dataset.GetRasterBand(1).GetOverviewCount() == 0:
        errors.append("no overviews on an image larger than one tile")
    if layout != "COG":
        errors.append(f"LAYOUT is {layout!r}, not 'COG'")
    if errors:
        raise InvalidCogError(f"{path.name} is not a valid COG: {'; '.join(errors)}")
