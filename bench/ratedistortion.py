"""Rate-distortion on the bundled 8-bit imagery: size and SSIM of each encoder, image by image.

- reference: the reference design's `gdal.Translate` to a COG with JPEG quality 75;
- rio-cogeo: `rio cogeo create --cog-profile jpeg` (its CLI, in a subprocess: rasterio bundles its
  own GDAL, which must never share a process with the system GDAL's bindings);
- ours: the function's `compress` with the default profile (JPEG q75, exact masks);
- ours TARGET_SSIM: the function's `compress` asked for the reference's SSIM on that image;
- ours WEBP: `COMPRESSION=WEBP` (3-band RGB only; other images fall back to JPEG, as the function does);
- ours TARGET_SSIM + WEBP: both settings together.
"""

from __future__ import annotations

import math
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from osgeo import gdal

from bench.contenders import REFERENCE_COG_OPTIONS
from bench.fidelity import has_mask, ssim_against_original
from imagery_archive.imaging.compress import compress, configure_gdal, read_properties
from imagery_archive.imaging.profiles import CompressionProfile
from imagery_archive_cli.demo.samples import bundled_samples

gdal.UseExceptions()

ENCODERS = ("reference", "rio_cogeo", "ours", "ours_webp", "ours_target_ssim", "ours_target_ssim_webp")


@dataclass(frozen=True)
class Encoded:
    image: str
    encoder: str
    bytes: int
    ssim: float
    mask: bool
    detail: str = ""


def eight_bit_images() -> list[Path]:
    """Every bundled image of 8-bit samples that a lossy codec may take (paletted ones stay lossless)."""
    chosen = []
    for path in bundled_samples():
        dataset = gdal.Open(str(path))  # kept alive while its bands are read (GDAL 3.6 bindings)
        properties = read_properties(dataset)
        if properties.data_type == "Byte" and not properties.has_palette:
            chosen.append(path)
    return chosen


def reference_cog(src: Path, dst: Path) -> str:
    gdal.SetConfigOption("GDAL_NUM_THREADS", None)
    gdal.Translate(
        str(dst), str(src), options=gdal.TranslateOptions(format="COG", creationOptions=list(REFERENCE_COG_OPTIONS))
    )
    return "gdal.Translate COG JPEG q75"


def rio_cogeo(src: Path, dst: Path, rio: Path) -> str:
    subprocess.run(
        [str(rio), "cogeo", "create", "--quiet", "--cog-profile", "jpeg", str(src), str(dst)],
        check=True,
        capture_output=True,
        env={"PATH": "/usr/bin:/bin", "GDAL_CACHEMAX": "205"},
    )
    return "jpeg profile"


def ours(src: Path, dst: Path, profile: CompressionProfile) -> str:
    return compress(src, dst, profile).encoding.label


def run(work: Path, rio: Path) -> list[Encoded]:
    """Every encoder on every 8-bit image; outputs are written under `work`. A failure is recorded, not raised."""
    work.mkdir(parents=True, exist_ok=True)
    configure_gdal(cache_mb=256, tmp_dir=str(work))
    results: list[Encoded] = []
    for image in eight_bit_images():
        outputs = {name: work / f"{image.stem}.{name}.tif" for name in ENCODERS}
        for path in outputs.values():
            path.unlink(missing_ok=True)
        reference_detail = reference_cog(image, outputs["reference"])
        reference_ssim = ssim_against_original(image, outputs["reference"])
        results.append(
            Encoded(
                image.name,
                "reference",
                outputs["reference"].stat().st_size,
                reference_ssim,
                has_mask(outputs["reference"]),
                reference_detail,
            )
        )
        gdal.SetConfigOption("GDAL_NUM_THREADS", "ALL_CPUS")
        target = math.floor(reference_ssim * 10_000) / 10_000  # the reference's SSIM to 4 places, never above it
        profiles = {
            "ours": CompressionProfile(),
            "ours_webp": CompressionProfile(codec="WEBP"),
            "ours_target_ssim": CompressionProfile(target_ssim=target),
            "ours_target_ssim_webp": CompressionProfile(codec="WEBP", target_ssim=target),
        }
        for name in ENCODERS[1:]:
            path = outputs[name]
            try:
                detail = rio_cogeo(image, path, rio) if name == "rio_cogeo" else ours(image, path, profiles[name])
            except subprocess.CalledProcessError as error:
                reason = (error.stderr or b"").decode(errors="replace").strip().splitlines()[-1:] or ["?"]
                results.append(Encoded(image.name, name, 0, float("nan"), False, f"failed: {reason[0][:160]}"))
                continue
            if profiles.get(name, CompressionProfile()).target_ssim is not None:
                detail += f" (target {target})"
            ssim = ssim_against_original(image, path)
            results.append(Encoded(image.name, name, path.stat().st_size, ssim, has_mask(path), detail))
    return results


def as_dicts(results: list[Encoded]) -> list[dict[str, Any]]:
    return [asdict(result) for result in results]
