"""`make demo`: the real pipeline on a local S3 endpoint with the bundled imagery, then what it did.

An S3 endpoint runs on 127.0.0.1 (moto's server) with an input and an output bucket configured as
the stack configures them. Each sample image is uploaded, and the ObjectCreated event S3 would send
is delivered to the same `handler` the container runs. Everything shown afterwards is read back from
the buckets (and from the S3 calls the function made): a table per image, the proof that no
original was deleted before its archived copy was verified, what the run saves per month, and a
side-by-side figure of originals and their COGs.

    python -m tools.demo [--out demo_out] [--quality 75] [--storage-class GLACIER] [--prices prices.json]
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import boto3
from tqdm import tqdm

from imagery_archive.keys import is_imagery_key
from imagery_archive.outcomes import ObjectResult
from imagery_archive.settings import SERVICE_NAME
from tools import large_scene_demo, pricing
from tools.cli import Parser, fail, size, table
from tools.figures import Comparison, side_by_side
from tools.local_function import Invocation, LocalFunction, S3Call
from tools.local_s3 import create_pipeline_buckets, local_s3

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_data"
INPUT_BUCKET = "imagery-input-demo"
OUTPUT_BUCKET = "imagery-output-demo"
UPLOAD_PREFIX = "scenes/"
BROKEN_KEY = "scenes/RGB.byte-truncated.tif"
"""A deliberately broken upload (the first half of a sample, as an interrupted copy leaves it)."""
FIGURE_SAMPLES = ("RGB.byte.tif", "naip_rgbn_5m.tif")
ARCHIVE_CLASSES = ("GLACIER", "DEEP_ARCHIVE", "GLACIER_IR", "STANDARD_IA")


def bundled_samples() -> list[Path]:
    return sorted(path for path in SAMPLES.iterdir() if is_imagery_key(path.name))


def sha256_b64(data: bytes) -> str:
    """SHA-256 as S3 reports ChecksumSHA256 (base64)."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


@dataclass(frozen=True)
class Row:
    """One image of the table, as read from the output bucket."""

    key: str
    output_key: str
    original_bytes: int
    compressed_bytes: int
    ssim: float
    encoding: str
    archive_class: str
    seconds: float

    @property
    def reduction(self) -> float:
        return 1 - self.compressed_bytes / self.original_bytes


@dataclass(frozen=True)
class Proof:
    """When the original was deleted, relative to the archive copy and its verification (call numbers)."""

    key: str
    copied: int | None
    verified: int | None
    deleted: int | None
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def prove_order(invocation: Invocation, archive_key: str, sha256: str, size_: int, storage_class: str) -> Proof:
    """From the recorded S3 calls: a copy, then a HeadObject that verified it, then a conditional delete."""
    numbered = list(enumerate(invocation.calls, start=1))

    def first(match: Callable[[S3Call], bool], after: int = 0) -> int | None:
        return next((number for number, call in numbered if number > after and match(call)), None)

    def verifies(call: S3Call) -> bool:
        return (
            call.operation == "HeadObject"
            and call.key == archive_key
            and call.status == 200
            and call.response.get("ChecksumSHA256") == sha256
            and call.response.get("ContentLength") == size_
            and call.response.get("StorageClass") == storage_class
        )

    copied = first(lambda call: call.operation == "CopyObject" and call.key == archive_key and call.status == 200)
    verified = first(verifies, after=copied or 0)
    deleted = first(lambda call: call.operation == "DeleteObject" and call.key == invocation.key)
    problems = []
    if copied is None:
        problems.append("no archive copy")
    if verified is None:
        problems.append("archive never verified (size, SHA-256 of the file, class)")
    if deleted is None:
        problems.append("original not deleted")
    elif verified is None or deleted < verified:
        problems.append("original deleted before its archive was verified")
    elif "IfMatch" not in invocation.calls[deleted - 1].params:
        problems.append("delete not conditional on the archived version (IfMatch)")
    return Proof(invocation.key, copied, verified, deleted, tuple(problems))


@dataclass(frozen=True)
class LeftInPlace:
    """An original still in the input bucket at the end, and why (its failure tags)."""

    key: str
    tagged_failed: bool
    reason: str


@dataclass(frozen=True)
class DemoRun:
    """Everything the demo shows, read back from the buckets and the recorded S3 calls."""

    rows: list[Row]
    proofs: list[Proof]
    example_trail: Invocation
    archives_match_files: dict[str, bool]
    """Archive key -> its ChecksumSHA256, size and class match the bundled file (checked at the end)."""
    left_in_place: list[LeftInPlace]
    broken_outcome: ObjectResult | None
    output_keys: list[str]
    prices: pricing.PriceTable
    storage_class: str
    savings: pricing.Savings
    per_tb: pricing.Savings
    figure: Path
    log: Path
    seconds: float
    paths: dict[str, str] = field(default_factory=dict)
    """Key -> which path archived it: the function, or the large-scene batch job (`tools.large_scene_demo`)."""
    submitted: list[large_scene_demo.SubmittedJob] = field(default_factory=list)


def listing(client: Any, bucket: str, prefix: str = "") -> list[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


def run_demo(
    samples: Sequence[Path],
    out_dir: Path,
    prices: pricing.PriceTable,
    storage_class: str = "GLACIER",
    quality: int = 75,
    broken: bool = True,
    figure_samples: Sequence[str] = FIGURE_SAMPLES,
    echo: Callable[[str], None] | None = None,
    endpoint: dict[str, str] | None = None,
) -> DemoRun:
    """Run the pipeline on `samples` against an embedded S3 endpoint; see the module docstring.

    `endpoint` (AWS_ENDPOINT_URL and fake credentials) uses an S3 endpoint already running instead.
    """
    started = time.perf_counter()
    console = sys.stdout  # the function's own output is redirected to its log while it runs
    echo = echo or (lambda line: tqdm.write(line, file=console))
    out_dir.mkdir(parents=True, exist_ok=True)
    log_path = out_dir / "function.log"
    files = {f"{UPLOAD_PREFIX}{path.name}": path.read_bytes() for path in samples}
    if broken:
        original = files.get(f"{UPLOAD_PREFIX}RGB.byte.tif") or (SAMPLES / "RGB.byte.tif").read_bytes()
        files[BROKEN_KEY] = original[: len(original) // 2]
    server = local_s3() if endpoint is None else contextlib.nullcontext(endpoint)
    with server as s3_env, tempfile.TemporaryDirectory(prefix="demo-") as scratch, log_path.open("w") as log:
        client = boto3.client(
            "s3",
            endpoint_url=s3_env["AWS_ENDPOINT_URL"],
            region_name=s3_env["AWS_DEFAULT_REGION"],
            aws_access_key_id=s3_env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=s3_env["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=s3_env.get("AWS_SESSION_TOKEN"),
        )
        create_pipeline_buckets(client, INPUT_BUCKET, OUTPUT_BUCKET)
        function_env = {
            **s3_env,
            "OUTPUT_BUCKET": OUTPUT_BUCKET,
            "ARCHIVE_STORAGE_CLASS": storage_class,
            "QUALITY": str(quality),
            "CPL_TMPDIR": scratch,
            "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
            "POWERTOOLS_METRICS_NAMESPACE": "ImageryArchiveDemo",
            "POWERTOOLS_LOG_LEVEL": "INFO",
            **large_scene_demo.routing_env(files),
        }
        invocations: dict[str, Invocation] = {}
        with (
            LocalFunction(function_env, log, echo) as function,
            large_scene_demo.LocalBatch(
                function.module.LARGE_SCENES.client  # type: ignore[union-attr]
            ) as batch,
        ):
            for key, body in tqdm(files.items(), desc="upload + handler", unit="image", leave=False):
                client.put_object(Bucket=INPUT_BUCKET, Key=key, Body=body)
                invocations[key] = function.invoke(client, INPUT_BUCKET, key)
        paths = dict.fromkeys(invocations, large_scene_demo.FUNCTION_PATH)
        for job in batch.jobs:  # as AWS Batch would run them, once the function has submitted them
            invocations[job.source.key], _ = large_scene_demo.run_job(job, function_env, log)
            paths[job.source.key] = large_scene_demo.JOB_PATH
        run = _read_back(client, files, invocations, storage_class)
        shown = [sample for sample in samples if sample.name in figure_samples] or list(samples[:1])
        figure = _figure(client, out_dir, shown, run["rows"])
    originals = [row.original_bytes for row in run["rows"]]
    compressed = [row.compressed_bytes for row in run["rows"]]
    saved = pricing.savings(prices, originals, compressed, storage_class)
    return DemoRun(
        **run,
        broken_outcome=invocations[BROKEN_KEY].result if broken else None,
        prices=prices,
        storage_class=storage_class,
        savings=saved,
        per_tb=pricing.per_terabyte(saved, sum(originals)),
        figure=figure,
        log=log_path,
        seconds=time.perf_counter() - started,
        paths=paths,
        submitted=batch.jobs,
    )


def _read_back(client: Any, files: dict[str, bytes], invocations: dict[str, Invocation], storage_class: str) -> dict:
    """The table, the proofs and the final checks, from the buckets and the recorded calls."""
    rows, proofs, matches = [], [], {}
    outputs, output_key_of = {}, {}
    for output_key in listing(client, OUTPUT_BUCKET, "output/"):
        head = client.head_object(Bucket=OUTPUT_BUCKET, Key=output_key)
        outputs[unquote(head["Metadata"]["source-key"])] = head
        output_key_of[unquote(head["Metadata"]["source-key"])] = output_key
    for key, body in files.items():
        if key not in outputs:
            continue  # not compressed: see left_in_place
        archive_key = f"archive/{key}"
        output = outputs[key]
        archive = client.head_object(Bucket=OUTPUT_BUCKET, Key=archive_key, ChecksumMode="ENABLED")
        meta = output["Metadata"]
        rows.append(
            Row(
                key=key,
                output_key=output_key_of[key],
                original_bytes=int(meta["source-size"]),
                compressed_bytes=output["ContentLength"],
                ssim=float(meta["ssim"]),
                encoding=meta["encoding"],
                archive_class=archive.get("StorageClass", "STANDARD"),
                seconds=invocations[key].seconds,
            )
        )
        digest = sha256_b64(body)
        matches[archive_key] = (
            archive.get("ChecksumSHA256") == digest
            and archive["ContentLength"] == len(body)
            and archive.get("StorageClass", "STANDARD") == storage_class
        )
        proofs.append(prove_order(invocations[key], archive_key, digest, len(body), storage_class))
    left = []
    for key in listing(client, INPUT_BUCKET):
        tags = {t["Key"]: t["Value"] for t in client.get_object_tagging(Bucket=INPUT_BUCKET, Key=key)["TagSet"]}
        left.append(
            LeftInPlace(key, tags.get("imagery-archive:status") == "failed", tags.get("imagery-archive:reason", ""))
        )
    example = invocations.get(f"{UPLOAD_PREFIX}RGB.byte.tif") or next(iter(invocations.values()))
    return {
        "rows": rows,
        "proofs": proofs,
        "example_trail": example,
        "archives_match_files": matches,
        "left_in_place": left,
        "output_keys": listing(client, OUTPUT_BUCKET),
    }


def _figure(client: Any, out_dir: Path, samples: Sequence[Path], rows: list[Row]) -> Path:
    """Originals next to the COGs downloaded from the output bucket."""
    comparisons = []
    by_key = {row.key: row for row in rows}
    for sample in samples:
        row = by_key.get(f"{UPLOAD_PREFIX}{sample.name}")
        if row is None:
            continue
        cog = out_dir / "cogs" / f"{sample.stem}.tif"
        cog.parent.mkdir(parents=True, exist_ok=True)
        client.download_file(OUTPUT_BUCKET, row.output_key, str(cog))
        comparisons.append(
            Comparison(sample.name, sample, cog, row.original_bytes, row.compressed_bytes, row.ssim, row.encoding)
        )
    return side_by_side(comparisons, out_dir / "compare.png")


def money(dollars: float) -> str:
    return f"${dollars:,.2f}" if dollars >= 0.1 else f"${dollars:.6f}"


def render(run: DemoRun) -> str:
    """The report, as printed."""
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
    out = [
        "",
        "Compressed and archived (read back from the output bucket):",
        table(header, rows, right=(1, 2, 3, 4, 8)),
        *large_scene_demo.describe(run.submitted),
    ]

    out += ["", "Each original left the input bucket only after its archive copy was verified (S3 calls, in order):"]
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

    out += ["", "Checked in the buckets at the end:"]
    matching = sum(run.archives_match_files.values())
    out.append(
        f"  archive/: {matching} of {len(run.archives_match_files)} originals have ChecksumSHA256 = SHA-256 of the "
        f"bundled file, the same size, and class {run.storage_class}"
    )
    out.append(f"  output/: {sum(k.startswith('output/') for k in run.output_keys)} COGs in S3 Standard")
    failed = [item for item in run.left_in_place if item.tagged_failed]
    out.append(f"  input bucket: {len(run.left_in_place)} object(s) left, {len(failed)} tagged as failed")
    for item in run.left_in_place:
        label = " (the deliberately broken upload: first half of RGB.byte.tif)" if item.key == BROKEN_KEY else ""
        status = f"tagged imagery-archive:status=failed, reason: {item.reason}" if item.tagged_failed else "NOT tagged"
        out.append(f"    {item.key}{label}: {status}")

    saved, per_tb = run.savings, run.per_tb
    out += [
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
        "",
        f"Figure (original vs compressed, full view and a full-resolution crop): {_relative(run.figure)}",
        f"Function logs and metrics (JSON, as CloudWatch gets them): {_relative(run.log)}",
        f"Done in {run.seconds:.1f} s.",
    ]
    return "\n".join(out)


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


def main(argv: Sequence[str] | None = None) -> int:
    parser = Parser(prog="python -m tools.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("demo_out"), help="where the figure and logs go")
    parser.add_argument("--quality", type=_quality, default=75, help="JPEG/WEBP quality, 1-100 (default 75)")
    parser.add_argument(
        "--storage-class", type=str.upper, choices=ARCHIVE_CLASSES, default="GLACIER", help="archive class"
    )
    parser.add_argument("--prices", type=Path, help="JSON price table overriding the built-in one")
    parser.add_argument("--samples", nargs="+", metavar="NAME", help="only these files of sample_data/")
    parser.add_argument("--no-broken", action="store_true", help="don't upload the deliberately broken file")
    args = parser.parse_args(argv)
    try:
        prices = pricing.load_prices(args.prices)
    except pricing.PriceTableError as error:
        fail(str(error))
    samples = bundled_samples()
    if args.samples:
        unknown = sorted(set(args.samples) - {path.name for path in samples})
        if unknown:
            fail(f"not in sample_data/: {', '.join(unknown)}")
        samples = [path for path in samples if path.name in args.samples]
    print(
        f"Local S3 endpoint on 127.0.0.1: buckets {INPUT_BUCKET} and {OUTPUT_BUCKET} (as the stack creates them);"
        f" uploading {len(samples)} sample images{' and 1 deliberately broken file' if not args.no_broken else ''},"
        " one ObjectCreated event each to handler.handler ..."
    )
    run = run_demo(samples, args.out, prices, args.storage_class, args.quality, broken=not args.no_broken)
    print(render(run))
    healthy = all(proof.ok for proof in run.proofs) and all(run.archives_match_files.values())
    return 0 if healthy else 1


def _quality(text: str) -> int:
    import argparse  # noqa: PLC0415

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError(f"{value} is not between 1 and 100")
    return value


if __name__ == "__main__":
    sys.exit(main())
