"""The demo's run: the real pipeline on a local S3 endpoint, and everything it did, read back.

An S3 endpoint runs on 127.0.0.1 (moto's server) with an input and an output bucket configured as
the stack configures them. Each sample image is uploaded, and the ObjectCreated event S3 would send
is delivered to the same `handler` the container runs. What `run_demo` returns is read back from
the buckets and from the S3 calls the function made, never taken from the function's word.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import unquote

from tqdm import tqdm

from imagery_archive.archiving.outcomes import ObjectResult
from imagery_archive.s3.storage import FAILURE_TAG, REASON_TAG
from imagery_archive.settings import SERVICE_NAME
from imagery_archive_cli.costs import pricing
from imagery_archive_cli.demo import large_scenes as large_scene_demo
from imagery_archive_cli.demo.catalog import stac_report
from imagery_archive_cli.demo.figures import Comparison, side_by_side
from imagery_archive_cli.demo.proof import Proof, prove_order, sha256_b64
from imagery_archive_cli.demo.samples import SAMPLE_DATA
from imagery_archive_cli.local.function import Invocation, LocalFunction
from imagery_archive_cli.local.s3_server import create_pipeline_buckets, local_s3, s3_client

INPUT_BUCKET = "imagery-input-demo"
OUTPUT_BUCKET = "imagery-output-demo"
UPLOAD_PREFIX = "scenes/"
BROKEN_KEY = "scenes/RGB.byte-truncated.tif"
"""A deliberately broken upload (the first half of a sample, as an interrupted copy leaves it)."""
FIGURE_SAMPLES = ("RGB.byte.tif", "naip_rgbn_5m.tif")


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
    """Key -> which path archived it: the function, or the large-scene batch job (`demo.large_scenes`)."""
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
    files = _uploads(samples, broken)
    server = local_s3() if endpoint is None else contextlib.nullcontext(endpoint)
    with server as s3_env, tempfile.TemporaryDirectory(prefix="demo-") as scratch, log_path.open("w") as log:
        client = s3_client(s3_env)
        create_pipeline_buckets(client, INPUT_BUCKET, OUTPUT_BUCKET)
        function_env = {**_function_env(s3_env, storage_class, quality, scratch), **large_scene_demo.routing_env(files)}
        invocations, paths, submitted = _deliver(client, files, function_env, log, echo)
        run = _read_back(client, files, invocations, storage_class)
        shown = [sample for sample in samples if sample.name in figure_samples] or list(samples[:1])
        figure = _figure(client, out_dir, shown, run["rows"])
        echo(stac_report(client, OUTPUT_BUCKET, out_dir / "stac"))
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
        submitted=submitted,
    )


def _deliver(
    client: Any, files: dict[str, bytes], function_env: dict[str, str], log: TextIO, echo: Callable[[str], None]
) -> tuple[dict[str, Invocation], dict[str, str], list[large_scene_demo.SubmittedJob]]:
    """Upload each file and deliver its event to the function; then run the jobs it submitted, as AWS Batch would.

    Returns each key's invocation (the function's, or its job's), which path archived it, and the jobs.
    """
    invocations: dict[str, Invocation] = {}
    with (
        LocalFunction(function_env, log, echo) as function,
        large_scene_demo.LocalBatch(function.large_scenes.client) as batch,
    ):
        for key, body in tqdm(files.items(), desc="upload + handler", unit="image", leave=False):
            client.put_object(Bucket=INPUT_BUCKET, Key=key, Body=body)
            invocations[key] = function.invoke(client, INPUT_BUCKET, key)
    paths = dict.fromkeys(invocations, large_scene_demo.FUNCTION_PATH)
    for job in batch.jobs:
        invocations[job.source.key], _ = large_scene_demo.run_job(job, function_env, log)
        paths[job.source.key] = large_scene_demo.JOB_PATH
    return invocations, paths, batch.jobs


def _uploads(samples: Sequence[Path], broken: bool) -> dict[str, bytes]:
    """Key -> body of every upload: the samples and, if asked, the first half of RGB.byte.tif."""
    files = {f"{UPLOAD_PREFIX}{path.name}": path.read_bytes() for path in samples}
    if broken:
        original = files.get(f"{UPLOAD_PREFIX}RGB.byte.tif") or (SAMPLE_DATA / "RGB.byte.tif").read_bytes()
        files[BROKEN_KEY] = original[: len(original) // 2]
    return files


def _function_env(s3_env: Mapping[str, str], storage_class: str, quality: int, scratch: str) -> dict[str, str]:
    """The function's environment, as the stack sets it, pointed at the local endpoint."""
    return {
        **s3_env,
        "OUTPUT_BUCKET": OUTPUT_BUCKET,
        "ARCHIVE_STORAGE_CLASS": storage_class,
        "QUALITY": str(quality),
        "CPL_TMPDIR": scratch,
        "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
        "POWERTOOLS_METRICS_NAMESPACE": "ImageryArchiveDemo",
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }


def _read_back(client: Any, files: dict[str, bytes], invocations: dict[str, Invocation], storage_class: str) -> dict:
    """The table, the proofs and the final checks, from the buckets and the recorded calls."""
    rows, proofs, matches = [], [], {}
    outputs, output_key_of = {}, {}
    for output_key in [key for key in listing(client, OUTPUT_BUCKET, "output/") if key.endswith(".tif")]:
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
    example = invocations.get(f"{UPLOAD_PREFIX}RGB.byte.tif") or next(iter(invocations.values()))
    return {
        "rows": rows,
        "proofs": proofs,
        "example_trail": example,
        "archives_match_files": matches,
        "left_in_place": _left_in_place(client),
        "output_keys": listing(client, OUTPUT_BUCKET),
    }


def _left_in_place(client: Any) -> list[LeftInPlace]:
    """Every object still in the input bucket, with the failure tags the function put on it."""
    left = []
    for key in listing(client, INPUT_BUCKET):
        tags = {t["Key"]: t["Value"] for t in client.get_object_tagging(Bucket=INPUT_BUCKET, Key=key)["TagSet"]}
        left.append(LeftInPlace(key, tags.get(FAILURE_TAG) == "failed", tags.get(REASON_TAG, "")))
    return left


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
