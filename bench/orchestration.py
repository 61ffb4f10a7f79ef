"""The benchmark's runs: each contender on each scene in a fresh, measured process, against a local S3 endpoint.

Scenes go into the input bucket (and the realistic endpoint's read server), each run gets its command and
environment, and what it produced is checked (the COG in S3, its SSIM against the original, its mask).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from bench.contenders import ALL_THREADS_COG_OPTIONS, REFERENCE_COG_OPTIONS
from bench.fidelity import has_mask, ssim_against_original
from bench.measure import Measurement, MiB, run_measured, wait_until_quiet
from bench.s3local import S3RVER_CREDENTIALS, Endpoint, moto_server, realistic_endpoint
from bench.scene import SCENES, build_scene
from imagery_archive import FUNCTION_ROOT
from imagery_archive.s3.keys import Destinations
from imagery_archive_cli.local.events import event_for_objects
from imagery_archive_cli.local.s3_server import FAKE_CREDENTIALS, reset

ROOT = Path(__file__).resolve().parent.parent


VENV_BIN = Path(sys.executable).parent


INPUT_BUCKET, OUTPUT_BUCKET = "bench-input", "bench-output"


LAMBDA_MEMORY_MB = 4096
"""The deployed function's memory (cdk.json `memoryMiB`); the handler sizes GDAL's cache from it."""


DEFAULT_GDAL_CACHE_MB = LAMBDA_MEMORY_MB * 5 // 100
"""GDAL's default cache is 5% of RAM: what the other contenders would get in that Lambda (not 5% of this host)."""


def creation_options(options: tuple[str, ...]) -> tuple[str, ...]:
    """COG creation options as gdal_translate's arguments (`-co NAME=VALUE` each)."""
    return tuple(word for option in options for word in ("-co", option))


GDAL_TRANSLATE_OPTIONS = creation_options(REFERENCE_COG_OPTIONS)
GDAL_TRANSLATE_ALL_THREADS_OPTIONS = creation_options(ALL_THREADS_COG_OPTIONS)


CLI_CONTENDERS = {
    "gdal_translate": ("gdal_translate", "-q", "-of", "COG", *GDAL_TRANSLATE_OPTIONS),
    "gdal_translate_all_threads": ("gdal_translate", "-q", "-of", "COG", *GDAL_TRANSLATE_ALL_THREADS_OPTIONS),
    "rio_cogeo": (str(VENV_BIN / "rio"), "cogeo", "create", "--quiet", "--cog-profile", "jpeg"),
}
"""The command-line contenders: each command is given the local scene and an output path, nothing else."""


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
    "gdal_translate_all_threads",
    "reference",
    "ours",
    "rio_cogeo",
    "ours_webp",
    "ours_target_ssim_webp",
    "job",
)


SCALING_CONTENDERS = ("gdal_translate", "gdal_translate_all_threads", "reference", "ours", "rio_cogeo", "job")


DESCRIPTIONS = {
    "gdal_translate": f"`gdal_translate -of COG {' '.join(GDAL_TRANSLATE_OPTIONS)}` on the local file "
    "(compression alone)",
    "gdal_translate_all_threads": f"`gdal_translate -of COG {' '.join(GDAL_TRANSLATE_ALL_THREADS_OPTIONS)}` on the "
    "local file (compression alone, every CPU, AVERAGE overviews as ours)",
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
    xray_daemon: str | None = None
    """host:port where our function's contenders send X-Ray segments (`traced`); None: tracing off."""


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


def default_cache_env(session: Session) -> dict[str, str]:
    """The environment of the contenders that stand for GDAL alone or the reference: GDAL's default cache as
    the deployed Lambda would give it."""
    return {**base_env(session.endpoint.url), "GDAL_CACHEMAX": str(DEFAULT_GDAL_CACHE_MB)}


def function_env(session: Session) -> dict[str, str]:
    """Our function's environment as the stack sets it (default settings), its code from the session's snapshot."""
    return {
        **base_env(session.endpoint.url),
        "OUTPUT_BUCKET": OUTPUT_BUCKET,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(LAMBDA_MEMORY_MB),
        "POWERTOOLS_METRICS_NAMESPACE": "ImageryArchiveBench",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "CPL_VSIL_NETWORK_STATS_ENABLED": "YES",  # GDAL counts its own reads of a streamed original
        # The snapshot's package comes first on the child's path, ahead of the editable install.
        "PYTHONPATH": f"{session.out / 'code' / 'lambda_src'}{os.pathsep}{ROOT}",
        **(lambda_tracing_env(session.xray_daemon, session.out) if session.xray_daemon else {}),
    }


def lambda_tracing_env(daemon: str, out: Path) -> dict[str, str]:
    """What Lambda gives a function with active tracing: Powertools' Tracer turns on (it is off outside Lambda),
    patches botocore, and every object and step is a segment sent to `daemon` over UDP, as in the deployed function."""
    return {
        "LAMBDA_TASK_ROOT": str(out / "code" / "lambda_src"),
        "AWS_LAMBDA_FUNCTION_NAME": "imagery-archive-bench",
        "_X_AMZN_TRACE_ID": "Root=1-6753a1b2-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1",
        "AWS_XRAY_DAEMON_ADDRESS": daemon,
    }


@contextlib.contextmanager
def xray_daemon(traced: bool) -> Iterator[str | None]:
    """A UDP port standing in for the X-Ray daemon (segments are received by the kernel and dropped), or None."""
    if not traced:
        yield None
        return
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as listener:
        listener.bind(("127.0.0.1", 0))
        yield f"127.0.0.1:{listener.getsockname()[1]}"


def command_and_env(name: str, scene: Path, scratch: Path, spec: Path, session: Session) -> tuple[list[str], dict]:
    if name in CLI_CONTENDERS:
        return [*CLI_CONTENDERS[name], str(scene), str(scratch / "out.tif")], default_cache_env(session)
    python = [sys.executable, "-m", "bench.contenders"]
    if name == "reference":
        return [*python, "reference", str(spec)], default_cache_env(session)
    env = function_env(session)
    if name in {"ours_webp", "ours_target_ssim_webp"}:
        env["COMPRESSION"] = "WEBP"
    if name in {"ours_stream", "ours_download"}:
        env["SOURCE_READ"] = name.removeprefix("ours_")
    if name.startswith("ours_target_ssim"):
        env["TARGET_SSIM"] = f"{session.target_ssim[scene.name]:.4f}"
    if name == "job":
        env["POWERTOOLS_TRACE_DISABLED"] = "true"  # as the stack sets it: Fargate has no X-Ray daemon
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
        output_bytes = check_s3_outcome(session.s3, key, scene.stat().st_size)
        if number == 1:
            session.s3.download_file(OUTPUT_BUCKET, cog_key(key), str(kept))
        if name.startswith("ours") or name == "job":
            notes.update(next(iter(handler_logs(log)), {}))
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
    """Fresh buckets holding the scene alone."""
    fresh_buckets(session)
    upload(session, scene, key)


def fresh_buckets(session: Session) -> None:
    """Empty input and output buckets, nothing left of an earlier run."""
    reset(session.endpoint.url)
    session.s3.create_bucket(Bucket=INPUT_BUCKET)
    session.s3.create_bucket(Bucket=OUTPUT_BUCKET)


def upload(session: Session, scene: Path, key: str) -> None:
    """The file into the input bucket, with a CRC-64/NVME checksum as S3 gives every upload without one
    (and in the reads server too, on the realistic endpoint)."""
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


def check_s3_outcome(s3: Any, key: str, size: int) -> int:
    """The COG's size, after checking that the original was archived whole into Glacier and deleted."""
    archived = s3.head_object(Bucket=OUTPUT_BUCKET, Key=f"archive/{key}")
    if archived["ContentLength"] != size or archived.get("StorageClass") != "GLACIER":
        raise RuntimeError(
            f"archive of {key} is wrong: {archived['ContentLength']} bytes, {archived.get('StorageClass')}"
        )
    if s3.list_objects_v2(Bucket=INPUT_BUCKET).get("KeyCount", 0):
        raise RuntimeError(f"the original {key} was not deleted")
    return s3.head_object(Bucket=OUTPUT_BUCKET, Key=cog_key(key))["ContentLength"]


def handler_logs(log: Path) -> list[dict[str, Any]]:
    """Phase times, encoding and the function's own SSIM from each of the handler's 'Object archived' log
    lines, in the order of the objects."""
    entries = [
        json.loads(line)
        for line in log.read_text(errors="replace").splitlines()
        if line.startswith("{") and '"seconds"' in line
    ]
    return [
        {
            "phases": entry.get("seconds", {}),
            "encoding": entry.get("encoding"),
            "source_read": entry.get("source_read"),
            "function_ssim": entry.get("ssim"),
        }
        for entry in entries
    ]


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


def parse_rounds(text: str) -> dict[str, int]:
    return {name: int(count) for name, count in (part.split("=") for part in text.split(",") if part)}


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
