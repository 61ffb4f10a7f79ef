"""Writing one GDAL dataset as a COG with a chosen `Encoding`, and nothing else.

Kept apart from `compress` so that choosing a quality (`target_quality`) can write small trial
COGs exactly as the final one is written.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from osgeo import gdal

from imagery_archive.errors import CorruptImageError, ResourceExhaustedError
from imagery_archive.imaging import pyramid
from imagery_archive.imaging.gdal_errors import GdalError, collected_errors
from imagery_archive.imaging.metadata_domains import cog_copies_metadata_domains, domains_to_carry, source_with_domains
from imagery_archive.imaging.profiles import Encoding, MaskSource
from imagery_archive.imaging.single_pass import source_with_overviews

gdal.UseExceptions()

COG_OPTIONS: tuple[str, ...] = (
    f"BLOCKSIZE={pyramid.TILE_SIDE}",
    "OVERVIEWS=AUTO",
    "BIGTIFF=IF_SAFER",
)
"""Options every output gets: 512-pixel tiles, internal overviews (resampled as the encoding
says: `Encoding.resampling`), BigTIFF past 4 GB; threads as `encoder_threads` says."""

TILES_IN_FLIGHT_BYTES = 64 * 1024 * 1024
"""Uncompressed tiles the encoder's threads may hold at once. Each thread holds a whole tile of every
band: 0.75 MB for 8-bit RGB, but 50 MB for 100 bands of 16-bit data, where all CPUs would push a
many-band image past 1 GiB."""


def write_cog(
    dataset: gdal.Dataset, encoding: Encoding, dst: Path, on_source_read: Callable[[], None] = lambda: None
) -> np.ndarray | None:
    """Translate `dataset` to a COG at `dst` with `encoding`; pixel read errors are the input's fault.

    Returns the original's pixels on the SSIM grid (`quality.SampleGrid`) when the original was read
    in one pass (`single_pass`), None when the COG driver read it itself. `on_source_read` is called
    once every pixel was read without error: after that pass, or after the whole write. GDAL reports
    some write errors only when the output is closed, and the Python bindings then drop them: every
    CE_Failure is collected while the output is written and closed.
    """
    samples = None
    # Decoding and compression run in GDAL worker threads too, whose errors reach only the global
    # handler: without it a failed tile is silently written as zeros (see `gdal_errors`).
    with collected_errors() as reported, _temporaries_beside(dst) as directory:
        try:
            source, options, samples = _source_and_options(dataset, encoding, directory)
            if samples is not None and not any(error.is_failure for error in reported):
                on_source_read()
            _translate(source, dst, options, reported)
        except RuntimeError as error:
            reported.append(GdalError(gdal.CE_Failure, 0, str(error)))
    failures = [error for error in reported if error.is_failure]
    if failures:
        raise _failure_as_error(failures, dst)
    if samples is None:
        on_source_read()
    return samples


def _translate(source: gdal.Dataset, dst: Path, options: gdal.TranslateOptions, reported: list[GdalError]) -> None:
    output = gdal.Translate(str(dst), source, options=options)
    if output is None:
        reason = next((e.message for e in reversed(reported)), "no reason given")
        reported.append(GdalError(gdal.CE_Failure, 0, f"GDAL produced no output: {reason}"))
    else:
        output.FlushCache()
        output = None  # closing writes the last tiles and overviews: errors can surface here too


@contextlib.contextmanager
def _temporaries_beside(dst: Path) -> Iterator[Path | None]:
    """A folder beside the output for the write's temporary files, GDAL's (CPL_TMPDIR) and ours.

    Beside the output, they share its fate: the caller's scratch directory, cleaned after every
    object. An output in GDAL's memory file system (a trial COG) gets GDAL's only, and None.
    """
    previous_tmpdir = gdal.GetThreadLocalConfigOption("CPL_TMPDIR", None)
    with contextlib.ExitStack() as stack:
        local = dst.parent.is_dir()
        directory = (
            stack.enter_context(tempfile.TemporaryDirectory(dir=dst.parent, prefix=f"{dst.name}.")) if local else None
        )
        gdal.SetThreadLocalConfigOption("CPL_TMPDIR", directory or str(dst.parent))
        try:
            yield Path(directory) if directory else None
        finally:
            gdal.SetThreadLocalConfigOption("CPL_TMPDIR", previous_tmpdir)


def _source_and_options(
    dataset: gdal.Dataset, encoding: Encoding, directory: Path | None
) -> tuple[gdal.Dataset, gdal.TranslateOptions, np.ndarray | None]:
    """(What the COG driver reads, how, and the SSIM grid's pixels if they were read on the way)."""
    prepared, domains = _prepared_source(dataset, encoding), domains_to_carry(dataset)
    if directory is not None and pyramid.applies(dataset, encoding):
        carried = domains if cog_copies_metadata_domains() else {}
        layout = _translate_options(dataset, encoding, (), output_format="VRT")
        read_once = source_with_overviews(prepared, layout, carried, directory)
        if read_once is not None:
            source, samples = read_once
            extra = ("COPY_SRC_MDD=YES",) if carried else ()
            return source, _cog_options(dataset, encoding, extra), samples
    source, extra_options = source_with_domains(prepared, domains)
    return source, _translate_options(dataset, encoding, extra_options), None


def _translate_options(
    dataset: gdal.Dataset, encoding: Encoding, extra: tuple[str, ...], output_format: str = "COG"
) -> gdal.TranslateOptions:
    return gdal.TranslateOptions(
        format=output_format,
        bandList=list(encoding.bands),
        creationOptions=_creation_options(dataset, encoding, extra) if output_format == "COG" else None,
        maskBand=_mask_option(dataset, encoding),
        # "none" only where there is a nodata value to drop: GDAL 3.10's translate copies no metadata
        # domain (`metadata_domains`) when told to drop one.
        noData=None if encoding.keep_nodata or not _declares_nodata(dataset) else "none",
    )


def _cog_options(dataset: gdal.Dataset, encoding: Encoding, extra: tuple[str, ...]) -> gdal.TranslateOptions:
    """Options for a source that already holds the COG's bands, mask and nodata (`single_pass`)."""
    return gdal.TranslateOptions(format="COG", creationOptions=_creation_options(dataset, encoding, extra))


def _creation_options(dataset: gdal.Dataset, encoding: Encoding, extra: tuple[str, ...]) -> list[str]:
    return [
        f"COMPRESS={encoding.compression}",
        f"RESAMPLING={encoding.resampling}",
        *encoding.creation_options,
        *COG_OPTIONS,
        f"NUM_THREADS={encoder_threads(dataset, encoding)}",
        *extra,
    ]


def _declares_nodata(dataset: gdal.Dataset) -> bool:
    bands = (dataset.GetRasterBand(index) for index in range(1, dataset.RasterCount + 1))
    return any(band.GetNoDataValue() is not None for band in bands)


def encoder_threads(dataset: gdal.Dataset, encoding: Encoding, cpus: int | None = None) -> str:
    """ALL_CPUS, or as many threads as `TILES_IN_FLIGHT_BYTES` of this image's tiles allow (at least one)."""
    sample = gdal.GetDataTypeSize(dataset.GetRasterBand(1).DataType) // 8
    tile = pyramid.TILE_SIDE * pyramid.TILE_SIDE * len(encoding.bands) * max(sample, 1)
    threads = TILES_IN_FLIGHT_BYTES // tile
    return "ALL_CPUS" if threads >= (cpus or os.cpu_count() or 1) else str(max(1, threads))


def _failure_as_error(failures: list[GdalError], dst: Path) -> Exception:
    """The exception GDAL's failure messages amount to, for the caller to raise.

    The input's fault (a permanent `CorruptImageError`), unless GDAL failed on the output side
    (disk full, bad path) or ran out of memory: those are the machine's state, so an `OSError` or a
    `ResourceExhaustedError`, and the event is retried.
    """
    output_side = (str(dst), "No space left", "Attempt to create")
    about_output = [f.message for f in failures if any(sign in f.message for sign in output_side)]
    if about_output:
        return OSError(f"writing the COG in {dst.parent} failed: {about_output[-1]}")
    out_of_memory = [f.message for f in failures if f.is_out_of_memory]
    if out_of_memory:
        return ResourceExhaustedError(f"GDAL ran out of memory writing the COG: {out_of_memory[0].strip()}")
    cause, outcome = failures[0].message.strip(), failures[-1].message.strip()
    reason = cause if outcome in (cause, "") else f"{cause} ({outcome})"
    return CorruptImageError(f"reading or encoding its pixels failed: {reason}")


def _mask_option(dataset: gdal.Dataset, encoding: Encoding) -> str | int | None:
    if encoding.mask_from is MaskSource.ALPHA:
        return next(
            b
            for b in range(1, dataset.RasterCount + 1)
            if dataset.GetRasterBand(b).GetColorInterpretation() == gdal.GCI_AlphaBand
        )
    if encoding.mask_from is MaskSource.NODATA:
        return "mask,1"
    return None  # GDAL copies a mask the source already has


def _prepared_source(dataset: gdal.Dataset, encoding: Encoding) -> gdal.Dataset:
    """The source as it must be fed to the COG driver: the dataset itself, or a virtual copy.

    - A lossy encoding's nodata mask: a pixel is nodata only when all its bands are (GDAL's
      NODATA_VALUES); per-band nodata would mask a valid pixel whose red alone equals the value.
      A single band goes the same way: GDAL 3.10.3 (Debian 13) writes an empty mask in the partial
      tiles at the right edge from a band's own nodata mask (116,000 valid Landsat pixels hidden),
      and a correct one from NODATA_VALUES.
    - NBITS (15-bit Sentinel-2 JPEG 2000, 12-bit NITF): the COG gets full-width samples, which
      every codec and reader takes (LERC refuses 15-bit samples).
    """
    first = dataset.GetRasterBand(1)
    packed = first.GetMetadataItem("NBITS", "IMAGE_STRUCTURE") is not None
    nodata = first.GetNoDataValue()
    # NaN equals nothing, not even itself: GDAL's per-band mask is the one that finds NaN pixels.
    all_bands_nodata = encoding.mask_from is MaskSource.NODATA and not math.isnan(nodata)
    if not all_bands_nodata and not packed:
        return dataset
    virtual = gdal.Translate(
        "", dataset, format="VRT", outputType=first.DataType, noData="none" if all_bands_nodata else None
    )
    if all_bands_nodata:
        virtual.SetMetadataItem("NODATA_VALUES", " ".join([repr(nodata)] * dataset.RasterCount))
    return virtual
