"""The performance benchmark, in one run: `python -m bench.run` (`make bench`); see BENCHMARKS.md.

For each scene, the contenders run in rounds (A B C D, A B C D, ...), each in a fresh process, on the
same input; the tables show medians over rounds and ratios to the reference design's compression
step alone (`gdal_translate`) measured in the same session. Then the rate-distortion table on the
bundled 8-bit imagery. Everything printed is also written to `bench_out/results.json` and, as
Markdown, to `bench_out/report.md`.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import boto3
from osgeo import gdal

from bench import ratedistortion
from bench.contenders import REFERENCE_COG_OPTIONS
from bench.fidelity import has_mask, ssim_against_original
from bench.measure import Measurement, MiB, run_measured, wait_until_quiet
from bench.s3local import S3RVER_CREDENTIALS, Endpoint, moto_server, realistic_endpoint
from bench.scene import SCENES, build_scene
from imagery_archive import FUNCTION_ROOT
from imagery_archive.s3.keys import Destinations
from imagery_archive_cli.local.events import event_for_objects
from imagery_archive_cli.local.s3_server import FAKE_CREDENTIALS, reset, s3_client

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
INPUT_BUCKET, OUTPUT_BUCKET = "bench-input", "bench-output"
LAMBDA_MEMORY_MB = 4096
"""The deployed function's memory (cdk.json `memoryMiB`); the handler sizes GDAL's cache from it."""
DEFAULT_GDAL_CACHE_MB = LAMBDA_MEMORY_MB * 5 // 100
"""GDAL's default cache is 5% of RAM: what the other contenders would get in that Lambda (not 5% of this host)."""

GDAL_TRANSLATE_OPTIONS = tuple(word for option in REFERENCE_COG_OPTIONS for word in ("-co", option))

S3_CONTENDERS = (
    "reference",
    "ours",
    "ours_stream",
    "ours_download",
    "ours_webp",
    "ours_target_ssim",
    "ours_target_ssim_webp",
    "job",
)
ALL_CONTENDERS = (
    "gdal_translate",
    "reference",
    "ours",
    "rio_cogeo",
    "ours_webp",
    "ours_target_ssim_webp",
    "job",
)
SCALING_CONTENDERS = ("gdal_translate", "reference", "ours", "rio_cogeo", "job")
DESCRIPTIONS = {
    "gdal_translate": f"`gdal_translate -of COG {' '.join(GDAL_TRANSLATE_OPTIONS)}` on the local file "
    "(compression alone)",
    "reference": "reference handler: download, gdal.Translate COG JPEG q75 on 1 thread, upload COG, re-upload "
    "original to GLACIER, delete",
    "ours": "our handler, end to end (default settings: JPEG q75, exact mask; SOURCE_READ=auto)",
    "ours_stream": "our handler with SOURCE_READ=stream: GDAL reads the original from S3, pinned to its ETag",
    "ours_download": "our handler with SOURCE_READ=download: the original downloaded to /tmp first (the earlier "
    "behaviour)",
    "rio_cogeo": "`rio cogeo create --cog-profile jpeg` on the local file (GDAL 3.10 via rasterio)",
    "ours_webp": "our handler with COMPRESSION=WEBP",
    "ours_target_ssim": "our handler with TARGET_SSIM = the reference's SSIM on this scene",
    "ours_target_ssim_webp": "our handler with COMPRESSION=WEBP and TARGET_SSIM = the reference's SSIM",
    "job": "the large-scene batch job (`python3 -m imagery_archive.job`'s main) end to end, default settings, "
    "with the environment AWS Batch gives it",
}


@dataclass
class Run:
    scene: str
    contender: str
    round: int
    measurement: Measurement
    input_bytes: int
    output_bytes: int
    ssim: float | None = None
    mask: bool | None = None
    notes: dict[str, Any] = field(default_factory=dict)


@dataclass
class Session:
    out: Path
    endpoint: Endpoint
    s3: Any
    quiet_wait_s: float = 30.0
    target_ssim: dict[str, float] = field(default_factory=dict)
    """The reference's SSIM per scene, the TARGET_SSIM of the target-quality contenders."""


def snapshot_function_code(out: Path) -> Path:
    """A copy of `lambda_src` as it is now: every run of the session imports the same code, even if
    someone edits the working tree meanwhile."""
    target = out / "code" / "lambda_src"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(FUNCTION_ROOT, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return target


def base_env(endpoint: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(ROOT),
        "AWS_ENDPOINT_URL": endpoint,
        **FAKE_CREDENTIALS,
    }


def command_and_env(name: str, scene: Path, scratch: Path, spec: Path, session: Session) -> tuple[list[str], dict]:
    env = base_env(session.endpoint.url)
    if name == "gdal_translate":
        env["GDAL_CACHEMAX"] = str(DEFAULT_GDAL_CACHE_MB)
        command = ["gdal_translate", "-q", "-of", "COG", *GDAL_TRANSLATE_OPTIONS]
        return [*command, str(scene), str(scratch / "out.tif")], env
    if name == "rio_cogeo":
        env["GDAL_CACHEMAX"] = str(DEFAULT_GDAL_CACHE_MB)
        command = [str(VENV_BIN / "rio"), "cogeo", "create", "--quiet", "--cog-profile", "jpeg"]
        return [*command, str(scene), str(scratch / "out.tif")], env
    python = [sys.executable, "-m", "bench.contenders"]
    if name == "reference":
        env["GDAL_CACHEMAX"] = str(DEFAULT_GDAL_CACHE_MB)
        return [*python, "reference", str(spec)], env
    env.update(
        OUTPUT_BUCKET=OUTPUT_BUCKET,
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE=str(LAMBDA_MEMORY_MB),
        POWERTOOLS_METRICS_NAMESPACE="ImageryArchiveBench",
        POWERTOOLS_METRICS_DISABLED="true",
        POWERTOOLS_LOG_LEVEL="INFO",
        CPL_VSIL_NETWORK_STATS_ENABLED="YES",  # GDAL counts its own reads of a streamed original
        # The snapshot's package comes first on the child's path, ahead of the editable install.
        PYTHONPATH=f"{session.out / 'code' / 'lambda_src'}{os.pathsep}{ROOT}",
    )
    if name in {"ours_webp", "ours_target_ssim_webp"}:
        env["COMPRESSION"] = "WEBP"
    if name in {"ours_stream", "ours_download"}:
        env["SOURCE_READ"] = name.removeprefix("ours_")
    if name.startswith("ours_target_ssim"):
        env["TARGET_SSIM"] = f"{session.target_ssim[scene.name]:.4f}"
    return [*python, "job" if name == "job" else "ours", str(spec)], env


def run_one(name: str, scene: Path, scene_name: str, number: int, session: Session) -> Run:
    """One measured run; what it produced is checked and sized (and, in round 1, its SSIM measured)."""
    work = session.out / "runs"
    scratch, spec, log = work / "tmp", work / "spec.json", session.out / "logs" / f"{scene_name}-{name}-{number}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    key = f"scenes/{scene.name}"
    if name in S3_CONTENDERS:
        put_scene(session, scene, key)
        event = event_for_objects(session.s3, INPUT_BUCKET, [key])
        spec.write_text(
            json.dumps(
                {
                    "event": event,
                    "bucket": INPUT_BUCKET,
                    "key": key,
                    "output_bucket": OUTPUT_BUCKET,
                    "memory_mb": LAMBDA_MEMORY_MB,
                }
            )
        )
    command, env = command_and_env(name, scene, scratch, spec, session)
    wait_until_quiet(session.quiet_wait_s)
    if session.endpoint.request_log:
        session.endpoint.request_log.write_text("")
    measurement = run_measured(command, env, scratch, log, cwd=ROOT, server_pids=session.endpoint.server_pids)
    notes: dict[str, Any] = {"gets": original_gets(session.endpoint, key)} if name in S3_CONTENDERS else {}
    kept = session.out / "outputs" / f"{scene_name}-{name}.tif"
    kept.parent.mkdir(parents=True, exist_ok=True)
    if name in S3_CONTENDERS:
        output_bytes = _check_s3_outcome(session.s3, key, scene.stat().st_size)
        if number == 1:
            session.s3.download_file(OUTPUT_BUCKET, cog_key(key), str(kept))
        if name.startswith("ours") or name == "job":
            notes.update(_handler_log(log))
        reset(session.endpoint.url)
    else:
        output = scratch / "out.tif"
        output_bytes = output.stat().st_size
        if number == 1:
            shutil.move(output, kept)
    shutil.rmtree(scratch, ignore_errors=True)
    result = Run(scene_name, name, number, measurement, scene.stat().st_size, output_bytes, notes=notes)
    if number == 1:
        result.ssim = ssim_against_original(scene, kept)
        result.mask = has_mask(kept)
        if name == "reference":
            session.target_ssim[scene.name] = int(result.ssim * 10_000) / 10_000
    return result


def cog_key(key: str) -> str:
    """Where the function publishes the COG of the scene at `key` (its suffix becomes .tif)."""
    return Destinations(OUTPUT_BUCKET).output(key).key


def put_scene(session: Session, scene: Path, key: str) -> None:
    """Fresh buckets holding the scene, with a CRC-64/NVME checksum as S3 gives every upload without one
    (and in the reads server too, on the realistic endpoint)."""
    reset(session.endpoint.url)
    session.s3.create_bucket(Bucket=INPUT_BUCKET)
    session.s3.create_bucket(Bucket=OUTPUT_BUCKET)
    session.s3.upload_file(str(scene), INPUT_BUCKET, key, ExtraArgs={"ChecksumAlgorithm": "CRC64NVME"})
    if session.endpoint.reads_url:
        reads = boto3.client(
            "s3", endpoint_url=session.endpoint.reads_url, region_name="us-east-1", **S3RVER_CREDENTIALS
        )
        if INPUT_BUCKET not in [bucket["Name"] for bucket in reads.list_buckets()["Buckets"]]:
            reads.create_bucket(Bucket=INPUT_BUCKET)
        listed = reads.list_objects_v2(Bucket=INPUT_BUCKET, Prefix=key).get("Contents", [])
        if [item["Size"] for item in listed if item["Key"] == key] != [scene.stat().st_size]:
            reads.upload_file(str(scene), INPUT_BUCKET, key)


def original_gets(endpoint: Endpoint, key: str) -> dict[str, float]:
    """How many GETs of the original the run made through the proxy, and their sizes (in bytes)."""
    if endpoint.request_log is None or not endpoint.request_log.exists():
        return {}
    sizes = [
        int(fields[4])
        for fields in (line.split("\t") for line in endpoint.request_log.read_text().splitlines())
        if fields[0] == "GET" and fields[1].split("?")[0] == f"/{INPUT_BUCKET}/{key}"
    ]
    return {"count": len(sizes), "bytes": sum(sizes), "median_bytes": statistics.median(sizes) if sizes else 0}


def _check_s3_outcome(s3: Any, key: str, size: int) -> int:
    """The COG's size, after checking that the original was archived whole into Glacier and deleted."""
    archived = s3.head_object(Bucket=OUTPUT_BUCKET, Key=f"archive/{key}")
    if archived["ContentLength"] != size or archived.get("StorageClass") != "GLACIER":
        raise RuntimeError(
            f"archive of {key} is wrong: {archived['ContentLength']} bytes, {archived.get('StorageClass')}"
        )
    if s3.list_objects_v2(Bucket=INPUT_BUCKET).get("KeyCount", 0):
        raise RuntimeError(f"the original {key} was not deleted")
    return s3.head_object(Bucket=OUTPUT_BUCKET, Key=cog_key(key))["ContentLength"]


def _handler_log(log: Path) -> dict[str, Any]:
    """Phase times, encoding and the function's own SSIM from the handler's 'Object archived' log line."""
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{") and '"seconds"' in line:
            entry = json.loads(line)
            return {
                "phases": entry.get("seconds", {}),
                "encoding": entry.get("encoding"),
                "source_read": entry.get("source_read"),
                "function_ssim": entry.get("ssim"),
            }
    return {}


# ---------------------------------------------------------------------------------------------- summaries


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def summarise(runs: list[Run]) -> dict[str, dict[str, dict[str, Any]]]:
    """Per scene and contender: medians over rounds, and ratios to gdal_translate and to the reference."""
    table: dict[str, dict[str, dict[str, Any]]] = {}
    for run in runs:
        row = table.setdefault(run.scene, {}).setdefault(run.contender, {"runs": []})
        row["runs"].append(run)
    for rows in table.values():
        for name, row in rows.items():
            runs_ = row.pop("runs")
            m = [r.measurement for r in runs_]
            first = runs_[0]
            row.update(
                contender=name,
                rounds=len(runs_),
                wall_s=median([x.wall_s for x in m]),
                wall_all_s=[round(x.wall_s, 2) for x in m],
                cpu_s=median([x.cpu_s for x in m]),
                other_cpu_s=median([x.other_cpu_s for x in m]),
                server_cpu_s=median([x.server_cpu_s for x in m]),
                peak_rss_mib=median([x.peak_rss_bytes / MiB for x in m]),
                peak_rss_max_mib=max(x.peak_rss_bytes / MiB for x in m),
                peak_tmp_mib=median([x.peak_scratch_bytes / MiB for x in m]),
                peak_tmp_max_mib=max(x.peak_scratch_bytes / MiB for x in m),
                bytes_moved=median([x.reported.get("bytes_moved", 0) for x in m]) if name in S3_CONTENDERS else None,
                bytes_downloaded=m[0].reported.get("bytes_downloaded"),
                bytes_uploaded=m[0].reported.get("bytes_uploaded"),
                s3_calls=m[0].reported.get("s3_calls"),
                input_bytes=first.input_bytes,
                output_bytes=first.output_bytes,
                output_sizes_equal=len({r.output_bytes for r in runs_}) == 1,
                ssim=first.ssim,
                mask=first.mask,
                phases={
                    phase: median(
                        [
                            r.notes.get("phases", {}).get(phase, r.measurement.reported.get("phases", {}).get(phase, 0))
                            for r in runs_
                        ]
                    )
                    for phase in {**first.notes.get("phases", {}), **first.measurement.reported.get("phases", {})}
                },
                encoding=first.notes.get("encoding"),
                function_ssim=first.notes.get("function_ssim"),
                source_read=first.notes.get("source_read"),
                gets=first.notes.get("gets", {}),
                gdal_gets=first.measurement.reported.get("gdal_gets"),
            )
        base = rows.get("gdal_translate")
        reference = rows.get("reference")
        for row in rows.values():
            row["wall_vs_gdal_translate"] = row["wall_s"] / base["wall_s"] if base else None
            row["wall_vs_reference"] = row["wall_s"] / reference["wall_s"] if reference else None
            row["size_vs_reference"] = row["output_bytes"] / reference["output_bytes"] if reference else None
    return table


def fmt_bytes(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value / MiB:,.1f} MiB"


def scene_table(scene: str, rows: dict[str, dict[str, Any]]) -> str:
    header = (
        "| contender | rounds | wall s: median (each) | x gdal_translate | x reference | CPU s | S3 server CPU s | "
        "others' CPU s | peak RSS MiB | moved through function | peak /tmp MiB | output | SSIM | mask |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for name, row in rows.items():
        in_out = row["input_bytes"] + row["output_bytes"]
        moved = (
            f"{fmt_bytes(row['bytes_moved'])} ({row['bytes_moved'] / in_out:.2f}x in+out)"
            if row["bytes_moved"] is not None
            else "0 (local file)"
        )
        ratio = lambda value: f"{value:.2f}" if value is not None else "-"  # noqa: E731
        lines.append(
            f"| {name} | {row['rounds']} | {row['wall_s']:.1f} ({', '.join(f'{w:.1f}' for w in row['wall_all_s'])}) | "
            f"{ratio(row['wall_vs_gdal_translate'])} | {ratio(row['wall_vs_reference'])} | {row['cpu_s']:.1f} | "
            f"{row['server_cpu_s']:.1f} | {row['other_cpu_s']:.1f} | "
            f"{row['peak_rss_mib']:.0f} (max {row['peak_rss_max_mib']:.0f}) | {moved} | {row['peak_tmp_mib']:.0f} | "
            f"{fmt_bytes(row['output_bytes'])} | {row['ssim']:.4f} | {'exact' if row['mask'] else 'no'} |"
        )
    any_row = next(iter(rows.values()))
    title = f"### Scene {scene}: {fmt_bytes(any_row['input_bytes'])} input\n\n"
    return title + header + "\n".join(lines) + "\n"


def phase_table(rows: dict[str, dict[str, Any]]) -> str:
    lines = []
    for name, row in rows.items():
        if row["phases"]:
            parts = ", ".join(f"{phase} {seconds:.1f}" for phase, seconds in row["phases"].items())
            lines.append(f"- {name}: {parts}" + (f" (encoding {row['encoding']})" if row.get("encoding") else ""))
        if row.get("gets"):
            gets = row["gets"]
            read = f"read: {row['source_read']}; " if row.get("source_read") else ""
            lines.append(
                f"  - {name}: {read}{gets['count']} GETs of the original, {fmt_bytes(gets['bytes'])} in all, "
                f"median {gets['median_bytes'] / 1024:,.0f} KiB each"
                + (f" (GDAL's own: {row['gdal_gets']['count']} GETs)" if row.get("gdal_gets") else "")
            )
    return ("Phase times, seconds (medians):\n\n" + "\n".join(lines) + "\n") if lines else ""


def rd_table(results: list[dict[str, Any]]) -> str:
    images = sorted({r["image"] for r in results})
    encoders = list(ratedistortion.ENCODERS)
    by = {(r["image"], r["encoder"]): r for r in results}
    header = "| image | " + " | ".join(encoders) + " |\n|---|" + "---|" * len(encoders) + "\n"
    lines = []
    for image in images:
        cells = []
        for encoder in encoders:
            r = by.get((image, encoder))
            if r is None or r["bytes"] == 0:
                cells.append("failed" if r else "-")
            else:
                quality = r["detail"].split(" (")[0].replace("gdal.Translate COG ", "").replace("jpeg profile", "JPEG")
                cells.append(f"{r['bytes'] / 1024:,.0f} KiB / {r['ssim']:.4f} ({quality})")
        lines.append(f"| {image} | " + " | ".join(cells) + " |")
    totals = []
    reference_total = sum(by[(i, "reference")]["bytes"] for i in images)
    for encoder in encoders:
        done = [by[(i, encoder)] for i in images if by[(i, encoder)]["bytes"]]
        total = sum(r["bytes"] for r in done)
        worse = [r["image"] for r in done if r["ssim"] < by[(r["image"], "reference")]["ssim"] - 1e-4]
        reference_part = sum(by[(r["image"], "reference")]["bytes"] for r in done)
        totals.append(
            f"{total / 1024:,.0f} KiB = {total / reference_part:.3f}x ref"
            + (f" ({len(done)}/{len(images)} images)" if len(done) < len(images) else "")
            + f"; SSIM below ref on {len(worse)}"
        )
    lines.append("| **total** | " + " | ".join(totals) + " |")
    _ = reference_total
    return header + "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------- verdicts


def verdict(target: str, passed: bool | None, measured: str) -> dict[str, Any]:
    return {"target": target, "verdict": {True: "PASS", False: "FAIL", None: "n/a"}[passed], "measured": measured}


def verdicts(table: dict[str, dict[str, dict[str, Any]]], rd: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each target (time, bytes moved, scratch space, memory, rate-distortion) with its measure and PASS / FAIL."""
    return [*_scene_verdicts(table), *_memory_verdicts(table), *_rate_distortion_verdicts(rd)]


def _scene_verdicts(table: dict[str, dict[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Per scene: our end-to-end time against `gdal_translate`, the bytes we moved and the scratch space we used."""
    out = []
    for scene, rows in table.items():
        ours, ref = rows.get("ours"), rows.get("reference")
        if not ours:
            continue
        if ours.get("wall_vs_gdal_translate") is not None:
            out.append(
                verdict(
                    f"{scene}: end to end <= 1.3x gdal_translate",
                    ours["wall_vs_gdal_translate"] <= 1.3,
                    f"ours {ours['wall_s']:.1f} s = {ours['wall_vs_gdal_translate']:.2f}x; reference handler "
                    f"{ref['wall_vs_gdal_translate']:.2f}x"
                    if ref
                    else f"{ours['wall_vs_gdal_translate']:.2f}x",
                )
            )
        in_out = ours["input_bytes"] + ours["output_bytes"]
        moved = f"{fmt_bytes(ours['bytes_moved'])} vs in+out {fmt_bytes(in_out)}"
        out.append(
            verdict(
                f"{scene}: bytes moved <= input + output",
                ours["bytes_moved"] <= in_out * 1.001,
                moved + (f"; reference {fmt_bytes(ref['bytes_moved'])}" if ref else ""),
            )
        )
        out.append(
            verdict(
                f"{scene}: peak /tmp <= input + output",
                ours["peak_tmp_max_mib"] * MiB <= in_out * 1.001,
                f"{ours['peak_tmp_max_mib']:.0f} MiB vs in+out {in_out / MiB:.0f} MiB",
            )
        )
    return out


def _memory_verdicts(table: dict[str, dict[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Our peak RSS on scene M, and how it grows from M to L (4x the pixels)."""
    out = []
    if "M" in table and "ours" in table["M"]:
        rss = table["M"]["ours"]["peak_rss_max_mib"]
        out.append(verdict("M: peak RSS <= 600 MiB", rss <= 600, f"{rss:.0f} MiB (max over rounds)"))
    if "M" in table and "L" in table and "ours" in table["M"] and "ours" in table["L"]:
        growth = table["L"]["ours"]["peak_rss_max_mib"] / table["M"]["ours"]["peak_rss_max_mib"]
        out.append(
            verdict(
                "L/M: peak RSS growth <= 1.2x for 4x pixels",
                growth <= 1.2,
                f"{table['M']['ours']['peak_rss_max_mib']:.0f} -> {table['L']['ours']['peak_rss_max_mib']:.0f} MiB"
                f" = {growth:.2f}x",
            )
        )
    return out


RATE_DISTORTION_TARGETS = (
    ("ours", None, "default: no larger than reference and SSIM no worse, on every image"),
    ("ours_target_ssim", 0.8, "TARGET_SSIM (JPEG): >= 20% smaller in total, SSIM no worse on every image"),
    ("ours_target_ssim_webp", 0.8, "TARGET_SSIM + WEBP: >= 20% smaller in total, SSIM no worse on every image"),
)
"""Encoder, its largest total size as a fraction of the reference's (None: no larger on each image), label."""


def _rate_distortion_verdicts(rd: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Our encoders against the reference on the bundled imagery, as `RATE_DISTORTION_TARGETS` sets them."""
    if not rd:
        return []
    out = []
    images = sorted({r["image"] for r in rd})
    by = {(r["image"], r["encoder"]): r for r in rd}
    ref_total = sum(by[(i, "reference")]["bytes"] for i in images)
    for encoder, limit, label in RATE_DISTORTION_TARGETS:
        total = sum(by[(i, encoder)]["bytes"] for i in images)
        worse = [i for i in images if by[(i, encoder)]["ssim"] < by[(i, "reference")]["ssim"] - 1e-4]
        larger = [i for i in images if by[(i, encoder)]["bytes"] > by[(i, "reference")]["bytes"]]
        small_enough = not larger if limit is None else total <= ref_total * limit
        out.append(
            verdict(
                f"rate-distortion, {label}",
                small_enough and not worse,
                f"total {total / 1024:,.0f} KiB = {total / ref_total:.3f}x reference ({ref_total / 1024:,.0f} KiB); "
                f"SSIM below reference on {worse or 'none'}; larger on {larger or 'none'}",
            )
        )
    return out


def machine() -> dict[str, str]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory = next(
        line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    rio_gdal = subprocess.run(
        [sys.executable, "-c", "import rasterio; print(rasterio.__gdal_version__)"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": str(os.cpu_count()),
        "cpu_model": cpu,
        "ram_gib": f"{int(memory) / 1024 / 1024:.1f}",
        "kernel": platform.release(),
        "python": platform.python_version(),
        "gdal": gdal.__version__,
        "rasterio_gdal": rio_gdal,
        "git": subprocess.run(
            ["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True, text=True, check=False
        ).stdout.strip(),
    }


def parse_rounds(text: str) -> dict[str, int]:
    return {name: int(count) for name, count in (part.split("=") for part in text.split(",") if part)}


def contender_names(text: str) -> list[str]:
    """A comma-separated list of contenders, each one `DESCRIPTIONS` knows."""
    names = [name for name in text.split(",") if name]
    unknown = [name for name in names if name not in DESCRIPTIONS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown contender(s) {', '.join(unknown)}: choose from {', '.join(DESCRIPTIONS)}"
        )
    return names


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--scenes",
        default="M,L",
        help="scenes to run, of S (15 MB), M (310 MB), L (1.2 GB), and S or M as -striped, -nitf, -jp2 (M-nitf, ...)",
    )
    parser.add_argument("--rounds", default="S=1,M=3,L=1", help="rounds per scene, e.g. M=3,L=1")
    parser.add_argument(
        "--contenders", type=contender_names, default=list(ALL_CONTENDERS), help="contenders on scene M and S"
    )
    parser.add_argument(
        "--large-contenders", type=contender_names, default=list(SCALING_CONTENDERS), help="contenders on scene L"
    )
    parser.add_argument("--skip-rate-distortion", action="store_true")
    parser.add_argument(
        "--endpoint",
        choices=("moto", "realistic"),
        default="moto",
        help="moto alone, or moto behind a latency proxy with s3rver serving object reads from disk",
    )
    parser.add_argument("--delay-ms", type=float, default=25.0, help="latency added per request (realistic)")
    parser.add_argument(
        "--quiet-wait", type=float, default=15.0, help="seconds to wait, before each run, for other load to stop"
    )
    parser.add_argument("--out", default=str(ROOT / "bench_out"), type=Path)
    return parser


def main(argv: list[str] | None = None) -> dict[str, Any]:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the S3 server is stopped on `kill`
    args = parser().parse_args(argv)
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    info = machine()
    snapshot_function_code(out)
    with endpoint_for(args, out) as endpoint:
        s3 = s3_client({**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": endpoint.url})
        runs = run_scenes(args, Session(out, endpoint, s3, args.quiet_wait), started)
    rd = (
        []
        if args.skip_rate_distortion
        else ratedistortion.as_dicts(ratedistortion.run(out / "ratedistortion", VENV_BIN / "rio"))
    )
    table = summarise(runs)
    checks = verdicts(table, rd)
    report = render(
        info, " ".join(["python -m bench.run", *(argv if argv is not None else sys.argv[1:])]), table, rd, checks
    )
    print("\n" + report)
    results = {
        "machine": info,
        "scenes": {s: {n: {k: v for k, v in row.items()} for n, row in rows.items()} for s, rows in table.items()},
        "runs": [{**asdict(r), "measurement": asdict(r.measurement)} for r in runs],
        "rate_distortion": rd,
        "targets": checks,
        "seconds": time.perf_counter() - started,
    }
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    (out / "report.md").write_text(report)
    return results


@contextlib.contextmanager
def endpoint_for(args: argparse.Namespace, out: Path) -> Iterator[Endpoint]:
    """moto alone, or the realistic endpoint (reads from disk, with latency): see `bench.s3local`."""
    if args.endpoint == "realistic":
        with realistic_endpoint(VENV_BIN, out, args.delay_ms, INPUT_BUCKET) as endpoint:
            yield endpoint
        return
    with moto_server(VENV_BIN, out / "logs" / "moto_server.log", out / "moto_tmp") as (url, pid):
        yield Endpoint(url, (pid,))


def run_scenes(args: argparse.Namespace, session: Session, started: float) -> list[Run]:
    """Every round of every contender on every scene asked for, in the order A B C D, A B C D, ..."""
    rounds = parse_rounds(args.rounds)
    runs: list[Run] = []
    for scene_name in args.scenes.split(","):
        scene = build_scene(SCENES[scene_name], session.out / "scenes")
        names = args.large_contenders if scene_name == "L" else args.contenders
        for number in range(1, rounds.get(scene_name, 1) + 1):
            for name in names:
                run = run_one(name, scene, scene_name, number, session)
                runs.append(run)
                print(f"[{time.perf_counter() - started:6.0f} s] {progress(run)}", flush=True)
    return runs


def progress(run: Run) -> str:
    """One run's figures on one line, as the benchmark goes."""
    m = run.measurement
    return (
        f"{run.scene} round {run.round} {run.contender:22s} "
        f"wall {m.wall_s:6.1f} s  cpu {m.cpu_s:6.1f} s  rss {m.peak_rss_bytes / MiB:6.0f} MiB  "
        f"tmp {m.peak_scratch_bytes / MiB:6.0f} MiB  out {run.output_bytes / MiB:6.1f} MiB  "
        f"server {m.server_cpu_s:5.1f} s  others {m.other_cpu_s:5.1f} s"
        + (f"  ssim {run.ssim:.4f}" if run.ssim is not None else "")
    )


def render(info: dict[str, str], command: str, table: dict, rd: list[dict[str, Any]], checks: list[dict]) -> str:
    parts = [
        f"Machine: {info['cpus']} CPUs ({info['cpu_model']}), {info['ram_gib']} GiB RAM, Linux {info['kernel']}, "
        f"Python {info['python']}, GDAL {info['gdal']} (rio-cogeo: GDAL {info['rasterio_gdal']}); "
        f"{info['date']}; code at {info['git']}.\n\nCommand: `{command}`\n",
        "Contenders:\n\n" + "\n".join(f"- **{n}**: {d}" for n, d in DESCRIPTIONS.items()) + "\n",
    ]
    for scene, rows in table.items():
        parts.append(scene_table(scene, rows))
        parts.append(phase_table(rows))
    if rd:
        parts.append("### Rate-distortion on the bundled 8-bit imagery (size / SSIM)\n\n" + rd_table(rd))
    parts.append(
        "### Targets\n\n| target | verdict | measured |\n|---|---|---|\n"
        + "\n".join(f"| {c['target']} | {c['verdict']} | {c['measured']} |" for c in checks)
        + "\n"
    )
    return "\n".join(parts)


if __name__ == "__main__":
    main()
