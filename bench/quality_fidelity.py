"""How close the function's cheap SSIM (`sampled_quality`) is to the full measure, on every bundled image.

For each bundled image the function writes lossily (8-bit: JPEG, or WEBP), at each `--quality`:
- the full measure (`quality.measure_ssim`: scikit-image, float64, every pixel) and the cheap one
  (`sampled_quality.sampled_ssim`, what the function reports), their difference, and the seconds each
  took on this machine (informative only: this is not a timing benchmark);
- the quality `TARGET_SSIM` picks for each `--target` with either measure (`SSIM_MEASURE=full|sampled`).
Images written losslessly are listed with how they were checked (pixel for pixel).

Run: `python -m bench.quality_fidelity` (about two minutes); it prints a Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from osgeo import gdal

from imagery_archive.imaging.compress import CompressionResult, compress, configure_gdal
from imagery_archive.imaging.profiles import CompressionProfile
from imagery_archive.imaging.quality import measure_ssim
from imagery_archive.imaging.sampled_quality import sampled_ssim
from imagery_archive_cli.demo.samples import bundled_samples

gdal.UseExceptions()

QUALITIES = (40, 75, 90)
TARGETS = (0.9, 0.95)


@dataclass(frozen=True)
class Fidelity:
    """One image at one quality: both measures, and what each took."""

    image: str
    encoding: str
    full: float
    cheap: float
    full_seconds: float
    cheap_seconds: float
    method: str

    @property
    def difference(self) -> float:
        """Cheap minus full."""
        return self.cheap - self.full


def measured(source: Path, quality: int, folder: Path) -> tuple[CompressionResult, Fidelity | None]:
    """`source` written at `quality`, and both measures of the output (None if it is lossless)."""
    output = folder / f"{source.stem}-q{quality}.tif"
    result = compress(source, output, CompressionProfile(quality=quality))
    if not result.encoding.lossy:
        return result, None
    started = time.perf_counter()
    full = measure_ssim(str(source), str(output), result.encoding.bands)
    full_seconds = time.perf_counter() - started
    started = time.perf_counter()
    cheap = sampled_ssim(str(source), str(output), result.encoding.bands)
    cheap_seconds = time.perf_counter() - started
    fidelity = Fidelity(
        source.name, result.encoding.label, full, cheap.score, full_seconds, cheap_seconds, cheap.method
    )
    return result, fidelity


def target_picks(source: Path, target: float, folder: Path) -> tuple[int | None, int | None]:
    """The quality `TARGET_SSIM=target` picks with the full measure, and with the cheap one."""
    picks = []
    for measure in ("full", "sampled"):
        profile = replace(CompressionProfile(), target_ssim=target, ssim_measure=measure)
        result = compress(source, folder / f"{source.stem}-target-{measure}.tif", profile)
        picks.append(result.encoding.quality)
    return picks[0], picks[1]


def main(argv: list[str] | None = None) -> int:
    """Print the fidelity table; 0 if every image is within `--tolerance` and one quality step, else 1."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quality", type=int, action="append", help=f"JPEG/WEBP quality (default {QUALITIES})")
    parser.add_argument("--target", type=float, action="append", help=f"TARGET_SSIM values (default {TARGETS})")
    parser.add_argument("--tolerance", type=float, default=0.005, help="largest difference allowed (default 0.005)")
    args = parser.parse_args(argv)
    qualities, targets = tuple(args.quality or QUALITIES), tuple(args.target or TARGETS)
    configure_gdal(cache_mb=128, tmp_dir=tempfile.gettempdir())
    faithful = True
    print("| image | encoding | full SSIM | cheap SSIM | difference | full s | cheap s | how the cheap one measured |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="quality-fidelity-") as folder:
        lossy = []
        for source in bundled_samples():
            for quality in qualities:
                result, fidelity = measured(source, quality, Path(folder))
                if fidelity is None:
                    print(f"| {source.name} | {result.encoding.label} | - | - | - | - | - | {result.ssim_method} |")
                    break
                if source not in lossy:
                    lossy.append(source)
                faithful &= abs(fidelity.difference) <= args.tolerance
                print(
                    f"| {fidelity.image} | {fidelity.encoding} | {fidelity.full:.4f} | {fidelity.cheap:.4f} | "
                    f"{fidelity.difference:+.4f} | {fidelity.full_seconds:.2f} | {fidelity.cheap_seconds:.2f} | "
                    f"{fidelity.method} |"
                )
        faithful &= _print_target_picks(lossy, targets, Path(folder))
    return 0 if faithful else 1


def _print_target_picks(images: list[Path], targets: tuple[float, ...], folder: Path) -> bool:
    """Print the qualities TARGET_SSIM picks with either measure; whether each pair is at most one step apart."""
    print()
    print("| image | " + " | ".join(f"TARGET_SSIM {target}: full -> cheap" for target in targets) + " |")
    print("|---|" + "---|" * len(targets))
    close = True
    for source in images:
        cells = []
        for target in targets:
            full, cheap = target_picks(source, target, folder)
            close &= full is not None and cheap is not None and abs(full - cheap) <= 1
            cells.append(f"q{full} -> q{cheap}")
        print(f"| {source.name} | " + " | ".join(cells) + " |")
    return close


if __name__ == "__main__":
    raise SystemExit(main())
