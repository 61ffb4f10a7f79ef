"""What storage costs per month: a small price table, stated with its region and date, overridable; and the
list prices the cost estimates share (`imagery_archive_cli.costs.job_costs`, `imagery-archive costs`).

The archive classes bill more than the bytes: S3 adds per-object index and metadata overhead to
every GLACIER and DEEP_ARCHIVE object (8 KB billed at S3 Standard + 32 KB at the archive rate), and
GLACIER_IR / STANDARD_IA bill every object as at least 128 KB. Prices change: check
https://aws.amazon.com/s3/pricing/ and pass your own with `--prices prices.json`, for example
`{"region": "eu-west-1", "as_of": "2025-06", "per_gb_month": {"STANDARD": 0.023, "GLACIER": 0.0037}}`
(keys left out keep the values below).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

GB = 1024**3
"""S3 bills GB-months of 2^30 bytes."""
KB = 1024

PRICES_REGION = "us-east-1"
"""The region every default price here is for."""
LIST_PRICES_AS_OF = "2025 (AWS list prices)"
LAMBDA_PER_GB_SECOND = 0.0000166667
"""Lambda duration on x86_64, US dollars (https://aws.amazon.com/lambda/pricing/)."""
LAMBDA_PER_MILLION_REQUESTS = 0.20
"""Lambda requests, US dollars per million (per request: `LAMBDA_PER_MILLION_REQUESTS * 1e-6`)."""

DEFAULT_PER_GB_MONTH = {
    "STANDARD": 0.023,
    "STANDARD_IA": 0.0125,
    "ONEZONE_IA": 0.01,
    "INTELLIGENT_TIERING": 0.023,
    "GLACIER_IR": 0.004,
    "GLACIER": 0.0036,
    "DEEP_ARCHIVE": 0.00099,
}

OVERHEAD = {"GLACIER": (8 * KB, 32 * KB), "DEEP_ARCHIVE": (8 * KB, 32 * KB)}
"""Per-object overhead of the class: (bytes billed at STANDARD, bytes billed at the class's rate)."""
MINIMUM_BILLED_SIZE = {"GLACIER_IR": 128 * KB, "STANDARD_IA": 128 * KB, "ONEZONE_IA": 128 * KB}


class PriceTableError(ValueError):
    """A price file that can't be used; the message says which file and why."""


@dataclass(frozen=True)
class PriceTable:
    """US dollars per GB-month of storage, by storage class, for one region at one date."""

    region: str = PRICES_REGION
    as_of: str = "2025 (AWS list prices, first 50 TB tier)"
    per_gb_month: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_PER_GB_MONTH))

    def monthly(self, storage_class: str, sizes: list[int]) -> float:
        """Dollars per month to keep objects of `sizes` bytes in `storage_class`, overheads included."""
        rate = self.per_gb_month[storage_class]
        at_standard, at_class = OVERHEAD.get(storage_class, (0, 0))
        minimum = MINIMUM_BILLED_SIZE.get(storage_class, 0)
        billed = sum(max(size, minimum) + at_class for size in sizes)
        return billed / GB * rate + len(sizes) * at_standard / GB * self.per_gb_month["STANDARD"]

    def describe(self) -> str:
        return f"{self.region}, prices as of {self.as_of}; check current prices at https://aws.amazon.com/s3/pricing/"


def load_prices(path: Path | None) -> PriceTable:
    """The default table, with whatever the JSON file at `path` overrides."""
    table = PriceTable()
    if path is None:
        return table
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise PriceTableError(f"{path}: {getattr(error, 'strerror', None) or error}") from None
    if not isinstance(data, dict) or not set(data) <= {"region", "as_of", "per_gb_month"}:
        raise PriceTableError(f"{path}: expected an object with 'region', 'as_of' and 'per_gb_month'")
    prices = data.get("per_gb_month", {})
    unknown = set(prices) - set(DEFAULT_PER_GB_MONTH)
    if unknown:
        raise PriceTableError(f"{path}: unknown storage class {', '.join(sorted(unknown))}")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) and v >= 0 for v in prices.values()):
        raise PriceTableError(f"{path}: prices must be non-negative numbers (dollars per GB-month)")
    return replace(
        table,
        region=str(data.get("region", table.region)),
        as_of=str(data.get("as_of", "your price file")),
        per_gb_month={**table.per_gb_month, **{k: float(v) for k, v in prices.items()}},
    )


@dataclass(frozen=True)
class Savings:
    """Monthly storage cost of a set of originals, before and after the pipeline."""

    before: float
    """All originals in S3 Standard."""
    after_compressed: float
    """The COGs in S3 Standard."""
    after_archive: float
    """The originals in the archive class, per-object overhead included."""

    @property
    def after(self) -> float:
        return self.after_compressed + self.after_archive

    @property
    def saved(self) -> float:
        return self.before - self.after

    @property
    def saved_fraction(self) -> float:
        return self.saved / self.before if self.before else 0.0


def savings(prices: PriceTable, originals: list[int], compressed: list[int], archive_class: str) -> Savings:
    """Cost per month of `originals` kept in Standard, against `compressed` in Standard + originals archived."""
    return Savings(
        before=prices.monthly("STANDARD", originals),
        after_compressed=prices.monthly("STANDARD", compressed),
        after_archive=prices.monthly(archive_class, originals),
    )


def per_terabyte(run: Savings, original_bytes: int) -> Savings:
    """`run` scaled to 1 TB (1024 GB) of originals like this run's: same object sizes, same ratios."""
    scale = 1024 * GB / original_bytes
    return Savings(run.before * scale, run.after_compressed * scale, run.after_archive * scale)
