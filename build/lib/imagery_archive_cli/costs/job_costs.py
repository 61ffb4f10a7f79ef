"""What a whole-archive job costs before it runs: a Batch Operations backfill, or a restore.

List prices, stated with their region and date as `imagery_archive_cli.costs.pricing` states storage prices (check
https://aws.amazon.com/s3/pricing/ and https://aws.amazon.com/lambda/pricing/). The Lambda time is an
estimate: `SECONDS_PER_GIB` comes from BENCHMARKS.md (about 17 s per GiB to compress 8-bit imagery on 2
cores, plus about 10 s per GiB to download at 100 MB/s); pass your own measured figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from imagery_archive_cli.costs.pricing import (
    GB,
    LAMBDA_PER_GB_SECOND,
    LAMBDA_PER_MILLION_REQUESTS,
    LIST_PRICES_AS_OF,
    PRICES_REGION,
    PriceTable,
)

SECONDS_PER_GIB = 30.0
"""Lambda seconds per GiB of original, end to end (BENCHMARKS.md: compress ~17 s/GiB + download ~10 s/GiB)."""
SECONDS_PER_OBJECT = 2.0
"""Lambda seconds every object costs whatever its size: the checks, the COG upload's round trips."""
GET_REQUESTS_PER_OBJECT = 8
"""HEADs of the original, COG and archive, GetObjectTagging, and the ranged GETs of a typical download."""

RESTORE_HOURS = {
    ("GLACIER", "Expedited"): "1-5 minutes",
    ("GLACIER", "Standard"): "3-5 hours",
    ("GLACIER", "Bulk"): "5-12 hours",
    ("DEEP_ARCHIVE", "Standard"): "within 12 hours",
    ("DEEP_ARCHIVE", "Bulk"): "within 48 hours",
}
"""How long a restore takes, per class and tier (S3 User Guide, "Archive retrieval options")."""
NEEDS_RESTORE = frozenset({"GLACIER", "DEEP_ARCHIVE"})
"""Classes that can't be read before a restore; every other class is read directly."""


@dataclass(frozen=True)
class JobPrices:
    """US dollars, us-east-1 list prices as of 2025; x86_64 Lambda."""

    region: str = PRICES_REGION
    as_of: str = LIST_PRICES_AS_OF
    batch_per_job: float = 0.25
    batch_per_million_objects: float = 1.00
    lambda_per_gb_second: float = LAMBDA_PER_GB_SECOND
    lambda_per_million_requests: float = LAMBDA_PER_MILLION_REQUESTS
    get_per_thousand: float = 0.0004
    put_per_thousand: dict[str, float] = field(
        default_factory=lambda: {
            "STANDARD": 0.005,
            "STANDARD_IA": 0.01,
            "ONEZONE_IA": 0.01,
            "INTELLIGENT_TIERING": 0.005,
            "GLACIER_IR": 0.02,
            "GLACIER": 0.03,
            "DEEP_ARCHIVE": 0.05,
        }
    )
    """PUT, COPY and POST requests, by the storage class written."""
    retrieval_per_gb: dict[tuple[str, str], float] = field(
        default_factory=lambda: {
            ("GLACIER", "Expedited"): 0.03,
            ("GLACIER", "Standard"): 0.01,
            ("GLACIER", "Bulk"): 0.0,
            ("DEEP_ARCHIVE", "Standard"): 0.02,
            ("DEEP_ARCHIVE", "Bulk"): 0.0025,
            ("GLACIER_IR", ""): 0.03,
            ("STANDARD_IA", ""): 0.01,
            ("ONEZONE_IA", ""): 0.01,
        }
    )
    restore_per_thousand: dict[tuple[str, str], float] = field(
        default_factory=lambda: {
            ("GLACIER", "Expedited"): 10.0,
            ("GLACIER", "Standard"): 0.05,
            ("GLACIER", "Bulk"): 0.0,
            ("DEEP_ARCHIVE", "Standard"): 0.10,
            ("DEEP_ARCHIVE", "Bulk"): 0.025,
        }
    )

    def describe(self) -> str:
        return (
            f"{self.region}, prices as of {self.as_of}; check https://aws.amazon.com/s3/pricing/ "
            "and https://aws.amazon.com/lambda/pricing/"
        )


@dataclass(frozen=True)
class CostLine:
    what: str
    dollars: float


def total(lines: Sequence[CostLine]) -> float:
    return sum(line.dollars for line in lines)


def render(lines: Sequence[CostLine]) -> str:
    """The lines and their total, dollars right-aligned."""
    width = max(len(line.what) for line in lines)
    rows = [f"  {line.what.ljust(width)}  ${line.dollars:>12,.4f}" for line in lines]
    return "\n".join([*rows, f"  {'total'.ljust(width)}  ${total(lines):>12,.4f}"])


def backfill_cost(
    sizes: Sequence[int],
    *,
    memory_mib: int,
    archive_class: str,
    seconds_per_gib: float = SECONDS_PER_GIB,
    prices: JobPrices | None = None,
) -> list[CostLine]:
    """One Batch Operations LambdaInvoke job over objects of `sizes` bytes (storage afterwards: `pricing`)."""
    prices = prices or JobPrices()
    count = len(sizes)
    seconds = sum(SECONDS_PER_OBJECT + size / GB * seconds_per_gib for size in sizes)
    gb_seconds = seconds * memory_mib / 1024
    return [
        CostLine("Batch Operations: per job", prices.batch_per_job),
        CostLine(f"Batch Operations: {count:,} objects", count / 1e6 * prices.batch_per_million_objects),
        CostLine(
            f"Lambda: {gb_seconds:,.0f} GB-s ({memory_mib} MiB, ~{seconds / count if count else 0:.0f} s/object)",
            gb_seconds * prices.lambda_per_gb_second,
        ),
        CostLine("Lambda: requests", count / 1e6 * prices.lambda_per_million_requests),
        CostLine(
            f"S3: {count:,} COG PUTs + {count:,} archive copies to {archive_class}",
            count / 1000 * (prices.put_per_thousand["STANDARD"] + prices.put_per_thousand[archive_class]),
        ),
        CostLine(
            f"S3: ~{GET_REQUESTS_PER_OBJECT * count:,} GET/HEAD",
            GET_REQUESTS_PER_OBJECT * count / 1000 * prices.get_per_thousand,
        ),
    ]


def restore_cost(
    objects: Sequence[tuple[str, int]], *, tier: str, days: int, batch_job: bool, prices: JobPrices | None = None
) -> list[CostLine]:
    """Restoring `objects` ((storage class, bytes) each) for `days`, then reading each once."""
    prices = prices or JobPrices()
    standard = PriceTable().per_gb_month["STANDARD"]
    archived = [(cls, size) for cls, size in objects if cls in NEEDS_RESTORE]
    direct = [(cls, size) for cls, size in objects if cls not in NEEDS_RESTORE]
    lines = []
    for storage_class in sorted({cls for cls, _ in archived}):
        sizes = [size for cls, size in archived if cls == storage_class]
        key = (storage_class, tier)
        lines.append(
            CostLine(
                f"{storage_class} {tier} retrieval: {len(sizes):,} objects, {sum(sizes) / GB:,.1f} GiB",
                sum(sizes) / GB * prices.retrieval_per_gb[key] + len(sizes) / 1000 * prices.restore_per_thousand[key],
            )
        )
    if archived:
        restored_gb = sum(size for _, size in archived) / GB
        lines.append(CostLine(f"restored copies in STANDARD for {days} days", restored_gb * standard * days / 30))
    for storage_class in sorted({cls for cls, _ in direct}):
        sizes = [size for cls, size in direct if cls == storage_class]
        per_gb = prices.retrieval_per_gb.get((storage_class, ""), 0.0)
        lines.append(CostLine(f"{storage_class} read directly: {len(sizes):,} objects", sum(sizes) / GB * per_gb))
    if batch_job:
        lines.append(CostLine("Batch Operations: per job", prices.batch_per_job))
        lines.append(
            CostLine(
                f"Batch Operations: {len(archived):,} objects", len(archived) / 1e6 * prices.batch_per_million_objects
            )
        )
    lines.append(CostLine(f"S3: {len(objects):,} GETs", len(objects) / 1000 * prices.get_per_thousand))
    return lines


def restore_duration(storage_classes: Sequence[str], tier: str) -> str:
    """How long the slowest restore of these classes takes at `tier`."""
    waits = [RESTORE_HOURS[(cls, tier)] for cls in sorted(set(storage_classes)) if cls in NEEDS_RESTORE]
    return ", ".join(sorted(set(waits))) or "none: every object is readable now"


def supported_tier(storage_classes: Sequence[str], tier: str) -> str | None:
    """Why `tier` can't restore one of these classes (Expedited can't restore DEEP_ARCHIVE), or None."""
    for storage_class in sorted(set(storage_classes) & NEEDS_RESTORE):
        if (storage_class, tier) not in RESTORE_HOURS:
            tiers = [t for c, t in RESTORE_HOURS if c == storage_class]
            return f"{storage_class} can't be restored with the {tier} tier: use {' or '.join(tiers)}"
    return None
