"""Choose compression settings for your own imagery, with numbers and a rate-distortion plot.

Each image is compressed with the function's own `compress()` at every setting asked for (JPEG and
WEBP at several qualities, and the lossless DEFLATE and ZSTD), then measured: size, ratio, SSIM (as
the function measures it), PSNR over the same pixels, and time. The function adapts a setting to
each image (16-bit imagery is kept lossless whatever the codec, WEBP needs 3 bands, paletted images
stay lossless), so the table shows the encoding actually used, once per distinct result.

    imagery-archive choose-settings IMAGE [IMAGE ...] [--target-ssim 0.95] [--plot rd.png] [--qualities 30,50,75]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from imagery_archive.errors import PermanentError
from imagery_archive.imaging.compress import compress, open_image
from imagery_archive.imaging.profiles import CODECS, CompressionProfile
from imagery_archive.imaging.quality import read_preview
from imagery_archive_cli.console import Parser, fail, size, table

DEFAULT_QUALITIES = (30, 50, 65, 75, 85, 95)
LOSSY = tuple(name for name, codec in CODECS.items() if codec.lossy)
LOSSLESS = tuple(name for name, codec in CODECS.items() if not codec.lossy)


@dataclass(frozen=True)
class Measurement:
    """One image compressed at one setting."""

    image: Path
    requested: CompressionProfile
    encoding: str
    """What the function actually wrote, e.g. 'JPEG q75', 'LERC_ZSTD'."""
    codec: str
    original_bytes: int
    compressed_bytes: int
    ssim: float
    psnr: float
    seconds: float

    @property
    def ratio(self) -> float:
        return self.original_bytes / self.compressed_bytes


def settings(qualities: Sequence[int]) -> list[CompressionProfile]:
    """Every setting to try: each lossy codec at each quality, then the lossless codecs."""
    lossy = [CompressionProfile(codec, quality) for codec in LOSSY for quality in qualities]
    return [*lossy, *(CompressionProfile(codec) for codec in LOSSLESS)]


def psnr(original: Path, compressed: Path, bands: tuple[int, ...]) -> float:
    """PSNR in dB over the valid pixels of the same decimated read SSIM uses; inf when identical."""
    before, _ = read_preview(str(original), bands)
    after, valid = read_preview(str(compressed))
    finite = valid & np.isfinite(before).all(axis=0) & np.isfinite(after).all(axis=0)
    if not finite.any():
        return math.inf
    a, b = before[:, finite].astype(np.float64), after[:, finite].astype(np.float64)
    mse = float(np.mean((a - b) ** 2))
    if mse == 0:
        return math.inf
    peak = 255.0 if before.dtype == np.uint8 else float(np.ptp(a)) or 1.0
    return 10 * math.log10(peak**2 / mse)


def measure(
    image: Path, profiles: Sequence[CompressionProfile], work: Path, bar: tqdm
) -> dict[CompressionProfile, Measurement]:
    """What each setting gives on `image`; settings the function turns into the same encoding share one."""
    seen: dict[str, Measurement] = {}
    produced = {}
    for number, profile in enumerate(profiles):
        out = work / f"{image.stem}-{number}.tif"
        started = time.perf_counter()
        result = compress(image, out, profile)
        seconds = time.perf_counter() - started
        encoding = result.encoding.label
        if encoding not in seen:
            seen[encoding] = Measurement(
                image=image,
                requested=profile,
                encoding=encoding,
                codec=result.encoding.compression,
                original_bytes=result.original_bytes,
                compressed_bytes=result.compressed_bytes,
                ssim=result.ssim,
                psnr=psnr(image, out, result.encoding.bands),
                seconds=seconds,
            )
        produced[profile] = seen[encoding]
        out.unlink()
        bar.update(1)
    return produced


def distinct(produced: dict[CompressionProfile, Measurement]) -> list[Measurement]:
    return list(dict.fromkeys(produced.values()))


def setting_label(profile: CompressionProfile) -> str:
    """A setting as the table names it: its codec, and its quality for a lossy codec ('JPEG q75', 'ZSTD').

    The same words as `Encoding.label`, so a setting the function writes as asked reads the same as what it wrote.
    """
    return f"{profile.codec} q{profile.quality}" if profile.codec in LOSSY else profile.codec


@dataclass(frozen=True)
class Recommendation:
    setting: CompressionProfile | None
    """The setting reaching the target on every image with the smallest total size; None if none does."""
    total_bytes: int
    worst_ssim: float
    per_image: dict[Path, Measurement | None]
    """Smallest encoding reaching the target, per image (None: none does)."""


def recommend(results: dict[Path, dict[CompressionProfile, Measurement]], target: float) -> Recommendation:
    """The smallest setting whose SSIM reaches `target` on every image; and the smallest per image."""
    per_image = {
        image: min((m for m in distinct(produced) if m.ssim >= target), key=lambda m: m.compressed_bytes, default=None)
        for image, produced in results.items()
    }
    best: Recommendation | None = None
    profiles = next(iter(results.values())).keys()
    for profile in profiles:
        chosen = [produced[profile] for produced in results.values()]
        if all(m.ssim >= target for m in chosen):
            total = sum(m.compressed_bytes for m in chosen)
            if best is None or total < best.total_bytes:
                best = Recommendation(profile, total, min(m.ssim for m in chosen), per_image)
    return best or Recommendation(None, 0, 0.0, per_image)


def rd_plot(results: dict[Path, dict[CompressionProfile, Measurement]], target: float, path: Path) -> Path:
    """Size (as % of the original) against SSIM: one line per codec per image, the target as a dashed line."""
    import matplotlib as mpl  # noqa: PLC0415 - only needed here

    mpl.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    figure, axis = plt.subplots(figsize=(9, 6))
    markers = {"JPEG": "o-", "WEBP": "s--", "DEFLATE": "D", "ZSTD": "^", "LERC_ZSTD": "v"}
    palette = plt.get_cmap("tab10")
    for number, (image, produced) in enumerate(results.items()):
        colour = palette(number % palette.N)
        measurements = distinct(produced)
        for codec in dict.fromkeys(m.codec for m in measurements):
            points = sorted((m for m in measurements if m.codec == codec), key=lambda m: m.compressed_bytes)
            x = [100 * m.compressed_bytes / m.original_bytes for m in points]
            y = [m.ssim for m in points]
            axis.plot(x, y, markers.get(codec, "x"), color=colour, label=f"{image.name}: {codec}", markersize=6)
    axis.axhline(target, color="grey", linestyle=":", label=f"target SSIM {target:g}")
    axis.set_xscale("log")
    percent = mpl.ticker.FuncFormatter(lambda value, _: f"{value:g}%")
    axis.xaxis.set_major_formatter(percent)
    axis.xaxis.set_minor_formatter(percent)
    axis.tick_params(axis="x", which="minor", labelsize=7)
    axis.set_xlabel("compressed size, % of the original (log scale)")
    axis.set_ylabel("SSIM (1 = identical)")
    axis.set_title("Rate-distortion: size against SSIM, per image and codec")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def render(results: dict[Path, dict[CompressionProfile, Measurement]], target: float, plot: Path) -> str:
    out = []
    for image, produced in results.items():
        measurements = distinct(produced)
        first = measurements[0]
        out += ["", f"{image}  ({size(first.original_bytes)})"]
        rows = []
        for m in measurements:
            asked = [setting_label(p) for p, got in produced.items() if got is m]
            asked_text = "any setting" if len(asked) == len(produced) else ", ".join(asked[:3])
            asked_text += f" (+{len(asked) - 3})" if 3 < len(asked) < len(produced) else ""
            rows.append(
                [
                    m.encoding,
                    size(m.compressed_bytes),
                    f"{m.ratio:.1f}x",
                    f"{m.ssim:.4f}",
                    "lossless" if math.isinf(m.psnr) else f"{m.psnr:.1f}",
                    f"{m.seconds:.2f}",
                    "" if asked == [m.encoding] else asked_text,
                ]
            )
        header = ["encoding", "size", "ratio", "SSIM", "PSNR dB", "seconds", "from setting(s)"]
        out.append(table(header, rows, right=(1, 2, 3, 4, 5)))
    choice = recommend(results, target)
    out += ["", f"Target SSIM {target:g}:"]
    if choice.setting is None:
        out.append(f"  no setting reaches SSIM {target:g} on every image")
    else:
        original = sum(distinct(p)[0].original_bytes for p in results.values())
        profile = choice.setting
        out.append(
            f"  recommended for these {len(results)} image(s): {setting_label(profile)} "
            f"({size(choice.total_bytes)} in all, {original / choice.total_bytes:.1f}x smaller; "
            f"lowest SSIM {choice.worst_ssim:.4f})"
        )
        context = f"-c compression={profile.codec}" + (
            f" -c quality={profile.quality}" if profile.codec in LOSSY else ""
        )
        for image, produced in results.items():
            if produced[profile].encoding != setting_label(profile):
                out.append(
                    f"    (on {image.name} the function writes {produced[profile].encoding} for it: see the table)"
                )
        out.append(f"  deploy it:  npx cdk deploy {context}")
        out.append(f"  or let the function pick the quality per image:  npx cdk deploy -c targetSsim={target:g}")
    for image, best in choice.per_image.items():
        found = f"{best.encoding}, {size(best.compressed_bytes)}, SSIM {best.ssim:.4f}" if best else "none reaches it"
        out.append(f"  smallest for {image.name}: {found}")
    out += ["", f"Rate-distortion plot: {plot}"]
    return "\n".join(out)


def _target(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{value:g} must lie strictly between 0 and 1 (SSIM 1 means identical)")
    return value


def _qualities(text: str) -> tuple[int, ...]:
    values = []
    for part in text.split(","):
        if not part.strip().isdigit() or not 1 <= int(part) <= 100:
            raise argparse.ArgumentTypeError(f"{part.strip()!r} is not a quality from 1 to 100 (e.g. 30,50,75)")
        values.append(int(part))
    return tuple(sorted(set(values)))


def check_readable(path: Path) -> None:
    """One-line error and exit code 2 unless `path` is an image GDAL can open."""
    if not path.exists():
        fail(f"{path}: no such file")
    if path.is_dir():
        fail(f"{path}: is a directory, not an image file")
    if not os.access(path, os.R_OK):
        fail(f"{path}: permission denied")
    try:
        open_image(path)
    except PermanentError as error:
        fail(f"{path}: {error}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = Parser(prog="imagery-archive choose-settings", description=__doc__.split("\n\n")[0])
    parser.add_argument("images", nargs="+", type=Path, metavar="IMAGE", help="local image files (any GDAL format)")
    parser.add_argument("--target-ssim", type=_target, default=0.95, help="SSIM to reach, 0-1 (default 0.95)")
    parser.add_argument("--plot", type=Path, default=Path("demo_out/rd.png"), help="PNG to write (default %(default)s)")
    parser.add_argument(
        "--qualities",
        type=_qualities,
        default=DEFAULT_QUALITIES,
        help=f"JPEG/WEBP qualities to try (default {','.join(map(str, DEFAULT_QUALITIES))})",
    )
    args = parser.parse_args(argv)
    images = list(dict.fromkeys(args.images))
    for image in images:
        check_readable(image)
    profiles = settings(args.qualities)
    results = {}
    with (
        tempfile.TemporaryDirectory(prefix="choose-settings-") as work,
        tqdm(total=len(images) * len(profiles), unit="encoding", desc="compressing") as bar,
    ):
        for image in images:
            bar.set_postfix_str(image.name)
            try:
                results[image] = measure(image, profiles, Path(work), bar)
            except PermanentError as error:
                fail(f"{image}: {error}")
    try:
        plot = rd_plot(results, args.target_ssim, args.plot)
    except OSError as error:
        fail(f"{args.plot}: {error.strerror or error}")
    print(render(results, args.target_ssim, plot))
    return 0


if __name__ == "__main__":
    sys.exit(main())
