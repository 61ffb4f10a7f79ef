"""What archiving one large scene costs in compute: the large-scene job on Fargate against the function on Lambda.

An estimate, not a measurement: the time model takes the compress rate measured by the benchmark
(BENCHMARKS.md, seconds per GiB of uncompressed 8-bit input on 2 cores) and an S3 download rate, and prices
it with the list prices below (stated with their region and date; pass your own with `--prices`). S3
requests and storage cost the same on both paths and are left out.

    imagery-archive costs [--sizes-gb 10,50] [--compress-s-per-gib 17.5] [--download-mb-s 100]
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from imagery_archive_cli.console import Parser, table
from imagery_archive_cli.costs.pricing import (
    LAMBDA_PER_GB_SECOND,
    LAMBDA_PER_MILLION_REQUESTS,
    LIST_PRICES_AS_OF,
    PRICES_REGION,
)

GB = 1000**3
GiB = 1024**3
LAMBDA_MAX_SECONDS = 15 * 60
LAMBDA_MAX_SCRATCH_GB = 10.24 * 1.073741824  # 10240 MiB
SCRATCH_PER_INPUT = 1.19
"""Peak /tmp over input measured by the benchmark (original + COG + GDAL's temporary overviews)."""


@dataclass(frozen=True)
class ComputePrices:
    """US dollars, Linux on x86_64, for one region at one date."""

    region: str = PRICES_REGION
    as_of: str = LIST_PRICES_AS_OF
    lambda_gb_second: float = LAMBDA_PER_GB_SECOND
    lambda_storage_gb_second: float = 0.0000000309
    """Ephemeral storage above the free 512 MB."""
    lambda_request: float = LAMBDA_PER_MILLION_REQUESTS * 1e-6
    fargate_vcpu_hour: float = 0.04048
    fargate_gb_hour: float = 0.004445
    fargate_storage_gb_hour: float = 0.000111
    """Ephemeral storage above the free 20 GB."""
    fargate_minimum_seconds: int = 60

    def describe(self) -> str:
        return (
            f"{self.region}, {self.as_of}: Lambda ${self.lambda_gb_second}/GB-s, storage "
            f"${self.lambda_storage_gb_second}/GB-s above 0.5 GB; Fargate ${self.fargate_vcpu_hour}/vCPU-h, "
            f"${self.fargate_gb_hour}/GB-h, storage ${self.fargate_storage_gb_hour}/GB-h above 20 GB; "
            "check https://aws.amazon.com/lambda/pricing/ and https://aws.amazon.com/fargate/pricing/"
        )


@dataclass(frozen=True)
class Sizing:
    """The two deployments as `cdk.json` configures them by default."""

    lambda_memory_gb: float = 4.0
    lambda_storage_gb: float = LAMBDA_MAX_SCRATCH_GB
    job_vcpus: float = 4
    job_memory_gb: float = 8
    job_storage_gb: float = 200 * 1.073741824
    job_start_seconds: float = 60
    """Fargate provisioning and pulling the ~650 MB image, billed from the start of the pull."""


@dataclass(frozen=True)
class SceneCost:
    scene_gb: float
    seconds: float
    """Download + compress (and the checks, upload and copy that overlap them), without start-up."""
    lambda_dollars: float
    """What the function would cost if it could hold the scene."""
    lambda_limit: str
    """Why it can't ("" if it can): its /tmp, or its 15 minutes."""
    fargate_dollars: float
    fargate_seconds: float


def working_seconds(scene_bytes: int, compress_s_per_gib: float, download_mb_s: float) -> float:
    """Download, then compress: the archive copy, the checks and the COG upload overlap or are small."""
    return scene_bytes / (download_mb_s * 1000**2) + scene_bytes / GiB * compress_s_per_gib


def lambda_cost(seconds: float, prices: ComputePrices, sizing: Sizing) -> float:
    extra_storage = max(sizing.lambda_storage_gb - 0.5, 0)
    return (
        seconds * sizing.lambda_memory_gb * prices.lambda_gb_second
        + seconds * extra_storage * prices.lambda_storage_gb_second
        + prices.lambda_request
    )


def fargate_cost(seconds: float, prices: ComputePrices, sizing: Sizing) -> float:
    billed_hours = max(math.ceil(seconds), prices.fargate_minimum_seconds) / 3600
    extra_storage = max(sizing.job_storage_gb - 20, 0)
    return billed_hours * (
        sizing.job_vcpus * prices.fargate_vcpu_hour
        + sizing.job_memory_gb * prices.fargate_gb_hour
        + extra_storage * prices.fargate_storage_gb_hour
    )


def scene_cost(
    scene_gb: float, compress_s_per_gib: float, download_mb_s: float, prices: ComputePrices, sizing: Sizing
) -> SceneCost:
    seconds = working_seconds(int(scene_gb * GB), compress_s_per_gib, download_mb_s)
    limits = []
    if scene_gb * SCRATCH_PER_INPUT > sizing.lambda_storage_gb:
        limits.append(f"/tmp: needs {scene_gb * SCRATCH_PER_INPUT:.1f} GB of {sizing.lambda_storage_gb:.1f}")
    if seconds > LAMBDA_MAX_SECONDS:
        limits.append(f"time: {seconds / 60:.0f} min > 15")
    fargate_seconds = seconds + sizing.job_start_seconds
    return SceneCost(
        scene_gb,
        seconds,
        lambda_cost(seconds, prices, sizing),
        "; ".join(limits),
        fargate_cost(fargate_seconds, prices, sizing),
        fargate_seconds,
    )


def render(costs: Sequence[SceneCost], prices: ComputePrices, sizing: Sizing) -> str:
    rows = [
        [
            f"{cost.scene_gb:g} GB",
            f"{cost.seconds / 60:.1f} min",
            f"${cost.lambda_dollars:.4f}" + (f" (can't: {cost.lambda_limit})" if cost.lambda_limit else ""),
            f"{cost.fargate_seconds / 60:.1f} min",
            f"${cost.fargate_dollars:.4f}",
        ]
        for cost in costs
    ]
    header = ["scene", "work", "Lambda 4096 MB, 10 GiB /tmp", "Fargate job", "Fargate 4 vCPU, 8 GB, 200 GiB"]
    return f"{table(header, rows, right=(1, 2, 3, 4))}\nPrices: {prices.describe()}"


def load_prices(path: Path | None) -> ComputePrices:
    if path is None:
        return ComputePrices()
    data = json.loads(path.read_text())
    return replace(ComputePrices(), **data)


def main(argv: Sequence[str] | None = None) -> int:
    parser = Parser(prog="imagery-archive costs", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes-gb", default="10,50", help="scene sizes, GB (default 10,50)")
    parser.add_argument(
        "--compress-s-per-gib",
        type=float,
        default=18.4,
        help="compress rate (BENCHMARKS.md: 22.1 s for the 1.2 GiB scene)",
    )
    parser.add_argument("--download-mb-s", type=float, default=100.0, help="S3 download rate, MB/s")
    parser.add_argument("--prices", type=Path, help="JSON overriding fields of ComputePrices")
    args = parser.parse_args(argv)
    prices, sizing = load_prices(args.prices), Sizing()
    costs = [
        scene_cost(float(size), args.compress_s_per_gib, args.download_mb_s, prices, sizing)
        for size in args.sizes_gb.split(",")
    ]
    print(render(costs, prices, sizing))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
