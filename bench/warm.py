"""The "many small objects, warm" scenario: one process archives N objects of ~24 MB one after the other.

Every scene run is a fresh process, so on a small object the cold start is most of what it measures. A
Lambda that gets a batch of uploads runs warm after its first object: here each contender's process takes
every object in turn, and its figure is the median seconds per object from the 2nd object on (the 1st
pays what is left of the cold start, its lazy imports and first connections; it is reported apart, as
`first_object_s`; the imports and construction before it count in the process's wall time only).

- `ours_warm`: our handler built once (`lambda_handler(Pipeline.from_env())`, the environment of `ours`),
  then invoked once per object with a one-record S3 event; its phases per object come from its log lines;
- `reference_warm`: the reference handler's steps for each object, with one S3 client for all;
- `encode_warm`: the bare encode of each object's local copy, `gdal.Translate` to a JPEG q75 COG on every
  CPU with AVERAGE overviews (as `gdal_translate_all_threads`): the floor under any handler.

The objects are windows of the M190 mosaic, spread over it so that each differs from the others, written as
the scenes are (tiled 512, uncompressed) and cached beside them. Each contender's process is one measured run
(`bench.measure.run_measured`: wall, CPU, peak RSS), in rounds that alternate the contenders; the objects
are uploaded into fresh buckets before each run, and the outcome in S3 checked after it.
"""

from __future__ import annotations

import json
import math
import shutil
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from osgeo import gdal

from bench.measure import Measurement, MiB, run_measured, wait_until_quiet
from bench.orchestration import (
    INPUT_BUCKET,
    LAMBDA_MEMORY_MB,
    OUTPUT_BUCKET,
    ROOT,
    Session,
    check_s3_outcome,
    default_cache_env,
    fresh_buckets,
    function_env,
    handler_logs,
    upload,
)
from bench.scene import CREATION_OPTIONS, SCENES, SceneSpec, build_scene
from imagery_archive_cli.local.events import event_for_objects
from imagery_archive_cli.local.s3_server import reset

gdal.UseExceptions()

WARM_DESCRIPTIONS = {
    "ours_warm": "our handler built once, then invoked once per object (one-record S3 event each), default settings",
    "reference_warm": "the reference handler's steps per object (download, gdal.Translate COG JPEG q75 on 1 "
    "thread, upload COG, re-upload original to GLACIER, delete), one S3 client for all",
    "encode_warm": "bare gdal.Translate of each local copy to a COG, JPEG q75, every CPU, AVERAGE overviews",
}
"""The warm contenders, in the order each round runs them."""


S3_WARM_CONTENDERS = ("ours_warm", "reference_warm")
"""The warm contenders that take their objects from S3 (and whose outcome there is checked)."""


OBJECT_PIXELS = 2816
"""Width and height of each object: 2816 x 2816 x 3 bands = 23.8 MB uncompressed, a small satellite product."""


@dataclass(frozen=True)
class WarmPlan:
    """What the scenario runs: `objects` windows of `pixels` x `pixels` of `mosaic`, `rounds` times."""

    objects: int = 12
    rounds: int = 3
    pixels: int = OBJECT_PIXELS
    mosaic: SceneSpec = SCENES["M190"]


@dataclass
class WarmRun:
    """One contender's process over every object."""

    contender: str
    round: int
    measurement: Measurement
    seconds: list[float]
    """Each object's seconds, in order."""
    phases: list[dict[str, float]]
    """Each object's phase seconds, in order (none for `encode_warm`, which has one phase)."""

    @property
    def per_object_s(self) -> float:
        """The median seconds per object once warm: objects 2..N."""
        return statistics.median(self.seconds[1:])


def run_warm(plan: WarmPlan, session: Session, started: float) -> dict[str, Any]:
    """Every round of the warm contenders on the plan's objects, in the order A B C, A B C, ..., summarised."""
    objects = cut_objects(build_scene(plan.mosaic, session.out / "scenes"), plan, session.out / "scenes" / "warm")
    runs = []
    for number in range(1, plan.rounds + 1):
        for name in WARM_DESCRIPTIONS:
            run = run_warm_one(name, objects, number, session)
            runs.append(run)
            print(f"[{time.perf_counter() - started:6.0f} s] {progress(run)}", flush=True)
    return summarise_warm(runs, plan, statistics.median(path.stat().st_size for path in objects))


def cut_objects(mosaic: Path, plan: WarmPlan, directory: Path) -> list[Path]:
    """The plan's objects: windows of the mosaic on a grid spread over it, each cached once written."""
    dataset = gdal.Open(str(mosaic))
    width, height = dataset.RasterXSize, dataset.RasterYSize
    dataset = None
    directory.mkdir(parents=True, exist_ok=True)
    return [cut(mosaic, x, y, plan.pixels, directory) for x, y in window_corners(width, height, plan)]


def window_corners(width: int, height: int, plan: WarmPlan) -> list[tuple[int, int]]:
    """Top-left corners of the plan's windows: the first points, in reading order, of the smallest square
    grid that holds them, spread from edge to edge. The mosaic repeats every two source tiles (1582 x 1436
    px); the default plan's steps on M190 (1698 and 1694 px) fall at a different place in that period at
    every grid point, so no two of its windows hold the same pixels."""
    if plan.pixels > min(width, height):
        raise ValueError(f"windows of {plan.pixels} px do not fit a {width} x {height} mosaic")
    side = math.ceil(math.sqrt(plan.objects))
    step_x, step_y = ((extent - plan.pixels) / max(side - 1, 1) for extent in (width, height))
    return [(round(i % side * step_x), round(i // side * step_y)) for i in range(plan.objects)]


def cut(mosaic: Path, x: int, y: int, pixels: int, directory: Path) -> Path:
    """The window of `mosaic` at (x, y) as a GeoTIFF laid out as the scenes are, georeferenced where it lies."""
    path = directory / f"{mosaic.stem}_window_{x}_{y}_{pixels}px.tif"
    if not path.exists():
        partial = path.with_suffix(".partial.tif")
        gdal.Translate(str(partial), str(mosaic), srcWin=[x, y, pixels, pixels], creationOptions=list(CREATION_OPTIONS))
        partial.replace(path)
    return path


def run_warm_one(name: str, objects: list[Path], number: int, session: Session) -> WarmRun:
    """One measured process of contender `name` over every object; its outcome in S3 checked."""
    work = session.out / "runs"
    scratch, spec, log = work / "tmp", work / "spec.json", session.out / "logs" / f"warm-{name}-{number}.log"
    for directory in (work, log.parent):
        directory.mkdir(parents=True, exist_ok=True)
    keys = [f"warm/{path.name}" for path in objects]
    spec.write_text(json.dumps(warm_spec(name, objects, keys, session)))
    env = function_env(session) if name == "ours_warm" else default_cache_env(session)
    command = [sys.executable, "-m", "bench.contenders", name, str(spec)]
    wait_until_quiet(session.quiet_wait_s)
    measurement = run_measured(command, env, scratch, log, cwd=ROOT, server_pids=session.endpoint.server_pids)
    shutil.rmtree(scratch, ignore_errors=True)
    seconds = measurement.reported["seconds"]
    if name == "ours_warm":
        phases = [entry["phases"] for entry in handler_logs(log)]
    else:
        phases = measurement.reported.get("phases", [])
    if name in S3_WARM_CONTENDERS:
        if len(phases) != len(objects):
            raise RuntimeError(f"{name} reported the phases of {len(phases)} of {len(objects)} objects; log {log}")
        for path, key in zip(objects, keys, strict=True):
            check_s3_outcome(session.s3, key, path.stat().st_size)
        reset(session.endpoint.url)
    return WarmRun(name, number, measurement, seconds, phases)


def warm_spec(name: str, objects: list[Path], keys: list[str], session: Session) -> dict[str, Any]:
    """What the contender's process is given: each object's local path and key, and, for those that read S3,
    the objects uploaded into fresh buckets and each one's S3 event."""
    items: list[dict[str, Any]] = [{"path": str(path), "key": key} for path, key in zip(objects, keys, strict=True)]
    if name in S3_WARM_CONTENDERS:
        fresh_buckets(session)
        for item in items:
            upload(session, Path(item["path"]), item["key"])
            item["event"] = event_for_objects(session.s3, INPUT_BUCKET, [item["key"]])
    return {"objects": items, "bucket": INPUT_BUCKET, "output_bucket": OUTPUT_BUCKET, "memory_mb": LAMBDA_MEMORY_MB}


def progress(run: WarmRun) -> str:
    """One warm run's figures on one line, as the benchmark goes."""
    m = run.measurement
    return (
        f"warm round {run.round} {run.contender:22s} per object {run.per_object_s:6.2f} s  "
        f"first {run.seconds[0]:6.2f} s  wall {m.wall_s:6.1f} s  cpu {m.cpu_s:6.1f} s  "
        f"rss {m.peak_rss_bytes / MiB:6.0f} MiB  server {m.server_cpu_s:5.1f} s  others {m.other_cpu_s:5.1f} s"
    )


def summarise_warm(runs: list[WarmRun], plan: WarmPlan, object_bytes: float) -> dict[str, Any]:
    """Per contender: medians over rounds of the per-object medians, the first object, the process; and our
    time per object against the reference's and the bare encode's, as the median of each round's ratio."""
    by_name = {name: [run for run in runs if run.contender == name] for name in WARM_DESCRIPTIONS}
    ours = {run.round: run.per_object_s for run in by_name["ours_warm"]}
    ratios = {}
    for other in ("reference_warm", "encode_warm"):
        each = [ours[run.round] / run.per_object_s for run in by_name[other] if run.round in ours]
        ratios[other] = {"median": statistics.median(each), "rounds": each}
    return {
        "objects": plan.objects,
        "pixels": plan.pixels,
        "object_bytes": object_bytes,
        "rounds": plan.rounds,
        "contenders": {name: contender_summary(runs_) for name, runs_ in by_name.items() if runs_},
        "ours_warm_vs": ratios,
        "runs": [{**asdict(run), "measurement": asdict(run.measurement)} for run in runs],
    }


def contender_summary(runs: list[WarmRun]) -> dict[str, Any]:
    """One contender's medians over rounds; its phases are medians over objects 2..N, then over rounds."""
    m = [run.measurement for run in runs]
    phases = dict.fromkeys(phase for run in runs for entry in run.phases for phase in entry)
    return {
        "rounds": len(runs),
        "per_object_s": statistics.median(run.per_object_s for run in runs),
        "per_object_each_s": [run.per_object_s for run in runs],
        "first_object_s": statistics.median(run.seconds[0] for run in runs),
        "wall_s": statistics.median(x.wall_s for x in m),
        "cpu_s": statistics.median(x.cpu_s for x in m),
        "server_cpu_s": statistics.median(x.server_cpu_s for x in m),
        "other_cpu_s": statistics.median(x.other_cpu_s for x in m),
        "peak_rss_mib": statistics.median(x.peak_rss_bytes / MiB for x in m),
        "peak_rss_max_mib": max(x.peak_rss_bytes / MiB for x in m),
        "phases": {
            phase: statistics.median(
                statistics.median(entry.get(phase, 0.0) for entry in run.phases[1:]) for run in runs
            )
            for phase in phases
        },
    }


def warm_section(warm: dict[str, Any]) -> str:
    """The scenario's part of the report: its contenders, a table per contender, our ratios, the phases."""
    rows = warm["contenders"]
    title = (
        f"### Many small objects, warm: {warm['objects']} objects of {warm['object_bytes'] / MiB:.1f} MiB "
        f"({warm['pixels']} x {warm['pixels']} px), rounds: {warm['rounds']}\n\n"
    )
    described = "\n".join(f"- **{name}**: {text}" for name, text in WARM_DESCRIPTIONS.items()) + "\n\n"
    header = (
        f"| contender | s per object, objects 2..{warm['objects']}: median (each round) | first object s | "
        "process wall s | CPU s | S3 server CPU s | others' CPU s | peak RSS MiB |\n|---|---|---|---|---|---|---|---|\n"
    )
    lines = [
        f"| {name} | {row['per_object_s']:.2f} ({', '.join(f'{s:.2f}' for s in row['per_object_each_s'])}) | "
        f"{row['first_object_s']:.2f} | {row['wall_s']:.1f} | {row['cpu_s']:.1f} | {row['server_cpu_s']:.1f} | "
        f"{row['other_cpu_s']:.1f} | {row['peak_rss_mib']:.0f} (max {row['peak_rss_max_mib']:.0f}) |"
        for name, row in rows.items()
    ]
    ratios = "\n".join(
        f"- ours_warm / {other} per object: {ratio['median']:.2f} (each round: "
        f"{', '.join(f'{r:.2f}' for r in ratio['rounds'])})"
        for other, ratio in warm["ours_warm_vs"].items()
    )
    return title + described + header + "\n".join(lines) + "\n\n" + ratios + "\n\n" + phase_table(rows)


def phase_table(rows: dict[str, dict[str, Any]]) -> str:
    """Median seconds per phase and object (objects 2..N) of the handlers, side by side."""
    names = [name for name in S3_WARM_CONTENDERS if name in rows]
    phases = dict.fromkeys(phase for name in names for phase in rows[name]["phases"])
    header = "| phase, s per object | " + " | ".join(names) + " |\n|---|" + "---|" * len(names) + "\n"
    lines = [
        f"| {phase} | " + " | ".join(phase_cell(rows[name]["phases"], phase) for name in names) + " |"
        for phase in phases
    ]
    return header + "\n".join(lines) + "\n"


def phase_cell(phases: dict[str, float], phase: str) -> str:
    return f"{phases[phase]:.3f}" if phase in phases else "-"
