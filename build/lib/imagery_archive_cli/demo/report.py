"""The demo's report, as printed: the table per image, the proof of order, the final checks, the savings."""

from __future__ import annotations

from pathlib import Path

from imagery_archive.s3.storage import FAILURE_TAG
from imagery_archive_cli.console import size, table
from imagery_archive_cli.demo import large_scenes as large_scene_demo
from imagery_archive_cli.demo.run import BROKEN_KEY, DemoRun
from imagery_archive_cli.local.function import S3Call


def money(dollars: float) -> str:
    return f"${dollars:,.2f}" if dollars >= 0.1 else f"${dollars:.6f}"


def render(run: DemoRun) -> str:
    """The report, as printed."""
    sections = (
        _compressed_section(run),
        _order_section(run),
        _checks_section(run),
        _storage_section(run),
        [
            "",
            f"Figure (original vs compressed, full view and a full-resolution crop): {_relative(run.figure)}",
            f"Function logs and metrics (JSON, as CloudWatch gets them): {_relative(run.log)}",
            f"Done in {run.seconds:.1f} s.",
        ],
    )
    return "\n".join(line for section in sections for line in section)


def _compressed_section(run: DemoRun) -> list[str]:
    """One row per image read back from the output bucket, and their total."""
    rows = [
        [
            row.key,
            size(row.original_bytes),
            size(row.compressed_bytes),
            f"{row.reduction:.0%}",
            f"{row.ssim:.4f}",
            row.encoding,
            row.archive_class,
            run.paths.get(row.key, ""),
            f"{row.seconds:.2f}",
        ]
        for row in run.rows
    ]
    total_in = sum(row.original_bytes for row in run.rows)
    total_out = sum(row.compressed_bytes for row in run.rows)
    rows.append(
        [
            f"total ({len(run.rows)} images)",
            size(total_in),
            size(total_out),
            f"{1 - total_out / total_in:.0%}",
            "",
            "",
            "",
            "",
            f"{sum(row.seconds for row in run.rows):.2f}",
        ]
    )
    header = ["key", "original", "compressed", "reduction", "SSIM", "encoding", "archive class", "path", "seconds"]
    return [
        "",
        "Compressed and archived (read back from the output bucket):",
        table(header, rows, right=(1, 2, 3, 4, 8)),
        *large_scene_demo.describe(run.submitted),
    ]


def _order_section(run: DemoRun) -> list[str]:
    """The call numbers of copy, verification and delete per image, and one image's whole trail of calls."""
    out = ["", "Each original left the input bucket only after its archive copy was verified (S3 calls, in order):"]
    proof_rows = [
        [
            proof.key,
            f"#{proof.copied}" if proof.copied else "-",
            f"#{proof.verified}" if proof.verified else "-",
            f"#{proof.deleted}" if proof.deleted else "-",
            "ok" if proof.ok else "NO: " + "; ".join(proof.problems),
        ]
        for proof in run.proofs
    ]
    header = ["key", "CopyObject", "HeadObject: size, SHA-256, class", "DeleteObject IfMatch", "order"]
    out.append(table(header, proof_rows, right=(1, 2, 3)))
    example = run.example_trail
    out += ["", f"For example, every S3 call the function made for {example.key}:"]
    for number, call in enumerate(example.calls, start=1):
        out.append(f"  {number:>2}. {_describe(call)}")
    return out


def _checks_section(run: DemoRun) -> list[str]:
    """What the buckets hold at the end: verified archives, COGs, and what stayed in the input bucket."""
    matching = sum(run.archives_match_files.values())
    failed = [item for item in run.left_in_place if item.tagged_failed]
    out = [
        "",
        "Checked in the buckets at the end:",
        f"  archive/: {matching} of {len(run.archives_match_files)} originals have ChecksumSHA256 = SHA-256 of the "
        f"bundled file, the same size, and class {run.storage_class}",
        f"  output/: {sum(key.startswith('output/') and key.endswith('.tif') for key in run.output_keys)} "
        "COGs in S3 Standard",
        f"  input bucket: {len(run.left_in_place)} object(s) left, {len(failed)} tagged as failed",
    ]
    for item in run.left_in_place:
        label = " (the deliberately broken upload: first half of RGB.byte.tif)" if item.key == BROKEN_KEY else ""
        status = f"tagged {FAILURE_TAG}=failed, reason: {item.reason}" if item.tagged_failed else "NOT tagged"
        out.append(f"    {item.key}{label}: {status}")
    return out


def _storage_section(run: DemoRun) -> list[str]:
    """The monthly storage cost before and after, for this run and extrapolated to 1 TB."""
    saved, per_tb = run.savings, run.per_tb
    total_in = sum(row.original_bytes for row in run.rows)
    return [
        "",
        f"Storage per month ({run.prices.describe()}):",
        table(
            ["", "before: all in STANDARD", f"after: COGs in STANDARD + originals in {run.storage_class}", "saved"],
            [
                [
                    f"this run ({size(total_in)})",
                    money(saved.before),
                    f"{money(saved.after)} = {money(saved.after_compressed)} + {money(saved.after_archive)}",
                    f"{money(saved.saved)} ({saved.saved_fraction:.0%})",
                ],
                [
                    "extrapolated: 1 TB of originals like these",
                    money(per_tb.before),
                    f"{money(per_tb.after)} = {money(per_tb.after_compressed)} + {money(per_tb.after_archive)}",
                    f"{money(per_tb.saved)} ({per_tb.saved_fraction:.0%})",
                ],
            ],
            right=(1, 2, 3),
        ),
        f"  {run.storage_class} includes its per-object overhead; retrieval, requests and minimum storage duration "
        "(GLACIER 90 days, DEEP_ARCHIVE 180) are not included.",
    ]


def _describe(call: S3Call) -> str:
    params, response = call.params, call.response
    where = f"s3://{call.bucket}/{call.key}" if call.key else f"s3://{call.bucket}"
    details = []
    if "CopySource" in params:
        details.append(f"from s3://{params['CopySource']['Bucket']}/{params['CopySource']['Key']}")
    for name in ("StorageClass", "CopySourceIfMatch", "IfMatch", "Range"):
        if name in params:
            details.append(f"{name}={params[name]}")
    for name in ("ContentLength", "StorageClass", "ChecksumSHA256"):
        if name in response and call.operation == "HeadObject":
            details.append(f"-> {name}={response[name]}")
    return f"{call.operation:<13} {where}  {' '.join(details)}  [{call.status}]".rstrip()


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
